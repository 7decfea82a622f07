import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from pwlgen.search.rl_env import ENV_ID, BreakpointEnv  # noqa: E402

CONFIGS = [
    {"target": "sigmoid", "n_points": 8},
    {"target": "gelu", "n_points": 3, "interval": (-4.0, 4.0)},
    {"target": "tanh", "n_points": 1},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_env_passes_check_env_with_zero_warnings(config):
    env = gym.make(ENV_ID, **config).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


def _episode(env, actions):
    env.reset(seed=0)
    rewards, info = [], {}
    for a in actions:
        obs, r, terminated, truncated, info = env.step(np.array([a], dtype=np.float32))
        rewards.append(r)
    assert terminated and not truncated
    return rewards, info, obs


def test_zero_actions_place_the_points_evenly_and_earn_final_reward_one():
    env = BreakpointEnv("silu", 5)
    rewards, info, obs = _episode(env, [0.0] * 5)
    np.testing.assert_allclose(info["points"], np.linspace(-8, 8, 7)[1:-1], atol=1e-12)
    curv = env.curvature_weight * env.target.curvature(np.array(info["points"])) / env._kappa_max
    np.testing.assert_allclose(rewards[:-1], curv[:-1], rtol=1e-9)
    assert rewards[-1] == pytest.approx(curv[-1] + 1.0)
    np.testing.assert_allclose(obs, [0.0, 5 / 6, 1 / 6], atol=1e-6)


@pytest.mark.parametrize("a", [-1.0, 1.0, 5.0, -7.0])
def test_extreme_actions_keep_points_distinct_and_inside_the_range(a):
    env = BreakpointEnv("sigmoid", 6)
    _, info, _ = _episode(env, [a] * 6)
    p = np.array(info["points"])
    assert np.all(np.diff(p) > 0) and p[0] > -8.0 and p[-1] < 8.0


def test_clustered_points_are_penalised_by_the_gap():
    env = BreakpointEnv("tanh", 4)
    env.reset(seed=0)
    _, r, *_ = env.step(np.array([-1.0], dtype=np.float32))
    x = env._points[0]
    gap = x - env.lo
    expected = env.curvature_weight * env.target.curvature(np.array([x]))[0] / env._kappa_max
    expected -= env.cluster_weight * (1 - gap / env.min_gap)
    assert gap < env.min_gap and r == pytest.approx(expected)


def test_final_reward_grows_as_the_paper_score_falls():
    env = BreakpointEnv("sigmoid", 8)
    good = [-4.09369, -2.66771, -1.71237, -0.91118, 0.91171, 1.71749, 2.66826, 4.10567]
    even = np.linspace(-8, 8, 10)[1:-1]
    assert env.score(good) < env.score(even)
    assert env.final_reward(env.score(good)) > env.final_reward(env.score(even)) == 1.0
