"""Swap the activations of an existing model for pwlgen's ops; report every site, measured.

One walk of the module tree finds the activation *sites*:

- submodules of known activation classes: ``torch.nn``'s elementwise activations
  (``nn.GELU(approximate="none" | "tanh")``, ``nn.SiLU``, ``nn.Mish``, ``nn.Hardswish``,
  ``nn.Tanh``, ``nn.ReLU``, ...) and the classes of ``transformers.activations``
  (``GELUActivation``, ``NewGELUActivation``, ``GELUTanh``, ``FastGELUActivation``,
  ``SiLUActivation``, ``MishActivation``, ..., matched by class name). A site is a leaf:
  the walk never looks inside it (``GELUActivation.act = F.gelu`` is no second site);
  a module reachable under several names is one site, replaced by one new module;
- the activation *attributes* of a block (``activation``, ``act``, ``act_fn``,
  ``activation_fn``, ``activation_function``, ``mlp_act``) that hold a plain function
  (``F.gelu``, ``F.silu``, ``functools.partial(F.gelu, approximate="tanh")``, ...), e.g.
  ``nn.TransformerEncoderLayer(activation="gelu")``, whose fused inference fast path is then
  switched off.

Each site is replaced or skipped, and the report says which and why. Everything is checked
before anything changes: a refused conversion leaves the model as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .memory import memory_report
from .reference import OpError

__all__ = ["ACTIVATION_ATTRS", "TARGETS", "ConversionReport", "Site", "convert", "site_function"]

TARGETS = ("regelu2", "fewbit", "pwl")
ACTIVATION_ATTRS = ("activation", "act", "act_fn", "activation_fn", "activation_function",
                    "mlp_act")

_TORCH_MODULES: dict[type, Callable[[nn.Module], str | None]] = {
    nn.GELU: lambda m: "gelu_tanh" if m.approximate == "tanh" else "gelu",
    nn.SiLU: lambda m: "silu",
    nn.Mish: lambda m: "mish",
    nn.Hardswish: lambda m: "hardswish",
    nn.Tanh: lambda m: "tanh",
    nn.Sigmoid: lambda m: "sigmoid",
    nn.ReLU: lambda m: "relu",
    nn.SELU: lambda m: "selu",
    nn.ELU: lambda m: "elu" if m.alpha == 1.0 else None,
    nn.LeakyReLU: lambda m: "leaky_relu" if m.negative_slope == 0.01 else None,
    nn.Softplus: lambda m: "softplus" if m.beta == 1.0 else None,
}
# elementwise torch activations without a pwlgen target (still reported)
_TORCH_OTHERS = (nn.ReLU6, nn.Hardtanh, nn.Hardsigmoid, nn.PReLU, nn.RReLU, nn.CELU,
                 nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
                 nn.LogSigmoid)

_LIBRARY_CLASSES = {  # transformers.activations, by class name
    "GELUActivation": "gelu",
    "NewGELUActivation": "gelu_tanh",
    "GELUTanh": "gelu_tanh",
    "PytorchGELUTanh": "gelu_tanh",
    "FastGELUActivation": "gelu_tanh",  # the same tanh formula, constant rounded to 1e-10
    "AccurateGELUActivation": "gelu_tanh",
    "SiLUActivation": "silu",
    "MishActivation": "mish",
}
_LIBRARY_MODULE = "transformers.activations"

_FUNCTIONS = {
    F.gelu: "gelu", F.silu: "silu", F.mish: "mish", F.hardswish: "hardswish",
    torch.tanh: "tanh", F.tanh: "tanh", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
    F.relu: "relu", torch.relu: "relu", F.selu: "selu", F.elu: "elu", F.softplus: "softplus",
    F.leaky_relu: "leaky_relu",
}

_PIECEWISE_LINEAR = ("relu", "leaky_relu")


def site_function(obj) -> tuple[bool, str | None]:
    """``(is a site, pwlgen target it computes or None)`` for a module or a function.

    Examples
    --------
    >>> import torch
    >>> site_function(torch.nn.GELU(approximate="tanh"))
    (True, 'gelu_tanh')
    >>> site_function(torch.nn.Linear(2, 2))
    (False, None)
    """
    if isinstance(obj, nn.Module):
        kind = type(obj)
        if kind in _TORCH_MODULES:
            return True, _TORCH_MODULES[kind](obj)
        if kind.__name__ in _LIBRARY_CLASSES:
            return True, _LIBRARY_CLASSES[kind.__name__]
        if kind.__module__ == _LIBRARY_MODULE or isinstance(obj, _TORCH_OTHERS):
            return True, None
        if isinstance(obj, tuple(_TORCH_MODULES)):  # a subclass: its forward may differ
            return True, None
        return False, None
    if isinstance(obj, functools.partial):
        if obj.func is F.gelu and not obj.args and obj.keywords == {"approximate": "tanh"}:
            return True, "gelu_tanh"
        return True, _FUNCTIONS.get(obj.func) if not (obj.args or obj.keywords) else None
    if callable(obj):
        try:
            return True, _FUNCTIONS.get(obj)
        except TypeError:  # an unhashable callable
            return True, None
    return False, None


@dataclass(frozen=True)
class Site:
    """One activation site of a model and what `convert` did with it.

    Attributes
    ----------
    name : str
        Qualified name of the module, or ``parent.attribute`` for a function attribute.
    old : str
        What was there.
    fn : str or None
        The pwlgen target it computes; None when it computes none.
    new : str or None
        The replacement; None when skipped.
    reason : str or None
        Why it was skipped; None when replaced.
    aliases : tuple of str
        Other names of the same module object (replaced by the same new module).
    elements_per_sample : int or None
        Activation elements per sample (measured, after the swap).
    bytes_before_per_sample, bytes_after_per_sample : float or None
        Measured bytes saved for backward at this site per sample, before and after.
    """

    name: str
    old: str
    fn: str | None
    new: str | None = None
    reason: str | None = None
    aliases: tuple[str, ...] = ()
    elements_per_sample: int | None = None
    bytes_before_per_sample: float | None = None
    bytes_after_per_sample: float | None = None

    @property
    def replaced(self) -> bool:
        """Whether the site was replaced."""
        return self.new is not None

    @property
    def bytes_saved_per_sample(self) -> float | None:
        """Measured ``before - after`` (None when not measured)."""
        if self.bytes_before_per_sample is None or self.bytes_after_per_sample is None:
            return None
        return self.bytes_before_per_sample - self.bytes_after_per_sample


@dataclass(frozen=True)
class ConversionReport:
    """Every activation site `convert` found, replaced or skipped, and the memory measured.

    Attributes
    ----------
    to : str
    sites : tuple of Site
        In walk order.
    batch : int or None
        Samples of the measured batch; None when not measured.
    total_before_per_sample, total_after_per_sample : float or None
        Bytes the whole model saves for backward per sample (all saved tensors), measured
        before and after.
    """

    to: str
    sites: tuple[Site, ...] = ()
    batch: int | None = None
    total_before_per_sample: float | None = None
    total_after_per_sample: float | None = None

    @property
    def replaced(self) -> list[Site]:
        """The replaced sites."""
        return [s for s in self.sites if s.replaced]

    @property
    def skipped(self) -> list[Site]:
        """The skipped sites."""
        return [s for s in self.sites if not s.replaced]

    @property
    def bytes_saved_per_sample(self) -> float | None:
        """Measured bytes saved per sample, summed over the replaced sites."""
        if self.batch is None:
            return None
        return float(sum(s.bytes_saved_per_sample for s in self.replaced))

    @property
    def total_saved_per_sample(self) -> float | None:
        """Measured whole-model ``before - after`` per sample."""
        if self.batch is None:
            return None
        return self.total_before_per_sample - self.total_after_per_sample

    def to_dict(self) -> dict:
        """Plain-Python form (for JSON/YAML)."""
        d = asdict(self)
        for s, site in zip(d["sites"], self.sites, strict=True):
            s["bytes_saved_per_sample"] = site.bytes_saved_per_sample
        return {"kind": "conversion_report", **d,
                "bytes_saved_per_sample": self.bytes_saved_per_sample,
                "total_saved_per_sample": self.total_saved_per_sample}

    def summary(self) -> str:
        """One line per site, then the measured totals."""
        lines = [f"convert to {self.to}: {len(self.replaced)} site(s) replaced, "
                 f"{len(self.skipped)} skipped"]
        for s in self.sites:
            also = f" (also {', '.join(s.aliases)})" if s.aliases else ""
            if not s.replaced:
                held = ("" if s.bytes_before_per_sample is None else
                        f" (saves {s.bytes_before_per_sample:.0f} B/sample for backward)")
                lines.append(f"  {s.name}{also}: {s.old} skipped: {s.reason}{held}")
                continue
            extra = ""
            if s.bytes_saved_per_sample is not None:
                extra = (f"  {s.elements_per_sample} elem/sample, saved for backward "
                         f"{s.bytes_before_per_sample:.0f} -> {s.bytes_after_per_sample:.0f} "
                         f"B/sample")
            lines.append(f"  {s.name}{also}: {s.old} -> {s.new}{extra}")
        if self.batch is not None:
            lines.append(f"  sites: {self.bytes_saved_per_sample:.0f} B/sample saved; whole "
                         f"model: {self.total_before_per_sample:.0f} -> "
                         f"{self.total_after_per_sample:.0f} B/sample saved for backward "
                         f"(measured on a batch of {self.batch})")
        return "\n".join(lines)

    __str__ = summary


@dataclass
class _Plan:
    name: str
    parent: nn.Module
    attr: str
    old: object
    fn: str | None
    aliases: list[tuple[str, nn.Module, str]] = field(default_factory=list)
    new: nn.Module | None = None
    reason: str | None = None


def _describe(obj) -> str:
    if isinstance(obj, nn.Module):
        return repr(obj)
    if isinstance(obj, functools.partial):
        kw = "".join(f", {k}={v!r}" for k, v in obj.keywords.items())
        return f"partial({_describe(obj.func)}{kw})"
    name = getattr(obj, "__name__", None)
    if name is None:
        return repr(obj)
    return f"F.{name}" if getattr(F, name, None) is obj else f"torch.{name}" if getattr(
        torch, name, None) is obj else name


def _walk(model: nn.Module) -> list[_Plan]:
    plans: list[_Plan] = []
    by_id: dict[int, _Plan] = {}
    seen: set[int] = set()

    def visit(module: nn.Module, prefix: str) -> None:
        if id(module) in seen:
            return
        seen.add(id(module))
        for child_name, child in list(module._modules.items()):
            if child is None:
                continue
            name = f"{prefix}.{child_name}" if prefix else child_name
            is_site, fn = site_function(child)
            if not is_site:
                visit(child, name)
            elif id(child) in by_id:
                by_id[id(child)].aliases.append((name, module, child_name))
            else:
                by_id[id(child)] = _Plan(name, module, child_name, child, fn)
                plans.append(by_id[id(child)])
        for attr in ACTIVATION_ATTRS:
            value = module.__dict__.get(attr)
            if value is None or isinstance(value, nn.Module):
                continue
            is_site, fn = site_function(value)
            if is_site:
                plans.append(_Plan(f"{prefix}.{attr}" if prefix else attr, module, attr,
                                   value, fn))

    visit(model, "")
    return plans


def _pwl_units(fixed) -> dict:
    from ..fixedpoint import FixedPWL
    from ..functions import get_target

    if fixed is None:
        return {}
    if isinstance(fixed, FixedPWL):
        return {fixed.function: fixed}
    if not isinstance(fixed, Mapping):
        raise TypeError(f"fixed must be a FixedPWL or a dict of them, not {type(fixed).__name__}")
    units = {}
    for key, unit in fixed.items():
        if not isinstance(unit, FixedPWL):
            raise TypeError(f"fixed[{key!r}] must be a FixedPWL, not {type(unit).__name__}")
        name = get_target(key).name
        if unit.function != name:
            raise OpError(f"fixed[{key!r}] is a FixedPWL of {unit.function!r}, not of {name!r}")
        units[name] = unit
    return units


def _decide(plan: _Plan, to: str, bits: int, objective: str, units: dict,
            backward: str) -> None:
    from .modules import FewBitActivation, PWLActivation, ReGELU2, ReSiLU2

    fn = plan.fn
    if fn is None:
        plan.reason = "computes no pwlgen target"
    elif fn in _PIECEWISE_LINEAR:
        plan.reason = f"{fn} is piecewise linear already: its exact backward needs 1 bit"
    elif to == "regelu2":
        if fn == "gelu":
            plan.new = ReGELU2()
        elif fn == "silu":
            plan.new = ReSiLU2()
        elif fn == "gelu_tanh":
            plan.new = FewBitActivation(fn, 2, "l2")
        else:
            plan.reason = (f"no 2-bit drop-in for {fn} under to='regelu2'; "
                           f"use to='fewbit' for a k-bit {fn}")
    elif to == "fewbit":
        plan.new = FewBitActivation(fn, bits, objective)
    else:
        plan.new = PWLActivation(units[fn], backward=backward)


def _find_units(plans: list[_Plan], units: dict, design_missing: bool) -> None:
    # every site's function first: a mismatch is reported before any module is built
    for plan in plans:
        fn = plan.fn
        if fn is None or fn in _PIECEWISE_LINEAR or fn in units:
            continue
        if not design_missing:
            have = ", ".join(repr(k) for k in units) or "none"
            raise OpError(f"site {plan.name!r} computes {fn!r} but fixed= has no FixedPWL "
                          f"of it (it has {have}); pass one as fixed={{{fn!r}: ...}} or "
                          f"design_missing=True")
        from ..fixedpoint import design

        units[fn] = design(fn)


def _install(parent: nn.Module, attr: str, value) -> None:
    if attr in parent._modules and isinstance(value, nn.Module):
        parent._modules[attr] = value  # in place: a Sequential keeps its order
        return
    parent._modules.pop(attr, None)
    parent.__dict__.pop(attr, None)
    setattr(parent, attr, value)


class _Scope(nn.Module):
    # stands in for a function attribute while the original model is measured
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _measure(model, inputs, plans: list[_Plan]):
    scopes = {}
    swapped = []
    try:
        for p in plans:
            if isinstance(p.old, nn.Module):
                scopes[p.name] = p.parent._modules[p.attr]
            else:
                current = p.parent.__dict__.get(p.attr, p.parent._modules.get(p.attr))
                if isinstance(current, nn.Module):
                    scopes[p.name] = current
                else:
                    scopes[p.name] = _Scope(current)
                    _install(p.parent, p.attr, scopes[p.name])
                    swapped.append((p.parent, p.attr, current))
        return memory_report(model, inputs, scopes)
    finally:
        for parent, attr, value in swapped:
            _install(parent, attr, value)


def convert(
    model: nn.Module,
    to: str = "regelu2",
    *,
    bits: int = 2,
    objective: str = "l2",
    fixed=None,
    design_missing: bool = False,
    backward: str = "slope",
    measure=None,
) -> ConversionReport:
    """Replace the activations of `model` in place; report every site, with measured memory.

    Parameters
    ----------
    model : nn.Module
        Changed in place (only its activation sites).
    to : {"regelu2", "fewbit", "pwl"}
        ``"regelu2"``: ReGELU2 / ReSiLU2 (2 bits; a 2-bit tanh-GELU for tanh-GELU sites);
        ``"fewbit"``: `FewBitActivation` (`bits`, `objective`) for every site with a smooth
        pwlgen target; ``"pwl"``: the hardware-faithful `PWLActivation` of each site's
        function (see `fixed`).
    bits, objective
        For ``to="fewbit"``.
    fixed : FixedPWL or dict of str to FixedPWL
        For ``to="pwl"``: the unit(s); each site gets the unit of the function it computes.
    design_missing : bool
        For ``to="pwl"``: design (`pwlgen.fixedpoint.design`, defaults) a unit for each
        function `fixed` lacks (`pwlgen.fixedpoint.design` defaults) instead of refusing.
    backward : {"slope", "ste"}
        For ``to="pwl"``.
    measure : Tensor, tuple of Tensor or dict, optional
        Example inputs of one forward (first dimension = samples). When given, the model
        runs forward once before and once after the swap under saved-tensor hooks
        (`memory_report`), and the report holds the bytes saved for backward per site and
        in total.

    Returns
    -------
    ConversionReport

    Raises
    ------
    OpError
        For an unknown `to`, or ``to="pwl"`` with a site whose function has no unit; the
        model is unchanged then.

    Examples
    --------
    >>> import torch
    >>> m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Mish())
    >>> r = convert(m, to="regelu2")
    >>> [(s.name, s.replaced) for s in r.sites]
    [('1', True), ('2', False)]
    """
    if to not in TARGETS:
        raise OpError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    plans = _walk(model)
    units = _pwl_units(fixed) if to == "pwl" else {}
    if to == "pwl":
        _find_units(plans, units, design_missing)
    for p in plans:
        _decide(p, to, bits, objective, units, backward)
    before = None if measure is None else _measure(model, measure, plans)
    for p in plans:
        if p.new is None:
            continue
        for _, parent, attr in [(p.name, p.parent, p.attr), *p.aliases]:
            _install(parent, attr, p.new)
        if hasattr(p.parent, "activation_relu_or_gelu") and not isinstance(p.old, nn.Module):
            p.parent.activation_relu_or_gelu = 0  # the fused fast path assumes F.gelu / F.relu
    after = None if measure is None else _measure(model, measure, plans)
    sites = []
    for p in plans:
        m = {}
        if before is not None:
            m = dict(
                elements_per_sample=after.scope_elements[p.name] // after.batch,
                bytes_before_per_sample=before.per_sample(before.scope_bytes[p.name]),
                bytes_after_per_sample=after.per_sample(after.scope_bytes[p.name]),
            )
        sites.append(Site(p.name, _describe(p.old), p.fn,
                          None if p.new is None else repr(p.new), p.reason,
                          tuple(a[0] for a in p.aliases), **m))
    if before is None:
        return ConversionReport(to, tuple(sites))
    return ConversionReport(to, tuple(sites), before.batch,
                            before.per_sample(before.total_bytes),
                            after.per_sample(after.total_bytes))
