"""The expression grammar: parsing, errors, canonical form, compilation, targets."""

import pickle
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pwlgen.errors import ExpressionError
from pwlgen.functions import get_target
from pwlgen.functions.grammar import (
    COMMUTATIVE,
    MAX_DEPTH,
    MAX_LENGTH,
    OPERATORS,
    OPERATORS_BY_ARITY,
    Call,
    Leaf,
    Node,
    canonical,
    compile_torch,
    find_kinks,
    parse,
    parse_target,
)
from pwlgen.functions.target import Asymptote

X = Leaf()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def call(op, *args):
    return Call(op, tuple(args))


# --- strategies ----------------------------------------------------------------------------

UNARY = OPERATORS_BY_ARITY["unary"]
BINARY = OPERATORS_BY_ARITY["binary"]
NARY = OPERATORS_BY_ARITY["n-ary"]


def _extend(children):
    return st.one_of(
        st.builds(lambda op, a: Call(op, (a,)), st.sampled_from(UNARY), children),
        st.builds(lambda op, a, b: Call(op, (a, b)), st.sampled_from(BINARY), children, children),
        st.builds(lambda op, args: Call(op, tuple(args)), st.sampled_from(NARY),
                  st.lists(children, min_size=2, max_size=4)),
    )


trees = st.recursive(st.just(X), _extend, max_leaves=12)


def _permute_commutative(node, rnd):
    """The same tree with the arguments of every commutative call shuffled."""
    if isinstance(node, Leaf):
        return node
    args = [_permute_commutative(a, rnd) for a in node.args]
    if node.op in COMMUTATIVE:
        rnd.shuffle(args)
    return Call(node.op, tuple(args))


def _spaced(node, rnd):
    """The tree's text with random whitespace between tokens."""
    def ws():
        return rnd.choice(["", "", " ", "\t", "\n ", "  "])
    if isinstance(node, Leaf):
        return ws() + "x" + ws()
    inner = ",".join(_spaced(a, rnd) for a in node.args)
    return f"{ws()}{node.op}{ws()}({inner}){ws()}"


# --- parsing ---------------------------------------------------------------------------------


def test_parse_builds_the_tree_of_nested_calls():
    assert parse("x") == X
    assert parse("max(relu(x),cosh(elu(x)))") == call(
        "max", call("relu", X), call("cosh", call("elu", X)))
    assert parse("sum_n(abs(x),swish(x),sigmoid(x))") == call(
        "sum_n", call("abs", X), call("swish", X), call("sigmoid", X))


def test_str_prints_canonical_text_without_spaces():
    text = " max ( relu( x ) ,\n\tcosh(elu(x)) ) "
    assert str(parse(text)) == "max(relu(x),cosh(elu(x)))"


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_parses_with_its_arity(name):
    n = OPERATORS[name].arity or 3
    text = f"{name}({','.join(['x'] * n)})"
    assert parse(text) == Call(name, (X,) * n)


def test_nodes_report_depth_size_and_walk_order():
    node = parse("max(relu(x),cosh(elu(x)))")
    assert node.depth == 3 and X.depth == 0
    assert node.size == 6
    assert [str(n) for n in node.walk()][:3] == ["max(relu(x),cosh(elu(x)))", "relu(x)", "x"]


@FAST
@given(trees)
def test_generated_trees_round_trip_through_str(tree):
    assert parse(str(tree)) == tree
    assert str(parse(str(tree))) == str(tree)


@FAST
@given(trees, st.randoms(use_true_random=False))
def test_whitespace_between_tokens_does_not_change_the_tree(tree, rnd):
    assert parse(_spaced(tree, rnd)) == tree


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_expression_error(text):
    try:
        node = parse(text)
    except ExpressionError as e:
        assert "\n" not in str(e) and e.text == text
        assert e.pos is not None and 0 <= e.pos <= len(text)
    else:
        assert isinstance(node, Node) and parse(str(node)) == node


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(list("x(), \t1") + ["relu", "max", "sum_n", "foo", "pow"]),
                max_size=30).map("".join))
def test_grammar_like_text_parses_or_raises_expression_error(text):
    try:
        node = parse(text)
    except ExpressionError as e:
        assert 0 <= e.pos <= len(text)
    else:
        assert str(node) == re.sub(r"\s+", "", text)


def _msg(message, text, pos):
    """The whole expected message: what must hold, then the column of the bad token."""
    return "^" + re.escape(f"{message} at column {pos + 1} of {text!r}") + "$"


