import numpy as np
import pytest
from scipy.integrate import quad

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.pwl import max_error
from pwlgen.search import Problem, kbit_problem
from pwlgen.search.inner import (
    batch_objective,
    best_values,
    check_options,
    curvature_knots,
    knot_gradient,
    reduced,
    sanitize_knots,
    solve_deriv,
    solve_max,
)
from pwlgen.search.objectives import objective_value

TAILS = ["pinned", "slope", "free"]


def _problem(objective, tails, n=4, name="gelu"):
    return Problem(get_target(name), n, (-5.0, 5.0), objective, tails)


@pytest.mark.parametrize("tails", TAILS)
@pytest.mark.parametrize("objective", ["l2", "l2-deriv"])
def test_batch_objective_matches_exact_objective_at_best_values(objective, tails):
    p = _problem(objective, tails)
    rng = np.random.default_rng(1)
    knots = sanitize_knots(p, rng.uniform(-4.5, 4.5, (5, p.n_knots)))
    got = batch_objective(p, knots, order=24)
    want = [objective_value(best_values(p, k), p) for k in knots]
    np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("tails", TAILS)
@pytest.mark.parametrize("objective", ["l2", "l2-deriv"])
def test_knot_gradient_matches_finite_differences(objective, tails):
    p = _problem(objective, tails, n=3)
    k = np.array([-2.3, 0.4, 1.7])
    g = knot_gradient(p, best_values(p, k))
    eps = 1e-6
    fd = [(batch_objective(p, k + eps * e, 24) - batch_objective(p, k - eps * e, 24)) / (2 * eps)
          for e in np.eye(3)]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-9)
    val, g2 = reduced(p, k)
    assert val == pytest.approx(batch_objective(p, k, 24), rel=1e-12)
    np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-14)


def test_solve_deriv_levels_are_the_mean_of_the_derivative_on_each_piece():
    p = kbit_problem("gelu", 2, objective="l2-deriv", family="continuous")
    k = np.array([-2.0, 0.3, 2.5])
    h = solve_deriv(p, k)
    df = p.target.df
    for (a, b), s in zip(zip(k[:-1], k[1:], strict=True), h.slopes[1:-1], strict=True):
        assert s == pytest.approx(quad(df, a, b)[0] / (b - a), rel=1e-10)
    assert h.left_slope == 0.0 and h.right_slope == 1.0
    assert h.values[0] == pytest.approx(p.target.left(k[0]))


def test_solve_deriv_step_family_tail_levels_are_means_over_the_tail_cells():
    p = kbit_problem("gelu", 2, objective="l2-deriv")  # family "step", on [-10, 10]
    assert p.interval == (-10.0, 10.0) and p.tails == "free"
    k = np.array([-2.0, 0.3, 2.5])
    h = solve_deriv(p, k)
    edges = np.concatenate([[-10.0], k, [10.0]])
    for a, b, s in zip(edges[:-1], edges[1:], h.slopes, strict=True):
        assert s == pytest.approx(quad(p.target.df, a, b, limit=200)[0] / (b - a), rel=1e-9)


def test_solve_max_matches_a_brute_force_minimax_with_one_free_value():
    # kbit 2 with pinned tails leaves one free number: the middle value
    p = kbit_problem("gelu", 2, objective="max")
    k = np.array([-3.0, 0.2, 3.0])
    h = solve_max(p, k)
    ys = np.linspace(h.values[1] - 0.02, h.values[1] + 0.02, 401)

    def err(y):
        cand = best_values(Problem(p.target, 3, p.interval, "l2", "pinned"), k)
        vals = cand.values.copy()
        vals[1] = y
        return max_error(type(h)(k, vals, 0.0, 1.0), p.target.f, *p.interval, n=4001, refine=0)[0]

    brute = min(err(y) for y in ys)
    assert max_error(h, p.target.f, *p.interval)[0] <= brute + 1e-6


def test_solve_max_is_no_worse_than_least_squares_in_max_error():
    p = Problem(get_target("tanh"), 5, (-3.0, 3.0), "max", "free")
    k = np.linspace(-2.5, 2.5, 5)
    lsq = best_values(Problem(p.target, 5, p.interval, "l2", "free"), k)
    mm = solve_max(p, k)
    f = p.target.f
    assert max_error(mm, f, *p.interval)[0] < max_error(lsq, f, *p.interval)[0]


def test_sanitize_knots_sorts_clips_and_separates():
    p = _problem("l2", "pinned", n=4)
    k = sanitize_knots(p, [9.0, -7.0, 1.0, 1.0], min_gap=0.01)
    assert k[0] == -5.0 and k[-1] == 5.0
    assert np.all(np.diff(k) >= 0.01 - 1e-12)


def test_curvature_knots_are_sorted_inside_and_follow_the_curvature():
    p = kbit_problem("silu", 3)
    k = curvature_knots(p)
    assert np.all(np.diff(k) > 0) and p.lo < k[0] and k[-1] < p.hi
    assert np.all(np.abs(k) < 15.0)  # SiLU bends near 0, not out at +-38


def test_check_options_rejects_unknown_names():
    assert check_options("m", {"a": 2}, {"a": 1, "b": 0}) == {"a": 2, "b": 0}
    with pytest.raises(SearchError, match=r"^unknown option 'c' for method 'm': choose from a, b$"):
        check_options("m", {"c": 1}, {"a": 1, "b": 0})
