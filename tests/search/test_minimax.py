import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.search import search
from pwlgen.search.lstsq import solve_values
from pwlgen.search.minimax import density_points, run, solve_inner
from pwlgen.search.problem import Problem
from pwlgen.search.rangefit import grid, grid_metrics, range_fit, range_knots, range_problem

# The ISOCC 2023 paper's published 8-point breakpoints (issue 3)
PAPER = {
    "sigmoid": [-4.09369, -2.66771, -1.71237, -0.91118, 0.91171, 1.71749, 2.66826, 4.10567],
    "silu": [-4.42526, -1.26488, -0.74592, -0.16151, 0.26769, 0.86067, 1.32850, 4.20540],
    "gelu": [-5.47388, -2.51312, -0.74613, -0.37654, -0.00782, 0.35102, 0.71723, 2.58100],
}


@pytest.mark.parametrize("name", list(PAPER))
def test_minimax_with_8_points_beats_the_papers_max_error_by_25_percent(name):
    paper = range_fit(name, PAPER[name], convention="isocc2023")  # the paper's fit, re-evaluated
    problem = range_problem(paper.get_target(), 8)
    pwl, _, info = run(problem, np.random.default_rng(0), points=8, starts=1)
    assert info["grid_metrics"]["grid_max_err_abs"] <= 0.75 * paper.metrics["grid_max_err_abs"]
    assert pwl.knots[0] == -8.0 and pwl.knots[-1] == 8.0 and pwl.n_knots == 10


def _lstsq_on_grid(problem, knots, x):
    return solve_values(problem, knots, nodes=x, weights=np.ones_like(x))


def _errs(pwl, t, x):
    return np.abs(pwl(x) - t.f(x))


def test_inner_max_solve_is_no_worse_than_least_squares_and_equioscillates():
    problem = range_problem("silu", 5)
    t = problem.target
    x = grid(-8.0, 8.0, 0.01)
    knots = range_knots([-3.0, -1.0, 0.0, 1.0, 3.0], problem.interval)
    mm = _errs(solve_inner(problem, knots, x, "max"), t, x)
    ls = _errs(_lstsq_on_grid(problem, knots, x), t, x)
    assert mm.max() <= ls.max()
    # a minimax solution touches its max error at more points than it has parameters
    assert np.sum(mm >= mm.max() * (1 - 1e-6)) >= problem.n_knots + 1


def test_inner_mean_and_paper_solves_improve_on_their_alternatives():
    problem = range_problem("tanh", 4)
    t = problem.target
    x = grid(-8.0, 8.0, 0.01)
    knots = range_knots([-1.5, -0.5, 0.5, 1.5], problem.interval)
    ls = _errs(_lstsq_on_grid(problem, knots, x), t, x)
    l1 = _errs(solve_inner(problem, knots, x, "mean"), t, x)
    mx = _errs(solve_inner(problem, knots, x, "max"), t, x)
    pp = _errs(solve_inner(problem, knots, x, "paper"), t, x)
    assert l1.mean() <= ls.mean()
    paper = lambda e: 0.2 * e.mean() + 0.8 * e.max()  # noqa: E731
    assert paper(pp) <= min(paper(l1), paper(mx)) * (1 + 1e-9)


def test_inner_mse_solve_is_the_range_least_squares_fit():
    problem = range_problem("sigmoid", 3)
    x = grid(-8.0, 8.0)
    knots = range_knots([-2.0, 0.0, 2.0], problem.interval)
    assert solve_inner(problem, knots, x, "mse") == _lstsq_on_grid(problem, knots, x)


def test_minimax_on_a_general_pinned_problem_beats_uniform_least_squares_in_max_error():
    t = get_target("gelu")
    problem = Problem(t, 3, (-4.0, 4.0), "max", "pinned")
    pwl, history, _ = run(problem, np.random.default_rng(0), starts=1, step=0.01, opt_step=0.02)
    assert pwl.left_slope == 0.0 and pwl.right_slope == 1.0
    np.testing.assert_allclose(pwl.values[[0, -1]], [0.0, pwl.knots[-1]], atol=1e-12)
    x = grid(-4.0, 4.0, 0.01)
    base = solve_values(problem, problem.uniform_knots())
    assert _errs(pwl, t, x).max() < _errs(base, t, x).max()
    assert history and np.all(np.diff(history) <= 0)


def test_search_records_range_options_and_grid_metrics():
    r = search("tanh", 6, method="minimax", interval=(-8.0, 8.0), tails="slope", points=4,
               starts=1, score="mse", step=0.01, opt_step=0.02)
    assert r.options["score"] == "mse" and r.options["outside"] == "asymptote"
    assert r.options["range"] == [-8.0, 8.0] and r.options["n_points"] == 4
    gm = grid_metrics(r.pwl, get_target("tanh"), (-8.0, 8.0), 0.01)
    assert r.options["grid_metrics"] == pytest.approx(gm)


def test_density_points_split_the_integral_of_sqrt_f2_in_equal_shares():
    t = get_target("sigmoid")
    p = density_points(t, (-8.0, 8.0), 5, "f2", 0.5)
    xx = np.linspace(-8.0, 8.0, 200001)
    d = np.abs(t.d2f(xx)) ** 0.5
    d = d + 1e-3 * d.mean()
    c = np.concatenate([[0], np.cumsum((d[1:] + d[:-1]) / 2)])
    shares = np.diff(np.interp(np.r_[-8.0, p, 8.0], xx, c)) / c[-1]
    np.testing.assert_allclose(shares, 1 / 6, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": 8, "score": "l3"}, r"^score must be one of max, mean, mse, paper, not 'l3'$"),
        ({"points": 8, "starts": 0}, r"^starts must be a positive integer, not 0$"),
        ({"points": 7}, r"^7 interior points need a slope-tailed problem with 7 \+ 2 knots$"),
    ],
)
def test_bad_minimax_options_raise_search_error(kwargs, message):
    with pytest.raises(SearchError, match=message):
        run(range_problem("sigmoid", 8), np.random.default_rng(0), **kwargs)
