"""The inner solves every method shares: the best values for given knots, per objective.

Every outer search (``sa``, ``optimal``, and the starts of ``sgd``) moves knots only; for
fixed knots the best continuous PWL is found here:

- ``l2``: weighted linear least squares (`pwlgen.search.lstsq.solve_values`), exact by
  Gauss-Legendre quadrature on every piece;
- ``max``: a linear programme (HiGHS via `scipy.optimize.linprog`) minimising the largest
  |f - h| on a dense grid plus the knots and kinks; the exact value is then measured with
  `pwlgen.pwl.max_error`;
- ``l2-deriv``: only h' is optimised. h' is a step function; the best free level on a piece
  is the mean of f' there, i.e. the secant slope ``(f(b) - f(a)) / (b - a)``; tail slopes
  stay on the asymptotes unless the tails are free. The values then follow by integrating
  h' from the left: from the left asymptote when that tail is pinned (so the right tail
  keeps its slope but not necessarily its offset), otherwise from f at the first knot (h
  interpolates f at the knots).

`batch_objective` evaluates the objective at the best values for a whole batch of knot
vectors at once (numpy, no Python loop for ``l2`` and ``l2-deriv``); `knot_gradient` gives
the exact gradient of that reduced objective with respect to the knots (variable
projection: the values are optimal, so their own derivative drops out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SearchError
from ..pwl import PWL, gauss_legendre, split_points
from .lstsq import assemble, solve_values
from .problem import Problem

__all__ = [
    "best_values",
    "solve_max",
    "chebyshev_fit",
    "solve_deriv",
    "batch_objective",
    "knot_gradient",
    "reduced",
    "sanitize_knots",
    "curvature_knots",
    "check_options",
]

_BATCH_ORDER = 16  # Gauss-Legendre order per piece inside the searches (final metrics use 24)


def check_options(method: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict:
    """Merge `options` into `defaults`, refusing unknown names.

    Raises
    ------
    SearchError
        On an option the method does not know.
    """
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise SearchError(
            f"unknown option {unknown[0]!r} for method {method!r}: "
            f"choose from {', '.join(sorted(defaults))}"
        )
    return {**defaults, **options}


def positive_int(method: str, name: str, value, minimum: int = 1) -> int:
    """Validate an integer option (>= `minimum`)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise SearchError(
            f"{method}: {name} must be an integer >= {minimum}, not {value!r}"
        )
    return int(value)


def positive_float(method: str, name: str, value, allow_zero: bool = False) -> float:
    """Validate a positive (or non-negative) finite float option."""
    try:
        v = float(value)
    except (TypeError, ValueError) as e:
        raise SearchError(f"{method}: {name} must be a number, not {value!r}") from e
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SearchError(f"{method}: {name} must be finite and {bound}, not {value!r}")
    return v


# ---------------------------------------------------------------------- knots
def sanitize_knots(problem: Problem, knots, min_gap: float | None = None) -> np.ndarray:
    """Clip knots into the interval, sort them and keep them `min_gap` apart.

    Works on one knot vector (n,) or a batch (P, n).
    """
    lo, hi = problem.interval
    gap = (hi - lo) * 1e-6 if min_gap is None else float(min_gap)
    k = np.sort(np.clip(np.asarray(knots, dtype=np.float64), lo, hi), axis=-1)
    n = k.shape[-1]
    steps = gap * np.arange(n)
    # push right to respect the gap, then back left of hi
    k = np.maximum.accumulate(k - steps, axis=-1) + steps
    top = hi - gap * np.arange(n)[::-1]
    k = np.minimum(k, top)
    return k


