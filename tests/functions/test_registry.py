"""The built-in targets: f vs torch, f' and f'' vs autograd, asymptotes, names and errors."""

import math

import numpy as np
import pytest
import torch

from pwlgen.errors import ExpressionError, TargetError
from pwlgen.functions import BUILTINS, Target, builtin_names, get_target
from pwlgen.functions.grammar import parse_target
from pwlgen.functions.registry import ALIASES

NAMES = list(BUILTINS)


def _grid(t: Target) -> np.ndarray:
    """Points in [-8, 8] at least 1e-3 away from the target's kinks."""
    x = np.linspace(-8.0, 8.0, 1601)
    if t.kinks:
        x = x[np.min(np.abs(x[:, None] - np.array(t.kinks)[None, :]), axis=1) > 1e-3]
    return x


def _autograd(t: Target, x: np.ndarray):
    """f, f' and f'' of the target's torch function in float64, by autograd."""
    xt = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
    y = t.torch_fn(xt)
    (g,) = torch.autograd.grad(y.sum(), xt, create_graph=True)
    if g.requires_grad:
        (g2,) = torch.autograd.grad(g.sum(), xt)
    else:  # piecewise-linear torch functions: the graph of f' is constant
        g2 = torch.zeros_like(xt)
    return y.detach().numpy(), g.detach().numpy(), g2.numpy()


def test_builtin_names_are_the_registry_in_order():
    assert builtin_names() == NAMES
    assert {"gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softplus", "elu", "selu", "mish",
            "hardswish", "relu", "leaky_relu", "exp"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_builtin_value_matches_its_torch_function(name):
    t = get_target(name)
    x = _grid(t)
    y, _, _ = _autograd(t, x)
    # torch's softplus switches to x above 20: off by up to exp(-20) ~ 2e-9 there
    np.testing.assert_allclose(t.f(x), y, rtol=1e-12, atol=1e-8 if name == "softplus" else 1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_builtin_derivatives_match_autograd_of_torch_function(name):
    t = get_target(name)
    x = _grid(t)
    _, g, g2 = _autograd(t, x)
    np.testing.assert_allclose(t.df(x), g, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.d2f(x), g2, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_builtin_derivatives_match_finite_differences(name):
    t = get_target(name)
    x = _grid(t)[::7]
    h = 1e-5
    np.testing.assert_allclose(t.df(x), (t.f(x + h) - t.f(x - h)) / (2 * h), rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(t.d2f(x), (t.df(x + h) - t.df(x - h)) / (2 * h), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_builtin_asymptotes_are_approached_at_large_inputs(name):
    t = get_target(name)
    for side, asym in ((-1.0, t.left), (1.0, t.right)):
        x = side * np.array([60.0, 80.0, 120.0])
        if asym is None:  # no linear asymptote: f outgrows every line
            with np.errstate(over="ignore"):
                assert np.all(np.abs(t.f(x) - t.f(x / 2)) > np.abs(x))
            continue
        np.testing.assert_allclose(t.f(x), asym(x), rtol=1e-9, atol=1e-9)


# Built-ins written in the grammar: the two independent implementations must agree.
AS_EXPRESSIONS = {
    "gelu": "gelu(x)",
    "silu": "mul(x,sigmoid(x))",
    "sigmoid": "sigmoid(x)",
    "tanh": "tanh(x)",
    "softplus": "softplus(x)",
    "elu": "elu(x)",
    "selu": "selu(x)",
    "mish": "mish(x)",
    "hardswish": "mul(x,hard_sigmoid(x))",
    "relu": "max(x,zero(x))",
    "leaky_relu": "leaky_relu(x)",
    "exp": "exp(x)",
}


@pytest.mark.parametrize("name", list(AS_EXPRESSIONS))
def test_builtin_agrees_with_its_grammar_expression(name):
    t, e = get_target(name), parse_target(AS_EXPRESSIONS[name])
    x = _grid(t)
    np.testing.assert_allclose(t.f(x), e.f(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(t.df(x), e.df(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.d2f(x), e.d2f(x), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", list(AS_EXPRESSIONS))
def test_builtin_asymptotes_agree_with_the_numerical_estimate(name):
    t, e = get_target(name), parse_target(AS_EXPRESSIONS[name])
    for known, est in ((t.left, e.left), (t.right, e.right)):
        assert (known is None) == (est is None)
        if known is not None:  # the estimate is rounded to 1e-6
            assert est.slope == pytest.approx(known.slope, abs=1e-6)
            assert est.intercept == pytest.approx(known.intercept, abs=1e-6)


def test_gelu_is_the_erf_form_not_the_tanh_approximation():
    x = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(get_target("gelu").f(x),
                               0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
                               rtol=1e-14, atol=1e-16)
    assert np.max(np.abs(get_target("gelu").f(x) - get_target("gelu_tanh").f(x))) > 1e-4


@pytest.mark.parametrize("alias,name", sorted(ALIASES.items()))
def test_aliases_resolve_to_the_same_target(alias, name):
    assert get_target(alias) is get_target(name)


def test_names_are_case_and_space_insensitive_and_cached():
    assert get_target("  GELU ") is get_target("gelu")
    assert get_target("Swish") is get_target("silu")


def test_target_evaluates_scalars_and_arrays():
    t = get_target("relu")
    assert float(t(-1.0)) == 0.0 and float(t(2.5)) == 2.5
    assert t(np.array([[-1.0, 3.0]])).shape == (1, 2)


def test_unknown_name_lists_the_choices():
    with pytest.raises(TargetError, match=r"^unknown function 'gleu': choose one of gelu, "
                                          r"gelu_tanh, .*, exp or give an expression such as "
                                          r"'max\(relu\(x\),tanh\(x\)\)'$"):
        get_target("gleu")


def test_malformed_expression_is_an_expression_error():
    with pytest.raises(ExpressionError, match=r"^relu takes 1 argument, not 2 at column 1 of "
                                              r"'relu\(x,x\)'$"):
        get_target("relu(x,x)")


def test_non_string_spec_is_a_type_error():
    with pytest.raises(TypeError, match="not float"):
        get_target(1.5)


def test_kbit_intervals_are_approx_bp_ones():
    assert get_target("gelu").default_interval() == (-6.0697, 6.0697)
    assert get_target("silu").default_interval() == (-38.228, 38.228)
