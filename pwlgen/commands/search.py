"""`pwlgen search`: find a PWL approximation and write its result file."""

from __future__ import annotations

from ..errors import SearchError
from ..search import FAMILIES, METHODS, OBJECTIVE_NAMES, TAIL_MODES, search
from ._common import (
    add_command,
    add_output_options,
    info,
    name_stem,
    print_json,
    resolve_output,
    write_doc,
)

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
    shape.add_argument("--points", type=int,
                       help="range workflow: N interior points on --range (default -8 8), the "
                       "outer knots on its ends, asymptotes outside; the paper's 8 points = 9 "
                       "segments inside the range + 2 asymptote pieces (methods minimax, "
                       "curvature, uniform, rl)")
    p.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="interval of the objective (default: where f leaves its asymptotes)")
    p.add_argument("--objective", default="l2", choices=OBJECTIVE_NAMES, help="what to minimise")
    p.add_argument("--tails", default="pinned", choices=TAIL_MODES,
                   help="tails on the asymptotes, with their slope only, or fitted")
    p.add_argument("--family", choices=FAMILIES,
                   help="--kbit with l2-deriv: Few-Bit's free step function of f' on [-10, 10] "
                   "(step, the default there) or the continuous PWL on the asymptotes")
    p.add_argument("--seed", type=int, default=0, help="random seed (echoed in the result)")
    p.add_argument("--timesteps", type=int, default=300_000, help="rl: PPO training steps")
    p.add_argument("--policy", metavar="FILE",
                   help="rl: start from this saved policy (.zip); with --timesteps 0 only roll "
                   "it out (each rl run saves its policy next to the result)")
    add_output_options(p)


def cmd_search(args) -> int:
    """Run the search, write the result, print a summary (or the JSON document)."""
    if args.range is not None and not args.range[0] < args.range[1]:
        raise SearchError(f"--range needs LO < HI, not {args.range[0]:g} {args.range[1]:g}")
    kbit = args.kbit if args.knots is None and args.points is None else None
    if kbit is None and args.knots is None and args.points is None:
        kbit = 2
    extra = _range_options(args)
    result = search(
        args.fn,
        args.knots if args.points is None else args.points + 2,
        kbit=kbit,
        method=args.method,
        objective=args.objective,
        interval=tuple(args.range) if args.range else extra.pop("interval", None),
        tails=args.tails if args.points is None else "slope",
        family=args.family,
        seed=args.seed,
        progress=not (args.json or args.quiet),
        **extra,
    )
    stem = _stem(result.target, result.method, result.kbit, result.n_knots)
    path = resolve_output(args.out, stem)
    doc = result.to_dict()
    write_doc(doc, path)
    if args.json:
        print_json({**doc, "path": str(path)})
    else:
        info(args, f"{result.summary()}  seed={result.seed}  -> {path}")
    return 0


def _stem(target: str, method: str, kbit: int | None, n_knots: int) -> str:
    shape = f"k{kbit}" if kbit else f"n{n_knots}"
    return f"{name_stem(target)}_{method}_{shape}"


_RANGE_METHODS = ("minimax", "curvature", "uniform", "rl")


def _range_options(args) -> dict:
    """Method options of the range workflow (--points) and of rl (--timesteps, --policy)."""
    from ..functions import get_target
    from ..search.rangefit import DEFAULT_RANGE

    if args.points is None:
        return {}
    if args.points < 1:
        raise SearchError(f"--points needs at least 1 interior point, not {args.points}")
    if args.method not in _RANGE_METHODS:
        raise SearchError(
            f"--points works with the methods {', '.join(_RANGE_METHODS)}, not "
            f"{args.method!r} (use --knots N --tails slope --range LO HI there)"
        )
    opts: dict = {"points": args.points, "interval": DEFAULT_RANGE}
    if args.method == "rl":
        t = get_target(args.fn)
        # next to the result file, which gets the same stem
        stem = _stem(t.expression or t.name, "rl", None, args.points + 2)
        opts["policy_out"] = str(resolve_output(args.out, stem).with_suffix(".policy.zip"))
        opts["timesteps"] = args.timesteps
        if args.policy:
            opts["policy"] = args.policy
    return opts
