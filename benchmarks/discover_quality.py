"""Discovery quality: the surrogate's search order against random order, on exhaustive truth.

For each test bed (a task, a macro network and a pool of candidate activations) every class of
the pool is trained once with the package's own `evaluate_class` and the results are cached in
``benchmarks/out/discover_<bed>.json`` (``--regenerate`` trains them again). The search loop is
then replayed against that ground truth: both strategies evaluate the pool's baselines first
(what ``pwlgen discover run`` does), then the surrogate picks the next class from what it has
seen (`pwlgen.discover.surrogate.rank_pending`, the ranking `suggest` uses) while random search
takes the rest in a random order. Printed per bed: the spread of the pool's accuracies, the
mean best-so-far validation accuracy at budgets 5..50 for each surrogate variant (UMAP / PCA,
with / without Fisher features; >= 10 seeds) and for random order (>= 1,000 orderings), and the
median number of evaluations to reach the pool's top 1 % and top 5 %; a plot of the curves goes
to ``benchmarks/out/discover_quality.png``.

Run: ``.venv/bin/python benchmarks/discover_quality.py [--bed deep spirals] [--regenerate]``
(regenerating takes about 5 minutes per bed on one core; the replay about a minute).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "out"
UNARY = ("relu", "tanh", "swish", "gelu", "abs", "identity", "sigmoid", "elu", "softplus", "erf",
         "arctan", "square")
BINARY = ("add", "sub", "mul", "max", "min")
SCHEMA = "binary(unary(x),unary(x))"
BEDS = {
    "deep": {"task": "digits", "net": "mlp6",
             "about": "digits, plain MLP of six hidden layers of 32 (no normalisation)"},
    "spirals": {"task": "spirals", "net": "mlp",
                "about": "three noisy spirals in the plane, MLP 64-64"},
}
BUDGETS = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
MAX_REPLAY = 120
"""Evaluations a surrogate replay runs at most (its time to a top fraction beyond: censored)."""


def _pool_db(path: Path):
    """A function database of the pool (the schema over UNARY x BINARY, plus baselines)."""
    from pwlgen.discover.db import FunctionDB
    from pwlgen.discover.schema import enumerate_schema

    db = FunctionDB(path, create=True)
    db.add_baselines()
    db.add(enumerate_schema(SCHEMA, list(UNARY), list(BINARY)), source=f"schema:{SCHEMA}")
    return db


def generate(bed: str, work: Path) -> dict:
    """Train every class of the bed's pool once; the ground-truth document."""
    import torch

    from pwlgen.discover.tasks import get_task
    from pwlgen.discover.worker import evaluate_class

    torch.set_num_threads(1)
    spec = BEDS[bed]
    task = get_task(spec["task"])
    with _pool_db(work / f"{bed}.db") as db:
        rows = db.classes(status="pending")
    classes, t0 = [], time.perf_counter()
    for i, r in enumerate(rows):
        try:
            res = evaluate_class(task, r["representative"], net=spec["net"], seed=0)
        except Exception as e:  # noqa: BLE001 - a failed training scores 0, as in the search
            res = {"val_acc": 0.0, "test_acc": 0.0, "runtime_s": 0.0, "error": str(e)}
        classes.append({"expression": r["representative"], "baseline": bool(r["is_baseline"]),
                        **{k: round(float(res[k]), 6) for k in ("val_acc", "test_acc",
                                                                "runtime_s")}})
        if i % 50 == 0:
            print(f"  {bed}: {i + 1}/{len(rows)} classes trained "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"bed": bed, **spec, "epochs": task.epochs, "seed": 0, "schema": SCHEMA,
            "unary": list(UNARY), "binary": list(BINARY), "classes": classes,
            "wall_time_s": round(time.perf_counter() - t0, 1)}


def ground_truth(bed: str, work: Path, regenerate: bool = False) -> dict:
    """The cached ground truth of a bed (trained now when missing or asked)."""
    from pwlgen.io import atomic_write

    path = OUT / f"discover_{bed}.json"
    if path.exists() and not regenerate:
        return json.loads(path.read_text())
    doc = generate(bed, work)
    atomic_write(path, json.dumps(doc, indent=0) + "\n")
    return doc


