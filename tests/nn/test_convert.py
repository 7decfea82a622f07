import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pwlgen.fixedpoint import design
from pwlgen.nn import (
    FewBitActivation,
    OpError,
    PWLActivation,
    ReGELU2,
    ReSiLU2,
    convert,
    memory_report,
)


@pytest.fixture(scope="module")
def units():
    return {fn: design(fn, n_segments=8, symmetry="none") for fn in ("gelu", "silu")}


def _mlp():
    return nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 16), nn.SiLU(),
                         nn.Sequential(nn.Linear(16, 4), nn.GELU(approximate="tanh")))


def test_regelu2_conversion_replaces_each_site_once_and_reports_it():
    m = _mlp()
    report = convert(m, to="regelu2")
    assert isinstance(m[1], ReGELU2) and isinstance(m[3], ReSiLU2)
    assert isinstance(m[4][1], FewBitActivation) and m[4][1].fn == "gelu_tanh"
    assert [(s.name, s.fn, s.replaced) for s in report.sites] == [
        ("1", "gelu", True), ("3", "silu", True), ("4.1", "gelu_tanh", True)]
    assert [type(layer) for layer in m] == [nn.Linear, ReGELU2, nn.Linear, ReSiLU2,
                                            nn.Sequential]  # order kept


def test_a_module_holding_a_function_is_one_site_and_the_old_module_is_not_mutated():
    class GELUActivation(nn.Module):  # the shape of transformers' class: self.act = F.gelu
        def __init__(self):
            super().__init__()
            self.act = F.gelu

        def forward(self, x):
            return self.act(x)

    old = GELUActivation()
    m = nn.Sequential(nn.Linear(4, 4), old)
    report = convert(m, measure=torch.randn(2, 4))
    assert [s.name for s in report.sites] == ["1"]
    assert isinstance(m[1], ReGELU2) and old.act is F.gelu
    assert report.sites[0].elements_per_sample == 4


def test_a_shared_module_is_one_site_with_its_aliases():
    act = nn.SiLU()
    m = nn.Sequential(nn.Linear(4, 4), act, nn.Linear(4, 4), act)
    report = convert(m, to="fewbit", bits=3, measure=torch.randn(2, 4))
    (site,) = report.sites
    assert site.name == "1" and site.aliases == ("3",)
    assert m[1] is m[3] and isinstance(m[1], FewBitActivation)
    assert site.elements_per_sample == 2 * 4  # entered at both places


def test_skipped_sites_are_reported_with_the_reason():
    m = nn.Sequential(nn.Linear(4, 4), nn.Mish(), nn.ReLU(), nn.ReLU6(), nn.Hardswish())
    report = convert(m, to="regelu2")
    assert not report.replaced
    assert [(s.name, s.reason) for s in report.skipped] == [
        ("1", "no 2-bit drop-in for mish under to='regelu2'; use to='fewbit' for a k-bit mish"),
        ("2", "relu is piecewise linear already: its exact backward needs 1 bit"),
        ("3", "computes no pwlgen target"),
        ("4", "no 2-bit drop-in for hardswish under to='regelu2'; use to='fewbit' for a "
              "k-bit hardswish"),
    ]
    assert "skipped: no 2-bit drop-in for mish" in report.summary()
    assert isinstance(m[1], nn.Mish)


def test_fewbit_replaces_any_smooth_target():
    m = nn.Sequential(nn.Linear(4, 4), nn.Mish(), nn.ReLU())
    report = convert(m, to="fewbit", bits=2)
    assert isinstance(m[1], FewBitActivation) and m[1].fn == "mish"
    assert [s.replaced for s in report.sites] == [True, False]


def test_function_attributes_are_sites():
    class Block(nn.Module):
        def __init__(self, act):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.act_fn = act

        def forward(self, x):
            return self.act_fn(self.lin(x))

    import functools

    m = nn.Sequential(Block(functools.partial(F.gelu, approximate="tanh")), Block(F.relu))
    report = convert(m)
    assert [(s.name, s.fn, s.old, s.replaced) for s in report.sites] == [
        ("0.act_fn", "gelu_tanh", "partial(F.gelu, approximate='tanh')", True),
        ("1.act_fn", "relu", "F.relu", False)]
    assert m[1].act_fn is F.relu


