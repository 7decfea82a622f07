"""`minimax`: breakpoints and values that minimise the max |error| (or mean, MSE, paper score).

Inner solve (fixed breakpoints): h is linear in its free parameters theta (the knot values
and any fitted tail slopes, `lstsq.design`), so on the grid

- ``max``:   min t  s.t. -t <= B theta + o - f <= t: a linear programme (HiGHS), exact;
- ``mean``:  min mean |B theta + o - f|: L1, by iteratively reweighted least squares;
- ``paper``: 0.2 mean + 0.8 max, convex in theta: a line search between the two above;
- ``mse``:   linear least squares (the range fit of `rangefit.fit_values`).

Outer search (breakpoints): a multi-start continuation on a coarser grid. The knots are
parametrised by the softmax of free gap logits (so they stay ordered and inside the
range), and knots and values are optimised jointly with L-BFGS on a smooth surrogate of
the score: the L_p norm of the error with p = 4, 16, ..., 1024 for the max (p -> inf),
a smoothed |r| for the mean, r^2 for the MSE. The starts are, in order: the equal shares
of |f''|^(1/2) (the asymptotically optimal knot density for the max error of linear
interpolation), a random perturbation of it, the equal shares of the curvature
kappa^(1/2), even spacing, then more random perturbations.
Each start ends with the exact inner solve on the full grid; the best score wins.

In the range workflow (option ``points``) the outer knots stay on the range ends and the
tails take the asymptote slopes (``tails="slope"``); otherwise all knots move inside the
problem's interval with the problem's tails.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import SearchError
from ..pwl import PWL
from . import slp
from .inner import chebyshev_fit
from .lstsq import assemble, design, solve_values
from .problem import Problem
from .rangefit import DEFAULT_STEP, SCORES, grid, grid_metrics, range_options, score_of

__all__ = ["run", "solve_inner", "density_points"]

_P_SCHEDULE = (4, 16, 64, 256, 1024)
_GRID_RADIUS = 8  # the grid polish's first trust region, in grid steps
_TIE = 1e-7  # a symmetric result this close (relative) to the free one is kept


def solve_inner(problem: Problem, knots, x: np.ndarray, score: str = "max") -> PWL:
    """The PWL on `knots` that minimises `score` of its error on the points `x`.

    ``max`` is solved exactly as a linear programme (HiGHS), ``mse`` by least squares,
    ``mean`` by iteratively reweighted least squares (L1), and ``paper`` (convex in the
    values) by a golden-section search on the segment between the L1 and the max solutions.

    Parameters
    ----------
    problem : Problem
        Gives the target and the tails.
    knots : array_like, strictly increasing
    x : ndarray
        The grid the score is measured on.
    score : {"max", "mean", "mse", "paper"}
    """
    knots = np.asarray(knots, dtype=np.float64)
    if score not in SCORES:
        raise SearchError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    B, o = design(problem, knots, x)
    if B.shape[1] == 0:
        return assemble(problem, knots, np.zeros(0))
    f = problem.target.f(x) - o
    if score == "mse":
        theta = np.linalg.lstsq(B, f, rcond=None)[0]
    elif score == "max":
        theta = _theta_max(B, f)
    elif score == "mean":
        theta = _theta_l1(B, f)
    else:
        theta = _theta_paper(B, f)
    return assemble(problem, knots, theta)


def _theta_max(B: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Minimax parameters (`inner.chebyshev_fit`), least squares if the LP fails."""
    try:
        return chebyshev_fit(B, f)[0]
    except SearchError as e:
        warnings.warn(f"{e}; using least squares", RuntimeWarning, stacklevel=3)
        return np.linalg.lstsq(B, f, rcond=None)[0]


def _theta_l1(B: np.ndarray, f: np.ndarray, iters: int = 40) -> np.ndarray:
    """Least absolute deviations by iteratively reweighted least squares."""
    theta = np.linalg.lstsq(B, f, rcond=None)[0]
    best, best_v = theta, np.abs(B @ theta - f).mean()
    for _ in range(iters):
        r = np.abs(B @ theta - f)
        w = 1.0 / np.sqrt(np.maximum(r, 1e-6 * (r.max() + 1e-300)))
        theta = np.linalg.lstsq(B * w[:, None], f * w, rcond=None)[0]
        v = np.abs(B @ theta - f).mean()
        if v < best_v:
            best, best_v = theta, v
    return best


