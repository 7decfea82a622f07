"""Fixed-point designs of the 16-bit defaults: segments, widths, errors, fold, design time.

Prints one row per (function, variant): no fold with the fewest segments (the previous
default), each function's default (fold and extra segments chosen by the area model), and the
LUT4 estimate the designer compares. Every error is measured over all 65,536 codes against the
float64 function, and strict faithfulness (< 1 LSB, exact where f(x) is a code) is checked
independently of pwlgen's report.

    .venv/bin/python benchmarks/design_table.py   # writes benchmarks/out/design_table.txt
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pwlgen.fixedpoint import design
from pwlgen.fixedpoint.area import lut4_estimate
from pwlgen.functions import get_target

OUT = Path(__file__).resolve().parent / "out"
FUNCTIONS = ("gelu", "silu", "sigmoid", "tanh")
VARIANTS = {
    "no fold, fewest segments": {"symmetry": "none", "extra_segments": 0},
    "default (auto fold, auto extra)": {},
}


def _strict(fx, fn) -> tuple[bool, float, float, int]:
    x = fx.in_fmt.codes()
    t = get_target(fn).f(x / 2.0**fx.in_fmt.frac_bits) * 2.0**fx.out_fmt.frac_bits
    y = fx.evaluate(x).astype(np.float64)
    err = np.abs(y - t)
    representable = np.abs(t - np.round(t)) <= 1e-9
    ok = bool(np.all(err < 1.0) and np.all(y[representable] == np.round(t[representable])))
    return ok, float(err.max()), float(err.mean()), int(representable.sum())


def main() -> None:
    rows = ["| function | variant | fold | segments | slope (frac) | intercept (frac) | acc | "
            "LUT4 est. | max err LSB | mean err LSB | strict faithful | design s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for fn in FUNCTIONS:
        for label, kw in VARIANTS.items():
            t0 = time.perf_counter()
            fx = design(fn, **kw)
            dt = time.perf_counter() - t0
            ok, mx, mean, n_repr = _strict(fx, fn)
            est = lut4_estimate(fx.n_segments, fx.in_fmt.bits, fx.slope_bits, fx.intercept_bits,
                                fx.acc_bits)
            rows.append(
                f"| {fn} | {label} | {fx.fold} | {fx.n_segments} | {fx.slope_bits} "
                f"({fx.slope_frac_bits}) | {fx.intercept_bits} ({fx.intercept_frac_bits}) | "
                f"{fx.acc_bits} | {est:.0f} | {mx:.4f} | {mean:.3f} | "
                f"{'yes' if ok else 'NO'} ({n_repr} exact codes) | {dt:.1f} |")
    text = "\n".join(rows) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "design_table.txt").write_text(text)


if __name__ == "__main__":
    main()
