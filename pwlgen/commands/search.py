"""`pwlgen search`: find a PWL approximation and write its result file."""

from __future__ import annotations

from pathlib import Path

from ..errors import SearchError
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

__all__ = ["register", "cmd_search", "search_arguments", "HONOURED_OBJECTIVES"]


_METHODS = {
    "lstsq": "Fit values on given (default: uniform) knots by exact least squares.",
    "optimal": "Multi-start BFGS over the knots, best values solved inside (our best).",
    "sa": "Simulated annealing over the knots (Approx-BP), batched over parallel chains.",
    "sgd": "Gradient descent (Adam or SGD+momentum) in torch over knots and values.",
    "minimax": "Breakpoints and values minimising the grid max |err| (an LP inside).",
    "curvature": "Breakpoints at equal shares of the integrated curvature^(1/2) (Li et al.).",
    "uniform": "Evenly spaced breakpoints, least-squares values (baseline).",
    "rl": "PPO agent refines the breakpoints by bounded moves (ISOCC 2023; needs [rl]).",
}
"""`pwlgen.search.METHODS` as the parser lists it (kept here so that parsing needs no numpy;
a test checks that the two agree)."""

OBJECTIVES = ("l2", "l2-deriv", "max")
TAILS = ("pinned", "slope", "free")
FAMILIES = ("step", "continuous")  # pwlgen.search.FAMILIES, without importing the search

HONOURED_OBJECTIVES = {
    "optimal": OBJECTIVES, "sa": OBJECTIVES, "sgd": OBJECTIVES,
    "lstsq": ("l2",), "curvature": ("l2",), "uniform": ("l2",), "minimax": ("max",), "rl": (),
}
"""The objectives a method really minimises (``--objective`` anything else is refused)."""

RANGE_METHODS = ("minimax", "curvature", "uniform", "rl")
DEFAULT_RANGE = (-8.0, 8.0)


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "search", cmd_search,
        help="search a PWL approximation of a function",
        description=(
            "Search the best continuous PWL approximation of a target and write one result "
            "file (knots, values, tails, the (a, c) form, metrics, seed, time).\n\n"
            "Three problem shapes: --kbit K (2**K - 1 knots, tails on the asymptotes: ReGELU2 "
            "for K=2), --knots N (N knots on --range with --tails), or --points N (the range "
            "workflow).\nAn option a method cannot honour is refused, never dropped.\n\n"
            "methods:\n" + "\n".join(f"  {k:<10} {v}" for k, v in _METHODS.items())
        ),
        example="pwlgen search --fn gelu --kbit 2 --method optimal -o results/",
    )
    p.add_argument("--fn", default="gelu",
                   help="target: a built-in name (see 'pwlgen functions') or an expression")
    p.add_argument("--method", default="optimal", choices=list(_METHODS), help="search method")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--kbit", type=int_in(1, 8),
                       help="k-bit family: 2**K - 1 knots, K in 1..8 (default K=2)")
    shape.add_argument("--knots", type=int_in(1),
                       help=f"general problem with N knots (at most {LIMITS['knots']})")
    shape.add_argument("--points", type=int_in(1),
                       help="range workflow: N interior points on --range (default -8 8), the "
                       "outer knots on its ends, asymptotes outside; the paper's 8 points = 9 "
                       "segments inside the range + 2 asymptote pieces (methods minimax, "
                       f"curvature, uniform, rl; at most {LIMITS['points']})")
    p.add_argument("--range", nargs=2, type=finite_float, metavar=("LO", "HI"),
                   help="interval of the objective (default: where f leaves its asymptotes)")
    p.add_argument("--objective", choices=OBJECTIVES,
                   help="what to minimise (default l2; optimal, sa and sgd take all three, "
                   "lstsq, curvature and uniform l2, minimax max, rl its own score)")
    p.add_argument("--tails", choices=TAILS,
                   help="with --knots: tails on the asymptotes (pinned, the default), with "
                   "their slope only, or fitted (--kbit pins them, --points keeps the slope)")
    p.add_argument("--family", choices=FAMILIES,
                   help="--kbit with l2-deriv: Few-Bit's free step function of f' on [-10, 10] "
                   "(step, the default there) or the continuous PWL on the asymptotes")
    p.add_argument("--seed", type=int_in(0, 2**63 - 1), default=0,
                   help="random seed, >= 0 (echoed in the result)")
    p.add_argument("--continuous", action="store_true",
                   help="minimax: minimise the true max |err| between the grid points, not the "
                   "max on the grid (both are reported)")
    p.add_argument("--timesteps", type=int_in(0),
                   help="rl: PPO training steps (default 300000)")
    p.add_argument("--policy", metavar="FILE",
                   help="rl: start from this saved policy (.zip); with --timesteps 0 only roll "
                   "it out (each rl run saves its policy next to the result)")
    add_output_options(p)


