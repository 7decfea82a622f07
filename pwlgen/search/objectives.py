"""Objective functions: how good a PWL is for a `Problem` (smaller is better)."""

from __future__ import annotations

from collections.abc import Callable

from ..pwl import PWL, l2_deriv_error, l2_error, max_error
from .problem import Problem

__all__ = ["OBJECTIVES", "OBJECTIVE_HELP", "objective_value", "knot_objective"]


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


OBJECTIVE_HELP: dict[str, str] = {
    "l2": "int (f - h)^2 over the interval: function space, Approx-BP's objective",
    "l2-deriv": "int (f' - h')^2 over the interval: the step function h' vs f' (Few-Bit's)",
    "max": "max |f - h| over the interval (minimax)",
}
"""Objective name -> one line for help texts and docs."""


def knot_objective(problem: Problem, knots) -> float:
    """The reduced objective: the problem's objective at the best values for `knots`.

    The values come from the inner solve of the objective (`pwlgen.search.inner`).
    """
    from .inner import best_values

    return objective_value(best_values(problem, knots), problem)