VARIANTS = {
    # name: (embedding, Fisher features, model, acquisition, k); the first is the default
    "pca+fisher gp ei": ("pca", True, "gp", "ei", 3),
    "pca gp ei": ("pca", False, "gp", "ei", 3),
    "umap+fisher gp ei": ("umap", True, "gp", "ei", 3),
    "umap gp ei": ("umap", False, "gp", "ei", 3),
    "pca+fisher knn ucb": ("pca", True, "knn", "ucb", 3),
    "umap+fisher knn mean k5 (v1)": ("umap", True, "knn", "mean", 5),
}


def pool_rows(bed: str, work: Path, truth: dict) -> tuple[list[dict], np.ndarray]:
    """The pool's class rows (output and Fisher features) and their true val accuracy."""
    import torch

    from pwlgen.discover.features import compute_fisher
    from pwlgen.discover.tasks import get_task

    torch.set_num_threads(1)
    spec = BEDS[bed]
    with _pool_db(work / f"{bed}-replay.db") as db:
        compute_fisher(db, get_task(spec["task"]), spec["net"])
        rows = db.classes(status="pending", with_features=True)
    acc = {c["expression"]: c["val_acc"] for c in truth["classes"]}
    missing = [r["representative"] for r in rows if r["representative"] not in acc]
    if missing:
        raise SystemExit(f"the ground truth of {bed} lacks {missing[:3]}: --regenerate")
    return rows, np.array([acc[r["representative"]] for r in rows])


def replay(rows: list[dict], y: np.ndarray, variant: str, seed: int, steps: int) -> np.ndarray:
    """Best-so-far true accuracy after 1..steps evaluations of one surrogate run."""
    from pwlgen.discover.surrogate import class_features, rank_pending

    embedding, fisher, model, acquisition, k = VARIANTS[variant]
    use = rows if fisher else [{**r, "fisher": None} for r in rows]
    feats = class_features(use, embedding, seed)
    done = [i for i, r in enumerate(rows) if r["is_baseline"]]
    pending = [i for i in range(len(rows)) if i not in set(done)]
    while len(done) < steps and pending:
        order, _ = rank_pending(feats, np.array(done), y[done], np.array(pending), model=model,
                                k=k, acquisition=acquisition, n=1)
        done.append(pending.pop(int(order[0])))
    return np.maximum.accumulate(y[done])


def random_curves(rows: list[dict], y: np.ndarray, n: int, steps: int, seed: int = 0
                  ) -> np.ndarray:
    """Best-so-far of `n` random orders (baselines first, the rest shuffled)."""
    rng = np.random.default_rng(seed)
    base = np.array([i for i, r in enumerate(rows) if r["is_baseline"]])
    rest = np.array([i for i, r in enumerate(rows) if not r["is_baseline"]])
    out = np.empty((n, steps))
    for t in range(n):
        order = np.concatenate([base, rng.permutation(rest)])[:steps]
        out[t] = np.maximum.accumulate(y[order])
    return out


def evals_to(curves: np.ndarray, threshold: float) -> np.ndarray:
    """Evaluations until each curve reaches `threshold` (inf: not within the curve)."""
    hit = curves >= threshold - 1e-12
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1.0, np.inf)


def top_threshold(y: np.ndarray, frac: float) -> float:
    """Accuracy of the pool's ceil(frac * n)-th best class."""
    return float(np.sort(y)[::-1][max(1, int(np.ceil(frac * len(y)))) - 1])


def _median(x: np.ndarray, cap: int) -> str:
    m = np.median(x)
    return f">{cap}" if not np.isfinite(m) else f"{m:.0f}"