def cmd_search(args) -> int:
    """Check the options, run the search, write the result, print a summary (or the JSON)."""
    from ..search import search

    kwargs = search_arguments(args)
    stem = _stem(_target_stem(args.fn), args.method, kwargs["kbit"],
                 kwargs["n_knots"] if kwargs["n_knots"] else 2**kwargs["kbit"] - 1)
    path = resolve_output(args.out, stem)
    created = []
    if args.method == "rl":  # rl saves its policy during the search, next to the result
        from ..io import check_output, make_dirs

        kwargs["policy_out"] = str(check_output(path.with_suffix(".policy.zip")))
        created = make_dirs(path.parent)
    try:
        result = search(args.fn, progress=not (args.json or args.quiet), **kwargs)
    except BaseException:
        from ..io import remove_dirs

        remove_dirs(created)
        raise
    doc = result.to_dict()
    write_doc(doc, path)
    if args.json:
        print_json({**doc, "path": str(path)})
    else:
        info(args, f"{result.summary()}  seed={result.seed}  -> {path}")
    return 0


def search_arguments(args) -> dict:
    """The keyword arguments of `pwlgen.search.search` for the parsed options.

    Every option is honoured or refused here, before any work.

    Raises
    ------
    SearchError
        For a size above `LIMITS`, an empty range, or an option the chosen shape or
        method cannot honour.
    """
    if args.range is not None:
        check_range(args, args.range)
    method = args.method
    kwargs: dict = {"method": method, "seed": args.seed, "n_knots": None, "kbit": None,
                    "interval": tuple(args.range) if args.range else None}
    if args.points is not None:
        check_limit(args, "points", args.points, "--points")
        if method not in RANGE_METHODS:
            raise SearchError(
                f"--points works with the methods {', '.join(RANGE_METHODS)}, not "
                f"{method!r} (use --knots N --tails slope --range LO HI there)"
            )
        if args.tails not in (None, "slope"):
            raise SearchError(f"--points keeps the asymptotes' slopes outside the range; "
                              f"--tails {args.tails} needs --knots N")
        kwargs.update(n_knots=args.points + 2, points=args.points, tails="slope",
                      interval=kwargs["interval"] or DEFAULT_RANGE)
    elif args.knots is not None:
        check_limit(args, "knots", args.knots, "--knots")
        kwargs.update(n_knots=args.knots, tails=args.tails or "pinned")
    else:
        if args.tails not in (None, "pinned"):
            raise SearchError(f"--kbit pins the tails on the asymptotes; --tails {args.tails} "
                              "needs --knots N (2**K - 1 of them for the same size)")
        kwargs["kbit"] = 2 if args.kbit is None else args.kbit
    if method == "rl" and args.points is None:
        raise SearchError("--method rl places range points: give --points N")
    honoured = HONOURED_OBJECTIVES[method]
    if args.objective is not None and args.objective not in honoured:
        what = f"only {', '.join(honoured)}" if honoured else "its own score"
        raise SearchError(f"--method {method} minimises {what}, not --objective "
                          f"{args.objective} (optimal, sa and sgd take every objective)")
    kwargs["objective"] = args.objective or "l2"
    if args.continuous:
        if method != "minimax":
            raise SearchError(f"--continuous is an option of --method minimax, not {method}")
        kwargs["continuous"] = True
    if args.family is not None:  # search() refuses it outside --kbit with l2-deriv
        kwargs["family"] = args.family
    if (kwargs["kbit"] is not None and kwargs["objective"] == "l2-deriv"
            and args.family != "continuous" and args.tails is not None):
        raise SearchError(f"--kbit with l2-deriv fits Few-Bit's step function of f', which has "
                          f"no tails; --tails {args.tails} needs --family continuous")
    if method != "rl":
        for opt in ("timesteps", "policy"):
            if getattr(args, opt) is not None:
                raise SearchError(f"--{opt} is an option of --method rl, not {method}")
        return kwargs
    kwargs["timesteps"] = 300_000 if args.timesteps is None else args.timesteps
    check_limit(args, "timesteps", kwargs["timesteps"], "--timesteps")
    if args.policy is not None:
        _check_policy(args.policy)
        kwargs["policy"] = args.policy
    elif kwargs["timesteps"] == 0:
        raise SearchError("--timesteps 0 only rolls out a saved policy: give --policy FILE")
    return kwargs


def _check_policy(path: str) -> None:
    """Refuse a --policy that is not a stable-baselines3 policy archive."""
    import zipfile

    p = Path(path)
    if not p.is_file():
        raise SearchError(f"--policy {path!r}: no such file")
    try:
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        raise SearchError(f"--policy {path!r} is not a saved policy (not a zip archive)") from e
    if not {"data", "policy.pth"} <= names:
        raise SearchError(f"--policy {path!r} is not a saved stable-baselines3 policy "
                          "(no 'data' and 'policy.pth' inside)")


def _target_stem(fn: str) -> str:
    """The name a result of `fn` is filed under (the target's name, ``expr`` otherwise)."""
    from ..functions import get_target

    t = get_target(fn)
    return name_stem(t.expression or t.name)


def _stem(target: str, method: str, kbit: int | None, n_knots: int) -> str:
    shape = f"k{kbit}" if kbit else f"n{n_knots}"
    return f"{name_stem(target)}_{method}_{shape}"
