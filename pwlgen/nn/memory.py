"""Memory saved for backward, measured: one forward under saved-tensor hooks.

Every tensor autograd saves for backward passes through the pack hook of
`torch.autograd.graph.saved_tensors_hooks`; `memory_report` records its *storage* (so a
tensor saved twice, or two views of one buffer, count once) and which scopes (modules)
were running when it was saved. A storage counts for a scope when every save of it
happened inside that scope: replacing the scope frees it. The model's own parameters and
buffers are not counted (they stay alive anyway).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .reference import OpError

__all__ = ["MemoryReport", "memory_report", "split_inputs"]


@dataclass(frozen=True)
class MemoryReport:
    """Bytes saved for backward by one forward, in total and per scope.

    Attributes
    ----------
    batch : int
        Samples in the measured batch (first dimension of the first input tensor).
    total_bytes : int
        Distinct storages saved for backward by the whole forward (parameters and buffers
        excluded): the autograd memory held at the end of the forward, its peak.
    scope_bytes : dict of str to int
        Per scope: the storages saved only while that scope ran.
    scope_elements : dict of str to int
        Per scope: elements of the first tensor argument, summed over its calls.
    """

    batch: int
    total_bytes: int
    scope_bytes: dict[str, int] = field(default_factory=dict)
    scope_elements: dict[str, int] = field(default_factory=dict)

    def per_sample(self, nbytes: float) -> float:
        """`nbytes` divided by the batch size."""
        return nbytes / self.batch

    def to_dict(self) -> dict:
        """Plain-Python form (for JSON/YAML)."""
        return {"kind": "memory_report", **asdict(self)}


def split_inputs(inputs) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of a forward call from a Tensor, a tuple or a dict of keywords."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, tuple | list):
        return tuple(inputs), {}
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    raise TypeError(f"inputs must be a Tensor, a tuple of them or a dict of keyword "
                    f"arguments, not {type(inputs).__name__}")


def _batch_of(args: tuple, kwargs: dict) -> int:
    for v in (*args, *kwargs.values()):
        if isinstance(v, torch.Tensor):
            if v.dim() == 0 or v.shape[0] < 1:
                raise OpError(f"the example inputs need at least one sample along their "
                              f"first dimension, not shape {tuple(v.shape)}")
            return int(v.shape[0])
    raise OpError("the example inputs hold no tensor")


def _storage(t: torch.Tensor) -> tuple[tuple, int]:
    s = t.untyped_storage()
    return (t.device.type, t.device.index, s.data_ptr()), s.nbytes()


def memory_report(model: nn.Module, inputs, scopes: Mapping[str, nn.Module] | None = None
                  ) -> MemoryReport:
    """Run `model` forward once on `inputs` and measure what autograd saves for backward.

    Parameters
    ----------
    model : nn.Module
        Run as it is (train / eval mode unchanged), with grad enabled; not modified.
    inputs : Tensor, tuple of Tensor or dict
        Positional arguments, or keyword arguments, of one forward; the first tensor's first
        dimension is the batch.
    scopes : dict of str to nn.Module, optional
        Submodules to attribute bytes to (activation sites, layers); the same module under
        two names is entered by both.

    Returns
    -------
    MemoryReport

    Raises
    ------
    OpError
        When the inputs hold no tensor or an empty batch.

    Examples
    --------
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU())
    >>> r = memory_report(m, torch.randn(2, 4), {"act": m[1]})
    >>> r.scope_bytes["act"] == 2 * 8 * 4   # nn.GELU saves its fp32 input
    True
    """
    args, kwargs = split_inputs(inputs)
    batch = _batch_of(args, kwargs)
    scopes = dict(scopes or {})
    state = {_storage(t)[0] for t in (*model.parameters(), *model.buffers())}
    active: Counter[str] = Counter()
    sizes: dict[tuple, int] = {}
    inside: dict[tuple, set[str]] = {}  # storage -> scopes active at every save of it
    elements: Counter[str] = Counter()
    held: list[torch.Tensor] = []  # keeps storages alive: no address is reused meanwhile

    def pack(t):
        if isinstance(t, torch.Tensor) and t.layout == torch.strided:
            key, nbytes = _storage(t)
            if key not in state and nbytes:
                now = {s for s, c in active.items() if c}
                inside[key] = inside[key] & now if key in sizes else now
                sizes[key] = nbytes
                held.append(t)
        return t

    handles = []
    for name, mod in scopes.items():
        def enter(m, a, name=name):
            active[name] += 1
            first = next((v for v in a if isinstance(v, torch.Tensor)), None)
            if first is not None:
                elements[name] += first.numel()

        def leave(m, a, out, name=name):
            active[name] -= 1

        handles.append(mod.register_forward_pre_hook(enter))
        handles.append(mod.register_forward_hook(leave, always_call=True))
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = model(*args, **kwargs)
        del out
    finally:
        for h in handles:
            h.remove()
    held.clear()
    per_scope = {name: sum(n for k, n in sizes.items() if name in inside[k]) for name in scopes}
    return MemoryReport(batch, sum(sizes.values()), per_scope,
                        {name: elements[name] for name in scopes})
