"""`pwlgen discover`: find which activation to build (function database, cell search)."""

from __future__ import annotations

import json
import math
import sys

from ..errors import SearchError
from ._common import HelpFormatter, add_command, info, print_json

__all__ = [
    "register",
    "cmd_discover",
    "cmd_populate",
    "cmd_features",
    "cmd_run",
    "cmd_summary",
    "cmd_cell",
]


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _sub(sub, name, func, help, description, example):
    p = sub.add_parser(name, help=help, description=description,
                       epilog=f"example:\n  {example}", formatter_class=HelpFormatter)
    p.set_defaults(func=func)
    return p


def _common(p, db=True):
    if db:
        p.add_argument("--db", required=True,
                       help="SQLite file, or a SQLAlchemy URL (postgresql+psycopg://...)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")


def register(sub) -> None:
    """Add the subcommand group."""
    p = add_command(
        sub, "discover", cmd_discover,
        help="discover activation functions (function DB + surrogate, cell search)",
        description=(
            "Search which activation to build: a database of grammar expressions with a "
            "surrogate-guided training loop (AQuaSurF's idea), or a gradient-based cell "
            "search (GRAFS' DARTS/GDAS/DrNAS), both optionally hardware-aware."),
        example="pwlgen discover populate --db fns.db --schema 'binary(unary(x),unary(x))'",
    )
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    q = _sub(verbs, "populate", cmd_populate, "add expressions to a function database",
             "Enumerate schemas and/or add expressions; group them into equivalence classes "
             "by their outputs on 1,000 fixed points; store each class's PWL segment count.",
             "pwlgen discover populate --db fns.db --schema 'binary(unary(x),unary(x))' "
             "--unary relu,tanh,swish --binary add,mul,max")
    _common(q)
    q.add_argument("--schema", action="append", default=[],
                   help="schema with placeholders unary/binary (repeatable)")
    q.add_argument("--fn", action="append", default=[], help="an expression (repeatable)")
    q.add_argument("--unary", type=_csv, help="comma-separated unary operators (default: all)")
    q.add_argument("--binary", type=_csv,
                   help="comma-separated binary operators (default: all binary)")
    q.add_argument("--no-baselines", action="store_true",
                   help="do not add relu, gelu, swish, tanh, elu, selu, softplus, sigmoid")
    q.add_argument("--limit", type=int, default=100_000,
                   help="refuse schemas that enumerate more expressions than this")
    _hw_options(q)

    q = _sub(verbs, "features", cmd_features, "compute Fisher-spectrum features",
             "K-FAC Fisher spectrum at initialisation of the task's network with each class's "
             "function, on one batch; computed once per class.",
             "pwlgen discover features --db fns.db --task digits")
    _common(q)
    q.add_argument("--task", default="digits", help="task name or module:attribute")
    q.add_argument("--net", default="mlp", help="macro network: mlp, resnet8, resnet20")
    q.add_argument("--batch", type=int, default=256, help="batch size of the Fisher estimate")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.add_argument("--force", action="store_true", help="recompute existing features")

    q = _sub(verbs, "run", cmd_run, "train suggested functions (the search loop)",
             "Evaluate baselines first, then the surrogate's suggestions, until BUDGET classes "
             "are done. Several workers (processes here, or other machines on the same "
             "PostgreSQL URL) share the database safely.",
             "pwlgen discover run --db fns.db --task digits --budget 30 --workers 2")
    _common(q)
    q.add_argument("--task", default="digits", help="task name or module:attribute")
    q.add_argument("--net", default="mlp", help="macro network: mlp, resnet8, resnet20")
    q.add_argument("--budget", type=int, default=50, help="classes to have evaluated in total")
    q.add_argument("--workers", type=int, default=1, help="worker processes")
    q.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.add_argument("--embedding", default="pca", choices=["pca", "umap"],
                   help="feature embedding of the surrogate (pca: 10 components per feature "
                        "set; umap: 2, AQuaSurF's)")
    q.add_argument("--model", default="gp", choices=["gp", "knn"],
                   help="surrogate regressor: Gaussian process, or AQuaSurF's kNN")
    q.add_argument("--rank", default="accuracy", choices=["accuracy", "pareto"],
                   help="rank by predicted accuracy, or the accuracy/segments Pareto front first")
    q.add_argument("--max-segments", type=int, help="hardware budget: at most this many segments")
    q.add_argument("--pwl", choices=["float", "fixed"],
                   help="train with each candidate's hardware PWL instead of the ideal "
                        "function: its greedy float PWL, or the fixed-point unit, bit-exact")
    q.add_argument("--max-err", type=float,
                   help="max error of the PWL: absolute for --pwl float (default 2^-8), "
                        "output LSBs for --pwl fixed (default 1)")
    q.add_argument("--expiry", type=float, default=120.0,
                   help="seconds without heartbeat after which a claim is taken over")
    q.add_argument("--neighbours", type=int, default=3,
                   help="neighbours of the surrogate's kNN regressor")
    q.add_argument("--acquisition", default="ei", choices=["ei", "ucb", "mean"],
                   help="rank by expected improvement (ei), predicted accuracy + its "
                        "uncertainty (ucb), or the prediction alone (mean, AQuaSurF's)")
    q.add_argument("--train", metavar="MODULE:FUNCTION",
                   help="your training function, called as fn(task, act, net=, epochs=, "
                        "seed=) and returning a dict with val_acc (default: pwlgen's)")

    q = _sub(verbs, "summary", cmd_summary, "counts and the best functions so far",
             "Counts per status, the best evaluated classes next to the baselines, and "
             "optionally a plot of the feature embedding coloured by accuracy.",
             "pwlgen discover summary --db fns.db --plot embedding.png")
    _common(q)
    q.add_argument("--top", type=int, default=10, help="how many of the best to list")
    q.add_argument("--plot", help="write the embedding plot to this image file")
    q.add_argument("--fixed", type=float, metavar="LSB",
                   help="also design the fixed-point unit (pwlgen.fixedpoint.design) of the "
                        "listed functions for this max error in output LSBs, and show its "
                        "segment count")
    q.add_argument("--embedding", default="umap", choices=["umap", "pca"],
                   help="embedding of the plot")

    q = _sub(verbs, "cell", cmd_cell, "gradient-based cell search (DARTS/GDAS/DrNAS)",
             "One-shot search of an activation cell B1(U2(B0(U0(x),U1(x))),U3(x)) (or the small "
             "cell B(U1(x),U2(x))) inside a macro network; writes errors.json, a log, the alpha "
             "history and plot; prints the discovered expression and its accuracy next to "
             "the baselines trained the same way.",
             "pwlgen discover cell --net resnet8 --task digits --optimizer drnas -o cell_out/")
    _common(q, db=False)
    q.add_argument("--net", default="mlp", help="macro network: mlp, resnet8, resnet20")
    q.add_argument("--task", default="digits", help="task name or module:attribute")
    q.add_argument("--optimizer", default="drnas", choices=["darts", "gdas", "drnas"],
                   help="relaxation of the architecture weights")
    q.add_argument("--cell", default="full", choices=["full", "small"], help="cell shape")
    q.add_argument("--epochs", type=int, default=10, help="search epochs")
    q.add_argument("--warmup", type=int, default=2, help="epochs with the baseline cell first")
    q.add_argument("--baseline", default="relu", help="warm-start activation (unary operator)")
    q.add_argument("--unary", type=_csv, help="unary operators of the edges (default: a set)")
    q.add_argument("--binary", type=_csv, help="binary operators of the vertices (default: a set)")
    q.add_argument("--cost", type=float, default=0.0,
                   help="weight of the expected PWL segments (hardware-aware search)")
    q.add_argument("--arch-lr", type=float, default=3e-2, help="learning rate of alpha")
    q.add_argument("--eval-epochs", type=int, help="epochs of the final comparison "
                   "(default: the task's)")
    q.add_argument("--compare", type=_csv, default=["relu", "swish"],
                   help="baselines trained next to the discovered function")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.add_argument("-o", "--out", default="cell_out", help="output directory")


