"""`uniform`: evenly spaced breakpoints with least-squares values, the simplest baseline.

In the range workflow (option ``points``) the interior points split [b_1, b_m] into equal
segments and the values are fitted on the grid; otherwise the knots are evenly spaced
strictly inside the interval and the values are the exact L2 fit.
"""

from __future__ import annotations

import numpy as np

from ..errors import SearchError
from ..pwl import PWL
from .lstsq import solve_values
from .problem import Problem
from .rangefit import DEFAULT_STEP, fit_values, grid_metrics, range_options

__all__ = ["run"]


def run(
    problem: Problem,
    rng: np.random.Generator,
    *,
    progress: bool = False,
    points: int | None = None,
    step: float = DEFAULT_STEP,
    convention: str = "pwlgen",
) -> tuple[PWL, list[float], dict]:
    """Evenly spaced knots, least-squares values.

    Parameters
    ----------
    points : int, optional
        Range workflow: number of interior points (``problem.n_knots - 2``).
    step : float
        Grid step (range workflow).
    convention : str
        Recorded in the result.
    """
    n = problem.n_knots
    if points is None:
        return solve_values(problem, problem.uniform_knots()), [], {}
    if points != n - 2 or problem.tails != "slope":
        raise SearchError(
            f"{points!r} interior points need a slope-tailed problem with {points} + 2 knots"
        )
    pwl = fit_values(problem, np.linspace(problem.lo, problem.hi, n), step)
    info = {"grid_metrics": grid_metrics(pwl, problem.target, problem.interval, step),
            **range_options(problem.interval, n - 2, convention, step)}
    return pwl, [], info
