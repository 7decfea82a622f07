import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.search import search
from pwlgen.search.curvature import placement, run
from pwlgen.search.rangefit import range_fit, range_problem


def test_points_split_the_integral_of_sqrt_curvature_in_equal_shares():
    t = get_target("gelu")
    p = placement(t, (-8.0, 8.0), 7)
    xx = np.linspace(-8.0, 8.0, 200001)
    d = t.curvature(xx) ** 0.5
    d = d + 1e-3 * d.mean()
    c = np.concatenate([[0], np.cumsum((d[1:] + d[:-1]) / 2)])
    shares = np.diff(np.interp(np.r_[-8.0, p, 8.0], xx, c)) / c[-1]
    np.testing.assert_allclose(shares, 1 / 8, atol=1e-3)


def test_symmetric_curvature_gives_symmetric_points():
    p = placement(get_target("tanh"), (-8.0, 8.0), 6)
    np.testing.assert_allclose(p, -p[::-1], atol=1e-3)


def test_zero_curvature_gives_even_spacing():
    p = placement(get_target("relu"), (-4.0, 4.0), 3)
    np.testing.assert_allclose(p, [-2.0, 0.0, 2.0], atol=1e-3)


def test_range_mode_fits_the_grid_least_squares_on_the_placed_points():
    problem = range_problem("sigmoid", 8)
    pwl, _, info = run(problem, np.random.default_rng(0), points=8)
    ref = range_fit("sigmoid", placement(problem.target, problem.interval, 8))
    assert pwl == ref.pwl
    assert info["grid_metrics"]["grid_max_err_abs"] == pytest.approx(
        ref.metrics["grid_max_err_abs"])


def test_curvature_beats_even_spacing_on_sigmoid_in_max_error():
    kw = dict(interval=(-8.0, 8.0), tails="slope", points=8)
    curv = search("sigmoid", 10, method="curvature", **kw)
    even = search("sigmoid", 10, method="uniform", **kw)
    assert curv.options["grid_metrics"]["grid_max_err_abs"] < even.options["grid_metrics"][
        "grid_max_err_abs"]
    np.testing.assert_allclose(even.pwl.knots, np.linspace(-8.0, 8.0, 10))


def test_general_mode_places_all_knots_inside_the_interval():
    r = search("gelu", 5, method="curvature", interval=(-4.0, 4.0))
    assert np.all((r.pwl.knots > -4.0) & (r.pwl.knots < 4.0)) and r.pwl.n_knots == 5


def test_bad_power_raises_search_error():
    with pytest.raises(SearchError, match=r"^power must be a positive number, not -1\.0$"):
        placement(get_target("gelu"), (-8.0, 8.0), 3, power=-1.0)