def _theta_paper(B: np.ndarray, f: np.ndarray) -> np.ndarray:
    """0.2 mean + 0.8 max: golden section between the L1 and the minimax parameters."""
    from scipy.optimize import minimize_scalar

    t1, t2 = _theta_l1(B, f), _theta_max(B, f)

    def val(lam):
        a = np.abs(B @ ((1 - lam) * t1 + lam * t2) - f)
        return 0.2 * a.mean() + 0.8 * a.max()

    lam = minimize_scalar(val, bounds=(0.0, 1.0), method="bounded",
                          options={"xatol": 1e-4}).x
    lam = min((0.0, float(lam), 1.0), key=val)  # the bounded search never tries the ends
    return (1 - lam) * t1 + lam * t2


def density_points(target, interval, n: int, kind: str = "f2", power: float = 0.5,
                   n_grid: int = 20001) -> np.ndarray:
    """Return n points at equal shares of ``density**power`` on the interval (quantiles i/(n+1)).

    ``kind`` is ``"f2"`` (density |f''|) or ``"kappa"`` (curvature). A flat density (a
    linear target) gives even spacing.
    """
    lo, hi = interval
    xx = np.linspace(lo, hi, n_grid)
    with np.errstate(all="ignore"):
        d = np.abs(target.d2f(xx)) if kind == "f2" else target.curvature(xx)
    d = np.nan_to_num(d, nan=0.0, posinf=0.0) ** power
    d = d + 1e-3 * (d.mean() if d.mean() > 0 else 1.0)
    c = np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]))])
    c /= c[-1]
    q = np.interp(np.arange(1, n + 1) / (n + 1), c, xx)
    return _spread(q, lo, hi)


def _spread(q: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # keep the points distinct and strictly inside: a tiny minimum gap
    gap = 1e-6 * (hi - lo)
    q = np.clip(q, lo + gap, hi - gap)
    for i in range(1, q.size):
        q[i] = max(q[i], q[i - 1] + gap)
    return np.clip(q, lo + gap, hi - gap)


def _optimise_torch(problem: Problem, init: np.ndarray, range_mode: bool, score: str,
                    step: float, iters: int) -> np.ndarray:
    import torch

    lo, hi = problem.interval
    t = problem.target
    x = torch.as_tensor(grid(lo, hi, step))
    f = torch.as_tensor(t.f(x.numpy()))
    n = problem.n_knots
    knots0 = np.concatenate([[lo], init, [hi]]) if range_mode else init
    gaps = np.diff(np.concatenate([[lo], init, [hi]]))
    z = torch.tensor(np.log(np.maximum(gaps, 1e-9)), dtype=torch.float64, requires_grad=True)
    v0 = solve_values(problem, knots0, nodes=x.numpy(), weights=np.ones(x.numel())).values
    vals = torch.tensor(v0, dtype=torch.float64, requires_grad=True)
    params = [z, vals]
    tail = {}
    for side in ("left", "right"):
        s = problem.tail_slope(side)
        if s is None:
            tail[side] = torch.zeros((), dtype=torch.float64, requires_grad=True)
            params.append(tail[side])
        else:
            tail[side] = torch.tensor(float(s), dtype=torch.float64)
    pin = {side: problem.pinned(side) for side in ("left", "right")}

    def knots_of():
        cum = lo + torch.cumsum(torch.softmax(z, 0) * (hi - lo), 0)
        if range_mode:
            return torch.cat([torch.tensor([lo], dtype=torch.float64), cum[: n - 2],
                              torch.tensor([hi], dtype=torch.float64)])
        return cum[:n]

    def h_of(k):
        v = vals
        if pin["left"] is not None or pin["right"] is not None:
            v = v.clone()
            if pin["left"] is not None:
                v[0] = pin["left"].slope * k[0] + pin["left"].intercept
            if pin["right"] is not None:
                v[-1] = pin["right"].slope * k[-1] + pin["right"].intercept
        if n == 1:
            return torch.where(x <= k[0], v[0] + tail["left"] * (x - k[0]),
                               v[0] + tail["right"] * (x - k[0]))
        idx = torch.searchsorted(k.detach(), x)
        j = idx.clamp(1, n - 1)
        k0, k1, v_0, v_1 = k[j - 1], k[j], v[j - 1], v[j]
        inner = v_0 + (v_1 - v_0) / (k1 - k0) * (x - k0)
        left = v[0] + tail["left"] * (x - k[0])
        right = v[-1] + tail["right"] * (x - k[-1])
        return torch.where(idx == 0, left, torch.where(idx == n, right, inner))

    stages = {"max": [("p", p) for p in _P_SCHEDULE], "mse": [("mse", 2)],
              "mean": [("mean", d) for d in (1e-2, 1e-3, 1e-4)],
              "paper": [("paper", p) for p in _P_SCHEDULE]}[score]
    with torch.no_grad():
        scale_ref = float((h_of(knots_of()) - f).abs().mean()) + 1e-300
    def loss_of(kind, par):
        r = h_of(knots_of()) - f
        a = r.abs()
        if kind == "mse":
            return (r * r).mean()
        if kind == "mean":
            return torch.sqrt(r * r + par**2).mean()
        m = a.max().detach() + 1e-300  # for a stable |r|**p; the value is the L_p norm
        lp = m * ((a / m) ** par).mean() ** (1.0 / par)
        return lp if kind == "p" else 0.2 * a.mean() + 0.8 * lp

    for kind, par in stages:
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-9, tolerance_change=1e-8)
        with torch.no_grad():
            # a fixed scale per stage keeps the loss near 1 and consistent with its gradient
            scale = float(loss_of(kind, par * scale_ref if kind == "mean" else par)) + 1e-300

        def closure(kind=kind, par=par, opt=opt, scale=scale):
            opt.zero_grad()
            loss = loss_of(kind, par * scale_ref if kind == "mean" else par) / scale
            if not torch.isfinite(loss):
                raise FloatingPointError
            loss.backward()
            return loss

        try:
            opt.step(closure)
        except FloatingPointError:  # a bad line-search step: keep what we have
            break
    k = knots_of().detach().numpy()
    return (k[1:-1] if range_mode else k).copy()


