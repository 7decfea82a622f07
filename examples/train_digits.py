"""Train a small MLP on scikit-learn's digits with GELU, ReGELU2 and the hardware-faithful GELU.

Runs on CPU in well under a minute (the ops take their pure-torch reference path there; on
a GPU the Triton kernels run) and prints the test accuracies and losses side by side::

    python examples/train_digits.py [--epochs 60] [--seed 0]

- ``GELU``: ``nn.GELU()`` (exact erf form);
- ``ReGELU2``: exact GELU forward, 2-bit backward (`pwlgen.nn.ReGELU2`);
- ``hardware``: what a 16-bit, 16-segment GELU unit computes (`pwlgen.nn.PWLActivation` on
  `pwlgen.fixedpoint.design`), slope-of-segment backward.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from pwlgen.fixedpoint import design
from pwlgen.nn import convert


def make_data(seed: int):
    """Standardised train/test split of the 8x8 digits."""
    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=seed,
                                          stratify=y)
    mean, std = xtr.mean(0), xtr.std(0)
    std[std < 1e-3] = 1.0  # pixels that are always blank in training: leave them unscaled
    as_t = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return as_t(xtr), torch.tensor(ytr), as_t(xte), torch.tensor(yte)


def train(model: nn.Module, data, epochs: int, seed: int) -> tuple[float, float]:
    """Adam, batches of 64; returns the test accuracy and test loss."""
    xtr, ytr, xte, yte = data
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr), generator=g).split(64):
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(xte)
        acc = float((logits.argmax(1) == yte).float().mean())
        return acc, float(nn.functional.cross_entropy(logits, yte))


def main(argv=None) -> int:
    """Train the three variants and print their accuracies."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # a tiny model: threads only add overhead
    torch.manual_seed(args.seed)
    data = make_data(args.seed)
    base = nn.Sequential(nn.Linear(64, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
                         nn.Linear(128, 10))
    unit = design("gelu", n_segments=16)
    results = {}
    for name in ("GELU", "ReGELU2", "hardware"):
        model = copy.deepcopy(base)  # same initial weights for all three
        if name == "ReGELU2":
            convert(model, to="regelu2")
        elif name == "hardware":
            convert(model, to="pwl", fixed={"gelu": unit})
        t0 = time.perf_counter()
        acc, loss = train(model, data, args.epochs, args.seed)
        results[name] = (acc, loss, time.perf_counter() - t0)
    print(f"digits, MLP 64-128-128-10, {args.epochs} epochs, seed {args.seed}")
    print(f"hardware unit: {unit.summary()}")
    print(f"{'activation':<10} {'test acc':>9} {'test loss':>10} {'train s':>8}")
    for name, (acc, loss, secs) in results.items():
        print(f"{name:<10} {acc:>9.4f} {loss:>10.4f} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
