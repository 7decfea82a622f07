import importlib.util
import pathlib

import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.pwl import l2_error, max_error
from pwlgen.search import Problem, kbit_problem, search
from pwlgen.search.inner import best_values, knot_gradient, solve_max
from pwlgen.search.objectives import objective_value

_spec = importlib.util.spec_from_file_location(
    "search_models", pathlib.Path(__file__).with_name("_models.py"))
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)


def test_optimal_recovers_a_pwl_target_exactly():
    t = M.pwl_target(M.TRUE_PWL)
    r = search(t, 3, interval=(-4.0, 4.0), method="optimal")
    assert r.metrics["l2"] < 1e-12
    np.testing.assert_allclose(r.pwl.knots, M.TRUE_PWL.knots, atol=1e-4)
    np.testing.assert_allclose(r.pwl.values, M.TRUE_PWL.values, atol=1e-4)


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_optimal_beats_published_approx_bp_on_kbit2(name):
    a, c, (lo, hi) = M.PUBLISHED[name]
    t = get_target(name)
    published = l2_error(M.published_pwl(name), t.f, lo, hi, t.kinks)
    r = search(name, kbit=2)  # default method is optimal, interval the published one
    assert r.method == "optimal" and r.interval == (lo, hi)
    assert r.metrics["l2"] <= published
    rs = r.pwl.to_relu_sum()
    assert abs(np.sum(rs.a) - 1.0) < 1e-12 and abs(np.sum(rs.a * rs.c)) < 1e-9


def test_optimal_is_a_stationary_point_of_the_reduced_objective():
    p = kbit_problem("gelu", 3)
    r = search("gelu", kbit=3)
    g = knot_gradient(p, r.pwl)
    assert np.max(np.abs(g)) < 1e-6 * r.metrics["l2"] ** 0.5


def test_optimal_is_reproducible_with_a_seed():
    a = search("silu", kbit=2, seed=7, starts=3)
    b = search("silu", kbit=2, seed=7, starts=3)
    assert a.pwl == b.pwl


def test_optimal_general_problem_free_tails_beats_uniform_knots():
    uni = search("tanh", 6, interval=(-4.0, 4.0), tails="free", method="lstsq")
    opt = search("tanh", 6, interval=(-4.0, 4.0), tails="free", starts=3)
    assert opt.metrics["l2"] < 0.5 * uni.metrics["l2"]


def test_optimal_l2_deriv_beats_uniform_and_l2_knots_in_its_own_objective():
    p = kbit_problem("gelu", 2, objective="l2-deriv")
    r = search("gelu", kbit=2, objective="l2-deriv", starts=3)
    l2_knots = search("gelu", kbit=2, starts=3).pwl.knots
    for k in (p.uniform_knots(), l2_knots):
        assert r.metrics["l2_deriv"] <= objective_value(best_values(p, k), p) + 1e-15


def test_optimal_max_beats_the_minimax_fit_on_l2_optimal_knots():
    p = kbit_problem("gelu", 2, objective="max")
    l2_knots = search("gelu", kbit=2, starts=2).pwl.knots
    on_l2 = max_error(solve_max(p, l2_knots), p.target.f, *p.interval)[0]
    r = search("gelu", kbit=2, objective="max", starts=2, polish=60)
    assert r.metrics["max_err_abs"] <= on_l2 * (1 + 1e-9)


def test_optimal_accepts_a_start_given_by_the_user():
    r = search("gelu", kbit=2, starts=1, knots=[-3.0, 0.0, 3.0])
    assert r.options["starts"] == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"strats": 3}, r"^unknown option 'strats' for method 'optimal': choose from .*$"),
        ({"starts": 0}, r"^optimal: starts must be an integer >= 1, not 0$"),
        ({"gtol": -1.0}, r"^optimal: gtol must be finite and > 0, not -1.0$"),
        ({"knots": [1.0, 0.0, 2.0]}, r"^knots must be strictly increasing, not .*$"),
    ],
)
def test_optimal_rejects_bad_options(options, match):
    with pytest.raises(SearchError, match=match):
        search("gelu", kbit=2, **options)


def test_problem_with_one_knot_is_solved():
    p = Problem(get_target("gelu"), 1, (-6.0, 6.0), "l2", "pinned")
    r = search("gelu", 1, interval=(-6.0, 6.0), starts=2)
    grid = np.linspace(-5.9, 5.9, 41)
    brute = min(objective_value(best_values(p, [x]), p) for x in grid)
    assert r.metrics["l2"] <= brute + 1e-12


@pytest.mark.parametrize("objective", ["l2", "l2-deriv"])
def test_optimal_is_no_worse_than_exhaustive_search_on_a_knot_grid(objective):
    from itertools import combinations

    from pwlgen.search.inner import batch_objective

    p = kbit_problem("gelu", 2, objective=objective)
    grid = np.linspace(p.lo, p.hi, 43)[1:-1]
    cands = np.array(list(combinations(grid, 3)))
    brute = np.min(batch_objective(p, cands, order=24))
    r = search("gelu", kbit=2, objective=objective)
    assert r.metrics["l2" if objective == "l2" else "l2_deriv"] <= brute + 1e-12