@pytest.mark.parametrize("text,message,pos", [
    ("max(foo(x),x)", "unknown operator 'foo'", 4),
    ("X", "unknown operator 'X' (did you mean 'x'?)", 0),
    ("max(silu(x),x)", "unknown operator 'silu' (did you mean 'swish'?)", 4),
    ("rleu(x)", "unknown operator 'rleu' (did you mean 'relu'?)", 0),
    ("max(x,x,x)", "max takes 2 arguments, not 3", 0),
    ("abs(relu(x,x))", "relu takes 1 argument, not 2", 4),
    ("sum_n(x)", "sum_n takes 2 or more arguments, not 1", 0),
    ("relu()", "relu takes 1 argument, not 0", 0),
    ("relu(x", "unexpected end of expression, expected ',' or ')'", 6),
    ("max(x,", "unexpected end of expression, expected an operator or 'x'", 6),
    ("relu", "unexpected end of expression, expected '(' after relu", 4),
    ("relu x", "expected '(' after relu, not 'x'", 5),
    ("relu(x x)", "expected ',' or ')', not 'x'", 7),
    ("max(x,)", "expected an operator or 'x', not ')'", 6),
    ("(x)", "expected an operator or 'x', not '('", 0),
    ("relu(x))", "expected the end of the expression, not ')'", 7),
    ("x x", "expected the end of the expression, not 'x'", 2),
    ("x(x)", "the variable 'x' takes no arguments", 1),
    ("", "empty expression", 0),
    (" \t", "empty expression", 0),
    ("relu(x)$", "unexpected character '$'", 7),
    ("relu(\u00e9)", "unexpected character '\u00e9'", 5),
    ("add(x,2)", "unexpected character '2' (the grammar has no numbers or infix operators: "
                 "use one(x), add(a,b)...)", 6),
])
def test_malformed_expression_error_names_rule_token_and_column(text, message, pos):
    with pytest.raises(ExpressionError, match=_msg(message, text, pos)) as info:
        parse(text)
    assert info.value.pos == pos and info.value.text == text


def test_nesting_up_to_the_limit_parses_and_beyond_raises():
    ok = "relu(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH
    assert parse(ok).depth == MAX_DEPTH
    bad = "relu(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ExpressionError, match=r"^expression nests more than 200 calls at column "
                                               rf"{5 * MAX_DEPTH + 1} of "):
        parse(bad)


def test_deep_unbalanced_input_raises_expression_error_not_recursion_error():
    text = "abs(" * (MAX_LENGTH // 4)
    assert len(text) <= MAX_LENGTH
    with pytest.raises(ExpressionError):
        parse(text)


def test_overlong_text_raises_before_parsing():
    text = "x" * (MAX_LENGTH + 1)
    with pytest.raises(ExpressionError, match=rf"^expression has {MAX_LENGTH + 1} characters, "
                                               rf"more than the limit of {MAX_LENGTH}$"):
        parse(text)


def test_parse_of_a_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="not int"):
        parse(3)


def test_call_validates_operator_and_arity():
    with pytest.raises(ExpressionError, match=r"^unknown operator 'foo'$"):
        Call("foo", (X,))
    with pytest.raises(ExpressionError, match=r"^min takes 2 arguments, not 1$"):
        Call("min", (X,))
    with pytest.raises(TypeError):
        Call("relu", ("x",))
    assert Call("max", [X, X]).args == (X, X)


def test_trees_are_hashable_values():
    assert {parse("relu(x)"), parse(" relu( x )")} == {call("relu", X)}
    assert pickle.loads(pickle.dumps(parse("max(x,abs(x))"))) == parse("max(x,abs(x))")


# --- canonical form --------------------------------------------------------------------------


def test_canonical_sorts_commutative_arguments_only():
    assert str(canonical(parse("max(x,abs(x))"))) == "max(abs(x),x)"
    assert str(canonical(parse("sub(x,abs(x))"))) == "sub(x,abs(x))"
    assert str(canonical(parse("sum_n(x,tanh(mul(x,erf(x))),abs(x))"))) == \
        "sum_n(abs(x),tanh(mul(erf(x),x)),x)"


@FAST
@given(trees)
def test_canonical_is_idempotent(tree):
    once = canonical(tree)
    assert canonical(once) == once


@FAST
@given(trees, st.randoms(use_true_random=False))
def test_canonical_is_invariant_under_commutative_permutations(tree, rnd):
    assert canonical(_permute_commutative(tree, rnd)) == canonical(tree)


@settings(max_examples=60, deadline=None)
@given(trees)
def test_canonical_tree_computes_the_same_function(tree):
    x = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64)
    with torch.no_grad():
        a = compile_torch(tree)(x).numpy()
        b = compile_torch(canonical(tree))(x).numpy()
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, equal_nan=True)


# --- compilation -----------------------------------------------------------------------------


def _model(node, x):
    """Evaluate a tree by direct recursion over the operator table (the reference)."""
    if isinstance(node, Leaf):
        return x
    return OPERATORS[node.op].fn(*[_model(a, x) for a in node.args])


