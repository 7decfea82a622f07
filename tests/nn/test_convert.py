import pytest
import torch
from torch import nn

from pwlgen.fixedpoint import design
from pwlgen.nn import FewBitActivation, OpError, PWLActivation, ReGELU2, ReSiLU2, convert


def _mlp():
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 16), nn.SiLU(),
                         nn.Sequential(nn.Linear(16, 4), nn.GELU(approximate="tanh")))


def test_regelu2_conversion_swaps_gelu_and_silu_modules():
    m = _mlp()
    report = convert(m, to="regelu2")
    assert isinstance(m[1], ReGELU2) and isinstance(m[3], ReSiLU2)
    assert isinstance(m[4][1], FewBitActivation) and m[4][1].fn == "gelu_tanh"
    assert [r.name for r in report.replaced] == ["1", "3", "4.1"]
    assert report.bytes_saved_per_element == 4 - 2 / 8


def test_report_counts_bytes_saved_per_sample_from_an_example_batch():
    m = _mlp()
    report = convert(m, to="fewbit", bits=3, example_input=torch.randn(5, 8))
    per_site = [32, 16, 4]  # activation widths of the MLP
    assert [r.elements_per_sample for r in report.replaced] == per_site
    assert report.bytes_saved_per_sample == pytest.approx(sum(per_site) * (4 - 3 / 8))
    assert "total saved" in report.summary()
    assert report.to_dict()["kind"] == "conversion_report"


def test_converted_model_still_trains():
    m = _mlp()
    ref = _mlp()
    ref.load_state_dict(m.state_dict())
    convert(m)
    x = torch.randn(6, 8)
    torch.testing.assert_close(m(x), ref(x), atol=1e-5, rtol=1e-5)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_transformer_layer_activation_function_attribute_is_replaced():
    layer = nn.TransformerEncoderLayer(16, 2, 32, activation="gelu", batch_first=True)
    report = convert(layer, to="regelu2", example_input=torch.randn(2, 5, 16))
    assert isinstance(layer.activation, ReGELU2)
    assert report.replaced[0].name == "activation"
    assert report.replaced[0].elements_per_sample == 5 * 32  # tokens x hidden
    layer.train()
    layer(torch.randn(2, 5, 16)).sum().backward()


def test_pwl_conversion_uses_the_given_fixed_tables():
    m = nn.Sequential(nn.Linear(4, 4), nn.GELU())
    unit = design("gelu", n_segments=8)
    report = convert(m, to="pwl", fixed={"gelu": unit})
    assert isinstance(m[1], PWLActivation) and m[1].fixed == unit
    assert report.replaced[0].saved_bits == 4


def test_pwl_conversion_without_a_table_is_rejected():
    msg = r"^convert\(to='pwl'\) needs a FixedPWL for 'silu' in fixed=$"
    with pytest.raises(OpError, match=msg):
        convert(nn.Sequential(nn.SiLU()), to="pwl", fixed={})


def test_unknown_target_kind_is_rejected():
    with pytest.raises(OpError, match=r"^to must be one of regelu2, fewbit, pwl, not 'relu'$"):
        convert(_mlp(), to="relu")
