"""Objective functions: how good a PWL is for a `Problem` (smaller is better)."""

from __future__ import annotations

from collections.abc import Callable

from ..pwl import PWL, l2_deriv_error, l2_error, max_error
from .problem import Problem

__all__ = ["OBJECTIVES", "objective_value"]


def _l2(pwl: PWL, p: Problem) -> float:
    return l2_error(pwl, p.target.f, p.lo, p.hi, p.target.kinks)


def _l2_deriv(pwl: PWL, p: Problem) -> float:
    return l2_deriv_error(pwl, p.target.df, p.lo, p.hi, p.target.kinks)


def _max(pwl: PWL, p: Problem) -> float:
    return max_error(pwl, p.target.f, p.lo, p.hi)[0]


OBJECTIVES: dict[str, Callable[[PWL, Problem], float]] = {
    "l2": _l2,
    "l2-deriv": _l2_deriv,
    "max": _max,
}
"""Objective name -> exact value of a PWL for a problem."""


def objective_value(pwl: PWL, problem: Problem) -> float:
    """The problem's objective evaluated on `pwl`."""
    return OBJECTIVES[problem.objective](pwl, problem)
