"""The global solve of the ``l2-deriv`` objective: the best step function h' for f'.

For ``l2-deriv`` only h' matters, and h' is a step function: n knots cut the interval
[lo, hi] into n + 1 cells, each with one level. A free level is best at the mean of f'
over its cell, ``(f(b) - f(a)) / (b - a)``; a tail whose slope is fixed (pinned or
``slope`` tails) keeps it. With ``F2(x) = int_lo^x f'^2``, the cost of a cell [a, b] is
then in closed form:

- free level:  ``F2(b) - F2(a) - (f(b) - f(a))**2 / (b - a)``;
- fixed level s: ``F2(b) - F2(a) - 2 s (f(b) - f(a)) + s**2 (b - a)``.

The total is a sum of cell costs, so the best knots *on a grid* follow from an exact
dynamic programme (the optimal segmentation of a line: O(n G^2) for G grid points). The
grid optimum is then refined in continuous knots by a damped Newton method: the gradient
is ``dJ/dx_k = (f'(x_k) - s_left)**2 - (f'(x_k) - s_right)**2`` and the Hessian is
tridiagonal (each knot only moves the levels of its two cells). Several grids of
different sizes (not multiples of each other) each give a refined optimum; when all agree
the result is *certified*: the optimum does not depend on where the grid put its points.
Nothing is random, so the result is the same for every seed.

Few-Bit (Novikov et al., "Few-Bit Backward: Quantized Gradients of Activation Functions
for Memory Footprint Reduction", ICML 2023) fits the same family by alternating border
and level updates from a random start, a local method.
"""

from __future__ import annotations

import numpy as np

from ..pwl import gauss_legendre, gauss_legendre_pieces, split_points
from .problem import Problem

__all__ = ["solve", "dp_knots", "refine", "objective", "DEFAULT_GRIDS"]

DEFAULT_GRIDS = (1000, 773, 617, 887)
"""Grid sizes (cells of [lo, hi]) of the starts, pairwise not multiples of each other."""

_AGREE = 1e-9  # relative agreement of the refined objectives that certifies the optimum


def _levels_fixed(problem: Problem) -> tuple[float | None, float | None]:
    return problem.tail_slope("left"), problem.tail_slope("right")


def _grid(problem: Problem, size: int) -> np.ndarray:
    lo, hi = problem.interval
    g = np.linspace(lo, hi, size + 1)
    kinks = [k for k in problem.target.kinks if lo < k < hi]
    return np.unique(np.concatenate([g, kinks])) if kinks else g


def _cumulative_f2(problem: Problem, g: np.ndarray, order: int = 16) -> np.ndarray:
    """``F2(g_j) = int_lo^g_j f'^2`` by Gauss-Legendre on every grid cell."""
    t, w = gauss_legendre(order)
    a, b = g[:-1, None], g[1:, None]
    half = 0.5 * (b - a)
    x = 0.5 * (a + b) + half * t
    d = problem.target.df(x.ravel()).reshape(x.shape)
    return np.concatenate([[0.0], np.cumsum(np.sum(half * w * d * d, axis=1))])


def _cell_cost(F2, fg, g, i, j, level):
    """Cost of the cells [g_i, g_j] (broadcast), with a free (None) or fixed level."""
    dF2 = F2[j] - F2[i]
    df = fg[j] - fg[i]
    width = g[j] - g[i]
    if level is None:
        with np.errstate(all="ignore"):
            c = dF2 - df * df / width
    else:
        c = dF2 - 2.0 * level * df + level * level * width
    return np.where(width > 0, np.maximum(c, 0.0), np.inf)


def dp_knots(problem: Problem, size: int) -> tuple[np.ndarray, float]:
    """The best knots on a grid of `size` cells of the interval, by dynamic programming.

    Returns
    -------
    knots : ndarray, shape (n,)
        Interior grid points, strictly increasing.
    value : float
        The objective at those knots (from the grid's cumulative integrals).
    """
    n = problem.n_knots
    g = _grid(problem, max(int(size), n + 1))
    G = g.size - 1  # grid points g_0 = lo .. g_G = hi; knots on g_1 .. g_{G-1}
    fg = problem.target.f(g)
    F2 = _cumulative_f2(problem, g)
    left, right = _levels_fixed(problem)
    idx = np.arange(G + 1)
    # inner[i, j]: cost of a free cell [g_i, g_j] (inf unless i < j)
    inner = _cell_cost(F2, fg, g, idx[:, None], idx[None, :], None)
    inner[np.tril_indices(G + 1)] = np.inf
    cost = _cell_cost(F2, fg, g, np.zeros(G + 1, dtype=int), idx, left)  # first cell
    cost[0] = np.inf
    back = np.zeros((n, G + 1), dtype=np.int64)
    for c in range(1, n):
        total = cost[:, None] + inner
        back[c] = np.argmin(total, axis=0)
        cost = total[back[c], idx]
    last = cost + _cell_cost(F2, fg, g, idx, np.full(G + 1, G), right)
    last[G] = np.inf
    j = int(np.argmin(last))
    value = float(last[j])
    knots = [j]
    for c in range(n - 1, 0, -1):
        j = int(back[c, j])
        knots.append(j)
    return g[np.array(knots[::-1])], value


