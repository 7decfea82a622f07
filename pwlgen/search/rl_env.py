"""The breakpoint-placement environment of the `rl` method (a `gymnasium.Env`).

An episode places the N interior points of a range fit left to right. The action is a step
size in [-1, 1]: with k points still to place and a space s from the last point to the end
of the range, the next point lands ``(a + 1) / (k + 1) * s`` further right (a = 0 spreads
the rest evenly). The observation is (points left / N, last point, space to the end), both
positions as fractions of the range.

Rewards (ISOCC 2023): each step earns ``curvature_weight * kappa(x) / max kappa`` for the
new point and loses ``cluster_weight * (1 - gap / min_gap)`` when it lands closer than
``min_gap`` to the previous point; the last step adds the final reward from the range fit's
errors, the paper's ``1 / (0.2 mean + 0.8 max + 1e-4)`` divided by its value for evenly
spaced points (so that even spacing earns 1 and better placements more).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..functions import Target, get_target
from .rangefit import DEFAULT_RANGE, fit_values, grid_metrics, range_knots, range_problem

__all__ = ["BreakpointEnv", "ENV_ID"]

ENV_ID = "pwlgen/Breakpoints-v0"
"""Registered id: ``gymnasium.make(ENV_ID, target="silu", n_points=8)``."""

_EPS = 1e-3  # smallest step, as a fraction of the space left: keeps the points distinct


class BreakpointEnv(gym.Env):
    """Place the interior breakpoints of a range fit, left to right.

    Parameters
    ----------
    target : Target or str
    n_points : int, >= 1
        Interior points per episode.
    interval : (float, float)
        The range [b_1, b_m].
    step : float
        Grid step of the fit that scores an episode (coarser than the final 0.001 is
        fine for training).
    curvature_weight, cluster_weight : float
        Weights of the step rewards.
    min_gap : float, optional
        Gaps below this are penalised; default a quarter of the even spacing.

    Attributes
    ----------
    observation_space : Box(3,) float32 in [0, 1]
    action_space : Box(1,) float32 in [-1, 1]
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        target: Target | str = "sigmoid",
        n_points: int = 8,
        interval: tuple[float, float] = DEFAULT_RANGE,
        *,
        step: float = 0.01,
        curvature_weight: float = 0.05,
        cluster_weight: float = 0.5,
        min_gap: float | None = None,
    ):
        self.target = get_target(target) if isinstance(target, str) else target
        self.problem = range_problem(self.target, n_points, interval)
        self.n_points = int(n_points)
        self.lo, self.hi = self.problem.interval
        self.step_size = float(step)
        self.curvature_weight = float(curvature_weight)
        self.cluster_weight = float(cluster_weight)
        width = self.hi - self.lo
        self.min_gap = 0.25 * width / (self.n_points + 1) if min_gap is None else float(min_gap)
        xx = np.linspace(self.lo, self.hi, 4001)
        self._kappa_max = float(np.max(self.target.curvature(xx))) or 1.0
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._ref = self.score(np.linspace(self.lo, self.hi, self.n_points + 2)[1:-1])
        self._points: list[float] = []

    # --------------------------------------------------------------- scoring
    def fit(self, points, step: float | None = None):
        """The range PWL for interior `points` (grid least squares)."""
        knots = range_knots(points, self.problem.interval)
        return fit_values(self.problem, knots, step or self.step_size)

    def errors(self, points, step: float | None = None) -> dict:
        """Grid metrics (mean, max, MSE, paper score) of the fit for `points`."""
        step = step or self.step_size
        return grid_metrics(self.fit(points, step), self.target, self.problem.interval, step)

    def score(self, points, step: float | None = None) -> float:
        """The paper's score 0.2 mean + 0.8 max of the fit for `points`."""
        return self.errors(points, step)["paper_score"]

    def final_reward(self, score: float) -> float:
        """Final reward for a paper score: 1 for even spacing, larger when better."""
        return (self._ref + 1e-4) / (score + 1e-4)

    # --------------------------------------------------------------- gym API
    def _obs(self) -> np.ndarray:
        last = self._points[-1] if self._points else self.lo
        width = self.hi - self.lo
        left = (self.n_points - len(self._points)) / self.n_points
        return np.clip(np.array([left, (last - self.lo) / width, (self.hi - last) / width],
                                dtype=np.float32), 0.0, 1.0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode with no point placed."""
        super().reset(seed=seed)
        self._points = []
        return self._obs(), {}

    def step(self, action):
        """Place the next point; the episode ends when all points are placed."""
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        k = self.n_points - len(self._points)
        last = self._points[-1] if self._points else self.lo
        frac = float(np.clip((a + 1.0) / (k + 1), _EPS, 1.0 - _EPS))
        x = last + frac * (self.hi - last)
        self._points.append(x)
        gap = x - last
        reward = self.curvature_weight * float(self.target.curvature(np.array([x]))[0]) / (
            self._kappa_max
        )
        if gap < self.min_gap:
            reward -= self.cluster_weight * (1.0 - gap / self.min_gap)
        terminated = len(self._points) == self.n_points
        info: dict = {}
        if terminated:
            s = self.score(self._points)
            reward += self.final_reward(s)
            info = {"points": list(self._points), "paper_score": s}
        return self._obs(), float(reward), terminated, False, info


if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=BreakpointEnv)
