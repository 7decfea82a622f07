"""`Target` built from torch: derivatives where f is piecewise linear."""

import numpy as np
import pytest

from pwlgen.functions import get_target


@pytest.mark.parametrize("text", ["abs(x)", "max(x,abs(x))", "add(abs(x),one(x))", "relu(x)",
                                  "one(x)", "x"])
def test_second_derivative_of_a_piecewise_linear_target_is_zero(text):
    t = get_target(text)
    x = np.linspace(-3.0, 3.0, 13) + 0.1
    d2 = t.d2f(x)
    assert d2.dtype == np.float64 and d2.shape == x.shape
    np.testing.assert_array_equal(d2, np.zeros_like(x))
    h = 1e-6
    np.testing.assert_allclose(t.df(x), (t.f(x + h) - t.f(x - h)) / (2 * h), atol=1e-6)


def test_first_derivative_of_a_constant_is_zero_not_an_error():
    t = get_target("zero(x)")
    np.testing.assert_array_equal(t.df(np.array([-1.0, 2.0])), [0.0, 0.0])
