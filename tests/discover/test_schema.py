import pytest

from pwlgen.discover.schema import enumerate_schema, operator_names, schema_size
from pwlgen.errors import ExpressionError


def test_schema_enumerates_every_substitution():
    got = list(enumerate_schema("binary(unary(x),unary(x))", ["relu", "tanh"], ["add", "max"]))
    expected = [f"{b}({u}(x),{v}(x))" for b in ("add", "max") for u in ("relu", "tanh")
                for v in ("relu", "tanh")]
    assert got == expected
    assert schema_size("binary(unary(x),unary(x))", ["relu", "tanh"], ["add", "max"]) == 8


def test_default_lists_are_the_grammars_operators():
    n_u, n_b = len(operator_names("unary")), len(operator_names("binary"))
    assert schema_size("binary(unary(x),x)") == n_u * n_b
    assert "relu" in operator_names("unary") and "add" in operator_names("binary")


def test_concrete_operators_stay_in_place():
    assert list(enumerate_schema("add(unary(x),x)", ["abs"])) == ["add(abs(x),x)"]


@pytest.mark.parametrize("schema,message", [
    ("binary(unary(x),foo(x))",
     r"^unknown operator 'foo' \(placeholders: unary, binary\) at column 17 of "
     r"'binary\(unary\(x\),foo\(x\)\)'$"),
    ("unary(x,x)", r"^'unary' takes 1 argument\(s\), not 2 at column 1 of 'unary\(x,x\)'$"),
    ("unary(x", r"^expected '\)', found 'the end' at column 8 of 'unary\(x'$"),
    ("unary(x))", r"^unexpected '\)' after the schema at column 9 of 'unary\(x\)\)'$"),
])
def test_bad_schema_is_a_clear_error(schema, message):
    with pytest.raises(ExpressionError, match=message):
        list(enumerate_schema(schema))


def test_unknown_operator_in_a_list_is_a_clear_error():
    with pytest.raises(ExpressionError, match=r"^unknown unary operator 'nope' in the operator"):
        list(enumerate_schema("unary(x)", ["relu", "nope"]))
    with pytest.raises(ExpressionError, match=r"^unknown binary operator 'relu'"):
        list(enumerate_schema("binary(x,x)", None, ["relu"]))
