"""`optimal`: multi-start quasi-Newton over the knots with the inner solve inside.

Variable projection: for given knots the best values come from the inner solve
(`pwlgen.search.inner`), so the search runs over the knots alone, on the reduced objective
J(knots). The knots are reparametrised so that they stay sorted and inside the interval
whatever the optimiser does: with ``u = (0, z_1..z_n)`` and ``g = softmax(u)``,
``x_i = lo + (hi - lo) * (g_0 + ... + g_{i-1})``, i.e. the n + 1 gaps are positive and
fill [lo, hi]. For ``l2`` the exact gradient of J costs O(n) (sparse normal equations,
`pwlgen.search.l2knots`), and L-BFGS runs from each start until a step gains less than
``gtol`` relative: no iteration cap decides the result. Starts: uniform knots, knots at
the quantiles of ``|f''|**0.4`` (the asymptotic L2-optimal density), from 16 knots on the
N/2 optimum's density (a warm start, solved the same way first), and the best of a pool
at random quantiles of the density. For ``max`` (not smooth) the L2-optimal knots are
polished with Nelder-Mead on the LP minimax value. ``l2-deriv`` is solved globally by
`pwlgen.search.stepfit` (a dynamic programme, then Newton).

Reference: the objective and the k-bit problem are those of Approx-BP, Yang et al.,
"Reducing Fine-Tuning Memory Overhead by Approximate and Memory-Sharing Backpropagation",
ICML 2024 (ReGELU2 / ReSiLU2); variable projection is Golub & Pereyra, SIAM J. Numer.
Anal. 10 (1973).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from ..pwl import PWL
from .inner import (
    batch_objective,
    best_values,
    check_options,
    curvature_knots,
    positive_float,
    positive_int,
    reduced,
    sanitize_knots,
    solve_max,
)
from .l2knots import l2_gradient, l2_value
from .objectives import objective_value
from .problem import Problem
from .stepfit import DEFAULT_GRIDS
from .stepfit import solve as solve_steps

__all__ = ["run", "DEFAULTS"]

DEFAULTS = {
    "starts": 4,  # [warm,] uniform, curvature, then the best of the random pool
    "pool": None,  # random candidate starts ranked by objective: 256 to 32 knots, 32 beyond
    "maxiter": 20_000,  # a safety net: each start stops when it converges
    "gtol": 1e-12,  # converged: the relative gain of a step is below this
    "warm": 16,  # from this many knots on, one start comes from the N/2 optimum
    "polish": 150,  # Nelder-Mead evaluations for the max objective
    "knots": None,  # an extra start given by the user
}


def _to_knots(z: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Knots from the unconstrained parameters, and the softmax weights g (for `_pullback`)."""
    u = np.concatenate([[0.0], z])
    e = np.exp(u - u.max())
    g = e / e.sum()
    cum = np.cumsum(g)[:-1]  # C_i = g_0 + ... + g_{i-1}, i = 1..n
    return lo + (hi - lo) * cum, g


def _pullback(grad: np.ndarray, g: np.ndarray, span: float) -> np.ndarray:
    """dJ/dz from dJ/dknots in O(n).

    Knot i (0-based) sits at ``C_i = g_0 + ... + g_i``; ``dC_i/du_m = g_m ([m <= i] - C_i)``
    for m = 1..n, so ``dJ/dz_m = span * g_m * (sum_{i >= m} grad_i - sum_i grad_i C_i)``.
    """
    cum = np.cumsum(g)[:-1]
    tail = np.concatenate([np.cumsum(grad[::-1])[::-1][1:], [0.0]])  # sum over i >= m
    return span * g[1:] * (tail - grad @ cum)


def _to_params(knots: np.ndarray, lo: float, hi: float) -> np.ndarray:
    gaps = np.diff(np.concatenate([[lo], knots, [hi]]))
    gaps = np.maximum(gaps, 1e-9 * (hi - lo))
    u = np.log(gaps)
    return u[1:] - u[0]


