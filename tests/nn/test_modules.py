import math

import pytest
import torch

from pwlgen.errors import ResultFileError
from pwlgen.io import save
from pwlgen.nn import FewBitActivation, OpError, ReGELU2, ReSiLU2
from pwlgen.nn.defaults import shipped_result
from pwlgen.pwl import PWL
from pwlgen.search import search


@pytest.mark.parametrize("cls,fn,exact", [(ReGELU2, "gelu", torch.nn.functional.gelu),
                                          (ReSiLU2, "silu", torch.nn.functional.silu)])
def test_regelu2_and_resilu2_use_the_shipped_two_bit_search_result(cls, fn, exact):
    act = cls()
    r = shipped_result(fn, 2, "l2")
    assert act.bits == 2 and act.fn == fn
    assert list(act.levels) == r.pwl.slopes.tolist()
    x = (torch.randn(3, 7, 257) * 3).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    y = act(x)
    torch.testing.assert_close(y, exact(x.detach()), atol=1e-6, rtol=1e-5)
    y.backward(torch.ones_like(y))
    r.pwl(x2).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_regelu2_levels_are_approx_bp_shaped():
    # tails on the asymptotes 0 and x; the (a, c) form sums to 1 with sum(a*c) = 0
    act = ReGELU2()
    assert act.levels[0] == 0.0 and act.levels[-1] == 1.0
    rs = PWL(act.knots, [0.0] * 3, 0.0, 1.0).to_relu_sum()
    assert math.isclose(float(rs.a.sum()), 1.0)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("objective", ["l2", "l2-deriv"])
def test_fewbit_activation_has_two_to_the_k_levels(bits, objective):
    act = FewBitActivation("gelu", bits=bits, objective=objective)
    assert len(act.levels) == 2**bits and len(act.knots) == 2**bits - 1
    assert act(torch.randn(10)).shape == (10,)


def test_fewbit_activation_searches_a_target_without_shipped_file():
    act = FewBitActivation("sigmoid", bits=1)
    x = torch.randn(64, requires_grad=True)
    torch.testing.assert_close(act(x), torch.sigmoid(x.detach()))


def test_from_result_reads_a_search_result_file(tmp_path):
    r = search("silu", kbit=1, method="lstsq")
    path = save(r.to_dict(), tmp_path / "r.yaml")
    act = FewBitActivation.from_result(path)
    assert act.fn == "silu" and act.bits == 1 and list(act.levels) == r.pwl.slopes.tolist()


def test_from_result_with_wrong_number_of_levels_is_rejected(tmp_path):
    r = search("gelu", n_knots=4, method="lstsq")
    path = save(r.to_dict(), tmp_path / "r.json")
    with pytest.raises(ResultFileError, match=r"^a k-bit activation needs 2\*\*k levels .*"
                                              r"the result of 'gelu' has 4 knots \(5 levels\)$"):
        FewBitActivation.from_result(path)


@pytest.mark.parametrize("bits", [0, 5])
def test_bits_outside_one_to_four_is_rejected(bits):
    with pytest.raises(OpError, match=rf"^bits must be an integer in 1\.\.4, not {bits}$"):
        FewBitActivation("gelu", bits=bits)


def test_unknown_objective_is_rejected():
    with pytest.raises(OpError, match=r"^objective must be one of l2, l2-deriv, not 'max'$"):
        FewBitActivation("gelu", objective="max")


def test_regelu2_takes_a_result_file_instead_of_the_default():
    from pwlgen.nn.defaults import data_file

    act = ReGELU2(result=data_file("gelu", 2, "l2-deriv"))
    assert act.objective == "l2-deriv"
    assert list(act.levels) == shipped_result("gelu", 2, "l2-deriv").pwl.slopes.tolist()
    assert list(act.levels) != list(ReGELU2().levels)