def _optimise(problem: Problem, init: np.ndarray, range_mode: bool, score: str,
              step: float, iters: int) -> np.ndarray:
    """Joint L-BFGS continuation over (knot gaps, values) on a grid; returns the free knots."""
    import torch

    # small tensors: one thread is much faster than several on a shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _optimise_torch(problem, init, range_mode, score, step, iters)
    finally:
        torch.set_num_threads(threads)


def run(
    problem: Problem,
    rng: np.random.Generator,
    *,
    progress: bool = False,
    points: int | None = None,
    score: str = "max",
    starts: int = 4,
    init=None,
    step: float = DEFAULT_STEP,
    opt_step: float = 0.004,
    iters: int = 100,
    convention: str = "pwlgen",
    polish: bool = True,
    continuous: bool = False,
    symmetric: bool = True,
) -> tuple[PWL, list[float], dict]:
    """Search breakpoints and values that minimise `score` on the grid.

    Parameters
    ----------
    points : int, optional
        Range workflow: the number of interior points (``problem.n_knots - 2``); the outer
        knots stay on the interval ends. Without it, all knots move.
    score : {"max", "mean", "mse", "paper"}
        What to minimise on the grid (the paper's score is 0.2*mean + 0.8*max).
    starts : int, >= 1
        Number of starts (density placements first, then random perturbations).
    init : array_like, optional
        An extra first start: the free knots (interior points in the range workflow).
    step, opt_step : float
        Grid step of the final solve and of the outer optimisation.
    iters : int
        L-BFGS iterations per continuation stage.
    convention : str
        Recorded in the result (see `rangefit.CONVENTIONS`).
    polish : bool
        ``max`` only: polish the best start by SLP on knots and values together
        (`pwlgen.search.slp`).
    continuous : bool
        ``max`` only (with `polish`): minimise the true max between the grid points
        instead of the max on the grid.
    symmetric : bool
        With `polish`, on a target symmetric about the middle of a range symmetric about 0,
        also polish the mirror-averaged start with mirrored knots and tied values; the
        better of the free and the symmetric result is kept (ties go to the symmetric).

    Returns
    -------
    (PWL, history, info)
        history: the best score after each start. info holds ``grid_metrics`` and, after
        a polish, ``continuous_max_err_abs`` (the max between the grid points), the
        ``symmetry`` found (``point``, ``even`` or None), whether the result is the
        symmetric one (``symmetric_result``) and both branches' scores (``polish_scores``).
    """
    from tqdm.auto import tqdm

    if score not in SCORES:
        raise SearchError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    if not isinstance(starts, int | np.integer) or starts < 1:
        raise SearchError(f"starts must be a positive integer, not {starts!r}")
    if continuous and not (polish and score == "max"):
        raise SearchError("continuous needs score='max' and polish=True")
    range_mode = points is not None
    n = problem.n_knots
    if range_mode and (points != n - 2 or problem.tails != "slope"):
        raise SearchError(
            f"{points!r} interior points need a slope-tailed problem with {points} + 2 knots"
        )
    nfree = n - 2 if range_mode else n
    lo, hi = problem.interval
    inits = []
    if init is not None:
        a = np.sort(np.asarray(init, dtype=np.float64).reshape(-1))
        if a.size != nfree or np.any(a <= lo) or np.any(a >= hi):
            raise SearchError(f"init must hold {nfree} points inside ({lo:g}, {hi:g}), "
                              f"not {a.tolist()!r}")
        inits.append(_spread(a, lo, hi))
    if nfree:
        f2 = density_points(problem.target, problem.interval, nfree, "f2")
        width = (hi - lo) / (nfree + 1)

        def perturbed():
            return _spread(np.sort(f2 + rng.normal(0, 0.25 * width, nfree)), lo, hi)

        # a perturbed start second: symmetric starts can sit on a saddle (a point on an
        # inflection that the symmetric gradient never moves)
        inits += [f2, perturbed(), density_points(problem.target, problem.interval, nfree,
                                                  "kappa"), np.linspace(lo, hi, nfree + 2)[1:-1]]
        while len(inits) < starts:
            inits.append(perturbed())
    inits = inits[:starts] if nfree else [np.zeros(0)]
    x = grid(lo, hi, step)
    best, best_s, history = None, np.inf, []
    for a in tqdm(inits, desc="minimax starts", disable=None if progress else True,
                  leave=False):
        k = _optimise(problem, a, range_mode, score, opt_step, iters) if nfree else a
        knots = np.concatenate([[lo], k, [hi]]) if range_mode else k
        if np.any(np.diff(knots) <= 0):
            continue
        pwl = solve_inner(problem, knots, x, score)
        s = score_of(grid_metrics(pwl, problem.target, problem.interval, step), score)
        if s < best_s:
            best, best_s = pwl, s
        history.append(best_s)
    if best is None:
        raise SearchError("minimax found no valid breakpoints (all starts collapsed)")
    info = {"score": score, "starts": len(inits), "grid_step": float(step)}
    if polish and score == "max":
        best, extra = _polish(problem, best, x, range_mode, continuous, symmetric)
        if not continuous:
            history.append(extra["polish_scores"][extra["polish_used"]])
        info.update(extra)
    info["grid_metrics"] = grid_metrics(best, problem.target, problem.interval, step)
    if range_mode:
        info.update(range_options(problem.interval, n - 2, convention, step))
    return best, history, info


