import numpy as np
import pytest

from pwlgen.nn.defaults import (
    OBJECTIVES,
    SHIPPED_BITS,
    SHIPPED_FUNCTIONS,
    data_file,
    shipped_result,
)
from pwlgen.search import search

ALL = [(fn, k, o) for fn in SHIPPED_FUNCTIONS for k in SHIPPED_BITS for o in OBJECTIVES]


@pytest.mark.parametrize("fn,bits,objective", ALL)
def test_every_default_ships_as_package_data(fn, bits, objective):
    assert data_file(fn, bits, objective).is_file()
    r = shipped_result(fn, bits, objective)
    assert (r.target, r.kbit, r.objective, r.n_knots) == (fn, bits, objective, 2**bits - 1)


@pytest.mark.parametrize("fn,bits,objective", ALL)
def test_shipped_result_matches_a_fresh_search(fn, bits, objective):
    shipped = shipped_result(fn, bits, objective)
    fresh = search(fn, kbit=bits, method=shipped.method, objective=objective, seed=shipped.seed)
    key = "l2" if objective == "l2" else "l2_deriv"
    # the objective must not have got worse; the knots may move on a flat optimum
    stale = "the search improved: regenerate with `python -m pwlgen.nn.defaults`"
    assert shipped.metrics[key] <= fresh.metrics[key] * (1 + 1e-6), stale
    assert fresh.metrics[key] <= shipped.metrics[key] * (1 + 1e-6)
    # GELU and SiLU are x/2 plus an even function, so an asymmetric optimum comes with its
    # mirror image x -> -x (same objective): either one matches
    mirror = -shipped.pwl.knots[::-1]
    assert (np.allclose(shipped.pwl.knots, fresh.pwl.knots, atol=1e-3)
            or np.allclose(mirror, fresh.pwl.knots, atol=1e-3)), (shipped.pwl.knots,
                                                                   fresh.pwl.knots)


@pytest.mark.parametrize("fn", SHIPPED_FUNCTIONS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_first_use_of_a_shipped_function_runs_no_search(fn, objective, monkeypatch):
    import pwlgen.search
    from pwlgen.nn import FewBitActivation

    def refuse(*args, **kwargs):
        raise AssertionError("a shipped default must not run a search")

    monkeypatch.setattr(pwlgen.search, "search", refuse)
    shipped_result.cache_clear()
    for bits in SHIPPED_BITS:
        act = FewBitActivation(fn, bits=bits, objective=objective)
        assert list(act.levels) == shipped_result(fn, bits, objective).pwl.slopes.tolist()


def test_l2_deriv_defaults_are_few_bit_step_functions_on_minus_ten_ten():
    for fn in SHIPPED_FUNCTIONS:
        for bits in SHIPPED_BITS:
            r = shipped_result(fn, bits, "l2-deriv")
            assert r.interval == (-10.0, 10.0) and r.tails == "free"
            assert r.options["certified"]
