import numpy as np
import pytest
import torch
from scipy.integrate import quad

from pwlgen.errors import PWLError
from pwlgen.functions import get_target
from pwlgen.pwl import PWL, l2_deriv_error, l2_error, max_error, mean_error, metrics


def _random_pwl(rng, n):
    knots = np.sort(rng.uniform(-5, 5, n))
    while np.any(np.diff(knots) < 1e-3):
        knots = np.sort(rng.uniform(-5, 5, n))
    return PWL(knots, rng.normal(size=n), rng.normal(), rng.normal())


@pytest.mark.parametrize("n", [1, 2, 3, 7, 15])
def test_relu_sum_round_trip(n):
    h = _random_pwl(np.random.default_rng(n), n)
    rs = h.to_relu_sum()
    g = PWL.from_relu_sum(rs.a, rs.c, rs.bias, rs.left_slope)
    x = np.linspace(-8, 8, 1001)
    np.testing.assert_allclose(g(x), h(x), atol=1e-12, rtol=1e-12)
    np.testing.assert_allclose(g.knots, h.knots)


def test_relu_sum_evaluates_the_formula():
    h = _random_pwl(np.random.default_rng(1), 5)
    rs = h.to_relu_sum()
    x = np.linspace(-8, 8, 501)
    direct = rs.bias + rs.left_slope * x + np.sum(
        rs.a[:, None] * np.maximum(x[None, :] - rs.c[:, None], 0.0), axis=0
    )
    np.testing.assert_allclose(direct, h(x), atol=1e-12)


def test_relu_sum_constraints_hold_for_tails_zero_and_x():
    h = PWL([-3.0, 0.1, 3.2], [0.0, -0.15, 3.2], 0.0, 1.0)
    sum_a_minus_1, sum_ac = h.to_relu_sum().constraint_residuals()
    assert abs(sum_a_minus_1) < 1e-12 and abs(sum_ac) < 1e-12


def test_relu_sum_unsorted_c_is_sorted():
    g = PWL.from_relu_sum([1.0, -1.0], [2.0, -1.0])
    assert g.knots.tolist() == [-1.0, 2.0]
    assert g.slopes.tolist() == [0.0, -1.0, 0.0]


@pytest.mark.parametrize("n", [1, 4, 9])
def test_change_points_round_trip(n):
    h = _random_pwl(np.random.default_rng(10 + n), n)
    g = PWL.from_change_points(h.to_change_points(), h.left_slope, h.right_slope)
    assert g == h


@pytest.mark.parametrize("n", [1, 4, 9])
def test_segments_round_trip(n):
    h = _random_pwl(np.random.default_rng(20 + n), n)
    g = PWL.from_segments(*h.to_segments())
    x = np.linspace(-9, 9, 777)
    np.testing.assert_allclose(g(x), h(x), atol=1e-10)


def test_dict_round_trip():
    h = _random_pwl(np.random.default_rng(3), 6)
    assert PWL.from_dict(h.to_dict()) == h


def test_from_segments_rejects_pieces_that_do_not_meet():
    with pytest.raises(PWLError, match=r"^pieces must meet at breakpoint 0\.0: 0\.0 != 1\.0$"):
        PWL.from_segments([0.0], [0.0, 1.0], [0.0, 1.0])


def test_knots_out_of_order_are_rejected():
    with pytest.raises(PWLError, match=r"^knots must be strictly increasing, not \[0\.0, -1\.0\]$"):
        PWL([0.0, -1.0], [0.0, 0.0], 0.0, 0.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(knots=[], values=[], left_slope=0, right_slope=0),
        dict(knots=[0.0, 1.0], values=[0.0], left_slope=0, right_slope=0),
        dict(knots=[0.0], values=[float("nan")], left_slope=0, right_slope=0),
        dict(knots=[0.0], values=[0.0], left_slope=float("inf"), right_slope=0),
    ],
)
def test_invalid_pwl_raises(kwargs):
    with pytest.raises(PWLError):
        PWL(**kwargs)


def test_evaluation_numpy_and_torch_agree():
    h = _random_pwl(np.random.default_rng(4), 7)
    x = np.linspace(-7, 7, 1001)
    xt = torch.tensor(x)
    np.testing.assert_allclose(h(xt).numpy(), h(x), atol=1e-12)
    np.testing.assert_allclose(h.derivative(xt).numpy(), h.derivative(x), atol=0)


def test_derivative_matches_autograd_of_value():
    h = _random_pwl(np.random.default_rng(5), 7)
    x = torch.linspace(-7, 7, 999, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(h(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), h.derivative(x.detach()).numpy(), atol=1e-12)


def test_value_is_continuous_at_knots():
    h = _random_pwl(np.random.default_rng(6), 5)
    eps = 1e-9
    np.testing.assert_allclose(h(h.knots - eps), h(h.knots + eps), atol=1e-7)
    np.testing.assert_allclose(h(h.knots), h.values, atol=1e-12)


@pytest.mark.parametrize("name", ["gelu", "silu", "tanh", "hardswish"])
def test_l2_metrics_match_scipy_quad(name):
    t = get_target(name)
    h = PWL([-3.0, -0.5, 0.7, 3.0], [0.0, -0.2, 0.4, 3.0], 0.0, 1.0)
    lo, hi = -6.0, 6.0
    pts = sorted(set(h.knots.tolist() + list(t.kinks)))
    ref = quad(lambda x: (float(t(x)) - float(h(x))) ** 2, lo, hi, points=pts, limit=200,
               epsabs=1e-14, epsrel=1e-12)[0]
    assert l2_error(h, t.f, lo, hi, t.kinks) == pytest.approx(ref, rel=1e-9, abs=1e-14)
    ref_d = quad(lambda x: (float(t.df(np.array(x))) - float(h.derivative(x))) ** 2, lo, hi,
                 points=pts, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
    assert l2_deriv_error(h, t.df, lo, hi, t.kinks) == pytest.approx(ref_d, rel=1e-8, abs=1e-13)


def test_max_error_is_found_between_grid_points():
    # |sin| peaks at x=pi/2; the refinement must land on it, not on a grid point
    h = PWL([0.0], [0.0], 0.0, 0.0)
    err, where = max_error(h, np.sin, 0.0, 3.0, n=7)
    assert err == pytest.approx(1.0, abs=1e-12)
    assert where == pytest.approx(np.pi / 2, abs=1e-5)


def test_mean_error_on_uniform_grid():
    h = PWL([0.0], [0.0], 0.0, 0.0)
    assert mean_error(h, lambda x: x, 0.0, 2.0, n=3) == pytest.approx(1.0)


def test_metrics_keys_and_zero_error_for_exact_target():
    t = get_target("relu")
    m = metrics(PWL([0.0], [0.0], 0.0, 1.0), t, -4, 4)
    assert set(m) == {"l2", "l2_deriv", "max_err_abs", "x_at_max_err", "mean_err_abs"}
    assert m["l2"] == pytest.approx(0.0, abs=1e-15) and m["max_err_abs"] == 0.0
