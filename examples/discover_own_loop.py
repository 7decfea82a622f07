r"""Search an activation for your own model and training loop with a pwlgen function database.

The pattern (AQuaSurF's): ask the database for the next class (``db.suggest()``), claim it
(marks it running, so other workers skip it), train your model with the class's function,
and report the result, which is stored for every function of the class::

    pwlgen discover populate --db fns.db --schema "binary(unary(x),unary(x))" \\
        --unary relu,tanh,swish,abs,sigmoid --binary add,mul,max
    python examples/discover_own_loop.py --db fns.db --budget 20
    pwlgen discover summary --db fns.db

Several copies of this script (or machines on one PostgreSQL URL) can share the database.
Here the model is a small MLP on scikit-learn's digits with a plain SGD loop; replace
`train_and_score` with yours.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits
from torch import nn

from pwlgen.discover.db import FunctionDB
from pwlgen.discover.expr import ExprActivation
from pwlgen.discover.worker import Heartbeat, claim, release, report, worker_id


def make_data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Train/validation split of the 8x8 digits (standardised)."""
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32)
    x = (x - x.mean()) / x.std()
    y = torch.tensor(d.target)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, va = idx[:1200], idx[1200:]
    return x[tr], y[tr], x[va], y[va]


def train_and_score(expression: str, data, epochs: int, seed: int = 0) -> dict:
    """Your model and loop: train with the activation `expression`, return its scores."""
    xtr, ytr, xva, yva = data
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 48), ExprActivation(expression), nn.Linear(48, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(0, len(xtr), 50):
            loss = nn.functional.cross_entropy(model(xtr[i:i + 50]), ytr[i:i + 50])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        logits = model(xva)
    return {"val_acc": float((logits.argmax(1) == yva).float().mean()),
            "val_loss": float(nn.functional.cross_entropy(logits, yva)),
            "runtime_s": time.perf_counter() - t0}


def search(db_spec: str, budget: int, epochs: int = 10) -> list[tuple[str, float]]:
    """Evaluate up to `budget` suggested classes; returns (expression, val_acc) in order."""
    torch.set_num_threads(1)
    data = make_data()
    me = worker_id()
    done = []
    with FunctionDB(db_spec, create=False) as db:
        while len(done) < budget:
            picks = db.suggest(n=4)  # baselines first, then the surrogate's choice
            if not picks:
                break
            for s in picks:
                if claim(db, me, class_id=s.class_id) is not None:  # mark it running
                    break
            else:
                continue  # another worker took all four: ask again
            try:
                with Heartbeat(db, s.class_id, me):  # keeps the claim alive while training
                    res = train_and_score(s.expression, data, epochs)
            except Exception as e:
                release(db, s.class_id, me, error=str(e))  # back to pending (failed after 3)
                continue
            if report(db, s.class_id, me, res):  # stored for every function of the class
                done.append((s.expression, res["val_acc"]))
                print(f"  {s.expression:<36} val {res['val_acc']:.4f}  ({s.reason})")
    return done


def main(argv=None) -> int:
    """Command line: search, then print the best class found."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="a database made by 'pwlgen discover populate'")
    ap.add_argument("--budget", type=int, default=20, help="classes to evaluate")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    found = search(args.db, args.budget, args.epochs)
    if found:
        best = max(found, key=lambda t: t[1])
        print(f"best of {len(found)}: {best[0]} (val {best[1]:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
