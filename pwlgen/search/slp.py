"""SLP polish of a minimax PWL: knots and values moved together by sequential linear programmes.

At knots k and free parameters theta (`lstsq.design`: h = o + B theta, the unpinned knot
values, then any fitted tail slopes) the error e(x) = h(x) - f(x) is linear in theta and,
between the knots, smooth in k. With the values held, moving knot j changes h by

    dh/dk_j (x) = (p_j - h'(x)) phi_j(x),

phi_j the hat function of knot j (1 on the tail of an end knot), h'(x) the slope of the
piece holding x, p_j the asymptote's slope when the value at k_j is pinned to it (else 0).
On the piece (k_{j-1}, k_j), h = v_{j-1} + s (x - k_{j-1}) with s = (v_j - v_{j-1}) /
(k_j - k_{j-1}), so dh/dk_j = -s (x - k_{j-1}) / (k_j - k_{j-1}) = -s phi_j; on the piece
to the right of k_j likewise. At a point that moves with the knot (x = k_j, where a kink of
|e| peaks) the error is v_j - f(k_j), so de/dk_j = p_j - f'(k_j) there.

Each step solves the LP min t s.t. |e + J d| <= t on a working set (the local maxima of
|e| above half the max with their neighbours, and a coarse subsample of the grid) under the
trust region |d_k| <= r; the step is kept when the true max drops, else r halves. The
values then get the exact LP on the full point set.

The score is the max |e| on the grid, or with ``continuous`` the max between the grid
points too: every grid peak of |e| is refined by golden section on both neighbouring
intervals (the knots are points of the set, so each interval is smooth), and the refined
maxima and the knots join the LP's points.

A symmetric target (`detect_symmetry`) can be solved in the symmetric subspace: knots
mirrored about 0, values tied by f(-x) = 2c - f(x) (point symmetry: sigmoid, tanh) or
f(-x) = f(x) (even; SiLU and GELU are even once the line x / 2 is taken off, which the
error does not see), tail slopes tied accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import SearchError
from ..functions import Target
from ..functions.target import Asymptote
from ..pwl import PWL
from .lstsq import assemble, design, hat_basis
from .problem import Problem

__all__ = ["Symmetry", "detect_symmetry", "continuous_max", "polish", "symmetric"]

_GOLDEN = 0.5 * (np.sqrt(5.0) - 1.0)
_COARSE = 64  # every 64th grid point joins the step LP's working set
_PEAK = 0.5  # local maxima of |e| above this share of the max join it too


@dataclass(frozen=True)
class Symmetry:
    """A target's symmetry about 0.

    ``point``: f(-x) = 2 center - f(x) (sigmoid, tanh); ``even``: f(-x) = f(x) - 2 slope x,
    i.e. f minus the line slope * x is even (slope 0.5 for SiLU and GELU: f(x) - f(-x) = x).
    A line added to f and h leaves the error alone, so both are solved as mirror images.
    """

    kind: str
    center: float = 0.0
    slope: float = 0.0


def detect_symmetry(target: Target, interval, x: np.ndarray, tol: float = 1e-9) -> Symmetry | None:
    """The symmetry of `target` on a range symmetric about 0, checked on the grid `x`; else None."""
    lo, hi = interval
    if abs(lo + hi) > 1e-12 * (hi - lo):
        return None
    xp = x[x >= 0]
    with np.errstate(all="ignore"):
        a, b = target.f(xp), target.f(-xp)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return None
    scale = tol * (np.ptp(np.concatenate([a, b])) + 1e-300)
    s, d = a + b, a - b
    if np.ptp(s) <= scale:
        return Symmetry("point", center=float(0.5 * s.mean()))
    slope = float(np.dot(d, xp) / (2.0 * np.dot(xp, xp)))
    if np.max(np.abs(d - 2.0 * slope * xp)) <= scale:
        return Symmetry("even", slope=slope)
    return None


def _minus_line(problem: Problem, pwl: PWL, slope: float) -> tuple[Problem, PWL]:
    """The problem for f - slope * x (asymptotes and pins shifted alike) and pwl - slope * x."""
    t = problem.target
    line = {side: None if a is None else Asymptote(a.slope - slope, a.intercept)
            for side, a in (("left", t.left), ("right", t.right))}
    g = replace(t, f=lambda x: t.f(x) - slope * x, df=lambda x: t.df(x) - slope, _cache={},
                torch_fn=lambda x: t.torch_fn(x) - slope * x, **line)
    return replace(problem, target=g), _plus_line(pwl, -slope)


def _plus_line(pwl: PWL, slope: float) -> PWL:
    """Return pwl + slope * x."""
    return PWL(pwl.knots, pwl.values + slope * pwl.knots, pwl.left_slope + slope,
               pwl.right_slope + slope)


# ---------------------------------------------------------------------- parametrisation
@dataclass(frozen=True)
class _Layout:
    """Full deltas from reduced ones: d_knots = Sk @ d_red_k, theta = St @ phi + c0."""

    Sk: np.ndarray
    St: np.ndarray
    c0: np.ndarray


def _entries(problem: Problem, n: int) -> list[tuple[str, object]]:
    """The meaning of each theta entry, in `design`'s order: ('v', knot) or ('s', side)."""
    pinned = set()
    for side, j in (("left", 0), ("right", n - 1)):
        if problem.pinned(side) is not None:
            pinned.add(j)
    out: list[tuple[str, object]] = [("v", j) for j in range(n) if j not in pinned]
    return out + [("s", side) for side in ("left", "right") if problem.tail_slope(side) is None]


