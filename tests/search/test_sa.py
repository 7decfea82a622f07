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


def test_sa_recovers_a_pwl_target():
    t = M.pwl_target(M.TRUE_PWL)
    r = search(t, 3, interval=(-4.0, 4.0), method="sa", chains=16, iterations=600)
    # the last steps are sigma1 * width = 8e-4 wide: that bounds the precision
    assert r.metrics["l2"] < 1e-5
    np.testing.assert_allclose(r.pwl.knots, M.TRUE_PWL.knots, atol=2e-2)


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_sa_defaults_reach_one_percent_of_optimal_on_kbit2(name):
    best = search(name, kbit=2, starts=2).metrics["l2"]
    r = search(name, kbit=2, method="sa")
    assert r.metrics["l2"] <= 1.01 * best
    assert r.history == sorted(r.history, reverse=True)  # best so far never gets worse
    assert r.history[-1] == pytest.approx(r.metrics["l2"], rel=1e-6)


def test_sa_is_reproducible_with_a_seed_and_varies_without():
    kw = dict(method="sa", chains=4, iterations=100)
    a = search("silu", kbit=2, seed=3, **kw)
    b = search("silu", kbit=2, seed=3, **kw)
    c = search("silu", kbit=2, seed=4, **kw)
    assert a.pwl == b.pwl
    assert a.pwl != c.pwl


def test_sa_works_for_l2_deriv_and_max():
    for objective, metric in (("l2-deriv", "l2_deriv"), ("max", "max_err_abs")):
        uni = search("gelu", kbit=2, objective=objective, method="lstsq")
        r = search("gelu", kbit=2, objective=objective, method="sa", chains=2, iterations=30)
        assert r.metrics[metric] < uni.metrics[metric] or objective == "max"
        assert np.isfinite(r.metrics[metric])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"temperature": 1.0}, r"^unknown option 'temperature' for method 'sa': choose .*$"),
        ({"chains": 0}, r"^sa: chains must be an integer >= 1, not 0$"),
        ({"sigma0": 0.0}, r"^sa: sigma0 must be finite and > 0, not 0.0$"),
        ({"t0": "hot"}, r"^sa: t0 must be a number, not 'hot'$"),
    ],
)
def test_sa_rejects_bad_options(options, match):
    with pytest.raises(SearchError, match=match):
        search("gelu", kbit=2, method="sa", **options)
