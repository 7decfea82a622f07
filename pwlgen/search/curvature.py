"""`curvature`: breakpoints at equal shares of the integrated curvature, a fast baseline.

Li et al. (2022) place the breakpoints of a range fit where the curvature
``kappa = |f''| / (1 + f'^2)^(3/2)`` is large. Here the points sit at equal shares of
``integral kappa^power`` (power 1/2 by default; for |f''|^(1/2) instead of kappa^(1/2)
this is the asymptotically optimal knot density for the max error of linear
interpolation). The values are then fitted by least squares: on the grid in the range
workflow (option ``points``), exactly (Gauss-Legendre) otherwise.

References
----------
Li et al., "A Piecewise Linear Approximation ...", Electronics 11(9):1365, 2022.
"""

from __future__ import annotations

import numpy as np

from ..errors import SearchError
from ..pwl import PWL
from .lstsq import solve_values
from .minimax import density_points
from .problem import Problem
from .rangefit import DEFAULT_STEP, fit_values, grid_metrics, range_knots, range_options

__all__ = ["run", "placement"]


def placement(target, interval, n: int, power: float = 0.5, kind: str = "kappa") -> np.ndarray:
    """N points at equal shares of ``integral kappa**power`` on the interval.

    Parameters
    ----------
    kind : {"kappa", "f2"}
        Density: the curvature kappa or |f''|.
    """
    if not (np.isfinite(power) and power > 0):
        raise SearchError(f"power must be a positive number, not {power!r}")
    if kind not in ("kappa", "f2"):
        raise SearchError(f"kind must be 'kappa' or 'f2', not {kind!r}")
    return density_points(target, interval, n, kind, power)


def run(
    problem: Problem,
    rng: np.random.Generator,
    *,
    progress: bool = False,
    points: int | None = None,
    power: float = 0.5,
    kind: str = "kappa",
    step: float = DEFAULT_STEP,
    convention: str = "pwlgen",
) -> tuple[PWL, list[float], dict]:
    """Place the knots by curvature and fit the values.

    Parameters
    ----------
    points : int, optional
        Range workflow: number of interior points (``problem.n_knots - 2``); the outer
        knots sit on the interval ends and the values are fitted on the grid.
    power : float
        Exponent of the density (1/2 by default).
    kind : {"kappa", "f2"}
        Density: the curvature kappa or |f''|.
    step : float
        Grid step (range workflow).
    convention : str
        Recorded in the result.
    """
    n = problem.n_knots
    if points is not None:
        if points != n - 2 or problem.tails != "slope":
            raise SearchError(
                f"{points!r} interior points need a slope-tailed problem with {points} + 2 knots"
            )
        inner = placement(problem.target, problem.interval, n - 2, power, kind)
        pwl = fit_values(problem, range_knots(inner, problem.interval), step)
        info = {"power": float(power), "kind": kind,
                "grid_metrics": grid_metrics(pwl, problem.target, problem.interval, step),
                **range_options(problem.interval, n - 2, convention, step)}
        return pwl, [], info
    knots = placement(problem.target, problem.interval, n, power, kind)
    return solve_values(problem, knots), [], {"power": float(power), "kind": kind}
