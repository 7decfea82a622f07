"""Gradient-based search of an activation cell (DARTS / GDAS / DrNAS relaxations).

Re-implemented from the papers' ideas (no code ported): Liu et al., "DARTS", ICLR 2019;
Dong & Yang, "Searching for a Robust Neural Architecture in Four GPU Hours" (GDAS), CVPR
2019; Chen et al., "DrNAS: Dirichlet Neural Architecture Search", ICLR 2021; with the fixes of
Strack, Safari & Hutter, "Efficient Search for Customized Activation Functions with
Gradient Descent" (GRAFS), 2024: bounded operators, a warm start with a baseline activation,
progressive shrinking of the weakest operators, and Left/Right binary operators so that a
baseline stays reachable.

The cell (shared by every activation position of the macro network) is::

    full:  f(x) = B1(U2(B0(U0(x), U1(x))), U3(x))
    small: f(x) = B0(U0(x), U1(x))

Each edge U_i mixes unary operators and each vertex B_j binary operators with weights from
architecture parameters alpha: softmax(alpha) for DARTS, a straight-through Gumbel-softmax
sample for GDAS (only the sampled operator is computed), a Dirichlet sample with
concentration elu(alpha) + 1 for DrNAS. Operator outputs are clamped to [-BOUND, BOUND].
alpha is trained on the validation split and the network weights on the training split,
alternating (the first-order bilevel approximation). An optional cost term adds the
expected number of PWL segments of the chosen unary operators (`hardware`), which makes the
search hardware-aware. The discretised cell (argmax per edge and vertex) is a grammar
expression, usable by ``pwlgen search --fn`` and the rest of pwlgen.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import SearchError
from ..io import atomic_write, ensure_dir, save
from .expr import compile_expression, grammar
from .tasks import evaluate, get_task, train_eval

__all__ = [
    "OPTIMIZERS",
    "CELLS",
    "DEFAULT_UNARY",
    "DEFAULT_BINARY",
    "BOUND",
    "Cell",
    "search_cell",
    "run_cell_search",
]

OPTIMIZERS = ("darts", "gdas", "drnas")
CELLS = {"full": (4, 2), "small": (2, 1)}
"""Cell shape -> (number of unary edges, number of binary vertices)."""
DEFAULT_UNARY = ("identity", "zero", "negative", "abs", "square", "relu", "tanh", "sigmoid",
                 "swish", "gelu", "elu", "softplus", "erf", "arctan")
DEFAULT_BINARY = ("left", "right", "add", "sub", "mul", "max", "min")
BOUND = 10.0
"""Operator outputs are clamped to [-BOUND, BOUND] during the search."""

_CELL_BINARY = {"left": lambda a, b: a, "right": lambda a, b: b}


def _check(kind: str, names, default) -> list[str]:
    ops = grammar().OPERATORS
    names = list(default if names is None else names)
    if not names:
        raise SearchError(f"the {kind} operator list is empty")
    arity = 1 if kind == "unary" else 2
    for n in names:
        if n in _CELL_BINARY and kind == "binary":
            continue
        op = ops.get(n)
        if op is None or not op.accepts(arity):
            raise SearchError(f"unknown {kind} operator {n!r} for the cell: choose from "
                              f"{', '.join(sorted(k for k, o in ops.items() if o.accepts(arity)))}"
                              + (", left, right" if kind == "binary" else ""))
    return list(dict.fromkeys(names))


class Cell(nn.Module):
    """The activation cell with architecture parameters.

    Parameters
    ----------
    unary, binary : list of str
        Candidate operators of the edges and the vertices.
    shape : {"full", "small"}
        The cell shape (`CELLS`).
    optimizer : {"darts", "gdas", "drnas"}
        How alpha becomes operator weights.
    baseline : str or None
        A unary operator the cell starts from: the path U0 -> B0 = left (-> U2 = identity
        -> B1 = left) computes it; alpha gets a bias towards it, and ``fixed`` mode runs it.

    Attributes
    ----------
    alpha_u, alpha_b : Parameter
        Architecture parameters, (edges, unary ops) and (vertices, binary ops).
    mask_u, mask_b : Tensor of bool
        Operators still in the search (progressive shrinking removes the weakest).
    fixed : bool
        When True the cell computes the baseline operator only (warm start).
    """

    def __init__(self, unary, binary, shape: str = "full", optimizer: str = "drnas",
                 baseline: str | None = "relu", warm_bias: float = 1.0, tau: float = 1.0):
        super().__init__()
        if shape not in CELLS:
            raise SearchError(f"unknown cell {shape!r}: choose one of {', '.join(CELLS)}")
        if optimizer not in OPTIMIZERS:
            raise SearchError(f"unknown optimizer {optimizer!r}: choose one of "
                              f"{', '.join(OPTIMIZERS)}")
        self.unary = _check("unary", unary, DEFAULT_UNARY)
        self.binary = _check("binary", binary, DEFAULT_BINARY)
        self.shape, self.optimizer, self.tau = shape, optimizer, tau
        n_e, n_v = CELLS[shape]
        self.alpha_u = nn.Parameter(torch.zeros(n_e, len(self.unary)))
        self.alpha_b = nn.Parameter(torch.zeros(n_v, len(self.binary)))
        self.register_buffer("mask_u", torch.ones(n_e, len(self.unary), dtype=torch.bool))
        self.register_buffer("mask_b", torch.ones(n_v, len(self.binary), dtype=torch.bool))
        ops = grammar().OPERATORS
        self._ufn = [ops[n].fn for n in self.unary]
        self._bfn = [_CELL_BINARY[n] if n in _CELL_BINARY else ops[n].fn for n in self.binary]
        self.baseline = baseline
        self.fixed = False
        if baseline is not None:
            if baseline not in self.unary:
                raise SearchError(f"the baseline {baseline!r} must be one of the unary "
                                  f"operators: {', '.join(self.unary)}")
            for key, name in self._baseline_path().items():
                table, names = ((self.alpha_u, self.unary) if key[0] == "u"
                                else (self.alpha_b, self.binary))
                with torch.no_grad():
                    table[int(key[1:]), names.index(name)] += warm_bias

    def _baseline_path(self) -> dict[str, str]:
        path = {"u0": self.baseline, "b0": "left"}
        if self.shape == "full":
            path.update({"u2": "identity", "b1": "left"})
        return {k: v for k, v in path.items()
                if v in (self.unary if k[0] == "u" else self.binary)}

    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha, trained on the validation split."""
        return [self.alpha_u, self.alpha_b]

    # -- relaxations -------------------------------------------------------------------------
    def _weights(self, alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = alpha.masked_fill(~mask, -math.inf)
        if self.optimizer == "darts":
            return torch.softmax(a, -1)
        if self.optimizer == "gdas":
            if not self.training:  # evaluate the most likely cell, not a sample
                return F.one_hot(a.argmax(-1), a.shape[-1]).to(a.dtype)
            return F.gumbel_softmax(a, tau=self.tau, hard=True, dim=-1)
        conc = (F.elu(alpha) + 1.0 + 1e-3).masked_fill(~mask, 1.0)
        w = torch.distributions.Dirichlet(conc).rsample() if self.training else conc / conc.sum(
            -1, keepdim=True)
        w = w.masked_fill(~mask, 0.0)
        return w / w.sum(-1, keepdim=True)

    def probabilities(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic operator weights (softmax of alpha over the active operators)."""
        pu = torch.softmax(self.alpha_u.masked_fill(~self.mask_u, -math.inf), -1)
        pb = torch.softmax(self.alpha_b.masked_fill(~self.mask_b, -math.inf), -1)
        return pu, pb

    def _mix(self, fns, w: torch.Tensor, *args) -> torch.Tensor:
        if self.optimizer == "gdas" and self.training:
            i = int(w.argmax())  # one-hot in value, gradient to alpha through w[i]
            return w[i] * fns[i](*args).clamp(-BOUND, BOUND)
        out = 0.0
        for i in torch.nonzero(w.detach() > 0).flatten().tolist():
            out = out + w[i] * fns[i](*args).clamp(-BOUND, BOUND)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the cell elementwise."""
        if self.fixed:
            return self._ufn[self.unary.index(self.baseline)](x)
        wu = self._weights(self.alpha_u, self.mask_u)
        wb = self._weights(self.alpha_b, self.mask_b)
        u = [lambda t, e=e: self._mix(self._ufn, wu[e], t) for e in range(wu.shape[0])]
        v0 = self._mix(self._bfn, wb[0], u[0](x), u[1](x))
        if self.shape == "small":
            return v0
        return self._mix(self._bfn, wb[1], u[2](v0), u[3](x))

    # -- discretisation ----------------------------------------------------------------------
    def choice(self) -> dict[str, str]:
        """The strongest active operator per edge (u0..) and vertex (b0..)."""
        pu, pb = self.probabilities()
        out = {f"u{e}": self.unary[int(pu[e].argmax())] for e in range(pu.shape[0])}
        out.update({f"b{v}": self.binary[int(pb[v].argmax())] for v in range(pb.shape[0])})
        return out

    def expression(self) -> str:
        """The discretised cell as a canonical grammar expression."""
        c = self.choice()

        def un(name, arg):
            return arg if name == "identity" else f"{name}({arg})"

        def bi(name, a, b):
            if name == "left" or (a == b and name in ("max", "min")):
                return a
            return b if name == "right" else f"{name}({a},{b})"

        v0 = bi(c["b0"], un(c["u0"], "x"), un(c["u1"], "x"))
        text = v0 if self.shape == "small" else bi(c["b1"], un(c["u2"], v0), un(c["u3"], "x"))
        return compile_expression(text).text

    def shrink(self, epochs_left: int) -> None:
        """Drop the weakest active operators of every edge and vertex.

        Each row keeps ``n - (n - 1) // (epochs_left + 1)`` of its ``n`` active operators,
        so that one is left when no epochs are (progressive shrinking).
        """
        for alpha, mask in ((self.alpha_u, self.mask_u), (self.alpha_b, self.mask_b)):
            for r in range(alpha.shape[0]):
                active = torch.nonzero(mask[r]).flatten()
                k = (len(active) - 1) // (max(epochs_left, 0) + 1)
                if k <= 0:
                    continue
                weakest = active[torch.argsort(alpha.detach()[r, active])[:k]]
                mask[r, weakest] = False

    def expected_cost(self, unary_cost: torch.Tensor) -> torch.Tensor:
        """Expected PWL segments of the unary edges under the current weights."""
        pu, _ = self.probabilities()
        return (pu * unary_cost).sum()


def _unary_costs(names, max_err: float = 2.0**-6) -> torch.Tensor:
    from .hardware import segments_needed

    ops = grammar().OPERATORS
    costs = []
    for n in names:
        s = segments_needed(lambda t, f=ops[n].fn: f(t).clamp(-BOUND, BOUND), -BOUND, BOUND,
                            max_err)
        costs.append(float(s if s is not None else 64))
    c = torch.tensor(costs)
    return c / c.max()


def search_cell(task, *, net: str = "mlp", optimizer: str = "drnas", cell: str = "full",
                epochs: int = 10, warmup: int = 2, baseline: str | None = "relu",
                unary=None, binary=None, cost: float = 0.0, lr: float | None = None,
                arch_lr: float = 3e-2, seed: int = 0, log=None) -> dict:
    """Search a cell for `task`; returns the history and the discretised expression.

    Parameters
    ----------
    task : Task or str
        The task (its train split trains the weights, its val split alpha).
    net : str
        Macro network (`nets.NETS`).
    optimizer : {"darts", "gdas", "drnas"}
        Relaxation of alpha.
    cell : {"full", "small"}
        Cell shape.
    epochs, warmup : int
        Search epochs, and epochs with the baseline cell before them.
    baseline : str or None
        Warm-start unary operator.
    unary, binary : list of str, optional
        Operator sets.
    cost : float
        Weight of the expected PWL segments in alpha's loss (0: off).
    lr, arch_lr : float
        Learning rates of the weights (default: the task's) and of alpha.
    seed : int
        Random seed.
    log : file, optional
        Where to print progress lines.

    Returns
    -------
    dict
        ``expression``, ``choice``, ``active`` (the operators left per edge and vertex:
        one each), ``errors`` (per epoch), ``alphas`` (per epoch, the
        operator probabilities per edge and vertex), ``unary``, ``binary``, ``wall_time_s``.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise SearchError(f"epochs must be a positive integer, not {epochs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise SearchError(f"warmup must be a non-negative integer, not {warmup!r}")
    if not cost >= 0:
        raise SearchError(f"cost must be non-negative, not {cost!r}")
    t0 = time.perf_counter()
    task = get_task(task)
    torch.manual_seed(seed)
    c = Cell(unary, binary, cell, optimizer, baseline)
    model = task.model(lambda: c, net)
    arch = set(id(p) for p in c.arch_parameters())
    weights = [p for p in model.parameters() if id(p) not in arch]
    w_opt = torch.optim.Adam(weights, lr=task.lr if lr is None else lr)
    a_opt = torch.optim.Adam(c.arch_parameters(), lr=arch_lr, betas=(0.5, 0.999))
    ucost = _unary_costs(c.unary) if cost > 0 else None
    xtr, ytr, xva, yva, xte, yte = task.data
    gen = torch.Generator().manual_seed(seed)
    errors, alphas, lines = [], [], []

    def say(text):
        lines.append(text)
        if log is not None:
            print(text, file=log, flush=True)

    for epoch in range(warmup + epochs):
        phase = "warmup" if epoch < warmup else "search"
        c.fixed = phase == "warmup"
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        vperm = torch.randint(0, len(xva), (len(xtr),), generator=gen)
        for i in range(0, len(xtr), task.batch_size):
            b = perm[i:i + task.batch_size]
            loss = F.cross_entropy(model(xtr[b]), ytr[b])
            w_opt.zero_grad()
            loss.backward()
            if not torch.isfinite(loss):
                continue
            nn.utils.clip_grad_norm_(weights, 5.0)
            w_opt.step()
            if phase == "search":  # first-order bilevel: alpha on a validation batch
                vb = vperm[i:i + task.batch_size]
                a_loss = F.cross_entropy(model(xva[vb]), yva[vb])
                if ucost is not None:
                    a_loss = a_loss + cost * c.expected_cost(ucost)
                a_opt.zero_grad()
                w_opt.zero_grad()
                a_loss.backward()
                if torch.isfinite(a_loss):
                    a_opt.step()
        row = {"epoch": epoch, "phase": phase}
        for split, (x, y) in {"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)}.items():
            acc, lss = evaluate(model, x, y)
            row[f"{split}_acc"], row[f"{split}_loss"] = acc, lss if math.isfinite(lss) else None
        pu, pb = c.probabilities()
        alphas.append({"epoch": epoch, "phase": phase,
                       **{f"u{e}": pu[e].tolist() for e in range(pu.shape[0])},
                       **{f"b{v}": pb[v].tolist() for v in range(pb.shape[0])}})
        row["expression"] = c.expression()
        errors.append(row)
        say(f"epoch {epoch:3d} {phase:<6} train {row['train_acc']:.4f} val {row['val_acc']:.4f}"
            f" test {row['test_acc']:.4f}  cell {row['expression']}")
        if phase == "search":  # progressive shrinking: one operator per edge after the last
            c.shrink(warmup + epochs - 1 - epoch)
    c.fixed = False
    active = {f"u{e}": [c.unary[j] for j in torch.nonzero(c.mask_u[e]).flatten().tolist()]
              for e in range(c.mask_u.shape[0])}
    active.update({f"b{v}": [c.binary[j] for j in torch.nonzero(c.mask_b[v]).flatten().tolist()]
                   for v in range(c.mask_b.shape[0])})
    expression = c.expression()
    say(f"discovered: {expression}")
    return {"expression": expression, "choice": c.choice(), "active": active, "errors": errors,
            "alphas": alphas, "unary": c.unary, "binary": c.binary, "optimizer": optimizer,
            "cell": cell, "net": net, "task": task.name, "seed": seed, "log": lines,
            "wall_time_s": time.perf_counter() - t0}


def _plot_alphas(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plot import save_figure

    keys = [k for k in result["alphas"][0] if k[0] in "ub" and k[1:].isdigit()]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.2), squeeze=False)
    epochs = [a["epoch"] for a in result["alphas"]]
    colours = plt.get_cmap("tab20").colors
    last = {kind: max(i for i, k in enumerate(keys) if k[0] == kind) for kind in "ub"}
    for i, (ax, k) in enumerate(zip(axes[0], keys, strict=True)):
        names = result["unary"] if k[0] == "u" else result["binary"]
        probs = np.array([a[k] for a in result["alphas"]])
        for j, n in enumerate(names):
            ax.plot(epochs, probs[:, j], label=n, lw=1, color=colours[j % len(colours)])
        ax.set_title(f"{'edge' if k[0] == 'u' else 'vertex'} {k}")
        ax.set_xlabel("epoch")
        if i == last[k[0]]:  # one legend per operator kind
            ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[0][0].set_ylabel("operator weight")
    fig.tight_layout()
    return save_figure(fig, path)


def run_cell_search(*, net: str = "mlp", task: str = "digits", optimizer: str = "drnas",
                    cell: str = "full", epochs: int = 10, warmup: int = 2,
                    baseline: str | None = "relu", unary=None, binary=None, cost: float = 0.0,
                    arch_lr: float = 3e-2, eval_epochs: int | None = None,
                    compare=("relu", "swish"), seed: int = 0, out: str = "cell_out",
                    log=None) -> dict:
    """Search a cell, retrain it and the baselines from scratch, write the files.

    Writes ``errors.json`` (per epoch train/val/test accuracy and loss), ``search.log``,
    ``alphas.json`` and ``alphas.png`` (operator weights per edge over the epochs), and
    ``result.yaml`` (the expression and its accuracy next to the baselines') into `out`.

    Returns
    -------
    dict
        The ``result.yaml`` document.
    """
    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise SearchError(f"output directory {out!r} is a file")
    task_obj = get_task(task)
    from .nets import build_net

    build_net(net, task_obj.input_shape, task_obj.n_classes, nn.Identity)  # bad --net: no dir
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small matrices: more threads only slow them down
    try:
        return _run_and_write(task_obj, out_path, log, dict(
            net=net, optimizer=optimizer, cell=cell, epochs=epochs, warmup=warmup,
            baseline=baseline, unary=unary, binary=binary, cost=cost, arch_lr=arch_lr,
            seed=seed), eval_epochs, compare)
    finally:
        torch.set_num_threads(threads)


def _run_and_write(task_obj, out_path: Path, log, kw: dict, eval_epochs, compare) -> dict:
    from .expr import ExprActivation
    from .hardware import design_cost

    net, seed = kw["net"], kw["seed"]
    names = [compile_expression(b).text for b in compare if b]  # bad --compare: before search
    res = search_cell(task_obj, log=log, **kw)
    comparison = {}
    for name in dict.fromkeys([res["expression"], *names]):
        r = train_eval(task_obj, lambda n=name: ExprActivation(n), net=net, epochs=eval_epochs,
                       seed=seed)
        r.pop("history")
        r["segments"], r["in_fmt"], r["out_fmt"] = design_cost(name)
        comparison[name] = r
        line = (f"retrained {name:<40} val {r['val_acc']:.4f} test {r['test_acc']:.4f} "
                f"segments {r['segments']} ({r['in_fmt']} -> {r['out_fmt']})")
        res["log"].append(line)
        if log is not None:
            print(line, file=log, flush=True)
    outdir = ensure_dir(out_path)  # only now: a failed search leaves no directory
    atomic_write(outdir / "errors.json", json.dumps(res["errors"], indent=1) + "\n")
    atomic_write(outdir / "alphas.json", json.dumps(
        {"unary": res["unary"], "binary": res["binary"], "history": res["alphas"]},
        indent=1) + "\n")
    _plot_alphas(res, outdir / "alphas.png")
    atomic_write(outdir / "search.log", "\n".join(res["log"]) + "\n")
    doc = {"kind": "cell_search", "schema": 1, "expression": res["expression"],
           "choice": res["choice"], "optimizer": kw["optimizer"], "cell": kw["cell"],
           "net": net, "task": task_obj.name, "seed": seed, "epochs": kw["epochs"],
           "warmup": kw["warmup"], "cost": kw["cost"], "wall_time_s": res["wall_time_s"],
           "comparison": comparison, "out": str(outdir)}
    save(doc, outdir / "result.yaml")
    return doc
