import pytest
import torch

from pwlgen.discover.expr import BASELINES, ExprActivation, compile_expression
from pwlgen.errors import ExpressionError
from pwlgen.functions import get_target


def test_expression_module_matches_the_torch_composition_and_round_trips():
    m = ExprActivation("max(tanh(x), relu(x))")
    x = torch.linspace(-4, 4, 101, dtype=torch.float64, requires_grad=True)
    y = m(x)
    torch.testing.assert_close(y, torch.maximum(torch.relu(x), torch.tanh(x)))
    # canonical text parses back to the same function (and to itself)
    again = compile_expression(m.expression.text)
    assert again.text == m.expression.text
    torch.testing.assert_close(again(x), y)
    # gradients flow through the module
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert m.expression.text in repr(m)


def test_expression_is_a_valid_target_for_the_rest_of_pwlgen():
    text = compile_expression("add(swish(x),tanh(x))").text
    t = get_target(text)
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    expected = torch.nn.functional.silu(x) + torch.tanh(x)
    torch.testing.assert_close(torch.as_tensor(t(x.numpy())), expected)


def test_baselines_and_plain_names_compile():
    for b in BASELINES:
        compile_expression(b)
    assert compile_expression("silu").text == compile_expression("swish(x)").text


def test_unknown_operator_is_an_expression_error():
    with pytest.raises(ExpressionError, match=r"unknown operator 'foo'"):
        compile_expression("foo(x)")
