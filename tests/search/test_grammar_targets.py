"""Every operator of the grammar, alone and composed, searches without a crash."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pwlgen.errors import PwlgenError
from pwlgen.functions import get_target
from pwlgen.functions.grammar import OPERATORS, OPERATORS_BY_ARITY, Call, Leaf
from pwlgen.search import search

CHEAP = {"starts": 2, "pool": 8}
SHAPES = [{"n_knots": 3}, {"kbit": 1}]


def _search_or_refuse(text: str, **kw):
    """The search's result, or None when it refuses the target in one clean error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parse_target warns on non-finite targets
        target = get_target(text)
    try:
        r = search(target, **kw, **CHEAP)
    except PwlgenError as e:
        assert str(e) and "\n" not in str(e)
        return None
    assert all(np.isfinite(v) for v in r.metrics.values()), r.metrics
    assert np.all(np.isfinite(r.pwl.values))
    return r


@pytest.mark.parametrize("text", ["abs(x)", "max(x,abs(x))", "add(abs(x),one(x))"])
@pytest.mark.parametrize("objective", ["l2", "l2-deriv", "max"])
@pytest.mark.parametrize("shape", SHAPES, ids=["n_knots", "kbit"])
def test_zero_curvature_targets_are_fitted_exactly(text, objective, shape):
    # f'' = 0 except at the kink: one knot on it makes the fit exact
    r = search(text, objective=objective, **shape, **CHEAP)
    assert r.metrics["max_err_abs"] < 1e-9


def _alone(name: str) -> str:
    op = OPERATORS[name]
    return f"{name}(x)" if op.arity == 1 else f"{name}(x,tanh(x))"


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("shape", SHAPES, ids=["n_knots", "kbit"])
def test_every_operator_alone_searches_or_is_refused_cleanly(name, shape):
    r = _search_or_refuse(_alone(name), **shape)
    if "n_knots" in shape and name not in ("reciprocal", "div", "pow"):
        assert r is not None  # finite on its interval: must be searched


def _extend(children):
    unary, binary, nary = (st.sampled_from(OPERATORS_BY_ARITY[k])
                           for k in ("unary", "binary", "n-ary"))
    return st.one_of(
        st.builds(lambda op, a: Call(op, (a,)), unary, children),
        st.builds(lambda op, a, b: Call(op, (a, b)), binary, children, children),
        st.builds(lambda op, args: Call(op, tuple(args)), nary,
                  st.lists(children, min_size=2, max_size=3)),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.recursive(st.just(Leaf()), _extend, max_leaves=5),
       shape=st.sampled_from(SHAPES), objective=st.sampled_from(["l2", "l2-deriv"]))
def test_composed_expressions_search_or_are_refused_cleanly(tree, shape, objective):
    _search_or_refuse(str(tree), objective=objective, **shape)