def _polish(problem: Problem, pwl: PWL, x: np.ndarray, range_mode: bool, continuous: bool,
            symmetric: bool) -> tuple[PWL, dict]:
    """SLP polish of the best start and, for a symmetric target, of its result's mirror average.

    The free polish minimises the continuous max first (smooth in the knots: robust
    steps), then, unless `continuous`, the grid max from there; the symmetric one starts
    from the mirror average of the free result (short steps). The best of the two and
    the start itself is kept, the symmetric one when within `_TIE`.
    """
    free = np.ones(problem.n_knots, dtype=bool)
    if range_mode:
        free[[0, -1]] = False
    sym = slp.detect_symmetry(problem.target, problem.interval, x) if symmetric else None
    radius = _GRID_RADIUS * float(x[1] - x[0]) / (problem.hi - problem.lo)

    def score(p: PWL) -> float:
        if continuous:
            return slp.continuous_max(p, problem.target, x)[0]
        return float(np.max(np.abs(p(x) - problem.target.f(x))))

    results = {}
    results["free"], steps = slp.polish(problem, pwl, x, free, continuous=True)
    if not continuous:
        results["free"], n = slp.polish(problem, results["free"], x, free, radius=radius)
        steps += n
    if sym is not None:
        try:
            start = slp.symmetric(problem, results["free"], sym, free)
        except SearchError:  # pinned ends or fixed slopes that are not mirror images
            sym = None
        else:
            results["symmetric"], n = slp.polish(problem, start, x, free, continuous=continuous,
                                                 sym=sym, radius=radius)
            steps += n
    scores = {name: score(p) for name, p in results.items()}
    results["start"], scores["start"] = pwl, score(pwl)
    used = min(("symmetric", "free", "start"), key=lambda k: scores.get(k, np.inf))
    if "symmetric" in scores and scores["symmetric"] <= scores[used] * (1.0 + _TIE):
        used = "symmetric"
    best = results[used]
    return best, {
        "polish": "slp",
        "continuous": bool(continuous),
        "symmetry": sym.kind if sym else None,
        "symmetric_result": used == "symmetric",
        "polish_used": used,
        "polish_scores": scores,
        "slp_steps": steps,
        "continuous_max_err_abs": slp.continuous_max(best, problem.target, x)[0],
    }
