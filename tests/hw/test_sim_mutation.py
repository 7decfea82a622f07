"""Mutation tests of `pwlgen verify`: a changed constant must fail the proof whenever it matters.

Each mutant changes one slope, intercept or breakpoint (a) in the emitted Verilog only, or
(b) in the Verilog, the tables and the report together (a mutated FixedPWL emitted over the
original files, its report claiming a perfect error entry). Whether verify must fail is
computed here, independently of verify: from the golden models of the original and of the
mutant, and from this file's own exact reference (mpmath, every code of a small format).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import mpmath
import numpy as np
import pytest

from pwlgen.cli import main
from pwlgen.fixedpoint import FixedPWL, design
from pwlgen.hw.emit import emit

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None,
                                reason="iverilog missing (make sysdeps)")

PERFECT = {"max_err_lsb": 0.0, "max_err_abs": 0.0, "mean_err_lsb": 0.0, "n_exceed": 0,
           "faithful": True, "max_error_lsb": 0.0}

# this file's own exact functions (mpmath), not pwlgen's
_EXACT = {
    "tanh": mpmath.tanh,
    "gelu": lambda x: x * (1 + mpmath.erf(x / mpmath.sqrt(2))) / 2,
}
# (function, input, output, bar): tanh proven strict faithful, gelu within 1.5 LSB (so that
# some of its mutants stay within the bar and must pass)
UNITS = {"tanh": ("s2.5", "s1.6", None), "gelu": ("s3.6", "s3.6", 1.5)}


def _exact_t(fixed: FixedPWL) -> list:
    f = _EXACT[fixed.function]
    with mpmath.workdps(50):
        return [f(mpmath.mpf(int(c)) / 2 ** fixed.in_fmt.frac_bits) * 2 ** fixed.out_fmt.frac_bits
                for c in fixed.in_fmt.codes()]


def _meets_bar(fixed: FixedPWL, y, t, bar: float | None) -> bool:
    lo, hi = fixed.out_fmt.min_code, fixed.out_fmt.max_code
    for yi, ti in zip(y.tolist(), t, strict=True):
        if bar is not None:
            if abs(yi - ti) > bar:
                return False
            continue
        n = int(mpmath.nint(ti))
        if ti > hi + 1e-9:
            ok = yi == hi
        elif ti < lo - 1e-9:
            ok = yi == lo
        elif abs(ti - n) <= 1e-9:
            ok = yi == n
        else:
            ok = yi in (int(mpmath.floor(ti)), int(mpmath.ceil(ti)))
        if not ok:
            return False
    return True


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    out = {}
    for fn, (fin, fout, bar) in UNITS.items():
        fixed = design(fn, fin, fout)
        d = tmp_path_factory.mktemp(fn) / "rtl"
        emit(fixed, d, c_model=False)
        out[fn] = (fixed, d, bar, _exact_t(fixed))
    return out


def _mutate(fixed: FixedPWL, kind: str, size: str) -> FixedPWL:
    mid = fixed.n_segments // 2
    if kind == "breakpoint":
        bp = fixed.breakpoints.copy()
        step = 1 if size == "small" else 3
        room = (bp[mid] - bp[mid - 1] - 1) if mid >= 1 else step
        bp[mid - 1] += min(step, int(room))
        return dataclasses.replace(fixed, breakpoints=bp)
    table = getattr(fixed, kind + "s").copy()
    table[mid] += 1 if size == "small" else max(8, abs(int(table[mid])) // 4)
    return dataclasses.replace(fixed, **{kind + "s": table})


MUTANTS = [(k, s) for k in ("slope", "intercept", "breakpoint") for s in ("small", "large")
           if not (k == "breakpoint" and s == "large")]


def test_the_mutants_include_some_that_must_pass_and_some_that_must_fail(bases):
    verdicts = set()
    for fixed, _, bar, t in bases.values():
        for kind, size in MUTANTS:
            mutant = _mutate(fixed, kind, size)
            verdicts.add(_meets_bar(mutant, mutant.evaluate(mutant.in_fmt.codes()), t, bar))
    assert verdicts == {True, False}


def _verify(report: Path, bar: float | None) -> int:
    argv = ["verify", str(report)]
    if bar is not None:
        argv += ["--max-error-lsb", str(bar)]
    return main(argv)


@pytest.mark.parametrize("fn", UNITS)
@pytest.mark.parametrize("kind,size", MUTANTS)
def test_verilog_only_mutant_fails_when_it_changes_any_output(bases, fn, kind, size, tmp_path):
    fixed, base_dir, bar, t = bases[fn]
    mutant = _mutate(fixed, kind, size)
    assert mutant != fixed
    rtl = tmp_path / "rtl"
    shutil.copytree(base_dir, rtl)
    emit(mutant, tmp_path / "mutant", c_model=False)
    shutil.copy(tmp_path / "mutant" / f"pwl_{fn}.v", rtl / f"pwl_{fn}.v")
    codes = fixed.in_fmt.codes()
    changed = not np.array_equal(mutant.evaluate(codes), fixed.evaluate(codes))
    base_ok = _meets_bar(fixed, fixed.evaluate(codes), t, bar)
    assert _verify(rtl / f"pwl_{fn}.json", bar) == (1 if changed or not base_ok else 0)


@pytest.mark.parametrize("fn", UNITS)
@pytest.mark.parametrize("kind,size", MUTANTS)
def test_mutant_of_verilog_tables_and_report_fails_when_it_misses_the_bar(bases, fn, kind, size,
                                                                         tmp_path):
    fixed, base_dir, bar, t = bases[fn]
    mutant = _mutate(fixed, kind, size)
    rtl = tmp_path / "rtl"
    shutil.copytree(base_dir, rtl)
    report = Path(emit(mutant, rtl, c_model=False)["path"])  # over the original files
    doc = json.loads(report.read_text())
    doc["error"] = PERFECT  # the report claims it is perfect: verify must not care
    report.write_text(json.dumps(doc))
    ok = _meets_bar(mutant, mutant.evaluate(mutant.in_fmt.codes()), t, bar)
    assert _verify(report, bar) == (0 if ok else 1)


@pytest.mark.parametrize("edit", ["deleted", "claims perfection", "claims a loose bound"])
def test_error_entry_of_the_report_does_not_change_the_verdict(bases, edit, tmp_path):
    fixed, base_dir, bar, t = bases["tanh"]
    verdicts = []
    for unit in (fixed, _mutate(fixed, "slope", "large")):
        rtl = tmp_path / f"rtl{len(verdicts)}"
        shutil.copytree(base_dir, rtl)
        report = Path(emit(unit, rtl, c_model=False)["path"])
        before = _verify(report, bar)
        doc = json.loads(report.read_text())
        if edit == "deleted":
            del doc["error"]
        elif edit == "claims perfection":
            doc["error"] = PERFECT
        else:
            doc["error"] = {**PERFECT, "max_err_lsb": 1e6, "max_err_abs": 1e6,
                            "max_error_lsb": 1e6, "faithful": False}
        report.write_text(json.dumps(doc))
        assert _verify(report, bar) == before
        verdicts.append(before)
    ok = [_meets_bar(u, u.evaluate(u.in_fmt.codes()), t, bar)
          for u in (fixed, _mutate(fixed, "slope", "large"))]
    assert verdicts == [0 if o else 1 for o in ok]


def test_16bit_gelu_with_a_slope_off_by_100_codes_fails_with_its_error_entry_deleted(
        tmp_path, capsys):
    root = Path(__file__).resolve().parents[2]
    doc = json.loads((root / "rtl_out" / "pwl_gelu.json").read_text())
    fixed = FixedPWL.from_dict(doc["fixed"])
    lo, hi = fixed.segment_bounds()
    seg = int(np.argmax(hi - lo))  # the widest segment
    slopes = fixed.slopes.copy()
    slopes[seg] += 100
    mutant = dataclasses.replace(fixed, slopes=slopes)
    report = Path(emit(mutant, tmp_path / "rtl", stages=doc["stages"],
                       select_arch=doc["select_arch"], c_model=False)["path"])
    edited = json.loads(report.read_text())
    del edited["error"]
    report.write_text(json.dumps(edited))
    assert main(["verify", str(report), "--json"]) == 1
    s = json.loads(capsys.readouterr().out)
    assert s["mismatches"] == 0  # Verilog, tables and report agree: only f can catch it
    # this test's own float64 reference: codes clearly (>= 1.5 LSB) off, all in that segment
    codes = fixed.in_fmt.codes()
    x = codes / 2.0 ** fixed.in_fmt.frac_bits
    erf = np.vectorize(math.erf)
    t = x * (1 + erf(x / math.sqrt(2))) / 2 * 2.0 ** fixed.out_fmt.frac_bits
    far = np.abs(mutant.evaluate(codes) - t) >= 1.5
    # a folded unit's tables are indexed by -|x|
    index = np.where(codes < 0, codes, -codes) if fixed.fold != "none" else codes
    in_seg = (index >= lo[seg]) & (index <= hi[seg])
    assert far.any() and np.all(in_seg[far])
    assert s["accuracy"]["over_bar"] >= int(far.sum())
    first = np.array([m["x"] for m in s["accuracy"]["first_over_bar"]])
    assert np.all(in_seg[first - fixed.in_fmt.min_code])
