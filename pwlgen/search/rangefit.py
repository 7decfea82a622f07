"""The range workflow: breakpoints on a fixed input range, a grid fit, the asymptotes outside.

A range fit with interior points b_2 .. b_{m-1} on [b_1, b_m] is a `PWL` whose knots are
[b_1, ..., b_m] with every value free and the tail slopes equal to the asymptote slopes:
``Problem(target, m, (b_1, b_m), tails="slope")``. Inside the range its values are the
linear least-squares fit on a uniform grid (step 0.001 by default: 16,001 samples on
[-8, 8]); this is the hinge-basis fit ``[1, (x - b_1)+, ..., (x - b_{m-1})+]`` of the
ISOCC 2023 paper and of Li et al. (2022), written in the knot/value basis. Outside the
range the *reported* function is the target's asymptote (sigmoid 0 and 1, tanh -1 and 1,
SiLU and GELU 0 and x); the PWL object itself continues with the asymptote's slope.

Errors are measured on the grid on [b_1, b_m]: mean |err|, max |err|, MSE and the paper's
score ``0.2*mean + 0.8*max``, next to the exact metrics of `pwlgen.pwl.metrics`.

References
----------
"Automated Generation of Piecewise Linear Approximations for Nonlinear Activation
Functions via Curvature-based Reinforcement Learning", ISOCC 2023.
Li et al., "A Piecewise Linear Approximation ...", Electronics 11(9):1365, 2022.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import SearchError
from ..functions import Target, get_target
from ..pwl import PWL, metrics
from .lstsq import solve_values
from .problem import Problem, SearchResult

__all__ = [
    "CONVENTIONS",
    "DEFAULT_RANGE",
    "DEFAULT_STEP",
    "SCORES",
    "check_points",
    "fit_values",
    "grid",
    "grid_metrics",
    "range_fit",
    "range_knots",
    "range_problem",
    "range_target",
    "region_table",
    "evaluate_table",
    "score_of",
    "range_options",
    "range_result",
]

DEFAULT_RANGE = (-8.0, 8.0)
DEFAULT_STEP = 0.001

CONVENTIONS = {
    "pwlgen": "erf GELU; 0.001 grid on [b1, bm] with both ends, all on the fit",
    "isocc2023": "tanh-form GELU (the paper's); 0.001 grid on [b1, bm] with both ends "
    "(16,001 samples on [-8, 8]); x = b1 on the first segment, x < b1 on the asymptote",
}
"""Convention name -> what it fixes. Both measure the same grid; they differ in GELU."""

SCORES = ("max", "mean", "mse", "paper")
"""Range objectives on the grid: max |err|, mean |err|, MSE, 0.2*mean + 0.8*max."""


def range_target(fn: Target | str, convention: str = "pwlgen") -> Target:
    """The target under a convention (``isocc2023`` evaluates GELU in its tanh form)."""
    if convention not in CONVENTIONS:
        raise SearchError(
            f"convention must be one of {', '.join(CONVENTIONS)}, not {convention!r}"
        )
    t = get_target(fn) if isinstance(fn, str) else fn
    if convention == "isocc2023" and t.name == "gelu":
        return get_target("gelu_tanh")
    return t


def grid(lo: float, hi: float, step: float = DEFAULT_STEP) -> np.ndarray:
    """The uniform grid on [lo, hi] with both ends (16,001 points for [-8, 8], step 0.001)."""
    if not (np.isfinite(step) and step > 0):
        raise SearchError(f"the grid step must be a positive number, not {step!r}")
    n = int(round((hi - lo) / step)) + 1
    return np.linspace(lo, hi, max(n, 2))


def check_points(points, interval=DEFAULT_RANGE) -> np.ndarray:
    """Validate interior breakpoints: finite, strictly increasing, strictly inside the range.

    Raises
    ------
    SearchError
        With the bad value in the message.
    """
    lo, hi = (float(v) for v in interval)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise SearchError(f"the range must have LO < HI, both finite, not [{lo:g}, {hi:g}]")
    try:
        p = np.array(points, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise SearchError(f"breakpoints must be numbers, not {points!r}") from e
    if p.size == 0:
        raise SearchError("give at least one interior breakpoint")
    if not np.all(np.isfinite(p)):
        raise SearchError(f"breakpoints must be finite, not {p.tolist()!r}")
    d = np.diff(p)
    if np.any(d == 0):
        i = int(np.nonzero(d == 0)[0][0])
        raise SearchError(f"breakpoints must be distinct: {p[i]:g} appears twice")
    if np.any(d < 0):
        raise SearchError(f"breakpoints must be sorted in increasing order, not {p.tolist()!r}")
    outside = p[(p <= lo) | (p >= hi)]
    if outside.size:
        raise SearchError(
            f"breakpoints must lie strictly inside the range [{lo:g}, {hi:g}]: "
            f"{outside[0]:g} does not"
        )
    return p


def range_problem(
    target: Target | str, n_points: int, interval=DEFAULT_RANGE, objective: str = "l2"
) -> Problem:
    """The range problem: `n_points` interior points, knots at both ends, slope tails."""
    if not isinstance(n_points, int | np.integer) or n_points < 1:
        raise SearchError(f"the number of interior points must be >= 1, not {n_points!r}")
    t = get_target(target) if isinstance(target, str) else target
    return Problem(t, int(n_points) + 2, tuple(interval), objective, "slope")


def range_knots(interior, interval) -> np.ndarray:
    """The knots [b_1, interior..., b_m] of a range fit."""
    lo, hi = interval
    return np.concatenate([[lo], np.asarray(interior, dtype=np.float64), [hi]])


def fit_values(problem: Problem, knots, step: float = DEFAULT_STEP) -> PWL:
    """Least-squares values on the grid (uniform weights): the paper's hinge-basis fit."""
    x = grid(problem.lo, problem.hi, step)
    return solve_values(problem, knots, nodes=x, weights=np.ones_like(x))