def cmd_discover(args) -> int:  # pragma: no cover - argparse requires a verb
    """Dispatch (argparse calls the verb's handler directly)."""
    return 2


def _hw_options(q) -> None:
    q.add_argument("--hw-bits", type=int, default=8,
                   help="width of the formats of the hardware score (the fixed-point unit "
                        "pwlgen.fixedpoint.design builds at f's default formats of this width)")
    q.add_argument("--max-error-lsb", type=float,
                   help="max error of that unit in output LSBs (default: the designer's "
                        "strict faithful rounding, as 'pwlgen quantize')")


def _db(args, create=False):
    from ..discover.db import FunctionDB

    return FunctionDB(args.db, create=create)


def cmd_populate(args) -> int:
    """Add schemas, expressions and baselines; score their hardware cost."""
    from ..discover.hardware import score_classes
    from ..discover.schema import enumerate_schema, schema_size

    if not 4 <= args.hw_bits <= 16:
        raise SearchError(f"--hw-bits must be between 4 and 16, not {args.hw_bits!r}")
    if args.max_error_lsb is not None and not args.max_error_lsb > 0:
        raise SearchError(f"--max-error-lsb must be positive, not {args.max_error_lsb!r}")
    sizes = {s: schema_size(s, args.unary, args.binary) for s in args.schema}
    for s, n in sizes.items():
        if n > args.limit:
            raise SearchError(f"schema {s!r} enumerates {n} expressions, more than --limit "
                              f"{args.limit}: restrict --unary/--binary or raise --limit")
    if not args.schema and not args.fn and args.no_baselines:
        raise SearchError("nothing to add: give --schema or --fn")
    from ..discover.expr import compile_expression

    for text in args.fn:  # bad expressions fail before the database is touched
        compile_expression(text)
    doc = {"db": args.db, "added": 0, "existing": 0, "new_classes": 0, "invalid": 0}
    with _db(args, create=True) as db:
        batches = []
        if not args.no_baselines:
            batches.append(("baseline", None))
        batches += [(s, s) for s in args.schema]
        if args.fn:
            batches.append(("fn", None))
        for source, schema in batches:
            if source == "baseline":
                rep = db.add_baselines()
            elif source == "fn":
                rep = db.add(args.fn, source="fn")
            else:
                rep = db.add(enumerate_schema(schema, args.unary, args.binary),
                             source=f"schema:{schema}")
            for k in ("added", "existing", "new_classes", "invalid"):
                doc[k] += getattr(rep, k)
        doc["scored"] = score_classes(db, bits=args.hw_bits, max_error_lsb=args.max_error_lsb)
        doc["counts"] = db.counts()
    if args.json:
        print_json(doc)
    else:
        c = doc["counts"]
        info(args, f"added {doc['added']} expressions ({doc['existing']} already stored), "
                   f"{doc['new_classes']} new classes ({doc['invalid']} not finite); database: "
                   f"{c['functions']} functions in {c['classes']} classes -> {args.db}")
    return 0


