import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.functions import get_target
from pwlgen.search.problem import SearchResult
from pwlgen.search.rangefit import (
    evaluate_table,
    grid,
    grid_metrics,
    range_fit,
    range_problem,
    range_target,
    region_table,
    score_of,
)

# The ISOCC 2023 paper's published 8-point results (issue 3): breakpoints, grid mean, grid max
PAPER = {
    "sigmoid": ([-4.09369, -2.66771, -1.71237, -0.91118, 0.91171, 1.71749, 2.66826, 4.10567],
                0.0017676, 0.0054386),
    "silu": ([-4.42526, -1.26488, -0.74592, -0.16151, 0.26769, 0.86067, 1.32850, 4.20540],
             0.0047654, 0.0147828),
    "gelu": ([-5.47388, -2.51312, -0.74613, -0.37654, -0.00782, 0.35102, 0.71723, 2.58100],
             0.0021572, 0.0113623),
}


def _sig3(v: float) -> float:
    return float(f"{v:.3g}")


@pytest.mark.parametrize("name", list(PAPER))
def test_paper_breakpoints_reproduce_published_errors_to_3_digits(name):
    points, mean, mx = PAPER[name]
    r = range_fit(name, points, convention="isocc2023")
    assert _sig3(r.metrics["grid_mean_err_abs"]) == _sig3(mean)
    assert _sig3(r.metrics["grid_max_err_abs"]) == _sig3(mx)
    assert r.options["convention"] == "isocc2023"


def test_range_fit_equals_the_papers_hinge_basis_least_squares():
    points = np.array([-3.0, -1.0, 0.5, 2.0])
    t = get_target("silu")
    r = range_fit(t, points)
    x = grid(-8.0, 8.0)
    knots = np.r_[-8.0, points]
    H = np.concatenate([np.ones((x.size, 1)), np.maximum(x[:, None] - knots[None, :], 0.0)], 1)
    coef = np.linalg.lstsq(H, t.f(x), rcond=None)[0]
    np.testing.assert_allclose(r.pwl(x), H @ coef, atol=1e-10)


def test_default_grid_has_16001_samples_on_minus_8_to_8_with_both_ends():
    x = grid(-8.0, 8.0)
    assert x.size == 16001 and x[0] == -8.0 and x[-1] == 8.0
    np.testing.assert_allclose(np.diff(x), 0.001, rtol=1e-9)


def test_isocc2023_convention_evaluates_gelu_in_tanh_form_and_pwlgen_with_erf():
    assert range_target("gelu", "isocc2023").name == "gelu_tanh"
    assert range_target("gelu", "pwlgen").name == "gelu"
    assert range_target("sigmoid", "isocc2023").name == "sigmoid"


def test_range_fit_knots_are_the_range_ends_and_the_points_with_asymptote_tail_slopes():
    r = range_fit("gelu", [-1.0, 0.0, 1.0], interval=(-4.0, 4.0))
    assert r.pwl.knots.tolist() == [-4.0, -1.0, 0.0, 1.0, 4.0]
    assert (r.pwl.left_slope, r.pwl.right_slope) == (0.0, 1.0)
    assert r.tails == "slope" and r.interval == (-4.0, 4.0)


def test_grid_metrics_match_a_direct_computation_and_paper_score_weights():
    r = range_fit("tanh", [-1.0, 1.0])
    t = get_target("tanh")
    x = np.linspace(-8.0, 8.0, 16001)
    e = r.pwl(x) - t.f(x)
    gm = grid_metrics(r.pwl, t, (-8.0, 8.0))
    assert gm["grid_mean_err_abs"] == pytest.approx(np.abs(e).mean(), rel=1e-12)
    assert gm["grid_max_err_abs"] == pytest.approx(np.abs(e).max(), rel=1e-12)
    assert gm["grid_mse"] == pytest.approx(np.mean(e**2), rel=1e-12)
    assert score_of(gm, "paper") == pytest.approx(
        0.2 * np.abs(e).mean() + 0.8 * np.abs(e).max(), rel=1e-12)


def test_region_table_reports_asymptotes_outside_the_range_and_the_fit_inside():
    r = range_fit("sigmoid", [-2.0, 0.0, 2.0])
    t = get_target("sigmoid")
    rows = region_table(r.pwl, t)
    assert [row["kind"] for row in rows] == ["asymptote"] + ["segment"] * 4 + ["asymptote"]
    inside = np.linspace(-8.0, 8.0, 1001)  # both range ends on the fit
    np.testing.assert_allclose(evaluate_table(rows, inside), r.pwl(inside), atol=1e-12)
    outside = np.array([-30.0, -8.5, -8.0 - 1e-12, 8.0 + 1e-12, 9.0, 40.0])
    expected = np.where(outside < 0, t.left(outside), t.right(outside))
    np.testing.assert_allclose(evaluate_table(rows, outside), expected, atol=0)


def test_region_table_keeps_the_pwl_tail_where_the_target_has_no_asymptote():
    r = range_fit("exp", [0.0], interval=(-2.0, 2.0))
    rows = region_table(r.pwl, get_target("exp"))
    assert rows[0]["kind"] == "asymptote" and rows[-1]["kind"] == "tail"
    x = np.array([3.0, 5.0])
    np.testing.assert_allclose(evaluate_table(rows, x), r.pwl(x))


def test_range_result_round_trips_through_its_document():
    r = range_fit("silu", [-1.0, 1.0])
    back = SearchResult.from_dict(r.to_dict())
    assert back.pwl == r.pwl and back.options == r.options and back.metrics == r.metrics


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([1.0, -1.0], r"^breakpoints must be sorted in increasing order, not \[1\.0, -1\.0\]$"),
        ([-1.0, -1.0, 2.0], r"^breakpoints must be distinct: -1 appears twice$"),
        ([-1.0, 9.0], r"^breakpoints must lie strictly inside the range \[-8, 8\]: 9 does not$"),
        ([-8.0, 0.0], r"^breakpoints must lie strictly inside the range \[-8, 8\]: -8 does not$"),
        ([], r"^give at least one interior breakpoint$"),
        ([0.0, float("nan")], r"^breakpoints must be finite, not \[0\.0, nan\]$"),
    ],
)
def test_bad_breakpoints_raise_a_one_line_search_error_showing_the_value(points, message):
    with pytest.raises(SearchError, match=message):
        range_fit("gelu", points)


def test_range_problem_has_two_more_knots_than_points_and_slope_tails():
    p = range_problem("tanh", 8)
    assert p.n_knots == 10 and p.tails == "slope" and p.interval == (-8.0, 8.0)
    with pytest.raises(SearchError, match=r"^the number of interior points must be >= 1, not 0$"):
        range_problem("tanh", 0)
