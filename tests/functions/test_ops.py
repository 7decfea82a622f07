"""The operator table: each operator against a numpy/scipy reference, dtypes, gradients."""

import math

import numpy as np
import pytest
import torch
from scipy import special

from pwlgen.functions.ops import COMMUTATIVE, LEAKY_SLOPE, OPERATORS, OPERATORS_BY_ARITY

# The operator list of issue 2, by kind.
ISSUE_UNARY = (
    "zero one identity negative abs reciprocal square exp erf erfc sinh cosh tanh expm1 "
    "sigmoid log_sigmoid arcsinh arctan bessel_i0e bessel_i1e relu elu selu swish softplus "
    "softsign hard_sigmoid elish leaky_relu mish gelu"
).split()
ISSUE_BINARY = "add sub mul div pow max min".split()
ISSUE_NARY = "sum_n prod_n max_n min_n".split()

# SELU's constants as defined by Klambauer et al. (2017).
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _sig(x):
    return special.expit(x)


UNARY_REF = {
    "zero": lambda x: np.zeros_like(x),
    "one": lambda x: np.ones_like(x),
    "identity": lambda x: x,
    "negative": lambda x: -x,
    "abs": np.abs,
    "reciprocal": lambda x: np.divide(1.0, x, out=np.full_like(x, np.inf), where=x != 0),
    "square": lambda x: x * x,
    "exp": np.exp,
    "erf": special.erf,
    "erfc": special.erfc,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "expm1": np.expm1,
    "sigmoid": _sig,
    "log_sigmoid": special.log_expit,
    "arcsinh": np.arcsinh,
    "arctan": np.arctan,
    "bessel_i0e": special.i0e,
    "bessel_i1e": special.i1e,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "swish": lambda x: x * _sig(x),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_sigmoid": lambda x: np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0,
    "elish": lambda x: np.where(x >= 0, x, np.expm1(np.minimum(x, 0.0))) * _sig(x),
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_SLOPE * x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "gelu": lambda x: 0.5 * x * special.erfc(-x / math.sqrt(2.0)),
}

BINARY_REF = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "max": np.maximum,
    "min": np.minimum,
}

NARY_REF = {
    "sum_n": lambda *a: np.sum(a, axis=0),
    "prod_n": lambda *a: np.prod(a, axis=0),
    "max_n": lambda *a: np.max(a, axis=0),
    "min_n": lambda *a: np.min(a, axis=0),
}

# Points where an operator's first derivative jumps (finite differences skip them).
KINKS = {"abs": (0.0,), "relu": (0.0,), "selu": (0.0,), "leaky_relu": (0.0,),
         "hard_sigmoid": (-3.0, 3.0), "elish": (0.0,), "reciprocal": (0.0,)}

GRID = np.concatenate([np.linspace(-40.0, 40.0, 801), np.linspace(-3.0, 3.0, 601), [0.0]])


def _t(a, dtype=torch.float64):
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(dtype)


def _close(actual, expected, rtol=1e-12, atol=1e-14):
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


def test_table_has_exactly_the_issue_operators_grouped_by_arity():
    assert OPERATORS_BY_ARITY == {"unary": ISSUE_UNARY, "binary": ISSUE_BINARY,
                                  "n-ary": ISSUE_NARY}
    assert set(OPERATORS) == set(ISSUE_UNARY) | set(ISSUE_BINARY) | set(ISSUE_NARY)
    assert {n for n in OPERATORS if OPERATORS[n].arity == 1} == set(ISSUE_UNARY)
    assert {n for n in OPERATORS if OPERATORS[n].arity == 2} == set(ISSUE_BINARY)
    assert {n for n in OPERATORS if OPERATORS[n].arity is None} == set(ISSUE_NARY)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_has_a_one_line_doc_and_its_kind(name):
    op = OPERATORS[name]
    assert op.doc.strip() and "\n" not in op.doc
    assert name in OPERATORS_BY_ARITY[op.kind]


def test_accepts_counts_arguments_by_arity():
    assert OPERATORS["relu"].accepts(1) and not OPERATORS["relu"].accepts(2)
    assert OPERATORS["max"].accepts(2) and not OPERATORS["max"].accepts(3)
    assert not OPERATORS["sum_n"].accepts(1)
    assert all(OPERATORS["sum_n"].accepts(n) for n in (2, 3, 7))


def test_commutative_operators_are_the_symmetric_ones():
    assert COMMUTATIVE == {"add", "mul", "max", "min", "sum_n", "prod_n", "max_n", "min_n"}
    a, b = _t(np.linspace(-3, 3, 13)), _t(np.linspace(2, -4, 13))
    for name in COMMUTATIVE:
        fn = OPERATORS[name].fn
        assert torch.equal(fn(a, b), fn(b, a)), name


@pytest.mark.parametrize("name", ISSUE_UNARY)
def test_unary_operator_matches_reference_in_float64(name):
    got = OPERATORS[name].fn(_t(GRID)).numpy()
    _close(got, UNARY_REF[name](GRID))


