"""`pwlgen fit`: the converter of the range workflow: breakpoints in, piecewise function out."""

from __future__ import annotations

import io
import math

import numpy as np

from ..errors import SearchError
from ..io import check_output
from ..search.rangefit import (
    CONVENTIONS,
    DEFAULT_RANGE,
    DEFAULT_STEP,
    evaluate_table,
    range_fit,
    region_table,
)
from ._common import (
    LIMITS,
    add_command,
    add_output_options,
    check_limit,
    check_range,
    finite_float,
    info,
    int_in,
    name_stem,
    print_json,
    resolve_output,
    write_doc,
)

__all__ = ["register", "cmd_fit", "rounded_table", "format_table", "table_csv", "test_vectors"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "fit", cmd_fit,
        help="fit a PWL on a range for given breakpoints (the range workflow's converter)",
        description=(
            "Fit the continuous PWL with the given interior breakpoints on --range by least "
            "squares on a uniform grid (the ISOCC 2023 / Li et al. range fit) and print the "
            "piecewise function: per region its bounds, slope and intercept. Outside the "
            "range the function is the target's asymptote (sigmoid 0 and 1, tanh -1 and 1, "
            "SiLU/GELU 0 and x). Writes the result file (usable by every later stage); "
            "optionally a CSV of (breakpoint, slope, intercept) and test vectors.\n\n"
            "N interior points give N + 1 segments inside the range plus the two asymptote "
            "pieces (the paper's 8 points = 9 + 2)."
        ),
        example="pwlgen fit --fn gelu --points -5 -4 0 1 --range -8 8 --round 5",
    )
    p.add_argument("--fn", default="gelu",
                   help="target: a built-in name (see 'pwlgen functions') or an expression")
    p.add_argument("--points", nargs="+", type=finite_float, required=True, metavar="B",
                   help="interior breakpoints, increasing, strictly inside --range "
                   f"(at most {LIMITS['points']})")
    p.add_argument("--range", nargs=2, type=finite_float, default=list(DEFAULT_RANGE),
                   metavar=("LO", "HI"), help="the input range [b1, bm]")
    p.add_argument("--round", type=int_in(0, 17), default=None, metavar="DIGITS",
                   help="round printed / written slopes and intercepts to DIGITS decimals")
    p.add_argument("--convention", default="pwlgen", choices=list(CONVENTIONS),
                   help="isocc2023: the paper's conventions (tanh-form GELU) for like-for-like "
                   "comparison")
    p.add_argument("--step", type=finite_float, default=DEFAULT_STEP,
                   help="grid step of fit and errors, > 0 (at most "
                   f"{LIMITS['grid']:,} grid points on the range)")
    p.add_argument("--csv", metavar="FILE", help="write breakpoint,slope,intercept rows here")
    p.add_argument("--vectors", metavar="FILE",
                   help="write test vectors (segment,input,expected,reference) here")
    add_output_options(p)


def cmd_fit(args) -> int:
    """Fit, write the result (and CSV / vectors), print the table or the JSON document."""
    lo, hi = check_range(args, args.range)
    check_limit(args, "points", len(args.points), "the number of --points")
    if not args.step > 0:
        raise SearchError(f"--step must be > 0, not {args.step:g}")
    check_limit(args, "grid", math.ceil((hi - lo) / args.step) + 1, "the grid (--range / --step)")
    path = resolve_output(args.out, f"{_target_stem(args.fn)}_fit_p{len(args.points)}")
    for extra in (args.csv, args.vectors):
        if extra:
            check_output(extra)
    result = range_fit(args.fn, args.points, interval=(lo, hi),
                       convention=args.convention, step=args.step)
    t = result.get_target()
    rows = rounded_table(region_table(result.pwl, t), args.round)
    doc = result.to_dict()
    doc["options"]["round"] = args.round
    doc["regions"] = rows
    files = {}
    if args.csv:
        files[args.csv] = table_csv(rows)
    if args.vectors:
        files[args.vectors] = test_vectors(rows, t, result.interval)
    write_doc(doc, path, extra=files)
    if args.json:
        print_json({**doc, "path": str(path)})
    else:
        info(args, format_table(result, rows, args.round))
        info(args, f"-> {path}")
    return 0


