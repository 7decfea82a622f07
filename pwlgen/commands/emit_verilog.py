"""`pwlgen emit-verilog`: design (or load) a FixedPWL and write Verilog, tables and a report."""

from __future__ import annotations

from ..errors import ResultFileError
from ..fixedpoint.symmetry import SYMMETRIES
from ._common import add_command, info, print_json

__all__ = ["register", "cmd_emit_verilog"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "emit-verilog", cmd_emit_verilog,
        help="emit a pipelined Verilog PWL unit, its tables and a report",
        description=(
            "Design a fixed-point PWL unit (the fewest segments meeting --max-error-lsb over "
            "every input code, or the best with --knots N) or take it from --from FILE (a "
            "search result or a fixed_pwl file), then write <name>.v (stream in/out, valid/"
            "ready), <name>_tables.csv and .hex, a C header and <name>.json (formats, widths, "
            "latency, throughput, select architecture, error report) into the output folder. "
            "Nothing is written when anything fails."
        ),
        example="pwlgen emit-verilog --fn gelu --in s3.12 --out s3.12 --stages 4 -o rtl_out/",
    )
    p.add_argument("--fn", default=None,
                   help="target function (default: the one of --from, else gelu)")
    p.add_argument("--from", dest="source", metavar="RESULT",
                   help="a search_result (its PWL is quantised) or a fixed_pwl file")
    p.add_argument("--in", dest="in_fmt", metavar="FMT",
                   help="input format like s3.12 (default per function, 16 bits)")
    p.add_argument("--out", dest="out_fmt", metavar="FMT",
                   help="output format like s3.12 (default per function, 16 bits)")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--max-error-lsb", type=float, default=None,
                      help="every code within this many output LSBs of f, inclusive (default: "
                           "strict faithful rounding: < 1 LSB, exact where f(x) is a code)")
    goal.add_argument("--knots", type=int,
                      help="use N knots (N+1 segments) and minimise the max error instead")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="input range the unit must cover (checked against --in)")
    p.add_argument("--rounding", default="truncate",
                   choices=("nearest-even", "nearest-away", "truncate"), help="final rounding")
    p.add_argument("--symmetry", default="auto", choices=SYMMETRIES,
                   help="fold a symmetry (tables on -|x| only, unfolded in the unit); auto: the "
                        "fewest segments among no fold and the folds that hold")
    p.add_argument("--stages", type=int, default=None,
                   help="pipeline registers, 0 = combinational (default: fully registered)")
    p.add_argument("--select", default="auto", choices=("auto", "parallel", "tree"),
                   help="segment-select architecture (auto: the smaller by the area model)")
    p.add_argument("--name", help="module and file stem (default pwl_<fn>)")
    p.add_argument("-o", "--output-dir", dest="out_dir", default="rtl_out",
                   help="output directory")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON document (the report) on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")


def _load_fixed(args):
    """The FixedPWL to emit: from --from, or designed for --fn."""
    from ..fixedpoint import FixedPWL, design, quantize
    from ..io import load

    if args.source is None:
        fn = args.fn or "gelu"
        n_seg = None if args.knots is None else _segments(args.knots)
        return design(fn, args.in_fmt, args.out_fmt, max_error_lsb=args.max_error_lsb,
                      n_segments=n_seg, rounding=args.rounding, symmetry=args.symmetry,
                      interval=tuple(args.range) if args.range else None)
    doc = load(args.source)
    kind = doc.get("kind")
    if kind == "fixed_pwl":
        return FixedPWL.from_dict(doc)
    if kind == "search_result":
        from ..search import SearchResult

        result = SearchResult.from_dict(doc)
        fn = args.fn or result.target
        return quantize(result.pwl, args.in_fmt, args.out_fmt, rounding=args.rounding,
                        target=fn, max_error_lsb=args.max_error_lsb, function=fn,
                        interval=tuple(args.range) if args.range else None)
    if kind == "hw_report" and isinstance(doc.get("fixed"), dict):
        return FixedPWL.from_dict(doc["fixed"])
    raise ResultFileError(
        f"{args.source}: expected a search_result, fixed_pwl or hw_report file, not kind {kind!r}"
    )


def _segments(knots: int) -> int:
    from ..errors import SearchError

    if knots < 0:
        raise SearchError(f"--knots must be >= 0, not {knots}")
    return knots + 1


def cmd_emit_verilog(args) -> int:
    """Design/load, emit, print a summary (or the report as JSON)."""
    from ..hw.emit import emit

    fixed = _load_fixed(args)
    report = emit(fixed, args.out_dir, stages=args.stages,
                  select_arch=None if args.select == "auto" else args.select, name=args.name)
    if args.json:
        print_json(report)
    else:
        err = report.get("error") or {}
        e = f", max error {err['max_err_lsb']:.3f} LSB" if "max_err_lsb" in err else ""
        info(args, f"{report['name']}: {report['in_fmt']} -> {report['out_fmt']}, "
                   f"{report['n_segments']} segments ({report['select_arch']} select), "
                   f"latency {report['latency_cycles']} cycles{e} -> {report['path']}")
    return 0