@pytest.mark.parametrize("name", ISSUE_BINARY)
def test_binary_operator_matches_reference_in_float64(name):
    a, b = np.meshgrid(np.linspace(-3.0, 3.0, 25), np.linspace(-2.5, 2.5, 21))
    a, b = a.ravel(), b.ravel()
    if name == "pow":  # integer and non-integer exponents, negative bases included
        b = np.round(b * 2.0) / 2.0
    with np.errstate(all="ignore"):
        expected = BINARY_REF[name](a, b)
    _close(OPERATORS[name].fn(_t(a), _t(b)).numpy(), expected)


def test_pow_is_nan_for_negative_base_and_fractional_exponent():
    got = OPERATORS["pow"].fn(_t([-2.0, -2.0, 2.0]), _t([0.5, 2.0, 0.5])).numpy()
    assert np.isnan(got[0]) and got[1] == 4.0 and got[2] == pytest.approx(math.sqrt(2.0))


def test_div_by_zero_gives_inf_like_ieee():
    got = OPERATORS["div"].fn(_t([1.0, -1.0]), _t([0.0, 0.0])).numpy()
    assert got[0] == np.inf and got[1] == -np.inf


@pytest.mark.parametrize("name", ISSUE_NARY)
@pytest.mark.parametrize("n_args", [2, 3, 5])
def test_nary_operator_matches_reference(name, n_args):
    rng = np.random.default_rng(n_args)
    args = [rng.normal(size=40) for _ in range(n_args)]
    _close(OPERATORS[name].fn(*map(_t, args)).numpy(), NARY_REF[name](*args))


@pytest.mark.parametrize("name", ISSUE_UNARY)
def test_unary_operator_first_derivative_matches_finite_differences(name):
    x = np.linspace(-6.13, 6.07, 97)
    x = x[np.all([np.abs(x - k) > 1e-3 for k in KINKS.get(name, ())] or [True], axis=0)]
    xt = _t(x).requires_grad_(True)
    y = OPERATORS[name].fn(xt)
    if not y.requires_grad:  # constants: no gradient flows, and the derivative is 0
        assert name in ("zero", "one")
        return
    (g,) = torch.autograd.grad(y.sum(), xt)
    h = 1e-6
    ref = UNARY_REF[name]
    fd = (ref(x + h) - ref(x - h)) / (2 * h)
    _close(g.numpy(), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in OPERATORS if n not in ("zero", "one")])
def test_operator_is_twice_differentiable_by_autograd(name):
    x = _t(np.linspace(-2.9, 2.3, 11)).requires_grad_(True)
    args = [x] if OPERATORS[name].arity == 1 else [x, torch.cos(x) + 2.0]
    y = OPERATORS[name].fn(*args)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    if g.requires_grad:
        (g2,) = torch.autograd.grad(g.sum(), x, allow_unused=True)
        assert g2 is None or g2.shape == x.shape


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2),
                                       (torch.float16, 2e-2)])
@pytest.mark.parametrize("name", list(OPERATORS))
def test_operator_keeps_dtype_and_shape(name, dtype, tol):
    x64 = _t(np.linspace(-2.0, 2.0, 21)).reshape(3, 7)
    args64 = [x64] if OPERATORS[name].arity == 1 else [x64, x64.flip(-1) * 0.5 + 1.0]
    got = OPERATORS[name].fn(*[a.to(dtype) for a in args64])
    assert got.dtype == dtype and got.shape == (3, 7)
    expected = OPERATORS[name].fn(*args64)
    _close(got.double().numpy(), expected.numpy(), rtol=tol, atol=tol)


def test_softplus_is_exact_beyond_torchs_threshold():
    x = np.array([20.5, 25.0, 30.0, 700.0, -700.0])
    _close(OPERATORS["softplus"].fn(_t(x)).numpy(), np.logaddexp(0.0, x), rtol=1e-15, atol=0)


def test_elish_gradient_is_finite_for_large_inputs():
    x = _t([-800.0, -1.0, 1.0, 800.0]).requires_grad_(True)
    (g,) = torch.autograd.grad(OPERATORS["elish"].fn(x).sum(), x)
    assert torch.isfinite(g).all()


def test_docs_list_every_operator():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "grammar.md").read_text()
    missing = [n for n in OPERATORS if f"`{n}`" not in text]
    assert not missing


@pytest.mark.parametrize("name", list(OPERATORS))
def test_compiled_grammar_call_matches_reference(name):
    from pwlgen.functions.grammar import compile_torch, parse

    x = np.linspace(-5.0, 5.0, 201)
    if name in UNARY_REF:
        text, expected = f"{name}(x)", UNARY_REF[name](x)
    elif name in BINARY_REF:  # second argument: x^2 + 1, exact in both and positive
        text = f"{name}(x,add(square(x),one(x)))"
        with np.errstate(all="ignore"):
            expected = BINARY_REF[name](x, x * x + 1.0)
    else:
        text = f"{name}(x,sigmoid(x),negative(x))"
        expected = NARY_REF[name](x, _sig(x), -x)
    with torch.no_grad():
        got = compile_torch(parse(text))(_t(x)).numpy()
    _close(got, expected)
