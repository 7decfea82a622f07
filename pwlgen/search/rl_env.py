"""The breakpoint-refinement environment of the `rl` method (a `gymnasium.Env`).

An episode starts from N interior points of a range fit (the curvature placement or even
spacing; training starts are jittered) and refines them for `horizon` steps. The action
moves all points at once, each by a bounded step: a_i in [-1, 1] moves point i by
``m_t * a_i`` of the gap to its right neighbour (a_i > 0) or to its left one (a_i < 0),
where the largest move m_t shrinks geometrically from `move` to ``anneal * move`` over the
episode, so the points stay sorted, distinct and inside the range whatever the action (no
gap shrinks below `min_gap`). The observation holds, all in [0, 1], the points as
fractions of the range, the max |err| of the least-squares fit on each of the N + 1
segments relative to the largest of them (where the error is, the points should move), the
score relative to that of the start, both on a log scale over four decades, and the steps
left.

Reward: ``log(score_before / score_after)`` each step, so an episode returns the log of the
total improvement and the best policy lowers the score as far as it can. The score is the
range fit's grid max |err| (``score="max"``, the target of the paper's comparison) or the
ISOCC 2023 paper's final score 0.2 mean + 0.8 max (``score="paper"``); it is measured on
the grid of `step` plus the points themselves, where a fit's error peaks.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..errors import SearchError
from ..functions import Target, get_target
from .curvature import placement
from .rangefit import DEFAULT_RANGE, fit_values, grid, grid_metrics, range_knots, range_problem

__all__ = ["BreakpointEnv", "ENV_ID", "SCORES", "STARTS", "symmetric_target"]

ENV_ID = "pwlgen/Breakpoints-v1"
"""Registered id: ``gymnasium.make(ENV_ID, target="silu", n_points=8)``."""

SCORES = ("max", "paper")
"""Episode scores: the grid max |err|, or the paper's 0.2 mean + 0.8 max."""

STARTS = ("curvature", "even")
"""Episode starts: points at equal shares of integral |f''|^(1/2), or evenly spaced."""

_MOVE_MAX = 0.49  # a move above half a gap could let two neighbours meet
_LOG_SPAN = 4.0  # observed log10 ratios run over [-_LOG_SPAN, 0] (four decades)


def symmetric_target(target: Target, interval: tuple[float, float], step: float = 0.01) -> bool:
    """Whether f is even or point-symmetric about (0, f(0)) on a range symmetric about 0.

    Checked on the grid of `step` (to 1e-12 of f's scale): then mirrored breakpoints give a
    fit whose error is symmetric, and `BreakpointEnv(mirror=True)` may search half of them.
    """
    lo, hi = interval
    if not math.isclose(lo, -hi):
        return False
    x = grid(0.0, hi, step)
    with np.errstate(all="ignore"):
        fp, fm, f0 = target.f(x), target.f(-x), float(target.f(np.zeros(1))[0])
    if not (np.all(np.isfinite(fp)) and np.all(np.isfinite(fm))):
        return False
    tol = 1e-12 * max(1.0, float(np.max(np.abs(fp))))
    return bool(np.max(np.abs(fp - fm)) <= tol or np.max(np.abs(fp + fm - 2.0 * f0)) <= tol)


