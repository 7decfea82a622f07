"""pytest runner of the cocotb bench: one simulator build per configuration (Icarus)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.fixedpoint import FixedPWL, design
from pwlgen.hw.emit import emit
from pwlgen.hw.sim import run_bench

ROOT = Path(__file__).resolve().parents[1]
RTL_OUT = ROOT / "rtl_out"

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="iverilog missing (make sysdeps)")


@pytest.mark.parametrize("fn", ["gelu", "silu", "sigmoid", "tanh"])
def test_default_unit_in_rtl_out_is_bit_exact_with_stalls_and_reset(fn, tmp_path):
    report = RTL_OUT / f"pwl_{fn}.json"
    summary = run_bench(report, build_dir=tmp_path / "build", seed=hash(fn) % 1000,
                        raise_on_fail=True)
    assert summary["checked"] == 65536
    assert summary["mismatches"] == 0
    assert summary["resets"] == 1
    assert summary["bound_violations"] == 0
    # faithful: within 1 LSB of the true f on every code, as the report claims
    doc = json.loads(report.read_text())
    assert summary["max_err_lsb"] <= doc["error"]["max_err_lsb"] + 1e-9 <= 1.0 + 1e-9


@pytest.mark.parametrize("stages,arch,rounding,fmts", [
    (0, "parallel", "nearest-away", ("s2.5", "s1.6")),
    (1, "tree", "truncate", ("u3.5", "u0.8")),
    (3, "parallel", "nearest-even", ("s3.4", "s1.6")),
])
def test_small_units_are_bit_exact_at_any_depth(stages, arch, rounding, fmts, tmp_path):
    fixed = design("sigmoid" if fmts[0][0] == "u" else "tanh", *fmts, rounding=rounding)
    emit(fixed, tmp_path / "rtl", stages=stages, select_arch=arch, c_model=False)
    name = f"pwl_{fixed.function}"
    summary = run_bench(tmp_path / "rtl" / f"{name}.json", build_dir=tmp_path / "build",
                        seed=stages, p_valid=0.6, p_ready=0.5, raise_on_fail=True)
    assert summary["checked"] == 1 << fixed.in_fmt.bits
    assert summary["mismatches"] == 0


def _tamper(report: Path) -> None:
    """Change one slope of the golden model stored in the report (not in the Verilog)."""
    doc = json.loads(report.read_text())
    fixed = FixedPWL.from_dict(doc["fixed"])
    seg = int(np.argmax(np.abs(fixed.slopes)))
    doc["fixed"]["slopes"][seg] += 1 if fixed.slopes[seg] < 0 else -1
    report.write_text(json.dumps(doc))


def test_bench_reports_mismatches_when_the_golden_model_differs(tmp_path):
    fixed = design("tanh", "s2.5", "s1.6")
    report = Path(emit(fixed, tmp_path / "rtl", c_model=False)["path"])
    _tamper(report)
    summary = run_bench(report, build_dir=tmp_path / "build", seed=1)
    assert not summary["passed"]
    assert summary["mismatches"] > 0
    bad = summary["first_mismatches"][0]
    assert bad["got"] != bad["want"]


def test_verify_cli_prints_summary_and_exits_1_on_mismatch(tmp_path, capsys):
    fixed = design("tanh", "s2.5", "s1.6")
    report = Path(emit(fixed, tmp_path / "rtl", c_model=False)["path"])
    assert main(["verify", str(report), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] == 256 and doc["mismatches"] == 0 and doc["passed"]
    _tamper(report)
    assert main(["verify", str(report)]) == 1
    out = capsys.readouterr().out
    assert "256 vectors checked" in out and "FAIL" in out


def test_verify_cli_bad_report_exits_2(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text('{"kind": "search_result"}')
    assert main(["verify", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pwlgen: error: ") and "hw_report" in err[0]


def test_stimulus_is_every_code_up_to_the_limit_and_random_plus_corners_above():
    import random
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from pwl_unit_tests import stimulus
    finally:
        sys.path.pop(0)
    small = FixedPWL("t", "s3.4", "s3.4", [-5, 7], [1, 2, 3], 0, [0, 0, 0], 0)
    codes = stimulus(small, random.Random(0))
    assert sorted(codes) == small.in_fmt.codes().tolist()
    wide = FixedPWL("t", "s9.8", "s3.4", [-5, 7], [1, 2, 3], 0, [0, 0, 0], 0)
    codes = stimulus(wide, random.Random(0), max_codes=1000)
    assert len(codes) == 1000
    fmt = wide.in_fmt
    assert {fmt.min_code, fmt.max_code, 0, -6, -5, -4, 6, 7, 8} <= set(codes)
    assert all(fmt.min_code <= c <= fmt.max_code for c in codes)
