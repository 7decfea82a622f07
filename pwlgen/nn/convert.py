"""Swap the GELU / SiLU activations of an existing model for pwlgen's ops, with a memory report.

Sites found, in order:

- submodules ``nn.GELU`` (erf or tanh form) and ``nn.SiLU``, and the activation classes of
  common transformer libraries matched by class name (``GELUActivation``,
  ``NewGELUActivation``, ``GELUTanh``, ``PytorchGELUTanh``, ``SiLUActivation``);
- the usual activation *attributes* of transformer blocks (``activation``, ``act``,
  ``act_fn``, ``activation_fn``, ``activation_function``, ``mlp_act``) that hold the plain
  functions ``F.gelu`` / ``F.silu`` (e.g. ``nn.TransformerEncoderLayer(activation="gelu")``,
  whose fused inference fast path is switched off for the new module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..errors import PwlgenError
from .reference import OpError

__all__ = ["convert", "ConversionReport", "Replacement", "TARGETS", "ACTIVATION_ATTRS"]

TARGETS = ("regelu2", "fewbit", "pwl")
ACTIVATION_ATTRS = ("activation", "act", "act_fn", "activation_fn", "activation_function",
                    "mlp_act")

_CLASS_NAMES = {
    "GELUActivation": "gelu",
    "NewGELUActivation": "gelu_tanh",
    "GELUTanh": "gelu_tanh",
    "PytorchGELUTanh": "gelu_tanh",
    "SiLUActivation": "silu",
}


@dataclass(frozen=True)
class Replacement:
    """One swapped activation.

    Attributes
    ----------
    name : str
        Qualified name of the module (or ``module.attribute`` for a function attribute).
    fn : str
        The target it computes ("gelu", "gelu_tanh", "silu").
    old, new : str
        Short descriptions of the old and the new activation.
    saved_bits : float
        Bits per element the new op keeps for backward.
    elements_per_sample : int or None
        Activation elements per sample at this site (measured with `example_input`).
    bytes_saved_per_sample : float or None
        Backward memory saved per sample: ``elements * (itemsize - saved_bits / 8)``.
    """

    name: str
    fn: str
    old: str
    new: str
    saved_bits: float
    elements_per_sample: int | None = None
    bytes_saved_per_sample: float | None = None


@dataclass(frozen=True)
class ConversionReport:
    """What `convert` replaced and the activation memory it saves.

    Attributes
    ----------
    to : str
    replaced : list of Replacement
    dtype : str
        The activation dtype the byte counts assume.
    bytes_saved_per_element : float
        Per activation element: the input the original op saves minus the packed codes.
    bytes_saved_per_sample : float or None
        Summed over the sites, per sample (token count included), when measured.
    """

    to: str
    replaced: list[Replacement] = field(default_factory=list)
    dtype: str = "float32"
    bytes_saved_per_element: float = 0.0
    bytes_saved_per_sample: float | None = None

    def to_dict(self) -> dict:
        """Plain-Python form (for JSON/YAML)."""
        return {"kind": "conversion_report", **asdict(self)}

    def summary(self) -> str:
        """A few lines: one per replaced site and the total saved per sample."""
        lines = [f"convert to {self.to}: {len(self.replaced)} activation(s) replaced"]
        for r in self.replaced:
            extra = ""
            if r.bytes_saved_per_sample is not None:
                extra = (f"  {r.elements_per_sample} elem/sample, "
                         f"{r.bytes_saved_per_sample:.0f} B/sample saved")
            lines.append(f"  {r.name}: {r.old} -> {r.new}{extra}")
        if self.bytes_saved_per_sample is not None:
            lines.append(f"  total saved: {self.bytes_saved_per_sample:.0f} B/sample "
                         f"({self.dtype})")
        return "\n".join(lines)


def _module_fn(m: nn.Module) -> str | None:
    if type(m) is nn.GELU:
        return "gelu_tanh" if m.approximate == "tanh" else "gelu"
    if type(m) is nn.SiLU:
        return "silu"
    return _CLASS_NAMES.get(type(m).__name__)


def _function_fn(value) -> str | None:
    if value is torch.nn.functional.gelu:
        return "gelu"
    if value is torch.nn.functional.silu:
        return "silu"
    return None


def _factory(to: str, bits: int, objective: str, fixed, backward: str) -> Callable:
    from .modules import FewBitActivation, ReGELU2, ReSiLU2

    if to == "regelu2":
        def make(fn):
            if fn == "gelu":
                return ReGELU2()
            if fn == "silu":
                return ReSiLU2()
            return FewBitActivation(fn, 2, "l2")
        return make
    if to == "fewbit":
        return lambda fn: FewBitActivation(fn, bits, objective)
    from .modules import PWLActivation

    def make_pwl(fn):
        table = fixed.get(fn) if isinstance(fixed, dict) else fixed
        if table is None:
            raise OpError(f"convert(to='pwl') needs a FixedPWL for {fn!r} in fixed=")
        return PWLActivation(table, backward=backward)
    return make_pwl


def _saved_bits(new: nn.Module, itemsize: int) -> float:
    # a PWLActivation with the ste backward keeps its input: nothing saved
    return float(getattr(new, "saved_bits", getattr(new, "bits", 8 * itemsize)))


def convert(
    model: nn.Module,
    to: str = "regelu2",
    *,
    bits: int = 2,
    objective: str = "l2",
    fixed=None,
    backward: str = "slope",
    example_input=None,
    dtype: torch.dtype | None = None,
) -> ConversionReport:
    """Replace the GELU / SiLU activations of `model` in place and report the memory saved.

    Parameters
    ----------
    model : nn.Module
        Changed in place.
    to : {"regelu2", "fewbit", "pwl"}
        ReGELU2 / ReSiLU2 (2 bits), `FewBitActivation` (`bits`, `objective`) or the
        hardware-faithful `PWLActivation` (needs `fixed`).
    bits, objective
        For ``to="fewbit"``.
    fixed : FixedPWL or dict of str to FixedPWL
        For ``to="pwl"``: the table (or one per target name: "gelu", "silu", ...).
    backward : {"slope", "ste"}
        For ``to="pwl"``.
    example_input : Tensor or tuple of Tensor, optional
        One batch (first dimension = samples): when given, the model runs once without
        grad after the swap to count the activation elements per sample at each site.
    dtype : torch.dtype, optional
        Activation dtype for the byte counts (default: the model's first floating parameter's).

    Returns
    -------
    ConversionReport

    Raises
    ------
    OpError
        For an unknown `to`, or ``to="pwl"`` without a table for a target found.
    """
    if to not in TARGETS:
        raise OpError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    make = _factory(to, bits, objective, fixed, backward)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()),
                     torch.float32)
    itemsize = torch.empty((), dtype=dtype).element_size()
    sites: list[tuple[str, nn.Module, str, str]] = []  # (name, new module, fn, old)

    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            fn = _module_fn(child)
            if fn is None:
                continue
            new = make(fn)
            setattr(parent, child_name, new)
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            sites.append((full, new, fn, repr(child)))
        for attr in ACTIVATION_ATTRS:
            value = parent.__dict__.get(attr)
            fn = _function_fn(value)
            if fn is None:
                continue
            new = make(fn)
            setattr(parent, attr, new)  # a Module attribute: registered as a child
            if hasattr(parent, "activation_relu_or_gelu"):
                parent.activation_relu_or_gelu = 0  # the fused fast path assumes F.gelu
            full = f"{parent_name}.{attr}" if parent_name else attr
            sites.append((full, new, fn, f"F.{value.__name__}"))

    counts = _count_elements(model, [s[1] for s in sites], example_input)
    replaced = []
    for (name, new, fn, old), count in zip(sites, counts, strict=True):
        sb = _saved_bits(new, itemsize)
        saved = None if count is None else count * (itemsize - sb / 8.0)
        replaced.append(Replacement(name, fn, old, repr(new), sb, count, saved))
    per_elem = itemsize - (replaced[0].saved_bits / 8.0 if replaced else 0.0)
    total = None
    if example_input is not None:
        total = float(sum(r.bytes_saved_per_sample or 0.0 for r in replaced))
    return ConversionReport(to, replaced, str(dtype).removeprefix("torch."), per_elem, total)


def _count_elements(model, modules, example_input) -> list[int | None]:
    if example_input is None:
        return [None] * len(modules)
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    batch = int(inputs[0].shape[0]) if inputs[0].dim() else 1
    if batch < 1:
        raise PwlgenError("example_input needs at least one sample (first dimension)")
    seen: dict[int, int] = {}
    hooks = []
    for i, m in enumerate(modules):
        def hook(mod, args, out, i=i):
            seen[i] = seen.get(i, 0) + args[0].numel()
        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return [seen.get(i, 0) // batch for i in range(len(modules))]
