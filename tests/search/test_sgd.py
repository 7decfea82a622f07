import importlib.util
import pathlib

import numpy as np
import pytest

from pwlgen.errors import SearchError
from pwlgen.search import search

_spec = importlib.util.spec_from_file_location(
    "search_models", pathlib.Path(__file__).with_name("_models.py"))
M = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(M)


def test_sgd_recovers_a_pwl_target():
    t = M.pwl_target(M.TRUE_PWL)
    r = search(t, 3, interval=(-4.0, 4.0), method="sgd", steps=600)
    assert r.metrics["l2"] < 1e-5
    np.testing.assert_allclose(r.pwl.knots, M.TRUE_PWL.knots, atol=5e-2)


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_sgd_defaults_reach_one_percent_of_optimal_on_kbit2(name):
    best = search(name, kbit=2, starts=2).metrics["l2"]
    r = search(name, kbit=2, method="sgd")
    assert r.metrics["l2"] <= 1.01 * best
    assert r.options["optimizer"] == "adam"


def test_sgd_with_momentum_improves_on_its_start():
    r = search("gelu", kbit=2, method="sgd", optimizer="sgd", steps=200)
    assert r.metrics["l2"] < 0.5 * r.history[0]


def test_sgd_keeps_pinned_tails_and_sorted_knots():
    r = search("silu", kbit=3, method="sgd", steps=100)
    t = r.get_target()
    assert np.all(np.diff(r.pwl.knots) > 0)
    assert r.pwl.left_slope == 0.0 and r.pwl.right_slope == 1.0
    assert r.pwl.values[0] == pytest.approx(t.left(r.pwl.knots[0]), abs=1e-15)
    assert r.pwl.values[-1] == pytest.approx(t.right(r.pwl.knots[-1]), abs=1e-12)


def test_sgd_fits_free_tails_and_other_objectives():
    for objective, metric in (("l2", "l2"), ("l2-deriv", "l2_deriv"), ("max", "max_err_abs")):
        uni = search("tanh", 4, interval=(-3.0, 3.0), tails="free", objective=objective,
                     method="lstsq")
        r = search("tanh", 4, interval=(-3.0, 3.0), tails="free", objective=objective,
                   method="sgd", steps=150)
        assert np.isfinite(r.metrics[metric])
        if objective == "l2":
            assert r.metrics[metric] < uni.metrics[metric]


def test_sgd_is_reproducible_with_a_seed():
    a = search("gelu", kbit=2, method="sgd", steps=50, seed=5)
    b = search("gelu", kbit=2, method="sgd", steps=50, seed=5)
    c = search("gelu", kbit=2, method="sgd", steps=50, seed=6)
    assert a.pwl == b.pwl
    assert a.pwl != c.pwl


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"optimizer": "rmsprop"}, r"^sgd: optimizer must be one of adam, sgd, not 'rmsprop'$"),
        ({"steps": -1}, r"^sgd: steps must be an integer >= 1, not -1$"),
        ({"momentum": 1.5}, r"^sgd: momentum must be below 1, not 1.5$"),
        ({"lr_schedule": "cos"}, r"^unknown option 'lr_schedule' for method 'sgd': .*$"),
    ],
)
def test_sgd_rejects_bad_options(options, match):
    with pytest.raises(SearchError, match=match):
        search("gelu", kbit=2, method="sgd", **options)
