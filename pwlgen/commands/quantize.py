"""`pwlgen quantize`: a fixed-point PWL (integer tables) from a search result or a function."""

from __future__ import annotations

from ..errors import SearchError
from ..fixedpoint import ROUNDING, SYMMETRIES, design, error_report, quantize
from ..io import load_kind
from ._common import (
    add_command,
    info,
    int_in,
    name_stem,
    positive_float,
    print_json,
    resolve_output,
    same_function,
    write_doc,
)

__all__ = ["register", "cmd_quantize"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "quantize", cmd_quantize,
        help="quantise a PWL (or design one) to integer tables and report its error",
        description=(
            "Turn a search result's PWL into a fixed_pwl file (integer breakpoints, slopes and "
            "intercepts; the golden model of the hardware), or with --fn design one directly: "
            "the fewest segments with every input code within --max-error-lsb of the true "
            "function (1 = faithful), then the narrowest coefficients. Prints the error report "
            "measured over every input code."
        ),
        example="pwlgen quantize --fn sigmoid --in s3.12 --out u0.16 -o results/",
    )
    p.add_argument("result", nargs="?", metavar="RESULT",
                   help="a search_result file whose PWL is quantised")
    p.add_argument("--fn", help="design for this function instead (a name or an expression); "
                                "with RESULT it may only repeat RESULT's own function")
    p.add_argument("--in", dest="in_fmt", metavar="FMT",
                   help="input format like s3.12 (default per function, 16 bits)")
    p.add_argument("--out", dest="out_fmt", metavar="FMT",
                   help="output format like s3.12 (default per function, 16 bits)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--max-error-lsb", type=positive_float, default=None,
                      help="error budget in output LSBs, inclusive (default: strict faithful "
                           "rounding: < 1 LSB, exact where f(x) is a code)")
    goal.add_argument("--segments", type=int_in(1),
                      help="with --fn: at most N segments, max error as small as they allow")
    p.add_argument("--rounding", default="truncate", choices=ROUNDING,
                   help="rounding of the final shift")
    p.add_argument("--symmetry", default="auto", choices=SYMMETRIES,
                   help="with --fn: fold a symmetry (tables on -|x| only); auto: the fewest "
                        "segments among no fold and the folds that hold")
    p.add_argument("-o", "--output-dir", dest="out", default="results",
                   help="output directory, or a file path ending in .yaml/.yml/.json")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document on stdout (text goes to stderr)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")


def cmd_quantize(args) -> int:
    """Design or quantise, write the fixed_pwl file with its report, print the report."""
    pwl = None
    if args.result is not None:
        from ..search import SearchResult

        result = SearchResult.from_dict(load_kind(args.result, "search_result"))
        if args.segments is not None:
            raise SearchError("--segments needs --fn (a search result fixes the segments)")
        if args.symmetry not in ("auto", "none"):
            raise SearchError("--symmetry needs --fn (a search result's PWL is not folded)")
        fn = same_function(args.fn, result.target, "RESULT")
        pwl = result.pwl
        fixed = quantize(pwl, args.in_fmt, args.out_fmt, rounding=args.rounding, target=fn,
                         max_error_lsb=args.max_error_lsb, interval=result.interval)
    elif args.fn is not None:
        fn = args.fn
        fixed = design(fn, args.in_fmt, args.out_fmt, max_error_lsb=args.max_error_lsb,
                       n_segments=args.segments, rounding=args.rounding,
                       symmetry=args.symmetry)
    else:
        raise SearchError("give a search result file or --fn NAME")
    report = error_report(fixed, fn, pwl=pwl, max_error_lsb=args.max_error_lsb)
    doc = {**fixed.to_dict(), "report": report,
           "source": args.result if args.result is not None else None}
    path = resolve_output(args.out, f"{name_stem(fixed.function)}_{fixed.in_fmt}_{fixed.out_fmt}")
    write_doc(doc, path)
    if args.json:
        print_json({**doc, "path": str(path)})
    else:
        info(args, f"{fixed.summary()}  -> {path}")
        info(args, _report_line(report))
    return 0


def _report_line(report: dict) -> str:
    line = (
        f"  max |error| {report['max_err_lsb']:.4f} LSB ({report['max_err_abs']:.3g}) at "
        f"x={report['worst_x']:g}, mean {report['mean_err_lsb']:.4f} LSB, "
        f"{report['n_exact']} exact, {report['n_inexact_below_1']} below 1 LSB, "
        f"{report['n_over_1']} at or over 1 LSB"
    )
    bar = report["max_error_lsb"]
    line += (f"; {report['n_exceed']} beyond the {bar:g}-LSB budget" if bar is not None
             else f"; {'strictly faithful' if report['faithful'] else 'NOT faithful'}")
    vs = report.get("vs_pwl")
    if vs:
        line += f"\n  vs the float PWL: max {vs['max_err_lsb']:.4f} LSB, mean " \
                f"{vs['mean_err_lsb']:.4f} LSB"
    return line

