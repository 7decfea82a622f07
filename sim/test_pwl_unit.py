"""pytest runners of the cocotb benches (Icarus): the bulk proof and the handshake tests."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from pwlgen.fixedpoint import design
from pwlgen.hw.emit import emit
from pwlgen.hw.sim import run_bench, verify_unit

ROOT = Path(__file__).resolve().parents[1]
RTL_OUT = ROOT / "rtl_out"
SIM_DIR = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="iverilog missing (make sysdeps)")

@pytest.mark.parametrize("fn", ["gelu", "silu", "sigmoid", "tanh"])
def test_default_unit_in_rtl_out_is_strict_faithful_with_stalls_and_reset(fn, tmp_path):
    s = verify_unit(RTL_OUT / f"pwl_{fn}.json", build_dir=tmp_path / "build",
                    seed=sum(map(ord, fn)))
    assert s["checked"] == 65536 and s["lost"] == 0 and s["resets"] == 1
    assert s["mismatches"] == 0
    acc = s["accuracy"]
    assert acc["codes"] == 65536 and acc["undecided_float64"] == 0
    assert acc["over_bar"] == 0, acc["first_over_bar"][:3]
    assert s["passed"]


@pytest.mark.parametrize("stages,arch,rounding,fmts,reset_cycles", [
    (0, "parallel", "nearest-away", ("s2.5", "s1.6"), 1),
    (1, "tree", "truncate", ("u3.5", "u0.8"), 2),
    (3, "parallel", "nearest-even", ("s3.4", "s1.6"), 5),
])
def test_small_units_are_bit_exact_at_any_depth(stages, arch, rounding, fmts, reset_cycles,
                                                tmp_path):
    fixed = design("sigmoid" if fmts[0][0] == "u" else "tanh", *fmts, rounding=rounding)
    emit(fixed, tmp_path / "rtl", stages=stages, select_arch=arch, c_model=False)
    s = run_bench(tmp_path / "rtl" / f"pwl_{fixed.function}.json",
                  build_dir=tmp_path / "build", seed=stages, p_valid=0.6, p_ready=0.5,
                  reset_cycles=reset_cycles, generation="2005", raise_on_fail=True)
    assert s["checked"] == 1 << fixed.in_fmt.bits
    assert s["mismatches"] == 0 and s["lost"] == 0 and s["resets"] == 1
    # the reset lost what was in flight, and the wrapper offered those again
    assert s["inputs_accepted"] >= s["checked"]


def test_wide_input_gets_corners_plus_random_codes(tmp_path):
    fixed = design("tanh", "s4.13", "s1.6")
    report = emit(fixed, tmp_path / "rtl", c_model=False)["path"]
    s = run_bench(report, build_dir=tmp_path / "build", max_codes=500, generation="2005")
    assert s["vectors"] == s["checked"] == 500 and s["mismatches"] == 0


# ---------------------------------------------------------------- handshake corner cases
@pytest.fixture(scope="module")
def small_unit(tmp_path_factory):
    out = tmp_path_factory.mktemp("hs")
    return emit(design("tanh", "s2.5", "s1.6"), out / "rtl", c_model=False)


@pytest.fixture(scope="module")
def gelu_unit():
    # the 16-bit default: a deep pipeline, where a -g2012 start-up fault (combinational
    # blocks not evaluated at time 0) once made the first samples wrong
    path = RTL_OUT / "pwl_gelu.json"
    return {**json.loads(path.read_text()), "path": str(path)}


def _handshake(report: dict, testcase: str, generation: str, build: Path) -> None:
    from cocotb_tools.runner import get_runner

    runner = get_runner("icarus")
    verilog = Path(report["path"]).parent / report["files"]["verilog"]
    runner.build(sources=[verilog], hdl_toplevel=report["name"], build_dir=build, always=True,
                 timescale=("1ns", "1ps"), build_args=[f"-g{generation}"],
                 log_file=build / "build.log")
    sys.path.insert(0, str(SIM_DIR))
    try:
        runner.test(test_module="pwl_handshake_tests", hdl_toplevel=report["name"],
                    build_dir=build, test_dir=build, testcase=testcase, seed=0,
                    extra_env={"PWLGEN_REPORT": report["path"], "PWLGEN_SEED": "0",
                               "COCOTB_REWRITE_ASSERTION_FILES": "pwl_handshake_tests.py"})
    finally:
        sys.path.remove(str(SIM_DIR))


def _case(name: str, generation: str):
    return pytest.param(name, generation, id=f"{name}-g{generation}")


@pytest.mark.parametrize("testcase,generation", [
    _case("test_ready_is_low_during_reset", "2012"),
    _case("test_valid_and_ready_are_defined_after_a_one_cycle_reset", "2005"),
    _case("test_valid_and_ready_are_defined_after_a_one_cycle_reset", "2012"),
    _case("test_first_samples_after_a_one_cycle_power_on_reset_are_right", "2012"),
    _case("test_no_loss_or_duplicate_under_arbitrary_stalls", "2012"),
    _case("test_back_pressure_stops_input_and_holds_output", "2012"),
])
def test_handshake(small_unit, testcase, generation, tmp_path):
    _handshake(small_unit, testcase, generation, tmp_path / "build")


@pytest.mark.parametrize("testcase,generation", [
    _case("test_ready_is_low_during_reset", "2012"),
    _case("test_valid_and_ready_are_defined_after_a_one_cycle_reset", "2005"),
    _case("test_valid_and_ready_are_defined_after_a_one_cycle_reset", "2012"),
    _case("test_first_samples_after_a_one_cycle_power_on_reset_are_right", "2005"),
    _case("test_first_samples_after_a_one_cycle_power_on_reset_are_right", "2012"),
])
def test_handshake_of_the_gelu_default(gelu_unit, testcase, generation, tmp_path):
    _handshake(gelu_unit, testcase, generation, tmp_path / "build")
