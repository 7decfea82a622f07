import numpy as np
import pytest
from scipy.integrate import quad

from pwlgen.functions import get_target
from pwlgen.pwl import PWL
from pwlgen.search import OBJECTIVE_NAMES, Problem
from pwlgen.search.objectives import OBJECTIVES, objective_value

H = PWL([-2.0, 0.0, 1.5], [0.0, -0.2, 1.4], 0.0, 1.0)


def _problem(objective):
    return Problem(get_target("gelu"), 3, (-4.0, 4.0), objective)


def test_every_objective_name_has_a_function():
    assert set(OBJECTIVES) == set(OBJECTIVE_NAMES)


def test_l2_objective_matches_scipy_quad():
    t = get_target("gelu")
    pts = [-2.0, 0.0, 1.5]
    want = quad(lambda x: (t.f(np.array([x]))[0] - H(x)) ** 2, -4, 4, points=pts, limit=200)[0]
    assert objective_value(H, _problem("l2")) == pytest.approx(want, rel=1e-9)


def test_l2_deriv_objective_matches_scipy_quad():
    t = get_target("gelu")
    pts = [-2.0, 0.0, 1.5]
    want = quad(lambda x: (t.df(np.array([x]))[0] - H.derivative(x)) ** 2, -4, 4,
                points=pts, limit=200)[0]
    assert objective_value(H, _problem("l2-deriv")) == pytest.approx(want, rel=1e-9)


def test_max_objective_is_at_least_every_sampled_error_and_attained():
    t = get_target("gelu")
    x = np.linspace(-4, 4, 100001)
    sampled = np.max(np.abs(t.f(x) - H(x)))
    got = objective_value(H, _problem("max"))
    assert sampled <= got <= sampled + 1e-9


def test_knot_objective_is_the_objective_at_the_best_values():
    from pwlgen.search.inner import best_values
    from pwlgen.search.objectives import OBJECTIVE_HELP, knot_objective

    assert set(OBJECTIVE_HELP) == set(OBJECTIVE_NAMES)
    k = np.array([-2.0, 0.0, 1.5])
    for name in ("l2", "l2-deriv"):
        p = _problem(name)
        assert knot_objective(p, k) == objective_value(best_values(p, k), p)
        assert knot_objective(p, k) <= objective_value(H, p)  # H has the same knots