def _target_stem(fn: str) -> str:
    from ..functions import get_target

    t = get_target(fn)
    return name_stem(t.expression or t.name)


def rounded_table(rows: list[dict], digits: int | None) -> list[dict]:
    """The region table with slopes and intercepts rounded to `digits` decimals (None: as is)."""
    if digits is None:
        return [dict(r) for r in rows]
    return [{**r, "slope": round(r["slope"], digits) + 0.0,
             "intercept": round(r["intercept"], digits) + 0.0} for r in rows]


def _num(v: float, digits: int | None) -> str:
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.{digits}f}" if digits is not None else f"{v:.10g}"


def format_table(result, rows: list[dict], digits: int | None) -> str:
    """The human-readable piecewise function with the grid errors."""
    m = result.metrics
    lo, hi = result.interval
    lines = [
        f"{result.target} on [{lo:g}, {hi:g}]: {len(rows) - 2} segments inside the range "
        f"+ 2 outside ({result.options['convention']} convention); outside the range the "
        "function is the asymptote",
        f"  {'region':<32} {'slope':>16} {'intercept':>16}",
    ]
    for i, r in enumerate(rows):
        if math.isinf(r["lo"]):
            region = f"x < {_num(r['hi'], None)}"
        elif math.isinf(r["hi"]):
            region = f"x > {_num(r['lo'], None)}"
        else:
            op = "<=" if i == len(rows) - 2 else "<"  # [b1, bm] is all fit
            region = f"{_num(r['lo'], None)} <= x {op} {_num(r['hi'], None)}"
        note = "" if r["kind"] == "segment" else f"  ({r['kind']})"
        lines.append(f"  {region:<32} {_num(r['slope'], digits):>16} "
                     f"{_num(r['intercept'], digits):>16}{note}")
    lines.append(
        f"grid (step {result.options['grid_step']:g}): mean |err| = {m['grid_mean_err_abs']:.7g}"
        f", max |err| = {m['grid_max_err_abs']:.7g}, MSE = {m['grid_mse']:.7g}"
    )
    return "\n".join(lines)


def table_csv(rows: list[dict]) -> str:
    """CSV ``breakpoint,slope,intercept``: one row per region, its lower bound first."""
    buf = io.StringIO()
    buf.write("breakpoint,slope,intercept\n")
    for r in rows:
        buf.write(f"{r['lo']!r},{r['slope']!r},{r['intercept']!r}\n")
    return buf.getvalue()


def test_vectors(rows: list[dict], target, interval, per_segment: int = 4) -> str:
    """CSV ``segment,input,expected,reference``: inputs in every region (both asymptotes too).

    ``expected`` is the reported piecewise function (with the rounded coefficients),
    ``reference`` the target itself.
    """
    lo, hi = interval
    width = (hi - lo) / max(len(rows) - 2, 1)
    buf = io.StringIO()
    buf.write("segment,input,expected,reference\n")
    for i, r in enumerate(rows):
        if math.isinf(r["lo"]):
            xs = r["hi"] - width * np.array([4.0, 2.0, 1.0, 0.5])[:per_segment]
        elif math.isinf(r["hi"]):
            xs = r["lo"] + width * np.array([0.25, 0.5, 1.0, 2.0])[:per_segment]
        else:
            xs = r["lo"] + (r["hi"] - r["lo"]) * np.arange(per_segment) / per_segment
        ys = evaluate_table(rows, xs)
        ref = target.f(xs)
        for x, y, f in zip(xs, ys, ref, strict=True):
            buf.write(f"{i},{float(x)!r},{float(y)!r},{float(f)!r}\n")
    return buf.getvalue()