def _descend(problem: Problem, start: np.ndarray, maxiter: int, gtol: float, trace: list):
    """L-BFGS over the knots from `start` until it converges (relative gain below `gtol`)."""
    lo, hi = problem.interval
    z0 = _to_params(start, lo, hi)
    # dense solves are cheaper than sparse bookkeeping for few knots
    gradient = reduced if problem.n_knots <= 32 else l2_gradient

    def fun(z):
        k, g = _to_knots(z, lo, hi)
        if np.any(np.diff(k) <= 0):  # gaps below float resolution
            k = sanitize_knots(problem, k, 1e-12 * (hi - lo))
        val, grad = gradient(problem, k)
        trace.append(val)
        return val, _pullback(grad, g, hi - lo)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(fun, z0, jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "maxfun": 2 * maxiter, "ftol": gtol,
                                "gtol": 0.0, "maxcor": 30})
    k = _to_knots(res.x, lo, hi)[0]
    return sanitize_knots(problem, k, 1e-12 * (hi - lo)), int(res.nit)


def _warm_start(problem: Problem, knots: np.ndarray) -> np.ndarray:
    """N knots that follow the density of an optimum with fewer knots (quantile map)."""
    lo, hi = problem.interval
    q = np.linspace(0.0, 1.0, knots.size + 2)
    x = np.concatenate([[lo], knots, [hi]])
    n = problem.n_knots
    return np.interp((np.arange(n) + 1.0) / (n + 1.0), q, x)


def _polish_max(problem: Problem, start: np.ndarray, evals: int, trace: list) -> np.ndarray:
    lo, hi = problem.interval

    def fun(z):
        k = sanitize_knots(problem, _to_knots(z, lo, hi)[0], 1e-9 * (hi - lo))
        val = solve_max(problem, k, grid=1001, with_error=True)[1]
        trace.append(val)
        return val

    z0 = _to_params(start, lo, hi)
    res = minimize(fun, z0, method="Nelder-Mead",
                   options={"maxfev": evals, "xatol": 1e-7, "fatol": 1e-12})
    return sanitize_knots(problem, _to_knots(res.x, lo, hi)[0], 1e-9 * (hi - lo))