def _layout(problem: Problem, free: np.ndarray, sym: Symmetry | None) -> _Layout:
    """The free (`sym` None) or symmetric parametrisation; SearchError if it cannot be symmetric."""
    n = free.size
    ent = _entries(problem, n)
    if sym is None:
        return _Layout(np.eye(n)[:, free], np.eye(len(ent)), np.zeros(len(ent)))
    kcols = []
    for j in range(n // 2):
        if free[j] != free[n - 1 - j]:
            raise SearchError("the free knots are not symmetric")
        if free[j]:
            c = np.zeros(n)
            c[j], c[n - 1 - j] = 1.0, -1.0
            kcols.append(c)
    point = sym.kind == "point"
    mirror = {("v", j): ("v", n - 1 - j) for j in range(n)} | {("s", "left"): ("s", "right"),
                                                                ("s", "right"): ("s", "left")}
    pos = {e: i for i, e in enumerate(ent)}
    p = len(ent)
    c0 = np.zeros(p)
    tcols = []
    for i, e in enumerate(ent):
        m = mirror[e]
        if m not in pos:
            raise SearchError("the pinned ends are not symmetric")
        jm = pos[m]
        if jm < i:
            continue
        col = np.zeros(p)
        col[i] = 1.0
        if e[0] == "v":  # point: v_i + v_m = 2c; even: v_i = v_m
            if jm == i:
                if point:
                    c0[i] = sym.center
                    continue
            else:
                col[jm] = -1.0 if point else 1.0
                c0[jm] = 2.0 * sym.center if point else 0.0
        else:  # point: h' even, s_left = s_right; even: h' odd, s_left = -s_right
            col[jm] = 1.0 if point else -1.0
        tcols.append(col)
    Sk = np.array(kcols).T if kcols else np.zeros((n, 0))
    St = np.array(tcols).T if tcols else np.zeros((p, 0))
    return _Layout(Sk, St, c0)


def _theta_of(problem: Problem, pwl: PWL) -> np.ndarray:
    """The free parameters of `pwl` in `design`'s order (the inverse of `assemble`)."""
    ent = _entries(problem, pwl.n_knots)
    slope = {"left": pwl.left_slope, "right": pwl.right_slope}
    return np.array([pwl.values[e[1]] if e[0] == "v" else slope[e[1]] for e in ent])


def symmetric(problem: Problem, pwl: PWL, sym: Symmetry, free: np.ndarray) -> PWL:
    """The mirror average of `pwl`: symmetric knots and parameters."""
    if sym.slope:
        shifted, g = _minus_line(problem, pwl, sym.slope)
        return _plus_line(symmetric(shifted, g, replace(sym, slope=0.0), free), sym.slope)
    k = 0.5 * (pwl.knots - pwl.knots[::-1])
    lay = _layout(problem, free, sym)
    theta = _theta_of(problem, pwl)
    phi = np.linalg.lstsq(lay.St, theta - lay.c0, rcond=None)[0] if lay.St.size else []
    return assemble(problem, k, lay.St @ np.asarray(phi) + lay.c0)


# ---------------------------------------------------------------------- scores
def _golden_max(err, a: np.ndarray, b: np.ndarray, iters: int = 60) -> np.ndarray:
    """Where |err| peaks on each [a_i, b_i] (unimodal there): a vectorised golden section."""
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = np.abs(err(c)), np.abs(err(d))
    for _ in range(iters):
        left = fc >= fd  # the peak is in [a, d]: d becomes b, c becomes d
        a, b = np.where(left, a, c), np.where(left, d, b)
        c, d = (np.where(left, b - _GOLDEN * (b - a), d),
                np.where(left, c, a + _GOLDEN * (b - a)))
        new = np.abs(err(np.where(left, c, d)))
        fc, fd = np.where(left, new, fd), np.where(left, fc, new)
    return 0.5 * (a + b)


def continuous_max(pwl: PWL, target: Target, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The max |h - f| on [x[0], x[-1]] between the grid points, and the points it is taken on.

    The points are the knots inside and, for every local maximum of |e| on the grid and the
    knots above half the max, the maxima of |e| refined on both neighbouring intervals.
    """
    k = pwl.knots[(pwl.knots > x[0]) & (pwl.knots < x[-1])]
    pts = np.union1d(x, k)

    def err(t):
        return pwl(t) - target.f(t)

    a = np.abs(err(pts))
    pad = np.concatenate([[-np.inf], a, [-np.inf]])
    peak = np.nonzero((a >= pad[:-2]) & (a >= pad[2:]) & (a >= _PEAK * a.max()))[0]
    lo = np.concatenate([peak[peak > 0] - 1, peak[peak < pts.size - 1]])
    xs = _golden_max(err, pts[lo], pts[lo + 1]) if lo.size else np.zeros(0)
    xs = np.union1d(xs, k)
    best = max(float(a.max()), float(np.abs(err(xs)).max()) if xs.size else 0.0)
    return best, xs


# ---------------------------------------------------------------------- SLP
def _linearise(problem: Problem, pwl: PWL, x: np.ndarray, moving: np.ndarray):
    """Error at x and its Jacobian in (theta, knots); `moving` marks points that are knots."""
    k = pwl.knots
    B, _ = design(problem, k, x)
    idx, hat = hat_basis(k, x)
    p = np.zeros(k.size)
    for side, j in (("left", 0), ("right", k.size - 1)):
        asym = problem.pinned(side)
        if asym is not None:
            p[j] = asym.slope
    D = (p[None, :] - pwl.slopes[idx][:, None]) * hat
    if moving.any():  # x = k_j moving with the knot: de/dk_j = p_j - f'(k_j)
        j = np.searchsorted(k, x[moving])
        D[moving] = 0.0
        D[np.nonzero(moving)[0], j] = p[j] - problem.target.df(x[moving])
    return pwl(x) - problem.target.f(x), B, D


def _peaks(a: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of `a` above `_PEAK` times its max."""
    pad = np.concatenate([[-np.inf], a, [-np.inf]])
    return np.nonzero((a >= pad[:-2]) & (a >= pad[2:]) & (a >= _PEAK * a.max()))[0]


class _Scorer:
    """The score of a PWL (grid or continuous max) and the points of a step's LP."""

    def __init__(self, target: Target, x: np.ndarray, continuous: bool):
        self.target, self.x, self.continuous = target, x, continuous
        self.step = float(x[1] - x[0])

    def score(self, pwl: PWL) -> float:
        """The max |e| on the grid, or between its points too."""
        if self.continuous:
            return continuous_max(pwl, self.target, self.x)[0]
        return float(np.max(np.abs(pwl(self.x) - self.target.f(self.x))))

    def rows(self, pwl: PWL, r: float) -> tuple[np.ndarray, np.ndarray]:
        """The LP's points for a step of up to r and which of them move with a knot.

        Grid: the grid points within about r of the large local maxima of |e|, and a
        coarse subsample. Continuous: the refined maxima, the knots (moving) and the
        coarse subsample, less the fixed points within 2 r of a knot: their linearisation
        fails once the knot passes them, and the knot's own row holds the kink's peak.
        """
        coarse = self.x[::_COARSE]
        if not self.continuous:
            a = np.abs(pwl(self.x) - self.target.f(self.x))
            w = int(np.clip(np.ceil(r / self.step) + 2, 2, 12))
            near = (_peaks(a)[:, None] + np.arange(-w, w + 1)[None, :]).ravel()
            near = near[(near >= 0) & (near < a.size)]
            pts = np.union1d(self.x[near], coarse)
            return pts, np.zeros(pts.size, dtype=bool)
        k = pwl.knots[(pwl.knots > self.x[0]) & (pwl.knots < self.x[-1])]
        fixed = np.union1d(continuous_max(pwl, self.target, self.x)[1], coarse)
        if k.size:
            i = np.clip(np.searchsorted(k, fixed), 1, k.size)
            dist = np.minimum(np.abs(fixed - k[i - 1]),
                              np.abs(fixed - k[np.minimum(i, k.size - 1)]))
            fixed = fixed[dist > 2.0 * r]
        return np.r_[fixed, k], np.r_[np.zeros(fixed.size, dtype=bool), np.ones(k.size, dtype=bool)]


def _lp(e: np.ndarray, G: np.ndarray, nk: int = 0, r: float = np.inf):
    """Solve min t s.t. |e + G d| <= t and |d_i| <= r on the last `nk` entries; (d, t) or None.

    Solved (HiGHS) on e and G scaled by 1 / max |e|, with tight tolerances, so that t is
    accurate far below the solver's default absolute tolerance of 1e-7.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    scale = float(np.max(np.abs(e))) or 1.0
    m = G.shape[1]
    Gs = sparse.csr_matrix(G / scale)
    ones = sparse.csr_matrix(np.ones((e.size, 1)))
    A = sparse.vstack([sparse.hstack([Gs, -ones]), sparse.hstack([-Gs, -ones])]).tocsr()
    bounds = [(None, None)] * (m - nk) + [(-r, r)] * nk + [(0, None)]
    res = linprog(np.r_[np.zeros(m), 1.0], A_ub=A, b_ub=np.r_[-e, e] / scale, bounds=bounds,
                  method="highs", options={"primal_feasibility_tolerance": 1e-10,
                                           "dual_feasibility_tolerance": 1e-10})
    return (res.x[:m], float(res.x[m]) * scale) if res.status == 0 else None


def _values_lp(problem: Problem, knots: np.ndarray, x: np.ndarray, lay: _Layout) -> PWL:
    """The exact minimax values on `knots` over the points x, in the layout's subspace."""
    B, o = design(problem, knots, x)
    sol = None
    if lay.St.shape[1]:
        sol = _lp(o + B @ lay.c0 - problem.target.f(x), B @ lay.St)
    if sol is None:
        raise SearchError("the minimax values LP did not solve")
    return assemble(problem, knots, lay.St @ sol[0] + lay.c0)


def polish(problem: Problem, pwl: PWL, x: np.ndarray, free: np.ndarray, *,
           continuous: bool = False, sym: Symmetry | None = None, radius: float = 0.01,
           max_iter: int = 150, tol: float = 1e-9) -> tuple[PWL, int]:
    """Minimise the max |e| over knots (those marked `free`) and values by SLP; (PWL, steps).

    `pwl` must already be symmetric when `sym` is given (see `symmetric`). The trust
    region starts at `radius` times the interval's width. A step the
    linear model cannot improve by `tol` relative shrinks the trust region (a knot close to
    a grid point only moves in small steps); the search ends below a radius of 1e-9 or
    after `max_iter` LPs, with the exact values LP on the grid x (and, with `continuous`,
    on the refined maxima and the knots, repeated until the LP's max is the continuous max
    to `tol`).
    """
    if sym is not None and sym.slope:
        shifted, g = _minus_line(problem, pwl, sym.slope)
        out, steps = polish(shifted, g, x, free, continuous=continuous,
                            sym=replace(sym, slope=0.0), radius=radius, max_iter=max_iter,
                            tol=tol)
        return _plus_line(out, sym.slope), steps
    lay = _layout(problem, free, sym)
    scorer = _Scorer(problem.target, x, continuous)
    lo, hi = problem.interval
    nk, nt = lay.Sk.shape[1], lay.St.shape[1]
    theta, cur, F = _theta_of(problem, pwl), pwl, scorer.score(pwl)
    r = radius * (hi - lo)
    extra = np.zeros(0)
    steps = 0
    while nk and steps < max_iter and r >= 1e-9:
        steps += 1
        gaps = np.diff(np.concatenate([[lo], cur.knots, [hi]]))
        r = min(r, 0.25 * gaps[gaps > 0].min())
        wx, wm = scorer.rows(cur, r)
        wx, wm = np.r_[wx, extra], np.r_[wm, np.zeros(extra.size, dtype=bool)]
        e, B, D = _linearise(problem, cur, wx, wm)
        sol = _lp(e, np.hstack([B @ lay.St, D @ lay.Sk]), nk, r)
        if sol is None or F - sol[1] <= tol * F:
            r *= 0.1
            continue
        k_new = cur.knots + lay.Sk @ sol[0][nt:]
        th_new = theta + lay.St @ sol[0][:nt]
        F_new = np.inf
        if np.all(np.diff(k_new) > 0) and k_new[0] >= lo and k_new[-1] <= hi:
            trial = assemble(problem, k_new, th_new)
            F_new = scorer.score(trial)
        if F_new < F:
            if F - F_new > 0.5 * (F - sol[1]):
                r *= 2.0
            cur, theta, F, extra = trial, th_new, F_new, np.zeros(0)
        else:
            if np.isfinite(F_new):  # the points where the step went wrong join the next LP
                extra = np.union1d(extra, scorer.rows(trial, r)[0][~scorer.rows(trial, r)[1]])
            r *= 0.5
    return _final_values(problem, cur, scorer, lay, tol), steps


def _final_values(problem: Problem, pwl: PWL, scorer: _Scorer, lay: _Layout, tol: float) -> PWL:
    """The values LP on the final knots; continuous: adds the refined maxima until they agree."""
    if not scorer.continuous:
        return _values_lp(problem, pwl.knots, scorer.x, lay)
    best, best_s = pwl, scorer.score(pwl)
    pts = np.union1d(scorer.x, continuous_max(pwl, problem.target, scorer.x)[1])
    for _ in range(10):
        cand = _values_lp(problem, pwl.knots, pts, lay)
        s, xs = continuous_max(cand, problem.target, scorer.x)
        if s < best_s:
            best, best_s = cand, s
        if s <= np.max(np.abs(cand(pts) - problem.target.f(pts))) * (1.0 + tol):
            break
        pts = np.union1d(pts, xs)
    return best