def curvature_knots(problem: Problem, power: float = 0.4, q=None) -> np.ndarray:
    """Knots at quantiles of the density ``|f''|**power`` (the asymptotic L2 knot density).

    Equal quantiles ``i / (n + 1)`` by default; `q` (n values in (0, 1)) picks others,
    e.g. random ones for random starts that still follow the curvature.
    """
    lo, hi = problem.interval
    x = np.linspace(lo, hi, 4001)
    with np.errstate(all="ignore"):
        dens = np.abs(problem.target.d2f(x)) ** power
    dens = np.where(np.isfinite(dens), dens, 0.0)
    dens = dens + 1e-3 * (dens.max() if dens.max() > 0 else 1.0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    if q is None:
        q = (np.arange(problem.n_knots) + 1.0) / (problem.n_knots + 1.0)
    q = np.sort(np.asarray(q, dtype=np.float64))
    return sanitize_knots(problem, np.interp(q, cdf, x))


# ---------------------------------------------------------------------- inner solves
def best_values(problem: Problem, knots) -> PWL:
    """The best continuous PWL on `knots` for the problem's objective."""
    knots = np.asarray(knots, dtype=np.float64)
    if problem.objective == "l2":
        return solve_values(problem, knots)
    if problem.objective == "max":
        return solve_max(problem, knots)
    return solve_deriv(problem, knots)


def _grid(problem: Problem, knots: np.ndarray, n: int) -> np.ndarray:
    lo, hi = problem.interval
    return split_points(lo, hi, np.linspace(lo, hi, n), knots, problem.target.kinks)


def chebyshev_fit(B: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """Parameters minimising ``max |B theta - r|``, and that max: the minimax LP (HiGHS).

    Minimise t subject to ``-t <= B theta - r <= t``; returns ``(theta, t)``.

    Raises
    ------
    SearchError
        When the solver does not reach the optimum.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    n, p = B.shape
    Bs = sparse.csr_matrix(B)
    ones = sparse.csr_matrix(np.ones((n, 1)))
    A = sparse.vstack([sparse.hstack([Bs, -ones]), sparse.hstack([-Bs, -ones])]).tocsr()
    res = linprog(np.r_[np.zeros(p), 1.0], A_ub=A, b_ub=np.r_[r, -r],
                  bounds=[(None, None)] * p + [(0, None)], method="highs")
    if res.status != 0:
        raise SearchError(f"minimax LP did not solve ({res.message})")
    return res.x[:p], float(res.x[p])


def solve_max(problem: Problem, knots, grid: int = 4001, tol: float = 1e-6,
              with_error: bool = False):
    """Minimax values on `knots`: an LP on a grid, by exchange on a dense grid.

    Minimise t subject to ``|f(x) - o(x) - B(x) theta| <= t`` on a working set of points,
    where h = o + B theta is the parametrisation of the least-squares fit (pinned values and
    fixed slopes in o). The working set starts as 257 even points plus knots and kinks; the
    local maxima of the error on a dense `grid` (plus knots and kinks) that exceed t by
    more than `tol` relative are added until none is left (a Remez-like exchange: a few small LPs
    instead of one large one). Measure the exact error with `pwlgen.pwl.max_error`.

    Returns the PWL, or ``(PWL, max error on the dense grid)`` with `with_error`.
    """
    from .lstsq import design

    knots = np.asarray(knots, dtype=np.float64)
    dense = _grid(problem, knots, grid)
    Bd, od = design(problem, knots, dense)
    rd = problem.target.f(dense) - od
    p = Bd.shape[1]
    if p == 0:
        pwl = assemble(problem, knots, np.zeros(0))
        return (pwl, float(np.max(np.abs(rd)))) if with_error else pwl
    work = np.unique(np.searchsorted(dense, _grid(problem, knots, 257)).clip(0, dense.size - 1))
    theta = np.linalg.lstsq(Bd, rd, rcond=None)[0]
    best, best_err, last_t = theta, np.max(np.abs(rd - Bd @ theta)), 0.0
    for _ in range(12):
        try:
            theta, t = chebyshev_fit(Bd[work], rd[work])
        except SearchError:  # pragma: no cover - the LP is always feasible and bounded
            break
        err = np.abs(rd - Bd @ theta)
        if err.max() < best_err:
            best, best_err = theta, err.max()
        # the LP bound t only grows; once it stalls, what is left is a choice between
        # equally good vertices of the LP, not a better fit
        if t <= last_t * (1.0 + tol) or best_err <= t * (1.0 + tol):
            break
        last_t = t
        pad = np.concatenate([[-np.inf], err, [-np.inf]])
        peak = (err >= pad[:-2]) & (err >= pad[2:])  # one point per local maximum
        work = np.union1d(work, np.nonzero(peak & (err > t * (1.0 + tol)))[0])
    pwl = assemble(problem, knots, best)
    return (pwl, float(best_err)) if with_error else pwl


def _deriv_slopes(problem: Problem, k: np.ndarray) -> np.ndarray:
    """Optimal piece slopes (P, n+1) for the l2-deriv objective, tails first/last."""
    lo, hi = problem.interval
    f, df = problem.target.f, problem.target.df
    fk = f(k)
    width = np.diff(k, axis=-1)
    with np.errstate(all="ignore"):
        inner = np.where(width > 0, np.diff(fk, axis=-1) / np.where(width > 0, width, 1.0),
                         df(k[..., :-1]))
    ends = []
    for side, kk, edge in (("left", k[..., :1], lo), ("right", k[..., -1:], hi)):
        s = problem.tail_slope(side)
        if s is not None:
            ends.append(np.full(kk.shape, s))
            continue
        w = np.abs(kk - edge)  # width of the tail inside the interval
        with np.errstate(all="ignore"):
            sec = (f(kk) - f(np.full(kk.shape, edge))) / (kk - edge)
        ends.append(np.where(w > 1e-12 * (hi - lo), sec, df(kk)))
    return np.concatenate([ends[0], inner, ends[1]], axis=-1)


def solve_deriv(problem: Problem, knots) -> PWL:
    """Best continuous PWL on `knots` for the l2-deriv objective (only h' is optimised)."""
    k = np.asarray(knots, dtype=np.float64)
    s = _deriv_slopes(problem, k)
    left = problem.pinned("left")
    y0 = left(k[0]) if left is not None else float(problem.target.f(k[:1])[0])
    values = y0 + np.concatenate([[0.0], np.cumsum(s[1:-1] * np.diff(k))])
    return PWL(k, values, s[0], s[-1])


# ---------------------------------------------------------------------- batched objective
def _batch_nodes(problem: Problem, k: np.ndarray, order: int):
    lo, hi = problem.interval
    kinks = np.asarray([v for v in problem.target.kinks if lo < v < hi], dtype=np.float64)
    P = k.shape[0]
    bp = np.concatenate(
        [np.full((P, 1), lo), np.full((P, 1), hi), k, np.broadcast_to(kinks, (P, kinks.size))],
        axis=1,
    )
    bp = np.sort(np.clip(bp, lo, hi), axis=1)
    t, w = gauss_legendre(order)
    a, b = bp[:, :-1, None], bp[:, 1:, None]
    half = 0.5 * (b - a)
    nodes = (0.5 * (a + b) + half * t).reshape(P, -1)
    weights = (half * w).reshape(P, -1)
    return nodes, weights


def _batch_design(problem: Problem, k: np.ndarray, x: np.ndarray, with_hat: bool = False):
    """Batched `lstsq.design`: B (P, M, p) and offset o (P, M) for knots k (P, n).

    With `with_hat`, also the n hat functions (P, M, n), 1 on the tails for the end knots.
    """
    P, n = k.shape
    idx = np.sum(x[:, :, None] > k[:, None, :], axis=-1)  # pieces 0..n
    il = np.clip(idx - 1, 0, n - 1)
    ir = np.clip(idx, 0, n - 1)
    kl = np.take_along_axis(k, il, axis=1)
    kr = np.take_along_axis(k, ir, axis=1)
    inner = (idx > 0) & (idx < n)
    with np.errstate(all="ignore"):
        t = np.where(inner, (x - kl) / np.where(inner, kr - kl, 1.0), 0.0)
    cols = np.arange(n)
    left, right = idx == 0, idx == n
    hat = (
        (cols == il[..., None]) * np.where(inner, 1.0 - t, 0.0)[..., None]
        + (cols == ir[..., None]) * t[..., None]
        + (cols == 0) * left[..., None]
        + (cols == n - 1) * right[..., None]
    )
    offset = np.zeros(x.shape)
    extra = []
    keep = np.ones(n, dtype=bool)
    for side, j, mask in (("left", 0, left), ("right", n - 1, right)):
        slope = problem.tail_slope(side)
        dx = x - k[:, j : j + 1]
        asym = problem.pinned(side)
        if asym is not None and keep[j]:
            offset = offset + hat[..., j] * asym(k[:, j : j + 1])
            keep[j] = False
        if slope is not None:
            offset = offset + np.where(mask, slope * dx, 0.0)
        else:
            extra.append(np.where(mask, dx, 0.0)[..., None])
    B = np.concatenate([hat[..., keep], *extra], axis=-1)
    return (B, offset, hat) if with_hat else (B, offset)


def batch_objective(problem: Problem, knots, order: int = _BATCH_ORDER) -> np.ndarray:
    """Objective at the best values for each knot vector of a batch.

    Parameters
    ----------
    problem : Problem
    knots : array_like, shape (P, n) or (n,)
        Sorted knot vectors inside the interval (see `sanitize_knots`).
    order : int
        Gauss-Legendre nodes per piece.

    Returns
    -------
    ndarray, shape (P,) (or a float for one vector)
    """
    k = np.asarray(knots, dtype=np.float64)
    single = k.ndim == 1
    k = np.atleast_2d(k)
    if problem.objective == "max":
        # the LP's own error on its dense grid: the exact `max_error` is left to the end
        out = np.array([solve_max(problem, row, grid=1001, with_error=True)[1] for row in k])
    else:
        x, w = _batch_nodes(problem, k, order)
        if problem.objective == "l2":
            out = _batch_l2(problem, k, x, w)
        else:
            s = _deriv_slopes(problem, k)
            idx = np.sum(x[:, :, None] > k[:, None, :], axis=-1)
            r = problem.target.df(x) - np.take_along_axis(s, idx, axis=1)
            out = np.sum(w * r * r, axis=1)
    return float(out[0]) if single else out


def _batch_l2(problem: Problem, k: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    B, o = _batch_design(problem, k, x)
    r0 = problem.target.f(x) - o
    if B.shape[-1] == 0:
        return np.sum(w * r0 * r0, axis=1)
    Bw = B * w[..., None]
    G = np.einsum("pmi,pmj->pij", Bw, B)
    rhs = np.einsum("pmi,pm->pi", Bw, r0)
    scale = np.trace(G, axis1=1, axis2=2)[:, None, None] / G.shape[-1]
    G = G + 1e-13 * scale * np.eye(G.shape[-1])
    theta = np.linalg.solve(G, rhs[..., None])[..., 0]
    r = r0 - np.einsum("pmi,pi->pm", B, theta)
    return np.sum(w * r * r, axis=1)


# ---------------------------------------------------------------------- gradient
def reduced(problem: Problem, knots, order: int = 24) -> tuple[float, np.ndarray]:
    """The reduced objective J(knots) at the best values, and its exact gradient.

    One pass for ``l2`` (a weighted least-squares solve on Gauss-Legendre nodes) or
    ``l2-deriv`` (secant slopes); the fast path of `optimal`. See `knot_gradient`.
    """
    k = np.asarray(knots, dtype=np.float64)
    if problem.objective == "l2-deriv":
        s = _deriv_slopes(problem, k[None, :])
        x, w = _batch_nodes(problem, k[None, :], order)
        idx = np.sum(x[0][:, None] > k[None, :], axis=-1)
        r = problem.target.df(x[0]) - s[0][idx]
        d = problem.target.df(k)
        return float(np.sum(w[0] * r * r)), (d - s[0, :-1]) ** 2 - (d - s[0, 1:]) ** 2
    if problem.objective != "l2":
        raise SearchError(f"no knot gradient for the {problem.objective!r} objective")
    x, w = _batch_nodes(problem, k[None, :], order)
    B, o, hat = _batch_design(problem, k[None, :], x, with_hat=True)
    x, w, B, o, hat = x[0], w[0], B[0], o[0], hat[0]
    f = problem.target.f(x)
    sw = np.sqrt(w)
    theta = np.linalg.lstsq(B * sw[:, None], (f - o) * sw, rcond=None)[0] if B.shape[1] else []
    pwl = assemble(problem, k, np.asarray(theta, dtype=np.float64))
    resid = f - o - (B @ theta if B.shape[1] else 0.0)
    return float(np.sum(w * resid * resid)), _l2_gradient(problem, pwl, x, w, resid, hat)


def _l2_gradient(problem, pwl, x, w, resid, hat):
    n = pwl.n_knots
    dh = pwl.derivative(x)
    p = np.zeros(n)
    pinned = np.zeros(n, dtype=bool)
    for side, j in (("left", 0), ("right", n - 1)):
        asym = problem.pinned(side)
        if asym is not None and not pinned[j]:  # as in lstsq: the left pin wins for n = 1
            p[j], pinned[j] = asym.slope, True
    wr = w * resid
    return 2.0 * ((wr * dh) @ hat) - 2.0 * p * (wr @ hat)


def knot_gradient(problem: Problem, pwl: PWL, order: int = 24) -> np.ndarray:
    """Exact gradient of the reduced objective J(knots) at `pwl` (values optimal).

    - ``l2``: ``dJ/dx_k = 2 * int (f - h) (h' - p_k) phi_k dx``, where phi_k is the hat
      function of knot k (1 on its tail for an end knot) and p_k the asymptote slope when
      the value at x_k is pinned to it (else 0);
    - ``l2-deriv``: ``dJ/dx_k = (f'(x_k) - s_left)**2 - (f'(x_k) - s_right)**2`` with the
      slopes of the two pieces that meet at x_k.

    Not defined for ``max`` (nonsmooth).
    """
    k = pwl.knots
    if problem.objective == "l2-deriv":
        s = pwl.slopes
        d = problem.target.df(k)
        return (d - s[:-1]) ** 2 - (d - s[1:]) ** 2
    if problem.objective != "l2":
        raise SearchError(f"no knot gradient for the {problem.objective!r} objective")
    x, w = _batch_nodes(problem, k[None, :], order)
    hat = _batch_design(problem, k[None, :], x, with_hat=True)[2][0]
    x, w = x[0], w[0]
    return _l2_gradient(problem, pwl, x, w, problem.target.f(x) - pwl(x), hat)