def test_pwl_refuses_a_unit_of_another_function_in_one_line_and_changes_nothing(units):
    m = _mlp()
    msg = (r"^site '3' computes 'silu' but fixed= has no FixedPWL of it \(it has 'gelu'\); "
           r"pass one as fixed=\{'silu': \.\.\.\} or design_missing=True$")
    with pytest.raises(OpError, match=msg):
        convert(m, to="pwl", fixed=units["gelu"])
    assert type(m[1]) is nn.GELU and type(m[3]) is nn.SiLU


def test_pwl_with_the_default_gelu_unit_refuses_a_silu_site_in_one_line():
    m = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.SiLU())
    with pytest.raises(OpError, match=r"^site '2' computes 'silu' but fixed= has no FixedPWL"):
        convert(m, to="pwl", fixed=design("gelu"))


def test_pwl_gives_each_site_the_unit_of_its_function(units):
    m = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.SiLU())
    report = convert(m, to="pwl", fixed=units)
    assert isinstance(m[1], PWLActivation) and m[1].fixed is units["gelu"]
    assert m[2].fixed is units["silu"]
    assert [s.fn for s in report.replaced] == ["gelu", "silu"]


def test_pwl_designs_missing_units_on_request(units):
    m = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.GELU(approximate="tanh"))
    convert(m, to="pwl", fixed=units["gelu"], design_missing=True)
    assert m[1].fixed is units["gelu"] and m[2].fixed.function == "gelu_tanh"


def test_pwl_mapping_key_must_name_the_units_function(units):
    with pytest.raises(OpError, match=r"^fixed\['silu'\] is a FixedPWL of 'gelu', not of 'silu'$"):
        convert(_mlp(), to="pwl", fixed={"silu": units["gelu"]})


def test_measured_bytes_saved_per_site_follow_what_each_op_saves():
    m = _mlp()
    batch = 5
    report = convert(m, to="fewbit", bits=3, measure=torch.randn(batch, 8))
    widths = [32, 16, 4]
    assert [s.elements_per_sample for s in report.sites] == widths
    for s, w in zip(report.sites, widths, strict=True):
        # torch's GELU / SiLU save their fp32 input; ours the packed 3-bit codes
        assert s.bytes_before_per_sample == 4 * w
        assert s.bytes_after_per_sample == math.ceil(3 * w * batch / 8) / batch
    # the sites' figure is the whole model's measured difference
    assert report.bytes_saved_per_sample == pytest.approx(report.total_saved_per_sample)
    assert report.to_dict()["kind"] == "conversion_report"
    assert "whole model" in str(report)


def test_memory_report_counts_each_storage_once_and_skips_parameters():
    class Square(nn.Module):
        def forward(self, x):
            y = x * 2.0
            return y * y + y[:, :1] * y[:, 1:2]  # y saved 4 times, twice as views

    m = nn.Sequential(nn.Linear(3, 6), Square())
    x = torch.randn(4, 3)
    r = memory_report(m, x, {"sq": m[1]})
    assert r.scope_bytes["sq"] == 4 * 6 * 4  # one storage: y
    # whole model: Linear saves its input x (not its parameters) and y
    assert r.total_bytes == x.nbytes + 4 * 6 * 4


def test_measure_needs_a_sample():
    with pytest.raises(OpError, match=r"^the example inputs need at least one sample"):
        convert(_mlp(), measure=torch.randn(0, 8))


def test_converted_model_still_trains():
    m = _mlp()
    ref = _mlp()
    ref.load_state_dict(m.state_dict())
    convert(m)
    x = torch.randn(6, 8)
    torch.testing.assert_close(m(x), ref(x), atol=1e-5, rtol=1e-5)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_unknown_target_kind_is_rejected():
    with pytest.raises(OpError, match=r"^to must be one of regelu2, fewbit, pwl, not 'relu'$"):
        convert(_mlp(), to="relu")