def grid_metrics(pwl: PWL, target: Target, interval, step: float = DEFAULT_STEP) -> dict:
    """Mean |err|, max |err|, MSE and the paper score on the grid on [lo, hi]."""
    x = grid(*interval, step)
    r = pwl(x) - target.f(x)
    a = np.abs(r)
    mean, mx = float(a.mean()), float(a.max())
    return {
        "grid_mean_err_abs": mean,
        "grid_max_err_abs": mx,
        "grid_mse": float(np.mean(r * r)),
        "paper_score": 0.2 * mean + 0.8 * mx,
    }


def score_of(gm: dict, score: str) -> float:
    """One range objective (a key of `SCORES`) from a `grid_metrics` dictionary."""
    key = {"max": "grid_max_err_abs", "mean": "grid_mean_err_abs", "mse": "grid_mse",
           "paper": "paper_score"}
    if score not in key:
        raise SearchError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    return gm[key[score]]


def range_options(interval, n_points: int, convention: str, step: float) -> dict:
    """Options every range result records (so that a later stage knows what it holds)."""
    return {
        "range": [float(interval[0]), float(interval[1])],
        "n_points": int(n_points),
        "convention": convention,
        "grid_step": float(step),
        "outside": "asymptote",
    }


def range_fit(
    target: Target | str,
    points,
    *,
    interval=DEFAULT_RANGE,
    convention: str = "pwlgen",
    step: float = DEFAULT_STEP,
) -> SearchResult:
    """Fit the range PWL for given interior breakpoints and measure it.

    Parameters
    ----------
    target : Target or str
    points : array_like
        Interior breakpoints b_2 .. b_{m-1}, strictly increasing, inside `interval`.
    interval : (float, float)
        The range [b_1, b_m].
    convention : {"pwlgen", "isocc2023"}
        ``isocc2023`` reproduces the paper (tanh-form GELU).
    step : float
        Grid step of the fit and of the grid metrics.

    Returns
    -------
    SearchResult
        Method ``lstsq``, tails ``slope``; metrics hold the exact ones and the grid ones
        (``grid_mean_err_abs``, ``grid_max_err_abs``, ``grid_mse``, ``paper_score``).

    Examples
    --------
    >>> r = range_fit("sigmoid", [-2.0, 0.0, 2.0])
    >>> r.pwl.knots.tolist()
    [-8.0, -2.0, 0.0, 2.0, 8.0]
    """
    t = range_target(target, convention)
    p = check_points(points, interval)
    problem = range_problem(t, p.size, interval)
    start = time.perf_counter()
    pwl = fit_values(problem, range_knots(p, problem.interval), step)
    wall = time.perf_counter() - start
    return range_result(pwl, t, problem.interval, "lstsq", "l2", convention, step, wall,
                        options={"points": p.tolist()})


