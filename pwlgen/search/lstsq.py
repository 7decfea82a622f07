"""`lstsq`: for fixed knots, the continuous values that minimise the L2 error.

h is linear in its free values (hat functions on the knots, plus the tails), so the best
values solve a weighted linear least-squares problem over quadrature nodes. With
Gauss-Legendre nodes on every piece between knots this is the exact L2 optimum; with a
uniform grid it is the sampled fit of the range workflow. `optimal` calls this inside
its outer search over the knots (variable projection).
"""

from __future__ import annotations

import numpy as np

from ..pwl import PWL, gauss_legendre_pieces, split_points
from .problem import Problem

__all__ = ["run", "design", "hat_basis", "assemble", "solve_values", "quadrature"]


def quadrature(problem: Problem, knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [lo, hi], split at the knots and target kinks."""
    return gauss_legendre_pieces(split_points(*problem.interval, knots, problem.target.kinks))


def hat_basis(knots: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The piece index of each x (0..n, a knot on its left piece) and the n hat functions.

    Column j of the (len(x), n) matrix is the hat function of knot j, 1 on the tail for
    an end knot.
    """
    n = knots.size
    idx = np.searchsorted(knots, x, side="left")  # piece index 0..n
    hat = np.zeros((x.size, n))
    rows = np.arange(x.size)
    inner = (idx > 0) & (idx < n)
    i = idx[inner]
    t = (x[inner] - knots[i - 1]) / (knots[i] - knots[i - 1])
    hat[rows[inner], i - 1] = 1.0 - t
    hat[rows[inner], i] = t
    hat[idx == 0, 0] = 1.0
    hat[idx == n, n - 1] = 1.0
    return idx, hat


def design(problem: Problem, knots: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Basis matrix B and fixed part o with h(x) = o(x) + B(x) @ theta.

    The free parameters theta are the values at the knots that are not pinned, then the
    left and right tail slopes when they are fitted.
    """
    n = knots.size
    idx, hat = hat_basis(knots, x)
    left, right = idx == 0, idx == n
    offset = np.zeros(x.size)
    cols: list[np.ndarray] = []
    keep = np.ones(n, dtype=bool)
    for side, k, mask in (("left", 0, left), ("right", n - 1, right)):
        slope = problem.tail_slope(side)
        dx = x - knots[k]
        asym = problem.pinned(side)
        if asym is not None and keep[k]:
            offset += hat[:, k] * asym(knots[k])
            keep[k] = False
        if slope is not None:
            offset += np.where(mask, slope * dx, 0.0)
        else:
            cols.append(np.where(mask, dx, 0.0))
    B = np.concatenate([hat[:, keep], *(c[:, None] for c in cols)], axis=1)
    return B, offset


def solve_values(
    problem: Problem, knots, nodes: np.ndarray | None = None, weights: np.ndarray | None = None
) -> PWL:
    """The best continuous PWL on `knots` for the weighted L2 error over `nodes`.

    Parameters
    ----------
    problem : Problem
    knots : array_like, shape (n,)
        Strictly increasing.
    nodes, weights : ndarray, optional
        Where the error is measured; defaults to exact Gauss-Legendre quadrature.
    """
    knots = np.asarray(knots, dtype=np.float64)
    if nodes is None:
        nodes, weights = quadrature(problem, knots)
    B, o = design(problem, knots, nodes)
    f = problem.target.f(nodes)
    sw = np.sqrt(weights)
    theta = np.zeros(B.shape[1])
    if B.shape[1]:
        theta = np.linalg.lstsq(B * sw[:, None], (f - o) * sw, rcond=None)[0]
    return assemble(problem, knots, theta)


def assemble(problem: Problem, knots: np.ndarray, theta: np.ndarray) -> PWL:
    """The PWL on `knots` with free parameters `theta` in the order `design` uses them."""
    n = knots.size
    values = np.empty(n)
    free = np.ones(n, dtype=bool)
    for side, k in (("left", 0), ("right", n - 1)):
        asym = problem.pinned(side)
        if asym is not None and free[k]:
            values[k] = asym(knots[k])
            free[k] = False
    nfree = int(free.sum())
    values[free] = theta[:nfree]
    rest = list(theta[nfree:])
    slopes = {}
    for side in ("left", "right"):
        s = problem.tail_slope(side)
        slopes[side] = rest.pop(0) if s is None else s
    return PWL(knots, values, slopes["left"], slopes["right"])


def run(problem: Problem, rng: np.random.Generator, *, progress: bool = False,
        knots=None) -> tuple[PWL, list[float], dict]:
    """Fit the values on given knots (default: evenly spaced inside the interval).

    Parameters
    ----------
    knots : array_like, optional
        The knots; their count must equal ``problem.n_knots``.
    """
    from ..errors import SearchError

    k = problem.uniform_knots() if knots is None else np.asarray(knots, dtype=np.float64)
    if k.size != problem.n_knots:
        raise SearchError(f"expected {problem.n_knots} knots, got {k.size}")
    if np.any(np.diff(k) <= 0):
        raise SearchError(f"knots must be strictly increasing, not {k.tolist()!r}")
    return solve_values(problem, k), [], {"knots_given": knots is not None}
