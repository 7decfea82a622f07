"""`pwlgen emit-verilog`: design (or load) a FixedPWL and write Verilog, tables and a report."""

from __future__ import annotations

import re

from ..errors import ResultFileError, SearchError
from ..fixedpoint.symmetry import SYMMETRIES
from ._common import (
    LIMITS,
    add_command,
    check_limit,
    check_range,
    finite_float,
    info,
    int_in,
    positive_float,
    print_json,
    same_function,
)

__all__ = ["register", "cmd_emit_verilog", "check_name", "MAX_NAME", "VERILOG_KEYWORDS"]

MAX_NAME = 64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign
default defparam design disable edge else end endcase endconfig endfunction endgenerate
endmodule endprimitive endspecify endtable endtask event for force forever fork function
generate genvar highz0 highz1 if ifnone incdir include initial inout input instance integer
join large liblist library localparam macromodule medium module nand negedge nmos nor
noshowcancelled not notif0 notif1 or output parameter pmos posedge primitive pull0 pull1
pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real realtime reg release repeat
rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled signed small specify specparam
strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand
trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
""".split())
"""Reserved words of Verilog-2005 (IEEE 1364-2005, Annex B): not usable as a module name."""


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
    goal.add_argument("--max-error-lsb", type=positive_float, default=None,
                      help="every code within this many output LSBs of f, inclusive (default: "
                           "strict faithful rounding: < 1 LSB, exact where f(x) is a code)")
    goal.add_argument("--knots", type=int_in(0),
                      help="use N knots (N+1 segments) and minimise the max error instead "
                      f"(at most {LIMITS['knots']})")
    p.add_argument("--range", nargs=2, type=finite_float, metavar=("LO", "HI"),
                   help="input range the unit must cover (checked against --in)")
    p.add_argument("--rounding", default="truncate",
                   choices=("nearest-even", "nearest-away", "truncate"), help="final rounding")
    p.add_argument("--symmetry", default="auto", choices=SYMMETRIES,
                   help="fold a symmetry (tables on -|x| only, unfolded in the unit); auto: the "
                        "fewest segments among no fold and the folds that hold")
    p.add_argument("--stages", type=int_in(0), default=None,
                   help="pipeline registers, 0 = combinational (default: fully registered)")
    p.add_argument("--select", default="auto", choices=("auto", "parallel", "tree"),
                   help="segment-select architecture (auto: the smaller by the area model)")
    p.add_argument("--name", help="module and file stem: a Verilog identifier of at most "
                   f"{MAX_NAME} characters, not a keyword (default pwl_<fn>)")
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
        n_seg = None if args.knots is None else args.knots + 1
        return design(fn, args.in_fmt, args.out_fmt, max_error_lsb=args.max_error_lsb,
                      n_segments=n_seg, rounding=args.rounding, symmetry=args.symmetry,
                      interval=tuple(args.range) if args.range else None)
    doc = load(args.source)
    kind = doc.get("kind")
    if kind == "fixed_pwl":
        fixed = FixedPWL.from_dict(doc)
        same_function(args.fn, fixed.function, args.source)
        return fixed
    if kind == "search_result":
        from ..search import SearchResult

        result = SearchResult.from_dict(doc)
        fn = same_function(args.fn, result.target, args.source)
        return quantize(result.pwl, args.in_fmt, args.out_fmt, rounding=args.rounding,
                        target=fn, max_error_lsb=args.max_error_lsb, function=fn,
                        interval=tuple(args.range) if args.range else None)
    if kind == "hw_report" and isinstance(doc.get("fixed"), dict):
        fixed = FixedPWL.from_dict(doc["fixed"])
        same_function(args.fn, fixed.function, args.source)
        return fixed
    raise ResultFileError(
        f"{args.source}: expected a search_result, fixed_pwl or hw_report file, not kind {kind!r}"
    )


def check_name(name: str) -> str:
    """Refuse a module name that is not a plain Verilog identifier (it is also a file stem).

    Raises
    ------
    SearchError
        For anything but ``[A-Za-z_][A-Za-z0-9_]*`` of at most `MAX_NAME` characters, or a
        Verilog keyword.
    """
    if not _IDENTIFIER.fullmatch(name) or len(name) > MAX_NAME:
        raise SearchError(
            f"--name must be a Verilog identifier (letters, digits, _; not starting with a "
            f"digit; at most {MAX_NAME} characters), not {name[:80]!r}"
        )
    if name in VERILOG_KEYWORDS:
        raise SearchError(f"--name {name!r} is a Verilog keyword")
    return name


def cmd_emit_verilog(args) -> int:
    """Design/load, emit, print a summary (or the report as JSON)."""
    from ..hw.emit import emit
    from ..io import check_output

    if args.name is not None:
        check_name(args.name)
    if args.range is not None:
        check_range(args, args.range)
    if args.knots is not None:
        check_limit(args, "knots", args.knots, "--knots")
    check_output(args.out_dir, directory=True)
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