def range_result(pwl: PWL, target: Target, interval, method: str, objective: str,
                 convention: str, step: float, wall: float, *, seed=None, history=(),
                 options=None) -> SearchResult:
    """Wrap a range PWL in a `SearchResult` with exact and grid metrics."""
    return SearchResult(
        pwl=pwl,
        target=target.expression or target.name,
        method=method,
        objective=objective,
        interval=tuple(interval),
        seed=seed,
        wall_time_s=wall,
        metrics={**metrics(pwl, target, *interval), **grid_metrics(pwl, target, interval, step)},
        history=[float(h) for h in history],
        options={**range_options(interval, pwl.n_knots - 2, convention, step), **(options or {})},
        kbit=None,
        tails="slope",
    )


def region_table(pwl: PWL, target: Target, outside: str = "asymptote") -> list[dict]:
    """The reported piecewise function: one row per region, asymptote regions included.

    Each row holds ``lo``, ``hi`` (``-inf`` / ``inf`` for the outer regions), ``slope``,
    ``intercept`` and ``kind`` (``asymptote``, ``segment`` or ``tail`` when the target has
    no asymptote on that side and the PWL's own tail is reported).
    """
    k = pwl.knots
    s, b = pwl.slopes, pwl.intercepts
    rows = [_outer_row(target.left if outside == "asymptote" else None, -np.inf, float(k[0]),
                       s[0], b[0])]
    for i in range(1, k.size):
        rows.append({"lo": float(k[i - 1]), "hi": float(k[i]), "slope": float(s[i]),
                     "intercept": float(b[i]), "kind": "segment"})
    rows.append(_outer_row(target.right if outside == "asymptote" else None, float(k[-1]),
                           np.inf, s[-1], b[-1]))
    return rows


def _outer_row(asym, lo, hi, slope, intercept) -> dict:
    if asym is not None:
        return {"lo": float(lo), "hi": float(hi), "slope": float(asym.slope),
                "intercept": float(asym.intercept), "kind": "asymptote"}
    return {"lo": float(lo), "hi": float(hi), "slope": float(slope),
            "intercept": float(intercept), "kind": "tail"}


def evaluate_table(rows: list[dict], x) -> np.ndarray:
    """Evaluate a `region_table` at x.

    Region i holds lo_i <= x < hi_i, except that the last segment inside the range is
    closed on both ends: [b_1, b_m] is all fit (the grid the errors are measured on) and
    only x < b_1 and x > b_m take the outer regions.
    """
    x = np.asarray(x, dtype=np.float64)
    lows = np.array([r["lo"] for r in rows[1:]])
    idx = np.searchsorted(lows, x, side="right")
    idx = np.where(x == lows[-1], idx - 1, idx)  # x = b_m on the last segment
    s = np.array([r["slope"] for r in rows])
    b = np.array([r["intercept"] for r in rows])
    return s[idx] * x + b[idx]
