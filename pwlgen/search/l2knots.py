"""The L2 objective of free knots and its exact gradient, in time linear in the knots.

The residual ``r(x) = f(x) - h(x)`` on Gauss-Legendre nodes (16 per piece between knots
and kinks) depends on the free values theta (values at the knots that are not pinned,
fitted tail slopes) and on the knots. Both dependencies are local: a node between knots
j and j + 1 only sees the hat functions of those two knots, so

- the best theta solve sparse (tridiagonal plus the tail columns) normal equations;
- with theta optimal its own derivative drops out (variable projection), and
  ``dJ/dx_k = -2 int w r dh/dx_k`` with ``dh/dx_k(x) = (p_k - h'(x)) * phi_k(x)``,
  phi_k the hat function of knot k (1 on its tail for an end knot) and p_k the
  asymptote's slope when the value at x_k is pinned to it (else 0).

`optimal` runs its quasi-Newton search on this; a dense least-squares solve per
evaluation would cost O(n^3).

Reference: Golub & Pereyra, variable projection, SIAM J. Numer. Anal. 10 (1973).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from ..pwl import PWL, gauss_legendre
from .problem import Problem

__all__ = ["fit_values", "l2_value", "l2_gradient"]

_ORDER = 16  # Gauss-Legendre nodes per piece: exact for the residual's smooth part to ~1e-15


def _nodes(problem: Problem, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = problem.interval
    kinks = [v for v in problem.target.kinks if lo < v < hi]
    bp = np.unique(np.concatenate([[lo, hi], k, kinks]))
    t, w = gauss_legendre(_ORDER)
    a, b = bp[:-1, None], bp[1:, None]
    half = 0.5 * (b - a)
    return (0.5 * (a + b) + half * t).ravel(), (half * w).ravel()


class _Basis:
    """Sparse hat functions and tails of knots `k` at nodes `x`, and the fixed part."""

    def __init__(self, problem: Problem, k: np.ndarray, x: np.ndarray):
        n = k.size
        m = x.size
        idx = np.searchsorted(k, x)  # piece 0..n
        inner = (idx > 0) & (idx < n)
        il = np.clip(idx - 1, 0, n - 1)
        ir = np.clip(idx, 0, n - 1)
        with np.errstate(all="ignore"):
            t = np.where(inner, (x - k[il]) / np.where(inner, k[ir] - k[il], 1.0), 0.0)
        rows = np.arange(m)
        # hat values: (1 - t) on the left knot, t on the right; 1 on the tails
        wl = np.where(inner, 1.0 - t, np.where(idx == 0, 1.0, 0.0))
        wr = np.where(inner, t, np.where(idx == n, 1.0, 0.0))
        self.hat = sparse.csr_matrix(
            (np.concatenate([wl, wr]), (np.concatenate([rows, rows]), np.concatenate([il, ir]))),
            shape=(m, n))
        self.n, self.idx = n, idx
        self.left_dx = np.where(idx == 0, x - k[0], 0.0)
        self.right_dx = np.where(idx == n, x - k[-1], 0.0)
        # which values are pinned (the left pin wins for one knot, as in lstsq.assemble)
        self.pin = np.zeros(n, dtype=bool)
        self.pin_slope = np.zeros(n)
        self.pin_value = np.zeros(n)
        for side, j in (("left", 0), ("right", n - 1)):
            asym = problem.pinned(side)
            if asym is not None and not self.pin[j]:
                self.pin[j], self.pin_slope[j] = True, asym.slope
                self.pin_value[j] = asym(k[j])
        self.slopes = {s: problem.tail_slope(s) for s in ("left", "right")}
        cols = [self.hat[:, ~self.pin]]
        self.offset = self.hat @ self.pin_value
        for side, dx in (("left", self.left_dx), ("right", self.right_dx)):
            if self.slopes[side] is None:
                cols.append(sparse.csr_matrix(dx[:, None]))
            else:
                self.offset = self.offset + self.slopes[side] * dx
        self.B = sparse.hstack(cols).tocsr()

    def assemble(self, k: np.ndarray, theta: np.ndarray) -> PWL:
        values = self.pin_value.copy()
        nv = int((~self.pin).sum())
        values[~self.pin] = theta[:nv]
        rest = list(theta[nv:])
        ls = rest.pop(0) if self.slopes["left"] is None else self.slopes["left"]
        rs = rest.pop(0) if self.slopes["right"] is None else self.slopes["right"]
        return PWL(k, values, ls, rs)


def _solve(A: sparse.spmatrix, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(spsolve(sparse.csc_matrix(A), b), dtype=np.float64)


def _values(problem: Problem, k: np.ndarray):
    """Nodes, weights, basis, best theta, the PWL, the residual and the L2^2 for knots k."""
    x, w = _nodes(problem, k)
    basis = _Basis(problem, k, x)
    r0 = problem.target.f(x) - basis.offset
    B = basis.B
    if B.shape[1]:
        Bw = B.multiply(w[:, None]).tocsr()
        G = (B.T @ Bw).tocsc()
        scale = G.diagonal().mean() if G.shape[0] else 1.0
        theta = _solve(G + 1e-14 * scale * sparse.identity(G.shape[0]), Bw.T @ r0)
        r = r0 - B @ theta
    else:
        theta, r = np.zeros(0), r0
    pwl = basis.assemble(k, theta)
    return x, w, basis, pwl, r, float(np.sum(w * r * r))


def fit_values(problem: Problem, knots) -> PWL:
    """The best continuous PWL on `knots` for L2 (sparse normal equations)."""
    return _values(problem, np.asarray(knots, dtype=np.float64))[3]


def l2_value(problem: Problem, knots) -> float:
    """L2^2 at the best values for `knots` (Gauss-Legendre, 16 nodes per piece)."""
    return _values(problem, np.asarray(knots, dtype=np.float64))[5]


def l2_gradient(problem: Problem, k: np.ndarray) -> tuple[float, np.ndarray]:
    """L2^2 at the best values for `k` and its exact gradient in the knots.

    With optimal values their own derivative drops out (variable projection), so
    ``dJ/dx_k = -2 int w r dh/dx_k`` with ``dh/dx_k = (p_k - h') phi_k``.
    """
    x, w, basis, pwl, r, val = _values(problem, k)
    dh = pwl.derivative(x)
    jk = basis.hat.multiply(basis.pin_slope[None, :] - dh[:, None]).tocsr()
    return val, -2.0 * (jk.T @ (w * r))