class BreakpointEnv(gym.Env):
    """Refine the interior breakpoints of a range fit by bounded moves of all points.

    Parameters
    ----------
    target : Target or str
    n_points : int, >= 1
        Interior points.
    interval : (float, float)
        The range [b_1, b_m].
    step : float
        Grid step of the fit that scores a placement (coarser than the final 0.001 is
        fine for training).
    horizon : int, >= 1
        Steps per episode.
    move : float, in (0, 0.49]
        Largest move of a point in the first step, as a fraction of the gap to the
        neighbour it moves to.
    anneal : float, in (0, 1]
        The largest move shrinks geometrically over the episode to ``anneal * move`` in
        the last step: early steps travel, late ones refine (the policy only has to say
        where, not how far to a hundredth).
    start : {"curvature", "even"}
        Where episodes start: the points at equal shares of integral |f''|^(1/2) (the
        asymptotically optimal knot density for the max error of interpolation; the
        paper's curvature idea as a start instead of a step reward), or evenly spaced.
    jitter : float, >= 0
        Training starts scale each gap of `start` by ``exp(jitter * u)``, u uniform in
        [-1, 1] (0: always `start` itself; evaluation uses 0).
    score : {"max", "paper"}
        What a step's reward improves.
    min_gap : float, optional
        No move shrinks a gap below this (default two grid steps), so that every segment
        keeps samples of the fit.
    mirror : bool
        Keep the placement symmetric about 0: the action moves the N/2 positive points and
        the negative ones mirror them (N even, the range symmetric). For a target that is
        even or point-symmetric about x = 0 the fit's error is then symmetric too, and the
        agent searches half the dimensions (`symmetric_target` tells).

    Attributes
    ----------
    observation_space : Box(2N + 3,) float32 in [0, 1]
    action_space : Box(N,) float32 in [-1, 1] (N/2 with `mirror`)
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        target: Target | str = "sigmoid",
        n_points: int = 8,
        interval: tuple[float, float] = DEFAULT_RANGE,
        *,
        step: float = 0.01,
        horizon: int = 24,
        move: float = 0.35,
        anneal: float = 0.02,
        start: str = "curvature",
        jitter: float = 0.0,
        score: str = "max",
        min_gap: float | None = None,
        mirror: bool = False,
    ):
        if not isinstance(horizon, int | np.integer) or horizon < 1:
            raise SearchError(f"horizon must be a positive integer, not {horizon!r}")
        if not 0.0 < move <= _MOVE_MAX:
            raise SearchError(f"move must be in (0, {_MOVE_MAX}], not {move!r}")
        if not 0.0 < anneal <= 1.0:
            raise SearchError(f"anneal must be in (0, 1], not {anneal!r}")
        if start not in STARTS:
            raise SearchError(f"start must be one of {', '.join(STARTS)}, not {start!r}")
        if not (np.isfinite(jitter) and jitter >= 0.0):
            raise SearchError(f"jitter must be a non-negative number, not {jitter!r}")
        if score not in SCORES:
            raise SearchError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
        self.target = get_target(target) if isinstance(target, str) else target
        self.problem = range_problem(self.target, n_points, interval)
        self.n_points = int(n_points)
        self.lo, self.hi = self.problem.interval
        self.mirror = bool(mirror)
        if self.mirror and (self.n_points % 2 or not math.isclose(self.lo, -self.hi)):
            raise SearchError(f"mirror needs an even number of points and a range symmetric "
                              f"about 0, not {self.n_points} on [{self.lo}, {self.hi}]")
        self.step_size = float(step)
        self.horizon = int(horizon)
        self.move = float(move)
        self.anneal = float(anneal)
        self.jitter = float(jitter)
        self.score_name = score
        self._x = grid(self.lo, self.hi, self.step_size)
        self._fx = self.target.f(self._x)
        self._sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in
                      (np.ones_like(self._x), self._x, self._x**2, self._fx, self._x * self._fx)]
        self.min_gap = 2.0 * self.step_size if min_gap is None else float(min_gap)
        n = self.n_points
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2 * n + 3,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(n // 2 if self.mirror else n,),
                                       dtype=np.float32)
        self.start_name = start
        if start == "curvature":
            self.start = self._symmetric(placement(self.target, (self.lo, self.hi), n, 0.5, "f2"))
        else:
            self.start = np.linspace(self.lo, self.hi, n + 2)[1:-1]
        self._ref = self.fast_score(self.start)[0]
        self._points = self.start.copy()
        self._seg = np.ones(n + 1)
        self._score = self._ref
        self._t = 0

    # --------------------------------------------------------------- scoring
    def fast_score(self, points) -> tuple[float, np.ndarray]:
        """Score of the fit for `points` and the max |err| on each segment.

        The least-squares fit on the grid of `step`: the normal equations of the hat
        basis (tridiagonal) from prefix sums of 1, x, x², f and x·f over the grid, so that
        a fit costs one pass over the grid for its errors, measured on the grid and at the
        points.
        """
        p = np.asarray(points, dtype=np.float64)
        knots = range_knots(p, (self.lo, self.hi))
        starts = np.searchsorted(self._x, knots[1:-1], side="left")
        cuts = np.concatenate([[0], starts, [self._x.size]])
        s0, s1, s2, f0, f1 = (c[cuts[1:]] - c[cuts[:-1]] for c in self._sums)
        a, b = knots[:-1], knots[1:]
        h = b - a
        uu = (b * b * s0 - 2.0 * b * s1 + s2) / (h * h)
        ut = (-a * b * s0 + (a + b) * s1 - s2) / (h * h)
        tt = (a * a * s0 - 2.0 * a * s1 + s2) / (h * h)
        m = knots.size
        mat = np.zeros((m, m))
        i = np.arange(m - 1)
        mat[i, i] += uu
        mat[i + 1, i + 1] += tt
        mat[i, i + 1] = mat[i + 1, i] = ut
        rhs = np.zeros(m)
        rhs[:-1] += (b * f0 - f1) / h
        rhs[1:] += (f1 - a * f0) / h
        y = np.linalg.solve(mat, rhs)
        err = np.abs(np.interp(self._x, knots, y) - self._fx)
        seg_max = np.maximum.reduceat(err, cuts[:-1])
        at_knots = np.abs(y[1:-1] - self.target.f(p))
        seg_max[:-1] = np.maximum(seg_max[:-1], at_knots)
        seg_max[1:] = np.maximum(seg_max[1:], at_knots)
        mx = float(seg_max.max())
        if self.score_name == "max":
            return mx, seg_max
        return 0.2 * float(err.mean()) + 0.8 * mx, seg_max

    def fit(self, points, step: float | None = None):
        """The range PWL for interior `points` (the library's grid least squares)."""
        knots = range_knots(points, self.problem.interval)
        return fit_values(self.problem, knots, step or self.step_size)

    def errors(self, points, step: float | None = None) -> dict:
        """Grid metrics (mean, max, MSE, paper score) of `fit` for `points`."""
        step = step or self.step_size
        return grid_metrics(self.fit(points, step), self.target, self.problem.interval, step)

    def move_at(self, t: int) -> float:
        """The largest move in step `t` (0-based), a fraction of a gap."""
        return self.move * self.anneal ** (t / max(self.horizon - 1, 1))

    def _symmetric(self, points) -> np.ndarray:
        """`points` made symmetric about 0 when mirroring (each pair averaged)."""
        p = np.asarray(points, dtype=np.float64)
        return (p - p[::-1]) / 2.0 if self.mirror else p

    def moved(self, points, action, t: int = 0) -> np.ndarray:
        """The points after `action` in step `t` (bounded moves towards the neighbours)."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
        if a.size != self.action_space.shape[0]:
            raise SearchError(f"the action needs {self.action_space.shape[0]} moves, "
                              f"not {a.size}")
        if self.mirror:  # the negative points move as the mirror of the positive ones
            a = np.concatenate([-a[::-1], a])
        k = range_knots(points, (self.lo, self.hi))
        room = np.maximum(np.diff(k) - self.min_gap, 0.0)  # what a move may take of a gap
        return k[1:-1] + self.move_at(t) * np.where(a > 0, a * room[1:], a * room[:-1])

    # --------------------------------------------------------------- gym API
    def _obs(self) -> np.ndarray:
        width = self.hi - self.lo
        rel = np.log10(max(self._score, 1e-300) / self._ref) / _LOG_SPAN
        obs = np.concatenate([
            (self._points - self.lo) / width,
            1.0 + np.log10(np.maximum(self._seg / self._seg.max(), 1e-300)) / _LOG_SPAN,
            [1.0 + rel, (self.horizon - self._t) / self.horizon],
        ])
        return np.clip(obs, 0.0, 1.0).astype(np.float32)

    def _place(self, points) -> None:
        self._points = np.asarray(points, dtype=np.float64)
        self._score, self._seg = self.fast_score(self._points)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start from `start`, its gaps jittered when `jitter` > 0."""
        super().reset(seed=seed)
        self._t = 0
        if self.jitter > 0.0:
            gaps = np.diff(range_knots(self.start, (self.lo, self.hi)))
            gaps *= np.exp(self.jitter * self.np_random.uniform(-1.0, 1.0, gaps.size))
            edges = np.cumsum(gaps) / gaps.sum()
            self._place(self._symmetric(self.lo + (self.hi - self.lo) * edges[:-1]))
        else:
            self._place(self.start)
        return self._obs(), {"points": self._points.tolist(), "score": self._score}

    def step(self, action):
        """Move all points; the episode ends after `horizon` steps."""
        before = self._score
        self._place(self.moved(self._points, action, self._t))
        self._t += 1
        reward = float(np.log(before / self._score))
        terminated = self._t >= self.horizon
        info = {"points": self._points.tolist(), "score": self._score}
        return self._obs(), reward, terminated, False, info


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=BreakpointEnv)
