import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from pwlgen.errors import SearchError  # noqa: E402
from pwlgen.search import search  # noqa: E402
from pwlgen.search.rangefit import grid_metrics, range_knots, range_problem  # noqa: E402
from pwlgen.search.rl import run  # noqa: E402
from pwlgen.search.rl_env import BreakpointEnv  # noqa: E402


def _random_policy_scores(env, episodes=16):
    env.action_space.seed(0)
    scores = []
    for _ in range(episodes):
        env.reset(seed=0)
        terminated = False
        while not terminated:
            _, _, terminated, _, info = env.step(env.action_space.sample())
        scores.append(env.score(info["points"], 0.001))
    return np.array(scores)


@pytest.mark.slow
def test_short_ppo_training_beats_a_random_policy_and_its_policy_reloads(tmp_path):
    policy = tmp_path / "sigmoid.policy.zip"
    kw = dict(interval=(-8.0, 8.0), tails="slope", points=6)
    r = search("sigmoid", 8, method="rl", timesteps=2048, n_steps=256, policy_out=str(policy),
               **kw)
    env = BreakpointEnv("sigmoid", 6)
    best = r.options["grid_metrics"]["paper_score"]
    assert best < _random_policy_scores(env).mean()
    # the result is the best deterministic rollout seen, its fit on the full grid
    assert r.history[-1] == pytest.approx(best) and np.all(np.diff(r.history) <= 0)
    gm = grid_metrics(r.pwl, r.get_target(), (-8.0, 8.0))
    assert gm["paper_score"] == pytest.approx(best)
    assert policy.is_file() and r.options["policy_file"] == str(policy)
    # reload: rolling the saved policy out twice gives the same placement
    a = search("sigmoid", 8, method="rl", timesteps=0, policy=str(policy), **kw)
    b = search("sigmoid", 8, method="rl", timesteps=0, policy=str(policy), **kw)
    assert a.pwl == b.pwl and a.options["policy_loaded"] == str(policy)
    assert a.pwl.knots[0] == -8.0 and a.pwl.knots[-1] == 8.0
    np.testing.assert_allclose(a.pwl.knots, range_knots(a.pwl.knots[1:-1], (-8.0, 8.0)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": 4, "timesteps": 0}, r"^timesteps=0 needs a policy to roll out"),
        ({"points": 4, "timesteps": -1}, r"^timesteps must be a non-negative integer, not -1$"),
        ({"points": 4, "timesteps": 0, "policy": "/nonexistent.zip"},
         r"^no policy file at '/nonexistent\.zip'$"),
        ({"points": 3}, r"^rl places the interior points of a range fit"),
    ],
)
def test_bad_rl_options_raise_search_error(kwargs, message):
    with pytest.raises(SearchError, match=message):
        run(range_problem("sigmoid", 4), np.random.default_rng(0), **kwargs)