@settings(max_examples=80, deadline=None)
@given(trees)
def test_compiled_function_matches_recursive_evaluation(tree):
    x = torch.linspace(-4.0, 4.0, 33, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_array_equal(compile_torch(tree)(x).numpy(), _model(tree, x).numpy())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_compiled_function_keeps_dtype_and_shape(dtype):
    fn = compile_torch(parse("max(relu(x),cosh(elu(x)))"))
    x = torch.linspace(-2, 2, 3 * 5 * 7).reshape(3, 5, 7).to(dtype)
    y = fn(x)
    assert y.dtype == dtype and y.shape == x.shape


def test_compiled_function_is_differentiable_and_pickles_by_text():
    fn = compile_torch(parse("mul(x,sigmoid(x))"))
    x = torch.linspace(-3, 3, 13, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    s = torch.sigmoid(x.detach())
    torch.testing.assert_close(g, s * (1 + x.detach() * (1 - s)))
    again = pickle.loads(pickle.dumps(fn))
    assert again.expression == "mul(x,sigmoid(x))"
    torch.testing.assert_close(again(x.detach()), fn(x.detach()))


def test_compiled_deepest_tree_evaluates_without_recursion():
    fn = compile_torch(parse("tanh(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH))
    x = torch.tensor([0.5], dtype=torch.float64)
    ref = x
    for _ in range(MAX_DEPTH):
        ref = torch.tanh(ref)
    torch.testing.assert_close(fn(x), ref)


def test_compile_of_a_non_node_is_a_type_error():
    with pytest.raises(TypeError):
        compile_torch("relu(x)")


# --- targets ---------------------------------------------------------------------------------


def test_parse_target_names_the_target_by_its_text():
    t = parse_target(" max( relu(x), cosh(elu(x)) )")
    assert t.name == t.expression == "max(relu(x),cosh(elu(x)))"
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(t.f(x), np.maximum(np.maximum(x, 0), np.cosh(
        np.where(x > 0, x, np.expm1(np.minimum(x, 0))))), rtol=1e-14)


def test_get_target_routes_expressions_to_the_grammar():
    assert get_target("mul(x, sigmoid(x))").expression == "mul(x,sigmoid(x))"
    assert get_target("x").expression == "x"
    with pytest.raises(ExpressionError, match=_msg("unknown operator 'foo'", "max(foo(x),x)", 4)):
        get_target("max(foo(x),x)")


EXPRESSIONS = [
    "mul(x,sigmoid(x))",
    "max(relu(x),cosh(elu(x)))",
    "sum_n(abs(x),swish(x),sigmoid(x))",
    "div(x,add(one(x),abs(x)))",
    "pow(softplus(x),square(one(x)))",
    "min_n(tanh(x),arctan(x),mul(x,erf(x)))",
    "prod_n(gelu(x),bessel_i0e(x),log_sigmoid(x))",
    "sub(mish(x),elish(hard_sigmoid(x)))",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_expression_target_derivatives_match_finite_differences(text):
    t = parse_target(text)
    x = np.linspace(-4.03, 3.97, 81)
    x = x[np.min(np.abs(x[:, None] - np.array(t.kinks + (1e9,))[None, :]), axis=1) > 1e-3]
    h = 1e-5
    np.testing.assert_allclose(t.df(x), (t.f(x + h) - t.f(x - h)) / (2 * h), rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(t.d2f(x), (t.df(x + h) - t.df(x - h)) / (2 * h), rtol=1e-5,
                               atol=1e-6)


def test_expression_target_asymptotes_are_estimated():
    t = parse_target("max(x,zero(x))")
    assert t.left == Asymptote(0.0, 0.0) and t.right == Asymptote(1.0, 0.0)
    assert parse_target("exp(x)").right is None


@pytest.mark.parametrize("text,kinks", [
    ("relu(x)", (0.0,)),
    ("relu(sub(x,one(x)))", (1.0,)),
    ("hard_sigmoid(x)", (-3.0, 3.0)),
    ("abs(sub(square(x),one(x)))", (-1.0, 1.0)),
    ("max(x,negative(x))", (0.0,)),
    ("relu(relu(x))", (0.0,)),
    ("max(x,x)", ()),
    ("tanh(x)", ()),
])
def test_kinks_are_where_nonsmooth_arguments_cross_their_breaks(text, kinks):
    np.testing.assert_allclose(find_kinks(parse(text)), kinks, atol=1e-12)
    assert parse_target(text).kinks == find_kinks(parse(text))


@pytest.mark.parametrize("text,first", [("reciprocal(x)", 0.0), ("pow(x,sigmoid(x))", -8.0)])
def test_target_not_finite_near_zero_warns(text, first):
    with pytest.warns(UserWarning, match=rf"^{re.escape(text)} is not finite at \d+ of 1601 "
                                         rf"points in \[-8, 8\] \(first at x = {first!r}\)"):
        parse_target(text)
