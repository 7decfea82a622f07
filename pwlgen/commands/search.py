"""`pwlgen search`: find a PWL approximation and write its result file."""

from __future__ import annotations

from ..errors import SearchError
from ..search import METHODS, OBJECTIVE_NAMES, TAIL_MODES, search
from ._common import add_command, add_output_options, info, print_json, resolve_output, write_doc

__all__ = ["register", "cmd_search"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "search", cmd_search,
        help="search a PWL approximation of a function",
        description=(
            "Search the best continuous PWL approximation of a target and write one result "
            "file (knots, values, tails, the (a, c) form, metrics, seed, time).\n\n"
            "Two problem shapes: --kbit K (2**K - 1 knots, tails on the asymptotes: ReGELU2 "
            "for K=2) or --knots N (N knots on --range with --tails).\n\nmethods:\n"
            + "\n".join(f"  {k:<10} {v}" for k, v in METHODS.items())
        ),
        example="pwlgen search --fn gelu --kbit 2 --method optimal -o results/",
    )
    p.add_argument("--fn", default="gelu",
                   help="target: a built-in name (see 'pwlgen functions') or an expression")
    p.add_argument("--method", default="optimal", choices=list(METHODS), help="search method")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--kbit", type=int, help="k-bit family: 2**K - 1 knots (default K=2)")
    shape.add_argument("--knots", type=int, help="general problem with N knots")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="interval of the objective (default: where f leaves its asymptotes)")
    p.add_argument("--objective", default="l2", choices=OBJECTIVE_NAMES, help="what to minimise")
    p.add_argument("--tails", default="pinned", choices=TAIL_MODES,
                   help="tails on the asymptotes, with their slope only, or fitted")
    p.add_argument("--seed", type=int, default=0, help="random seed (echoed in the result)")
    add_output_options(p)


def cmd_search(args) -> int:
    """Run the search, write the result, print a summary (or the JSON document)."""
    if args.range is not None and not args.range[0] < args.range[1]:
        raise SearchError(f"--range needs LO < HI, not {args.range[0]:g} {args.range[1]:g}")
    kbit = args.kbit if args.knots is None else None
    if kbit is None and args.knots is None:
        kbit = 2
    result = search(
        args.fn,
        args.knots,
        kbit=kbit,
        method=args.method,
        objective=args.objective,
        interval=tuple(args.range) if args.range else None,
        tails=args.tails,
        seed=args.seed,
        progress=not (args.json or args.quiet),
    )
    stem = _stem(result)
    path = resolve_output(args.out, stem)
    doc = result.to_dict()
    write_doc(doc, path)
    if args.json:
        print_json({**doc, "path": str(path)})
    else:
        info(args, f"{result.summary()}  seed={result.seed}  -> {path}")
    return 0


def _stem(result) -> str:
    name = result.target if result.target.isidentifier() else "expr"
    shape = f"k{result.kbit}" if result.kbit else f"n{result.n_knots}"
    return f"{name}_{result.method}_{shape}"