def _levels(problem: Problem, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels of the n + 1 cells, and which ones are free (means of f')."""
    lo, hi = problem.interval
    edges = np.concatenate([[lo], k, [hi]])
    fe = problem.target.f(edges)
    width = np.diff(edges)
    with np.errstate(all="ignore"):
        s = np.diff(fe) / width
    free = np.ones(k.size + 1, dtype=bool)
    for pos, level in zip((0, -1), _levels_fixed(problem), strict=True):
        if level is not None:
            s[pos], free[pos] = level, False
    return s, free, width


def objective(problem: Problem, knots, pieces: int = 256) -> float:
    """``int (f' - h')**2`` with the best levels for `knots`, accurate to about 1e-15.

    Gauss-Legendre (order 16) on every piece between the knots, the kinks and `pieces`
    even points: a cell as wide as the interval would otherwise be integrated to 1e-5 only.
    """
    k = np.asarray(knots, dtype=np.float64)
    lo, hi = problem.interval
    s = _levels(problem, k)[0]
    x, w = gauss_legendre_pieces(
        split_points(lo, hi, k, problem.target.kinks, np.linspace(lo, hi, pieces + 1)), 16)
    r = problem.target.df(x) - s[np.searchsorted(k, x)]
    return float(np.sum(w * r * r))


def _newton_step(problem: Problem, k: np.ndarray, damping: float):
    """Gradient and the damped Newton step of the objective at knots `k`."""
    from scipy.linalg import solveh_banded

    s, free, width = _levels(problem, k)
    d = problem.target.df(k)
    d2 = problem.target.d2f(k)
    sl, sr = s[:-1], s[1:]
    grad = (d - sl) ** 2 - (d - sr) ** 2
    # d s_left / d x_k = (d - s_left) / w_left (free cells), d s_right / d x_k likewise
    dsl = np.where(free[:-1], (d - sl) / width[:-1], 0.0)
    dsr = np.where(free[1:], -(d - sr) / width[1:], 0.0)
    diag = 2.0 * (d - sl) * (d2 - dsl) - 2.0 * (d - sr) * (d2 - dsr)
    # d g_k / d x_{k+1} through the level of the cell between them
    off = 2.0 * (d[:-1] - sr[:-1]) * (d[1:] - sr[:-1]) / width[1:-1]
    scale = max(float(np.max(np.abs(diag))), 1e-300)
    ab = np.zeros((2, k.size))
    ab[1] = diag + damping * scale
    ab[0, 1:] = off
    if k.size == 1:
        return grad, (-grad / ab[1] if ab[1, 0] > 0 else None)
    try:
        step = solveh_banded(ab, -grad)
    except np.linalg.LinAlgError:  # not positive definite: more damping
        return grad, None
    return grad, step


def refine(problem: Problem, knots, maxiter: int = 100) -> tuple[np.ndarray, float, int]:
    """Continuous refinement of `knots` by damped Newton; never increases the objective.

    Returns
    -------
    knots : ndarray
    value : float
        The objective at `knots` (see `objective`).
    iterations : int
    """
    lo, hi = problem.interval
    gap = 1e-9 * (hi - lo)
    k = np.asarray(knots, dtype=np.float64).copy()
    val = float(objective(problem, k))
    damping = 1e-8
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007 - the count is returned
        grad, step = _newton_step(problem, k, damping)
        if step is None:
            damping *= 10.0
            if damping > 1e6:
                break
            continue
        new = k + step
        edges = np.concatenate([[lo], new, [hi]])
        ok = np.all(np.diff(edges) > gap)
        new_val = float(objective(problem, new)) if ok else np.inf
        if new_val <= val:
            gain = val - new_val
            k, val = new, new_val
            damping = max(damping * 0.1, 1e-12)
            if gain <= 1e-15 * max(val, 1e-300) or np.max(np.abs(step)) < 1e-13 * (hi - lo):
                break
        else:
            damping *= 10.0
            if damping > 1e6:
                break
    return k, val, it


def solve(problem: Problem, grids=DEFAULT_GRIDS, extra=None) -> tuple[np.ndarray, dict]:
    """The best knots for the ``l2-deriv`` objective: DP on each grid, then refinement.

    Parameters
    ----------
    problem : Problem
        With the ``l2-deriv`` objective.
    grids : sequence of int
        Grid sizes, one start each.
    extra : array_like, optional
        Knots of one more start, refined as given (a user's start; not in the spread).

    Returns
    -------
    knots : ndarray, shape (n,)
        The refined knots of the best start.
    info : dict
        ``starts``, ``iterations``, ``best_start``, ``spread`` (largest relative
        difference between the refined objectives of the starts) and ``certified``
        (spread <= 1e-9 over two or more starts).
    """
    results = []
    iters = 0
    for size in grids:
        k0, _ = dp_knots(problem, size)
        k, val, it = refine(problem, k0)
        iters += it
        results.append((val, k))
    vals = np.array([v for v, _ in results])
    if extra is not None:
        k, val, it = refine(problem, extra)
        iters += it
        results.append((val, k))
    best = int(np.argmin([v for v, _ in results]))
    gap = float(vals.max() - vals.min())
    spread = 0.0 if gap <= 1e-15 else gap / max(float(vals.min()), 1e-300)
    info = {"starts": len(results), "iterations": iters, "best_start": best,
            "spread": spread, "certified": bool(len(results) > 1 and spread <= _AGREE)}
    return results[best][1], info
