# amaranth: UnusedElaboratable=no
"""Emission: files, report, tables, lint, atomicity, the CLI, and rtl_out/ freshness."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.errors import HardwareError, ResultFileError
from pwlgen.fixedpoint import FixedPWL, design, error_report
from pwlgen.hw.emit import emit, fixed_from_report, load_report, unit_name
from pwlgen.hw.unit import PWLUnit
from pwlgen.io import save
from pwlgen.pwl import PWL
from pwlgen.search import SearchResult

ROOT = Path(__file__).resolve().parents[2]
RTL_OUT = ROOT / "rtl_out"
DEFAULTS = ("gelu", "silu", "sigmoid", "tanh")


@pytest.fixture(scope="module")
def small():
    return design("tanh", "s2.5", "s1.6")


def _listing(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.exists() else {}


def _strip_synth(name: str, data: bytes):
    """A report without its 'synthesis' entry (filled later by `pwlgen synth`)."""
    if not name.endswith(".json"):
        return data
    doc = json.loads(data)
    doc.pop("synthesis", None)
    return doc


def test_rtl_out_is_up_to_date_with_the_defaults(tmp_path):
    """CI regenerates the four default units and fails when rtl_out/ is stale."""
    for fn in DEFAULTS:
        assert main(["emit-verilog", "--fn", fn, "-o", str(tmp_path), "--quiet"]) == 0
    fresh = _listing(tmp_path)
    kept = {k: v for k, v in _listing(RTL_OUT).items() if k.startswith(
        tuple(f"pwl_{fn}" for fn in DEFAULTS))}
    assert sorted(fresh) == sorted(kept), "rtl_out/ has other files than a fresh emission"
    stale = [name for name in fresh if _strip_synth(name, fresh[name]) !=
             _strip_synth(name, kept[name])]
    assert not stale, f"rtl_out/ is stale, re-run emit-verilog for: {stale}"


@pytest.mark.parametrize("fn", DEFAULTS)
def test_default_units_are_faithful_on_every_code(fn):
    doc = load_report(RTL_OUT / f"pwl_{fn}.json")
    fixed = fixed_from_report(doc)
    assert fixed.in_fmt.bits == 16 and fixed.out_fmt.bits == 16
    rep = error_report(fixed, fn)
    assert rep["codes"] == 65536
    assert rep["max_err_lsb"] <= 1.0
    assert doc["error"]["max_err_lsb"] == pytest.approx(rep["max_err_lsb"])


def test_emit_writes_verilog_tables_header_and_report(small, tmp_path):
    report = emit(small, tmp_path)
    name = unit_name(small.function)
    assert report["name"] == name == "pwl_tanh"
    files = {p.name for p in tmp_path.iterdir()}
    assert files == set(report["files"].values()) | {f"{name}.json"}
    assert f"{name}.h" in files
    doc = load_report(tmp_path / f"{name}.json")
    assert fixed_from_report(doc) == small
    unit = PWLUnit(small)
    for key in ("latency_cycles", "n_segments", "slope_bits", "intercept_bits", "acc_bits"):
        attr = "latency" if key == "latency_cycles" else key
        assert doc[key] == getattr(unit, attr)
    assert doc["throughput"] == 1.0
    assert doc["select_arch"] == unit.select_arch
    assert doc["in_fmt"] == str(small.in_fmt) and doc["out_fmt"] == str(small.out_fmt)
    assert doc["error"]["max_err_lsb"] == pytest.approx(error_report(small, "tanh")["max_err_lsb"])
    assert "module pwl_tanh(" in (tmp_path / f"{name}.v").read_text()


def test_tables_round_trip_to_the_fixed_pwl(small, tmp_path):
    emit(small, tmp_path, c_model=False)
    rows = list(csv.DictReader((tmp_path / "pwl_tanh_tables.csv").open()))
    assert [int(r["slope"]) for r in rows] == small.slopes.tolist()
    assert [int(r["intercept"]) for r in rows] == small.intercepts.tolist()
    assert [int(r["first_code"]) for r in rows[1:]] == small.breakpoints.tolist()
    lo, hi = small.segment_bounds()
    assert [int(r["last_code"]) for r in rows] == hi.tolist()
    unit = PWLUnit(small)
    for key, table, bits in (("slopes", small.slopes, unit.slope_bits),
                             ("intercepts", small.intercepts, unit.intercept_bits),
                             ("breakpoints", small.breakpoints, small.in_fmt.bits)):
        raw = [int(h, 16) for h in (tmp_path / f"pwl_tanh_{key}.hex").read_text().split()]
        back = [v - (1 << bits) if v >= 1 << (bits - 1) else v for v in raw]
        assert back == table.tolist()


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog missing")
@pytest.mark.parametrize("stages,arch", [(0, "parallel"), (2, "tree"), (None, "parallel"),
                                         (None, "tree")])
def test_emitted_verilog_is_clean_under_iverilog_wall(small, tmp_path, stages, arch):
    emit(small, tmp_path, stages=stages, select_arch=arch, c_model=False)
    p = subprocess.run(["iverilog", "-Wall", "-o", str(tmp_path / "a.out"),
                        str(tmp_path / "pwl_tanh.v")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr


def test_failed_emit_leaves_the_output_directory_untouched(small, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    before = _listing(tmp_path)
    with pytest.raises(HardwareError, match=r"^stages must be in \[0, \d+\] for this unit, "
                                            r"not 99$"):
        emit(small, tmp_path, stages=99)
    assert _listing(tmp_path) == before


def test_load_report_rejects_other_documents(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"kind": "fixed_pwl"}))
    with pytest.raises(ResultFileError, match=r"expected a 'hw_report' document, not "
                                              r"'fixed_pwl'$"):
        load_report(p)


# --- CLI ---
def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("pwlgen: error: ")
    return err[0]


@pytest.mark.parametrize("argv,shows", [
    (["--in", "s40.3"], "s40.3"),              # a format wider than supported
    (["--in", "s1.14", "--range", "-8", "8"], "s1.14"),  # a range the format cannot hold
    (["--fn", "nosuchfn"], "nosuchfn"),
    (["--fn", "tanh", "--in", "s2.5", "--out", "s1.6", "--max-error-lsb", "0.001"], "0.001"),
    (["--fn", "tanh", "--in", "s2.5", "--out", "s1.6", "--stages", "99"], "99"),
])
def test_emit_verilog_bad_input_exits_2_with_one_line_and_writes_nothing(argv, shows, tmp_path,
                                                                         capsys):
    out = tmp_path / "rtl"
    assert main(["emit-verilog", *argv, "-o", str(out)]) == 2
    assert shows in _one_error_line(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_emit_verilog_rejects_a_result_file_that_does_not_parse(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    assert main(["emit-verilog", "--from", str(bad), "-o", str(tmp_path / "rtl")]) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "rtl").exists() or not any((tmp_path / "rtl").iterdir())


def test_emit_verilog_json_prints_the_report(tmp_path, capsys):
    assert main(["emit-verilog", "--fn", "tanh", "--in", "s2.5", "--out", "s1.6",
                 "--stages", "1", "--select", "parallel", "-o", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "hw_report" and doc["latency_cycles"] == 1
    assert doc["select_arch"] == "parallel"
    assert json.loads((tmp_path / "pwl_tanh.json").read_text())["fixed"] == doc["fixed"]


def test_emit_verilog_from_a_search_result_quantizes_its_pwl(tmp_path, capsys):
    pwl = PWL(np.array([-2.0, 0.0, 2.0]), np.array([-0.96, 0.0, 0.96]), 0.0, 0.0)
    result = SearchResult(pwl=pwl, target="tanh", method="manual", objective="l2",
                          interval=(-4.0, 4.0), seed=0, wall_time_s=0.0, metrics={})
    src = save(result.to_dict(), tmp_path / "res.yaml")
    assert main(["emit-verilog", "--from", str(src), "--in", "s2.5", "--out", "s1.6",
                 "-o", str(tmp_path / "rtl"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    fixed = FixedPWL.from_dict(doc["fixed"])
    # the segments are the PWL's pieces (breakpoints at its knots), not a fresh design's
    assert fixed.function == "tanh" and fixed.n_segments == 4
    knot_codes = pwl.knots / fixed.in_fmt.lsb
    assert np.all(np.abs(fixed.breakpoints - knot_codes) <= 1)
