"""The operator table of the expression grammar: name -> arity, torch implementation, doc.

Every operator is elementwise, differentiable by torch autograd (twice, so expression
targets get f''), and keeps the dtype and shape of its inputs, so the same expression runs
in float64 for the reference and in float32/bfloat16 on a GPU. Unary operators take one
argument, binary ones two, and n-ary ones (``sum_n``...) any number >= 2.

Where torch's own function is not exact in float64 or has no second derivative, the
operator is written out (``softplus`` by ``logaddexp`` instead of torch's thresholded
softplus; ``hard_sigmoid`` by ``clamp``, whose double backward exists).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention

__all__ = ["Op", "OPERATORS", "OPERATORS_BY_ARITY", "COMMUTATIVE", "LEAKY_SLOPE"]

LEAKY_SLOPE = 0.01
"""Slope of ``leaky_relu`` below zero."""

Tensor = torch.Tensor


@dataclass(frozen=True)
class Op:
    """One operator of the grammar.

    Parameters
    ----------
    arity : int or None
        Number of arguments: 1 (unary), 2 (binary), or None for n-ary (2 or more).
    fn : callable
        ``fn(*tensors) -> tensor``, elementwise and differentiable.
    doc : str
        One line saying what the operator computes.
    """

    arity: int | None
    fn: Callable[..., Tensor]
    doc: str

    @property
    def kind(self) -> str:
        """``"unary"``, ``"binary"`` or ``"n-ary"``."""
        return {1: "unary", 2: "binary"}.get(self.arity, "n-ary")

    def accepts(self, n_args: int) -> bool:
        """Whether the operator takes `n_args` arguments."""
        return n_args >= 2 if self.arity is None else n_args == self.arity


# --- unary -----------------------------------------------------------------------------


def _softplus(x: Tensor) -> Tensor:
    # logaddexp(x, 0) is exact everywhere; torch's softplus switches to x above 20, which
    # is off by up to 2e-9 there.
    return torch.logaddexp(x, torch.zeros_like(x))


def _hard_sigmoid(x: Tensor) -> Tensor:
    # clamp instead of F.hardsigmoid: the latter has no double backward (f'' of targets).
    return torch.clamp(x + 3.0, 0.0, 6.0) / 6.0


def _elish(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    # expm1 of min(x, 0): the branch torch.where discards must stay finite, or its zero
    # gradient times inf turns into NaN.
    return torch.where(x >= 0, x * s, torch.expm1(torch.clamp(x, max=0.0)) * s)


def _swish(x: Tensor) -> Tensor:
    return F.silu(x)


_UNARY: dict[str, tuple[Callable[[Tensor], Tensor], str]] = {
    "zero": (torch.zeros_like, "0 (constant; no gradient flows through it)"),
    "one": (torch.ones_like, "1 (constant; no gradient flows through it)"),
    "identity": (lambda x: x, "x"),
    "negative": (torch.neg, "-x"),
    "abs": (torch.abs, "|x|"),
    "reciprocal": (torch.reciprocal, "1/x (inf at 0)"),
    "square": (torch.square, "x^2"),
    "exp": (torch.exp, "e^x"),
    "erf": (torch.erf, "error function 2/sqrt(pi)*int_0^x exp(-t^2) dt"),
    "erfc": (torch.erfc, "1 - erf(x)"),
    "sinh": (torch.sinh, "hyperbolic sine"),
    "cosh": (torch.cosh, "hyperbolic cosine"),
    "tanh": (torch.tanh, "hyperbolic tangent"),
    "expm1": (torch.expm1, "e^x - 1"),
    "sigmoid": (torch.sigmoid, "1/(1+e^-x)"),
    "log_sigmoid": (F.logsigmoid, "log(1/(1+e^-x)) = -softplus(-x)"),
    "arcsinh": (torch.asinh, "inverse hyperbolic sine log(x+sqrt(x^2+1))"),
    "arctan": (torch.atan, "inverse tangent, in (-pi/2, pi/2)"),
    "bessel_i0e": (torch.special.i0e, "exponentially scaled modified Bessel I0: e^-|x| I0(x)"),
    "bessel_i1e": (torch.special.i1e, "exponentially scaled modified Bessel I1: e^-|x| I1(x)"),
    "relu": (torch.relu, "max(x, 0)"),
    "elu": (F.elu, "x if x>0 else e^x-1 (alpha 1)"),
    "selu": (F.selu, "1.0507*(x if x>0 else 1.6733*(e^x-1))"),
    "swish": (_swish, "x*sigmoid(x) (SiLU)"),
    "softplus": (_softplus, "log(1+e^x)"),
    "softsign": (F.softsign, "x/(1+|x|)"),
    "hard_sigmoid": (_hard_sigmoid, "relu6(x+3)/6 = clip((x+3)/6, 0, 1)"),
    "elish": (_elish, "x*sigmoid(x) for x>=0, (e^x-1)*sigmoid(x) below"),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, LEAKY_SLOPE),
        f"x if x>0 else {LEAKY_SLOPE}*x",
    ),
    "mish": (F.mish, "x*tanh(softplus(x))"),
    "gelu": (F.gelu, "x*Phi(x), the exact (erf) GELU"),
}

# --- binary ----------------------------------------------------------------------------

_BINARY: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], str]] = {
    "add": (torch.add, "a + b"),
    "sub": (torch.sub, "a - b"),
    "mul": (torch.mul, "a * b"),
    "div": (torch.div, "a / b (inf or NaN where b = 0)"),
    "pow": (torch.pow, "a^b (NaN for a negative base and a non-integer exponent)"),
    "max": (torch.maximum, "larger of a and b (NaN if either is NaN)"),
    "min": (torch.minimum, "smaller of a and b (NaN if either is NaN)"),
}

# --- n-ary -----------------------------------------------------------------------------


def _fold(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Tensor]:
    def folded(*args: Tensor) -> Tensor:
        return functools.reduce(fn, args)

    return folded


_NARY: dict[str, tuple[Callable[..., Tensor], str]] = {
    "sum_n": (_fold(torch.add), "a1 + a2 + ... (2 or more arguments)"),
    "prod_n": (_fold(torch.mul), "a1 * a2 * ... (2 or more arguments)"),
    "max_n": (_fold(torch.maximum), "largest argument (2 or more arguments)"),
    "min_n": (_fold(torch.minimum), "smallest argument (2 or more arguments)"),
}

OPERATORS: dict[str, Op] = {
    **{name: Op(1, fn, doc) for name, (fn, doc) in _UNARY.items()},
    **{name: Op(2, fn, doc) for name, (fn, doc) in _BINARY.items()},
    **{name: Op(None, fn, doc) for name, (fn, doc) in _NARY.items()},
}
"""Every operator of the grammar: name -> `Op`."""

OPERATORS_BY_ARITY: dict[str, list[str]] = {
    "unary": list(_UNARY),
    "binary": list(_BINARY),
    "n-ary": list(_NARY),
}
"""Operator names grouped by kind, in table order (``pwlgen functions`` prints them)."""

COMMUTATIVE = frozenset({"add", "mul", "max", "min", "sum_n", "prod_n", "max_n", "min_n"})
"""Operators whose arguments `canonical` may reorder."""

