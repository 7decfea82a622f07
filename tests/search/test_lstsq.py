import importlib.util
import pathlib

import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.search import Problem, search
from pwlgen.search.lstsq import design, solve_values

_spec = importlib.util.spec_from_file_location(
    "search_models", pathlib.Path(__file__).with_name("_models.py"))
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)


@pytest.mark.parametrize("tails", ["pinned", "slope", "free"])
def test_values_on_the_true_knots_reproduce_a_pwl_target(tails):
    t = M.pwl_target(M.TRUE_PWL)
    h = solve_values(Problem(t, 3, (-4.0, 4.0), tails=tails), M.TRUE_PWL.knots)
    np.testing.assert_allclose(h.values, M.TRUE_PWL.values, atol=1e-10)
    assert h.left_slope == pytest.approx(0.0, abs=1e-10)
    assert h.right_slope == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("tails", ["pinned", "slope", "free"])
def test_values_match_a_dense_sampled_least_squares_model(tails):
    p = Problem(get_target("tanh"), 4, (-3.0, 3.0), tails=tails)
    k = np.array([-2.0, -0.5, 0.7, 2.2])
    h = solve_values(p, k)
    # model: ordinary least squares on a fine uniform grid through the same basis
    x = np.linspace(-3.0, 3.0, 60001)
    B, o = design(p, k, x)
    theta = np.linalg.lstsq(B, p.target.f(x) - o, rcond=None)[0]
    np.testing.assert_allclose(B @ theta + o, h(x), atol=2e-4)


def test_pinned_tails_lie_on_the_asymptotes():
    t = get_target("gelu")
    h = solve_values(Problem(t, 3, (-6.0, 6.0)), [-3.0, 0.0, 3.0])
    assert h.values[0] == t.left(-3.0) and h.values[-1] == t.right(3.0)
    assert (h.left_slope, h.right_slope) == (0.0, 1.0)


def test_run_rejects_wrong_knots():
    with pytest.raises(SearchError, match=r"^expected 3 knots, got 2$"):
        search("gelu", kbit=2, method="lstsq", knots=[0.0, 1.0])
    with pytest.raises(SearchError, match=r"^knots must be strictly increasing, not .*$"):
        search("gelu", kbit=2, method="lstsq", knots=[0.0, 0.0, 1.0])
