"""Grammar expressions as torch callables and modules (a thin bridge to the grammar)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TargetError

__all__ = ["BASELINES", "Expression", "ExprActivation", "compile_expression", "grammar"]

BASELINES = ("relu(x)", "gelu(x)", "swish(x)", "tanh(x)", "elu(x)", "selu(x)", "softplus(x)",
             "sigmoid(x)")
"""The activations a search evaluates first (AQuaSurF's baselines; swish = SiLU)."""

ALIASES = {"silu": "swish"}
"""Built-in target names the grammar spells differently."""


def grammar():
    """The operator grammar module `pwlgen.functions.grammar`.

    Raises
    ------
    TargetError
        When the grammar is not available in this installation.
    """
    try:
        from ..functions import grammar as g
    except ImportError as e:  # pragma: no cover - the grammar ships with pwlgen
        raise TargetError(f"the operator grammar is not available: {e}") from e
    return g


@dataclass(frozen=True)
class Expression:
    """A parsed activation expression.

    Parameters
    ----------
    text : str
        Canonical text (commutative arguments sorted): the database key of its form.
    fn : callable
        Elementwise torch function of one tensor.
    """

    text: str
    fn: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate on a tensor."""
        return self.fn(x)


def compile_expression(text: str) -> Expression:
    """Parse `text` (a grammar expression, or a baseline name such as ``"gelu"``).

    Raises
    ------
    ExpressionError
        For a malformed expression or an unknown operator.
    """
    if not isinstance(text, str):
        raise TypeError(f"an expression is a string, not {type(text).__name__}")
    g = grammar()
    src = text.strip()
    if src.isidentifier() and src != "x":
        src = f"{ALIASES.get(src, src)}(x)"
    node = g.canonical(g.parse(src))
    return Expression(str(node), g.compile_torch(node))


class ExprActivation(nn.Module):
    """An `nn.Module` computing a grammar expression elementwise.

    Parameters
    ----------
    text : str
        The expression; ``extra_repr`` shows its canonical form.
    """

    def __init__(self, text: str):
        super().__init__()
        self.expression = compile_expression(text)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the expression."""
        return self.expression.fn(x)

    def extra_repr(self) -> str:
        """The canonical expression text."""
        return repr(self.expression.text)