def _run_deriv(problem: Problem, rng, opt: dict) -> tuple[PWL, list[float], dict]:
    """``l2-deriv``: the global step-function solve (`pwlgen.search.stepfit`), one grid a start."""
    starts = positive_int("optimal", "starts", opt["starts"])
    grids = [DEFAULT_GRIDS[i % len(DEFAULT_GRIDS)] + 97 * (i // len(DEFAULT_GRIDS))
             for i in range(starts)]
    extra = None
    if opt["knots"] is not None:
        from .lstsq import run as _check  # same validation as lstsq's given knots

        _check(problem, rng, knots=opt["knots"])
        extra = np.asarray(opt["knots"], dtype=np.float64)
    knots, info = solve_steps(problem, grids, extra=extra)
    pwl = best_values(problem, knots)
    return pwl, [objective_value(pwl, problem)], info


def run(problem: Problem, rng: np.random.Generator, *, progress: bool = False,
        **options) -> tuple[PWL, list[float], dict]:
    """Multi-start L-BFGS over the knots (variable projection), the best of all starts.

    Parameters
    ----------
    problem : Problem
    rng : numpy.random.Generator
        Draws the random starts.
    progress : bool
        Show a progress bar over the starts (stderr).
    **options
        ``starts`` (int, default 4: uniform, curvature-based, from ``warm`` = 16 knots
        on one from the N/2 optimum (solved first, the same way), then the best of
        ``pool`` random candidates, default 256 up to 32 knots and 32 beyond), ``gtol``
        (a start has converged when an L-BFGS step gains less than this relative,
        1e-15), ``maxiter`` (a safety net
        per start, 20000), ``polish`` (Nelder-Mead evaluations for ``max``, 150),
        ``knots`` (an extra start). For ``l2-deriv`` the solve is global
        (`pwlgen.search.stepfit`): ``starts`` grids, the other options unused.

    Returns
    -------
    pwl : PWL
    history : list of float
        Best objective so far after every objective evaluation.
    info : dict
        ``starts``, ``iterations``, ``best_start``, ``evaluations``.

    Raises
    ------
    SearchError
        On an unknown or invalid option.
    """
    opt = check_options("optimal", options, DEFAULTS)
    if problem.objective == "l2-deriv":
        return _run_deriv(problem, rng, opt)
    starts = positive_int("optimal", "starts", opt["starts"])
    maxiter = positive_int("optimal", "maxiter", opt["maxiter"])
    gtol = positive_float("optimal", "gtol", opt["gtol"])
    polish = positive_int("optimal", "polish", opt["polish"], minimum=0)
    pool_size = positive_int("optimal", "pool", opt["pool"] if opt["pool"] is not None
                             else (256 if problem.n_knots <= 32 else 32))
    warm = positive_int("optimal", "warm", opt["warm"], minimum=0)
    n = problem.n_knots

    smooth = problem.objective if problem.objective != "max" else "l2"
    sub = Problem(problem.target, n, problem.interval, smooth, problem.tails, problem.kbit)
    inits = [problem.uniform_knots(), curvature_knots(problem)]
    if warm and n >= warm:
        # the N/2 chain itself runs two starts (its own warm one and uniform knots)
        half = Problem(problem.target, n // 2, problem.interval, "l2", problem.tails)
        inner = run(half, rng, **{**opt, "knots": None, "starts": 2})[0]
        inits.insert(0, _warm_start(problem, inner.knots))
    if opt["knots"] is not None:
        from .lstsq import run as _check  # same validation as lstsq's given knots

        _check(problem, rng, knots=opt["knots"])
        inits.insert(0, np.asarray(opt["knots"], dtype=np.float64))
    want = starts + (opt["knots"] is not None)
    if len(inits) < want:
        # random quantiles of the curvature density (uniform draws in x waste most starts on
        # the flat tails, e.g. SiLU on +-38); the best of the pool go on to L-BFGS
        pool = np.stack([curvature_knots(problem, q=rng.uniform(0.0, 1.0, n))
                         for _ in range(max(pool_size, want))])
        if n <= 32:  # batched dense solves; beyond, their memory grows as n^2 per start
            vals = np.concatenate([batch_objective(sub, chunk) for chunk in np.array_split(
                pool, max(1, len(pool) // 32))])
        else:
            vals = np.array([l2_value(sub, row) for row in pool])
        inits.extend(pool[np.argsort(vals, kind="stable")[: want - len(inits)]])
    inits = inits[:want]

    trace: list[float] = []
    best, best_val, best_i, iters = None, np.inf, -1, 0
    bar = tqdm(inits, desc="optimal", unit="start", disable=(not progress) or None, leave=False)
    for i, start in enumerate(bar):
        k, nit = _descend(sub, sanitize_knots(problem, start), maxiter, gtol, trace)
        iters += nit
        val = objective_value(best_values(sub, k), sub)
        if val < best_val:
            best, best_val, best_i = k, val, i
    bar.close()
    if problem.objective == "max":
        trace_max: list[float] = []
        cands = [best] + ([_polish_max(problem, best, polish, trace_max)] if polish else [])
        vals = [objective_value(best_values(problem, c), problem) for c in cands]
        best = cands[int(np.argmin(vals))]
        trace = trace_max or [vals[0]]  # the l2 trace measured something else
    pwl = best_values(problem, best)
    history = np.minimum.accumulate(np.asarray(trace, dtype=float)).tolist() if trace else []
    info = {"starts": len(inits), "iterations": iters, "best_start": best_i,
            "evaluations": len(trace)}
    return pwl, history, info
