import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from pwlgen.errors import SearchError  # noqa: E402
from pwlgen.search import search  # noqa: E402
from pwlgen.search.rangefit import grid_metrics, range_knots, range_problem  # noqa: E402
from pwlgen.search.rl import run  # noqa: E402
from pwlgen.search.rl_env import BreakpointEnv  # noqa: E402

KW = dict(interval=(-8.0, 8.0), tails="slope", points=6, start="even")


def _random_policy_best_scores(env, episodes=16):
    """Exact grid max |err| of the best placement of each random-action episode."""
    env.action_space.seed(0)
    scores = []
    for _ in range(episodes):
        _, info = env.reset(seed=0)
        best = env.errors(info["points"], 0.001)["grid_max_err_abs"]
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(env.action_space.sample())
            best = min(best, env.errors(info["points"], 0.001)["grid_max_err_abs"])
        scores.append(best)
    return np.array(scores)


def test_short_ppo_training_beats_a_random_policy_and_its_policy_reloads(tmp_path):
    policy = tmp_path / "sigmoid.policy.zip"
    r = search("sigmoid", 8, method="rl", timesteps=4096, n_steps=64, policy_out=str(policy),
               **KW)
    best = r.options["grid_metrics"]["grid_max_err_abs"]
    # sigmoid is point-symmetric: the agent moves the positive half, the placement mirrors it
    assert r.options["mirror"] is True
    np.testing.assert_allclose(r.pwl.knots, -r.pwl.knots[::-1], atol=1e-9)
    assert best < _random_policy_best_scores(BreakpointEnv("sigmoid", 6, start="even")).min()
    # the result is the best deterministic rollout seen, its fit on the full grid
    assert r.history[-1] == pytest.approx(best) and np.all(np.diff(r.history) <= 0)
    gm = grid_metrics(r.pwl, r.get_target(), (-8.0, 8.0))
    assert gm["grid_max_err_abs"] == pytest.approx(best)
    assert policy.is_file() and r.options["policy_file"] == str(policy)
    # reload: rolling the saved policy out twice gives the same placement
    a = search("sigmoid", 8, method="rl", timesteps=0, policy=str(policy), **KW)
    b = search("sigmoid", 8, method="rl", timesteps=0, policy=str(policy), **KW)
    assert a.pwl == b.pwl and a.options["policy_loaded"] == str(policy)
    assert a.options["grid_metrics"]["grid_max_err_abs"] <= r.history[0]
    assert a.pwl.knots[0] == -8.0 and a.pwl.knots[-1] == 8.0
    np.testing.assert_allclose(a.pwl.knots, range_knots(a.pwl.knots[1:-1], (-8.0, 8.0)))


def test_same_seed_same_result_and_the_step_budget_is_never_exceeded():
    kw = dict(timesteps=1003, n_envs=4, n_steps=32, eval_freq=128, **KW)
    a = search("silu", 8, method="rl", seed=5, **kw)
    b = search("silu", 8, method="rl", seed=5, **kw)
    assert a.pwl == b.pwl and a.history == b.history
    assert a.options["timesteps_used"] == 1000  # the last whole step of the 4 envs
    # evaluated at 0, every 128 steps and at the end: never past the budget
    assert a.options["evaluations"] == 1 + 1000 // 128 + 1
    assert a.options["best_at_step"] in [*range(0, 1000, 128), 1000]
    c = search("silu", 8, method="rl", seed=6, **kw)
    assert c.options["rl_seed"] != a.options["rl_seed"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": 4, "timesteps": 0}, r"^timesteps=0 needs a policy to roll out"),
        ({"points": 4, "timesteps": -1}, r"^timesteps must be a non-negative integer, not -1$"),
        ({"points": 4, "timesteps": 0, "policy": "/nonexistent.zip"},
         r"^no policy file at '/nonexistent\.zip'$"),
        ({"points": 3}, r"^rl places the interior points of a range fit"),
        ({"points": 4, "score": "mse"}, r"^score must be one of max, paper, not 'mse'$"),
        ({"points": 4, "n_envs": 0}, r"^n_envs must be a positive integer, not 0$"),
        ({"points": 4, "eval_starts": -1}, r"^eval_starts must be a non-negative integer"),
    ],
)
def test_bad_rl_options_raise_search_error(kwargs, message):
    with pytest.raises(SearchError, match=message):
        run(range_problem("sigmoid", 4), np.random.default_rng(0), **kwargs)
