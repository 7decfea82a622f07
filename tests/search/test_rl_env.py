import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from pwlgen.errors import SearchError  # noqa: E402
from pwlgen.search.rangefit import grid_metrics, range_fit  # noqa: E402
from pwlgen.search.rl_env import ENV_ID, BreakpointEnv  # noqa: E402

PAPER_SIGMOID = [-4.09369, -2.66771, -1.71237, -0.91118, 0.91171, 1.71749, 2.66826, 4.10567]

CONFIGS = [
    {"target": "sigmoid", "n_points": 8},
    {"target": "gelu", "n_points": 3, "interval": (-4.0, 4.0), "jitter": 0.5},
    {"target": "tanh", "n_points": 1, "score": "paper", "horizon": 3, "start": "even"},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_env_passes_check_env_with_zero_warnings(config):
    env = gym.make(ENV_ID, **config).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


@pytest.mark.parametrize(("fn", "points"), [("sigmoid", PAPER_SIGMOID),
                                            ("silu", [-3.0, -1.0, 0.5, 2.0])])
@pytest.mark.parametrize("step", [0.01, 0.001])
def test_fast_score_is_the_library_fit_measured_on_the_grid_and_at_the_points(fn, points, step):
    env = BreakpointEnv(fn, len(points), step=step)
    pwl = range_fit(fn, points, step=step).pwl  # the library's least squares, independently
    x = np.concatenate([np.linspace(-8, 8, int(round(16 / step)) + 1), points])
    err = np.abs(pwl(x) - env.target.f(x))
    mx, seg = env.fast_score(points)
    assert mx == pytest.approx(err.max(), rel=1e-9)
    edges = np.concatenate([[-8.0], points, [8.0]])
    for j in range(len(points) + 1):
        inside = (x >= edges[j]) & (x <= edges[j + 1])
        assert seg[j] == pytest.approx(err[inside].max(), rel=1e-9)
    paper = BreakpointEnv(fn, len(points), step=step, score="paper").fast_score(points)[0]
    gm = grid_metrics(pwl, env.target, (-8.0, 8.0), step)
    assert paper == pytest.approx(0.2 * gm["grid_mean_err_abs"] + 0.8 * mx, rel=1e-9)


def test_reset_starts_even_and_a_zero_action_stays_with_reward_zero():
    env = BreakpointEnv("silu", 5, horizon=2, start="even")
    obs, info = env.reset(seed=0)
    np.testing.assert_allclose(info["points"], np.linspace(-8, 8, 7)[1:-1], atol=1e-12)
    np.testing.assert_allclose(obs[:5], np.linspace(0, 1, 7)[1:-1], atol=1e-6)
    assert obs[5:11].max() == 1.0 and obs[-2:].tolist() == [1.0, 1.0]
    _, r, terminated, _, info2 = env.step(np.zeros(5, dtype=np.float32))
    assert r == 0.0 and not terminated and info2["points"] == info["points"]
    *_, terminated, truncated, _ = env.step(np.zeros(5, dtype=np.float32))
    assert terminated and not truncated


def test_reward_is_the_log_of_the_improvement_and_sums_over_an_episode():
    env = BreakpointEnv("sigmoid", 8, horizon=3)
    env.reset(seed=0)
    s0 = env.fast_score(env.start)[0]
    rng = np.random.default_rng(1)
    total = 0.0
    for _ in range(3):
        _, r, _, _, info = env.step(rng.uniform(-1, 1, 8).astype(np.float32))
        total += r
    assert total == pytest.approx(np.log(s0 / info["score"]))
    assert info["score"] == pytest.approx(env.fast_score(info["points"])[0])


@pytest.mark.parametrize("a", [-1.0, 1.0, 5.0, -7.0])
def test_extreme_actions_keep_points_sorted_apart_and_inside_the_range(a):
    env = BreakpointEnv("sigmoid", 6, horizon=40, move=0.49)
    env.reset(seed=0)
    signs = np.where(np.arange(6) % 2, -1.0, 1.0)
    for _ in range(40):
        *_, info = env.step((a * signs).astype(np.float32))
    k = np.concatenate([[-8.0], info["points"], [8.0]])
    assert np.all(np.diff(k) >= env.min_gap * (1 - 1e-9))


def test_moves_are_bounded_fractions_of_the_neighbouring_gaps():
    env = BreakpointEnv("tanh", 3, move=0.25, min_gap=0.0)
    p = np.array([-2.0, 0.0, 4.0])
    np.testing.assert_allclose(env.moved(p, [1.0, -0.5, 0.0]), [-1.5, -0.25, 4.0])
    with pytest.raises(SearchError, match="needs 3 moves, not 2"):
        env.moved(p, [1.0, 0.0])


def test_the_curvature_start_beats_even_spacing():
    for fn in ("sigmoid", "silu", "gelu_tanh"):
        curv, even = BreakpointEnv(fn, 8), BreakpointEnv(fn, 8, start="even")
        assert curv.fast_score(curv.start)[0] < 0.5 * even.fast_score(even.start)[0]


def test_jittered_starts_are_reproducible_by_seed_and_differ_across_seeds():
    env = BreakpointEnv("gelu", 4, jitter=0.5)
    a = env.reset(seed=3)[1]["points"]
    b = env.reset(seed=3)[1]["points"]
    c = env.reset(seed=4)[1]["points"]
    assert a == b and a != c and np.all(np.diff(a) > 0)


@pytest.mark.parametrize(("kw", "message"), [
    ({"horizon": 0}, "horizon must be a positive integer"),
    ({"move": 0.6}, r"move must be in \(0, 0.49\]"),
    ({"jitter": -1.0}, "jitter must be a non-negative number"),
    ({"score": "mse"}, "score must be one of max, paper"),
    ({"start": "random"}, "start must be one of curvature, even"),
])
def test_bad_env_options_raise_search_error(kw, message):
    with pytest.raises(SearchError, match=message):
        BreakpointEnv("sigmoid", 4, **kw)


def test_symmetric_targets_are_detected():
    from pwlgen.functions import get_target
    from pwlgen.search.rl_env import symmetric_target

    found = {fn: symmetric_target(get_target(fn), (-8.0, 8.0))
             for fn in ("sigmoid", "tanh", "abs(x)", "silu", "gelu_tanh", "elu")}
    assert found == {"sigmoid": True, "tanh": True, "abs(x)": True, "silu": False,
                     "gelu_tanh": False, "elu": False}
    assert not symmetric_target(get_target("tanh"), (-8.0, 6.0))


def test_a_mirrored_env_moves_half_the_points_and_stays_symmetric():
    env = BreakpointEnv("sigmoid", 8, jitter=0.5, mirror=True)
    assert env.action_space.shape == (4,)
    rng = np.random.default_rng(0)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        p = np.array(info["points"])
        np.testing.assert_allclose(p, -p[::-1], atol=1e-12)
        for _ in range(env.horizon):
            obs, _, done, _, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            p = np.array(info["points"])
            np.testing.assert_allclose(p, -p[::-1], atol=1e-12)
            assert np.all(np.diff(p) > 0)
    with pytest.raises(SearchError, match="mirror needs an even number"):
        BreakpointEnv("sigmoid", 5, mirror=True)
    with pytest.raises(SearchError, match="symmetric"):
        BreakpointEnv("sigmoid", 4, (-8.0, 6.0), mirror=True)
