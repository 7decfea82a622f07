"""Hardware quality: pwlgen's 16-bit default units vs FloPoCo's figures and the issue's targets.

For gelu, silu, sigmoid and tanh (16-bit defaults: ``pwlgen.fixedpoint.design(fn)`` then
``pwlgen.hw.emit.emit``) this prints segments, max error, and the LUT-only area on an iCE40
HX8K (``synth_ice40 -nobram``, no DSP; nextpnr-ice40 ``--hx8k --package ct256``): LUT4, carry,
FF, EBR, DSP and Fmax (the median over several nextpnr seeds, since the estimate moves with the
placement), then the other families (block RAM allowed, UP5K with DSP, ECP5, a Xilinx 7-series
estimate without place and route, a technology-independent gate count), FloPoCo's figures side
by side as ratios, and the issue's targets marked met / missed.

Variants: ``plain`` (no symmetry folding) and ``folded`` (``symmetry="auto"``). A variant whose
design() parameters this designer does not accept is printed as "not available"; ``plain``
then runs as design(fn), which folds nothing.

Run: ``.venv/bin/python benchmarks/hw_quality.py [--fn gelu silu sigmoid tanh]
[--variants plain folded] [--targets all] [--seeds 1 2 3] [--freq 100] [--out benchmarks/out]``
(about 4-6 minutes per unit with all targets on 2 cores). Writes ``hw_quality.txt`` (what it
prints) and ``hw_quality.csv`` (one row per unit and variant) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import tempfile
import time
from pathlib import Path

from pwlgen.fixedpoint import design, error_report
from pwlgen.hw.emit import emit
from pwlgen.hw.synth import TARGETS, parse_targets, synthesize

# FloPoCo (FixedFunctionByPiecewisePoly, degree 1, uniform segments, faithful), as quoted in the
# issue: the 16-bit sigmoid on 1,024 segments is 3,575 LUT4, 0 DSP, 37 MHz on an iCE40 HX8K with
# yosys + nextpnr; its GELU with 12 output fraction bits needs 512 segments and its 16 -> 16 tanh
# 2,048 (no area given for those two).
FLOPOCO = {
    "sigmoid": {"segments": 1024, "lut4": 3575, "dsp": 0, "fmax_mhz": 37.0},
    "gelu": {"segments": 512, "lut4": None, "dsp": 0, "fmax_mhz": None},
    "tanh": {"segments": 2048, "lut4": None, "dsp": 0, "fmax_mhz": None},
}

# The issue's "done when": LUT-only on HX8K (0 EBR, 0 DSP), nextpnr's Fmax.
TARGET_LUT4 = {"sigmoid": 1000, "tanh": 1000, "silu": 700, "gelu": 600}
TARGET_FMAX_MHZ = 90.0

VARIANTS = {"plain": {"symmetry": "none"}, "folded": {"symmetry": "auto"}}
# What a designer without the parameter does: it never folds.
NO_PARAMETER_MEANS = {"symmetry": "none"}


def variant_kwargs(name: str) -> dict | None:
    """design() keyword arguments of a variant, or None when this designer cannot build it."""
    accepted = inspect.signature(design).parameters
    kwargs = {}
    for key, value in VARIANTS[name].items():
        if key in accepted:
            kwargs[key] = value
        elif NO_PARAMETER_MEANS.get(key) != value:
            return None
    return kwargs


def run_unit(fn: str, kwargs: dict, targets: list[str], seeds: list[int],
             freq: float) -> dict:
    t0 = time.perf_counter()
    fixed = design(fn, **kwargs)
    design_s = time.perf_counter() - t0
    err = error_report(fixed, fn)
    with tempfile.TemporaryDirectory() as d:
        rep = emit(fixed, d, c_model=False)
        v = Path(d) / rep["files"]["verilog"]
        # the headline gets every seed; the other placed targets one (ECP5 is slow)
        syn = synthesize(v, rep["name"], targets=["ice40-lut"], freq_mhz=freq, seeds=seeds)
        rest = [t for t in targets if t != "ice40-lut"]
        if rest:
            syn.update(synthesize(v, rep["name"], targets=rest, freq_mhz=freq,
                                  seeds=seeds[:1]))
    return {"fn": fn, "segments": fixed.n_segments, "max_err_lsb": err["max_err_lsb"],
            "latency": rep["latency_cycles"], "design_s": round(design_s, 2), "synth": syn}


def _fmt(x, spec: str = "") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a, b) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}x"


def headline_table(rows: list[dict]) -> str:
    lines = ["| unit | variant | segments | max err (LSB) | LUT4 | carry | FF | EBR | DSP | "
             "Fmax MHz (median) | Fmax by seed | latency |", "|" + "---|" * 12]
    for r in rows:
        if r.get("unavailable"):
            lines.append(f"| {r['fn']} | {r['variant']} | not available | | | | | | | | | |")
            continue
        a = r["synth"]["ice40-lut"]
        seeds = ", ".join(_fmt(f, ".1f") for f in a["fmax_mhz_by_seed"])
        lines.append(
            f"| {r['fn']} | {r['variant']} | {r['segments']} | {r['max_err_lsb']:.3f} | "
            f"{a['lut4']} | {a['carry']} | {a['ff']} | {a['ebr']} | {a['dsp']} | "
            f"{_fmt(a['fmax_mhz'], '.1f')} | {seeds} | {r['latency']} |")
    return "\n".join(lines)


def _cell(synth: dict, target: str, keys: tuple[str, ...]) -> str:
    if target not in synth:
        return "not run"
    return " / ".join(_fmt(synth[target].get(k), ".1f" if k == "fmax_mhz" else "")
                      for k in keys)


def families_table(rows: list[dict]) -> str:
    lines = ["| unit | variant | HX8K BRAM allowed: LUT4 / EBR / Fmax | UP5K DSP: LUT4 / DSP / "
             "Fmax | ECP5: LUT4 / MULT18 / Fmax | Xilinx 7 (no P&R): LUT / LUT6 / FF / DSP48 | "
             "gates / FF |", "|" + "---|" * 7]
    for r in rows:
        if r.get("unavailable"):
            continue
        s = r["synth"]
        lines.append(
            f"| {r['fn']} | {r['variant']} | "
            f"{_cell(s, 'ice40-bram', ('lut4', 'ebr', 'fmax_mhz'))} | "
            f"{_cell(s, 'ice40-dsp', ('lut4', 'dsp', 'fmax_mhz'))} | "
            f"{_cell(s, 'ecp5', ('lut4', 'mult18', 'fmax_mhz'))} | "
            f"{_cell(s, 'xilinx', ('lut', 'lut6', 'ff', 'dsp48'))} | "
            f"{_cell(s, 'gates', ('gates', 'ff'))} |")
    return "\n".join(lines)


def flopoco_table(rows: list[dict]) -> str:
    lines = ["| unit | | segments | LUT4 (LUT-only) | DSP | Fmax MHz |", "|" + "---|" * 6]
    for r in rows:
        ref = FLOPOCO.get(r["fn"])
        if ref is None or r.get("unavailable"):
            continue
        a = r["synth"]["ice40-lut"]
        lines += [
            f"| {r['fn']} ({r['variant']}) | FloPoCo | {ref['segments']} | "
            f"{_fmt(ref['lut4'])} | {ref['dsp']} | {_fmt(ref['fmax_mhz'])} |",
            f"| | pwlgen | {r['segments']} | {a['lut4']} | {a['dsp']} | "
            f"{_fmt(a['fmax_mhz'], '.1f')} |",
            f"| | pwlgen / FloPoCo | {_ratio(r['segments'], ref['segments'])} | "
            f"{_ratio(a['lut4'], ref['lut4'])} | | {_ratio(a['fmax_mhz'], ref['fmax_mhz'])} |",
        ]
    return "\n".join(lines)


def targets_table(rows: list[dict]) -> str:
    lines = ["| unit | variant | LUT4 target | LUT4 | Fmax target | Fmax (median) | "
             "LUT-only (0 EBR, 0 DSP) | verdict |", "|" + "---|" * 8]
    for r in rows:
        if r.get("unavailable") or r["fn"] not in TARGET_LUT4:
            continue
        a = r["synth"]["ice40-lut"]
        lut_ok = a["lut4"] <= TARGET_LUT4[r["fn"]]
        fmax_ok = a["fmax_mhz"] is not None and a["fmax_mhz"] >= TARGET_FMAX_MHZ
        pure = a["ebr"] == 0 and a["dsp"] == 0
        verdict = "met" if lut_ok and fmax_ok and pure else "missed (" + ", ".join(
            w for w, ok in (("LUT4", lut_ok), ("Fmax", fmax_ok), ("LUT-only", pure))
            if not ok) + ")"
        lines.append(
            f"| {r['fn']} | {r['variant']} | <= {TARGET_LUT4[r['fn']]} | {a['lut4']} | "
            f">= {TARGET_FMAX_MHZ:g} MHz | {_fmt(a['fmax_mhz'], '.1f')} | "
            f"{'yes' if pure else 'no'} | {verdict} |")
    return "\n".join(lines)


def csv_text(rows: list[dict]) -> str:
    cols = ["fn", "variant", "available", "segments", "max_err_lsb", "latency"]
    flat = []
    for r in rows:
        row = {"fn": r["fn"], "variant": r["variant"], "available": not r.get("unavailable")}
        if not r.get("unavailable"):
            row.update({k: r[k] for k in ("segments", "max_err_lsb", "latency")})
            for target, fig in r["synth"].items():
                for k, v in fig.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        row[f"{target}.{k}"] = v
        flat.append(row)
    for row in flat:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(flat)
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", nargs="+", default=["gelu", "silu", "sigmoid", "tanh"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--targets", default="all", help="synthesis targets (pwlgen synth --targets)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3],
                    help="nextpnr seeds for the HX8K LUT-only Fmax (median reported)")
    ap.add_argument("--freq", type=float, default=100.0, help="nextpnr target clock, MHz")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args(argv)
    targets = parse_targets(args.targets)
    if "ice40-lut" not in targets:
        targets.insert(0, "ice40-lut")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.perf_counter()
    for fn in args.fn:
        for variant in args.variants:
            kwargs = variant_kwargs(variant)
            if kwargs is None:
                rows.append({"fn": fn, "variant": variant, "unavailable": True})
                print(f"{fn} {variant}: not available (design() has no "
                      f"{', '.join(VARIANTS[variant])} parameter)", flush=True)
                continue
            r = run_unit(fn, kwargs, targets, args.seeds, args.freq)
            r["variant"] = variant
            rows.append(r)
            a = r["synth"]["ice40-lut"]
            print(f"{fn} {variant}: {r['segments']} seg, {a['lut4']} LUT4, {a['ff']} FF, "
                  f"Fmax {_fmt(a['fmax_mhz'], '.1f')} MHz", flush=True)
    any_fig = next((r["synth"] for r in rows if not r.get("unavailable")), {})
    tools = sorted({f"{k} {v}" for fig in any_fig.values() for k, v in fig["tools"].items()})
    text = "\n\n".join([
        "# pwlgen hardware quality: 16-bit defaults (benchmarks/hw_quality.py)",
        "Tools: " + ", ".join(tools) + f". nextpnr target clock {args.freq:g} MHz; HX8K Fmax is "
        f"the median over seeds {', '.join(map(str, args.seeds))}; the other placed targets "
        f"use seed {args.seeds[0]}.",
        "## Headline, iCE40 HX8K (ct256): " + TARGETS["ice40-lut"].counts,
        headline_table(rows),
        "## Other families\n\n" + "\n".join(f"- {k}: {t.device}; {t.counts}"
                                            for k, t in TARGETS.items() if k in targets),
        families_table(rows),
        "## Against FloPoCo (faithful, degree 1, uniform segments; its figures as quoted in "
        "issue 10)",
        flopoco_table(rows),
        "## The issue's targets (LUT-only on HX8K, nextpnr's Fmax)",
        targets_table(rows),
        f"Wall time: {time.perf_counter() - t0:.0f} s.",
    ]) + "\n"
    print()
    print(text)
    (out / "hw_quality.txt").write_text(text)
    (out / "hw_quality.csv").write_text(csv_text(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