def cmd_features(args) -> int:
    """Compute the Fisher features of every finite class that lacks them."""
    import json

    import torch

    from ..discover.features import compute_fisher
    from ..discover.tasks import get_task

    if args.batch < 2:
        raise SearchError(f"--batch must be at least 2, not {args.batch!r}")
    task = get_task(args.task)
    settings = {"task": task.name, "net": args.net, "batch": args.batch, "seed": args.seed}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest on a shared machine
    try:
        with _db(args) as db:
            task.model(torch.nn.Identity, args.net)  # a bad --net fails before any write
            stored = db.get_meta("features")
            if stored is not None and json.loads(stored) != settings and not args.force:
                old = json.loads(stored)
                raise SearchError(
                    f"the database's Fisher features were computed with "
                    f"{_settings_text(old)}, not {_settings_text(settings)}: add --force to "
                    "recompute them all")
            n = compute_fisher(db, task, args.net, batch=args.batch, seed=args.seed,
                               force=args.force)
            db.set_meta("features", json.dumps(settings, sort_keys=True))
    finally:
        torch.set_num_threads(threads)
    doc = {"db": args.db, "computed": n, **settings}
    if args.json:
        print_json(doc)
    else:
        info(args, f"Fisher features of {n} classes ({task.name}/{args.net}) -> {args.db}")
    return 0


def _settings_text(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))


def cmd_run(args) -> int:
    """Run the search loop."""
    from ..discover.worker import run

    def show(r):
        if not args.quiet:
            print(f"  {r['expression']:<40} val {r['val_acc']:.4f}  test {r['test_acc']:.4f}"
                  f"  ({r['runtime_s']:.1f} s)", file=sys.stderr if args.json else sys.stdout)

    n = run(args.db, args.task, args.budget, workers=args.workers, on_result=show,
            net=args.net, epochs=args.epochs, seed=args.seed, expiry=args.expiry,
            embedding=args.embedding, max_segments=args.max_segments, rank=args.rank,
            pwl=args.pwl, max_err=args.max_err, neighbours=args.neighbours,
            model=args.model, acquisition=args.acquisition, train=args.train)
    doc = _summary_doc(args.db, top=5)
    doc["evaluated_now"] = n
    if args.json:
        print_json(doc)
    else:
        info(args, _summary_text(doc))
    return 0


def _summary_doc(spec: str, top: int = 10) -> dict:
    from ..discover.db import FunctionDB

    with FunctionDB(spec, create=False) as db:
        counts = db.counts()
        rows = db.classes(status="done")
        settings = db.get_meta("run_settings")
    keys = ("id", "representative", "val_acc", "test_acc", "train_acc", "val_loss", "segments",
            "hw_in_fmt", "hw_out_fmt", "hw_max_err_lsb", "fixed_segments", "runtime_s")
    done = sorted(rows, key=lambda r: -(r["val_acc"] if r["val_acc"] is not None else -1))
    base = {r["representative"]: {k: r[k] for k in keys} for r in rows if r["is_baseline"]}
    settings = None if settings is None else json.loads(settings)
    task = None if settings is None else f"{settings['task']}/{settings['net']}"
    return {"db": spec, "task": task, "settings": settings, "counts": counts,
            "best": [{k: r[k] for k in keys} for r in done[:top]], "baselines": base}