def report(bed: str, rows: list[dict], y: np.ndarray, seeds: int, orders: int) -> dict:
    """Replay every variant and random order on one bed; print and return the curves."""
    n_pool = len(y)
    steps = min(MAX_REPLAY, n_pool)
    curves = {"random": random_curves(rows, y, orders, n_pool)}
    for v in VARIANTS:
        t0 = time.perf_counter()
        first = [replay(rows, y, v, s, steps) for s in range(2)]
        if VARIANTS[v][0] == "pca" and np.array_equal(*first):
            # PCA and the GP are deterministic, the baselines come first: every seed replays
            # the same run (checked on two), so it stands for all of them
            runs, note = first[:1] * seeds, " (deterministic: seeds 0 and 1 identical)"
        else:
            runs = first + [replay(rows, y, v, s, steps) for s in range(2, seeds)]
            note = ""
        curves[v] = np.array(runs)
        print(f"  replayed {v}: {seeds} seeds in {time.perf_counter() - t0:.0f} s{note}",
              flush=True)
    top1, top5 = top_threshold(y, 0.01), top_threshold(y, 0.05)
    base = max(y[i] for i, r in enumerate(rows) if r["is_baseline"])
    print(f"{bed}: {BEDS[bed]['about']}; {n_pool} classes; val acc min {y.min():.4f}, "
          f"quartiles {np.quantile(y, 0.25):.4f} / {np.median(y):.4f} / "
          f"{np.quantile(y, 0.75):.4f}, max {y.max():.4f}; best baseline {base:.4f} "
          f"({int(np.sum(y > base))} classes above it); top 1 % >= {top1:.4f}, "
          f"top 5 % >= {top5:.4f}")
    head = "  mean best-so-far at budget " + " ".join(f"{b:>6d}" for b in BUDGETS)
    print(head + "   evals to top1%  top5%")
    wins = {}
    for name, c in curves.items():
        mean = [c[:, b - 1].mean() for b in BUDGETS]
        e1, e5 = evals_to(c, top1), evals_to(c, top5)
        cap = c.shape[1]
        print(f"  {name:<30}" + " " * 4 + " ".join(f"{m:.4f}" for m in mean)
              + f"   {_median(e1, cap):>12} {_median(e5, cap):>6}")
        if name != "random":
            ge = all(c[:, b - 1].mean() >= curves["random"][:, b - 1].mean() - 1e-12
                     for b in BUDGETS)
            half = np.median(e1) <= 0.5 * np.median(evals_to(curves["random"], top1))
            wins[name] = (ge, half)
    r1 = np.median(evals_to(curves["random"], top1))
    print(f"  done-when (mean >= random at every budget 5..50; median to top 1 % <= "
          f"{0.5 * r1:.1f} = half of random's {r1:.0f}):")
    for name, (ge, half) in wins.items():
        print(f"    {name:<30} mean >= random: {'yes' if ge else 'NO'}; "
              f"top 1 % in half the evaluations: {'yes' if half else 'NO'}")
    return curves


def plot(all_curves: dict, path: Path) -> Path:
    """Mean best-so-far curves, one panel per bed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pwlgen.plot import save_figure

    fig, axes = plt.subplots(1, len(all_curves), figsize=(5.5 * len(all_curves), 4),
                             squeeze=False)
    for ax, (bed, curves) in zip(axes[0], all_curves.items(), strict=True):
        x = np.arange(1, 51)
        for name, c in curves.items():
            ax.plot(x, c[:, :50].mean(axis=0), label=name, lw=2 if name == "random" else 1.2,
                    color="black" if name == "random" else None)
        ax.set_title(f"{bed}: {BEDS[bed]['task']}/{BEDS[bed]['net']}")
        ax.set_xlabel("evaluations (baselines first)")
        ax.set_ylabel("mean best validation accuracy so far")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bed", nargs="+", default=list(BEDS), choices=list(BEDS))
    ap.add_argument("--regenerate", action="store_true", help="train the pools again")
    ap.add_argument("--only-truth", action="store_true", help="make the ground truth, no replay")
    ap.add_argument("--seeds", type=int, default=10, help="surrogate seeds per variant")
    ap.add_argument("--orders", type=int, default=1000, help="random orderings")
    ap.add_argument("--plot", default=str(OUT / "discover_quality.png"))
    args = ap.parse_args(argv)
    import tempfile

    all_curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bed in args.bed:
            truth = ground_truth(bed, Path(tmp), args.regenerate)
            if args.only_truth:
                continue
            rows, y = pool_rows(bed, Path(tmp), truth)
            all_curves[bed] = report(bed, rows, y, args.seeds, args.orders)
    if all_curves:
        print(f"plot -> {plot(all_curves, Path(args.plot))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
