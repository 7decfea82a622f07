"""The global l2-deriv solve: DP on a grid, Newton refinement, certification."""

import itertools
import re

import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.search import Problem, kbit_problem, search
from pwlgen.search.stepfit import dp_knots, objective, refine, solve


@pytest.mark.parametrize("tails", ["free", "pinned"])
def test_dp_finds_the_best_knots_of_its_grid_by_brute_force(tails):
    p = Problem(get_target("gelu"), 2, (-4.0, 4.0), "l2-deriv", tails)
    size = 24
    k, val = dp_knots(p, size)
    g = np.linspace(-4.0, 4.0, size + 1)[1:-1]
    brute = min((objective(p, np.array(c)), c) for c in itertools.combinations(g, 2))
    np.testing.assert_allclose(k, brute[1], atol=1e-12)
    assert val == pytest.approx(brute[0], rel=1e-9)


def test_refined_borders_sit_where_f_prime_is_the_mean_of_the_two_levels():
    p = kbit_problem("silu", 3, objective="l2-deriv")
    k, info = solve(p)
    r = search("silu", kbit=3, objective="l2-deriv")
    np.testing.assert_allclose(r.pwl.knots, k, atol=1e-12)
    s = r.pwl.slopes
    np.testing.assert_allclose(p.target.df(k), 0.5 * (s[:-1] + s[1:]), atol=1e-8)
    assert info["certified"] and info["starts"] == 4


def test_refine_never_increases_the_objective():
    p = kbit_problem("gelu", 2, objective="l2-deriv")
    start = np.array([-3.0, 0.5, 1.0])
    k, val, _ = refine(p, start)
    assert val <= objective(p, start)
    assert np.all(np.diff(k) > 0) and -10 < k[0] and k[-1] < 10


@pytest.mark.parametrize("fn", ["gelu", "silu"])
def test_step_family_result_is_the_same_for_every_seed(fn):
    rs = [search(fn, kbit=2, objective="l2-deriv", seed=s, starts=2) for s in (0, 1, None)]
    for r in rs[1:]:
        np.testing.assert_array_equal(r.pwl.knots, rs[0].pwl.knots)
        np.testing.assert_array_equal(r.pwl.slopes, rs[0].pwl.slopes)


def test_step_family_is_no_worse_than_the_continuous_one_on_the_same_interval():
    kw = {"kbit": 3, "objective": "l2-deriv", "interval": (-6.0, 6.0), "starts": 2}
    step = search("gelu", family="step", **kw)
    cont = search("gelu", family="continuous", **kw)
    assert step.tails == "free" and cont.tails == "pinned"
    assert step.metrics["l2_deriv"] <= cont.metrics["l2_deriv"]


def test_step_family_needs_no_asymptote():
    r = search("exp", kbit=1, objective="l2-deriv", interval=(-2.0, 2.0), starts=2)
    assert r.n_knots == 1 and r.options["certified"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"kbit": 2, "family": "step"}, "the step family is the l2-deriv objective's, not 'l2''s"),
    ({"kbit": 2, "family": "steps", "objective": "l2-deriv"},
     "family must be one of step, continuous, not 'steps'"),
    ({"n_knots": 3, "family": "step"},
     "family applies to the k-bit problem (kbit=...), not to n_knots"),
])
def test_bad_family_is_refused(kw, message):
    with pytest.raises(SearchError, match="^" + re.escape(message) + "$"):
        search("gelu", **kw)