def _fmt(v, spec=".4f"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _summary_text(doc: dict) -> str:
    c = doc["counts"]
    lines = [f"{doc['db']}: {c['functions']} functions in {c['classes']} classes; "
             f"pending {c['pending']}, running {c['running']}, done {c['done']}, "
             f"failed {c['failed']}, not finite {c['invalid']}; task {doc['task'] or '-'}",
             f"  {'function':<44} {'val acc':>8} {'test acc':>8} {'segments':>8} "
             f"{'formats':<15} {'16-bit':>6}"]

    def row(name, r):
        fixed = r["fixed_segments"] if r["fixed_segments"] is None or r["fixed_segments"] >= 0 \
            else None
        segs = r["segments"] if r["segments"] is None or r["segments"] >= 0 else None
        fmts = f"{r['hw_in_fmt']}->{r['hw_out_fmt']}" if r["hw_in_fmt"] else "-"
        return (f"  {name:<44} {_fmt(r['val_acc']):>8} {_fmt(r['test_acc']):>8} "
                f"{_fmt(segs, 'd'):>8} {fmts:<15} {_fmt(fixed, 'd'):>6}")

    lines += [row(r["representative"], r) for r in doc["best"]]
    if doc["baselines"]:
        lines.append("  baselines:")
        lines += [row(name, r) for name, r in doc["baselines"].items()]
    lines.append("  (segments: the unit 'pwlgen quantize --fn F --in IN --out OUT' designs at "
                 "those formats; 16-bit: at the 16-bit default formats, 'summary --fixed LSB')")
    return "\n".join(lines)


def cmd_summary(args) -> int:
    """Print counts and the best functions; optionally plot the embedding."""
    if args.top < 1:
        raise SearchError(f"--top must be a positive integer, not {args.top!r}")
    doc = _summary_doc(args.db, args.top)
    if args.fixed is not None:
        from ..discover.db import FunctionDB
        from ..discover.hardware import score_fixed

        if not args.fixed > 0:
            raise SearchError(f"--fixed must be a positive number of LSBs, not {args.fixed!r}")
        ids = [r["id"] for r in doc["best"]] + [r["id"] for r in doc["baselines"].values()]
        with FunctionDB(args.db, create=False) as db:
            score_fixed(db, ids, max_error_lsb=args.fixed)
        doc = _summary_doc(args.db, args.top)
    if args.plot:
        doc["plot"] = str(_plot_embedding(args.db, args.plot, args.embedding))
    if args.json:
        print_json(doc)
    else:
        info(args, _summary_text(doc))
        if args.plot:
            info(args, f"embedding plot -> {doc['plot']}")
    return 0


def _plot_embedding(spec: str, path: str, method: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..discover.db import FunctionDB
    from ..discover.surrogate import class_features
    from ..plot import save_figure

    with FunctionDB(spec, create=False) as db:
        rows = db.classes(status=("pending", "running", "done", "failed"), with_features=True)
    if len(rows) < 2:
        raise SearchError(f"{spec!r} has fewer than 2 finite classes: nothing to plot")
    emb = class_features(rows, method)[:, :2]
    acc = np.array([np.nan if r["val_acc"] is None else r["val_acc"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(emb[np.isnan(acc), 0], emb[np.isnan(acc), 1], s=6, c="lightgrey",
               label="not evaluated")
    ok = ~np.isnan(acc)
    sc = ax.scatter(emb[ok, 0], emb[ok, 1], s=24, c=acc[ok], cmap="viridis")
    fig.colorbar(sc, ax=ax, label="validation accuracy")
    for i in np.nonzero(ok)[0]:
        if rows[i]["is_baseline"]:
            ax.annotate(rows[i]["representative"], emb[i], fontsize=7)
    ax.set_title(f"{method.upper()} embedding of the output features")
    ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def cmd_cell(args) -> int:
    """Run the cell search and compare the discovered function with baselines."""
    from ..discover.cell import run_cell_search

    doc = run_cell_search(
        net=args.net, task=args.task, optimizer=args.optimizer, cell=args.cell,
        epochs=args.epochs, warmup=args.warmup, baseline=args.baseline, unary=args.unary,
        binary=args.binary, cost=args.cost, arch_lr=args.arch_lr, eval_epochs=args.eval_epochs,
        compare=args.compare, seed=args.seed, out=args.out,
        log=None if (args.quiet or args.json) else sys.stdout)
    if args.json:
        print_json(doc)
    else:
        info(args, f"discovered: {doc['expression']}")
        for name, r in doc["comparison"].items():
            info(args, f"  {name:<44} val {r['val_acc']:.4f}  test {r['test_acc']:.4f}")
        info(args, f"files -> {doc['out']}")
    return 0

