"""Real models converted: a Hugging Face GPT-2 from config, a TransformerEncoderLayer, a CNN."""

import copy
import math

import pytest
import torch
from torch import nn

from pwlgen.fixedpoint import design
from pwlgen.nn import FewBitActivation, PWLActivation, convert
from pwlgen.nn.pwl_act import pwl_forward_reference
from pwlgen.pwl import PWL

transformers = pytest.importorskip("transformers")

BATCH, SEQ, EMBD = 2, 8, 16
SITES = [f"transformer.h.{i}.mlp.act" for i in range(4)]


def _gpt2():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=4, n_embd=EMBD, n_head=2, n_positions=SEQ,
                                  vocab_size=32, bos_token_id=0, eos_token_id=0,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(cfg)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 32, (BATCH, SEQ), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def gelu_tanh_unit():
    return design("gelu_tanh", n_segments=16, symmetry="none")


def _convert_kwargs(to, unit):
    return {"regelu2": {}, "fewbit": {"bits": 3}, "pwl": {"fixed": unit}}[to]


class _PWLGrad(nn.Module):
    """Reference: forward `value(x)`, backward through the float PWL `h` by autograd."""

    def __init__(self, value, h):
        super().__init__()
        self.value, self.h = value, h

    def forward(self, x):
        h = self.h(x)
        return self.value(x).detach() + h - h.detach()


def _kbit_pwl(act: FewBitActivation) -> PWL:
    knots, levels = act.knots, act.levels
    values = [0.0]
    for i in range(1, len(knots)):
        values.append(values[-1] + levels[i] * (knots[i] - knots[i - 1]))
    return PWL(knots, values, levels[0], levels[-1])


def _reference_for(act: nn.Module, original: nn.Module) -> nn.Module:
    if isinstance(act, FewBitActivation):
        return _PWLGrad(original, _kbit_pwl(act))
    fixed = act.fixed
    lsb = 2.0**-fixed.slope_frac_bits
    slopes = torch.tensor([float(s) * lsb for s in fixed.slopes])

    def golden(x):
        return pwl_forward_reference(x, fixed)[0]

    def segment_line(x):  # slope of the unit's segment, quantisers passed straight
        return slopes[pwl_forward_reference(x.detach(), fixed)[1]] * x

    return _PWLGrad(golden, segment_line)


@pytest.mark.parametrize("to", ["regelu2", "fewbit", "pwl"])
def test_gpt2_report_lists_each_mlp_activation_once_with_bytes_saved_as_measured(
        to, tokens, gelu_tanh_unit):
    m = _gpt2()
    report = convert(m, to=to, measure=tokens, **_convert_kwargs(to, gelu_tanh_unit))
    assert [s.name for s in report.sites] == SITES
    assert all(s.replaced and s.fn == "gelu_tanh" for s in report.sites)
    n = SEQ * 4 * EMBD  # MLP hidden elements per sample
    saved_bits = {"regelu2": 2, "fewbit": 3, "pwl": 4}[to]  # 16 segments: 4-bit index
    for s in report.sites:
        assert s.elements_per_sample == n
        # NewGELUActivation's formula saves 4 fp32 tensors per element: x (for x**3),
        # tanh(.), 0.5*x and 1 + tanh(.); ours the packed codes
        assert s.bytes_before_per_sample == 4 * 4 * n
        assert s.bytes_after_per_sample == math.ceil(saved_bits * n * BATCH / 8) / BATCH
    # the per-site figure against the whole model's own before/after difference
    assert report.bytes_saved_per_sample == pytest.approx(report.total_saved_per_sample,
                                                          rel=0.01)


@pytest.mark.parametrize("to", ["regelu2", "fewbit"])
def test_gpt2_exact_forward_ops_keep_the_logits(to, tokens):
    m = _gpt2()
    ref = copy.deepcopy(m)
    convert(m, to=to, **_convert_kwargs(to, None))
    torch.testing.assert_close(m(tokens).logits, ref(tokens).logits, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("to", ["fewbit", "pwl"])
def test_gpt2_gradients_agree_with_the_pwls_autograd(to, tokens, gelu_tanh_unit):
    m = _gpt2()
    ref = copy.deepcopy(m)
    convert(m, to=to, **_convert_kwargs(to, gelu_tanh_unit))
    for blk, rblk in zip(m.transformer.h, ref.transformer.h, strict=True):
        rblk.mlp.act = _reference_for(blk.mlp.act, rblk.mlp.act)
    for model in (m, ref):
        model(tokens, labels=tokens).loss.backward()
    for (name, p), q in zip(m.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-4, msg=name)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_transformer_encoder_layer_activation_attribute(activation):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation=activation,
                                       batch_first=True)
    ref = copy.deepcopy(layer)
    x = torch.randn(2, 5, 16)
    report = convert(layer, to="regelu2", measure=x)
    (site,) = report.sites
    assert site.name == "activation" and site.old == f"F.{activation}"
    if activation == "relu":
        assert not site.replaced and layer.activation is torch.nn.functional.relu
        return
    assert site.replaced and site.elements_per_sample == 5 * 32  # tokens x hidden
    assert site.bytes_before_per_sample == 4 * 5 * 32  # F.gelu saves its fp32 input
    assert site.bytes_saved_per_sample == pytest.approx(report.total_saved_per_sample)
    torch.testing.assert_close(layer(x), ref(x), atol=1e-5, rtol=1e-5)
    layer.eval()  # the fused fast path is off for the new module
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref.eval()(x), atol=1e-5, rtol=1e-5)


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.SiLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    ).to(memory_format=torch.channels_last)


def test_channels_last_cnn_with_silu_keeps_layout_values_and_reports_its_sites():
    m = _cnn()
    ref = copy.deepcopy(m)
    x = torch.randn(2, 3, 6, 6).to(memory_format=torch.channels_last)
    report = convert(m, to="regelu2", measure=x)
    assert [(s.name, s.fn) for s in report.sites] == [("2", "silu"), ("4", "silu")]
    assert all(s.bytes_before_per_sample == 4 * 8 * 6 * 6 for s in report.sites)
    layouts = []
    m[2].register_forward_hook(
        lambda mod, a, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last)))
    torch.testing.assert_close(m(x), ref(x), atol=1e-5, rtol=1e-5)
    assert layouts == [True]
    m(x).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


def test_pwl_conversion_of_a_cnn_needs_a_silu_unit():
    m = _cnn()
    convert(m, to="pwl", fixed={"silu": design("silu", n_segments=8, symmetry="none")})
    assert isinstance(m[2], PWLActivation) and m[2] is not m[4]
