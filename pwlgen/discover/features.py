"""Features of a candidate activation: its outputs, and its model's Fisher spectrum.

*Output features* (AQuaSurF): the function's values on 1,000 fixed points drawn from a
standard normal (seed 0) clipped to [-3, 3], sorted. Two functions with the same outputs
(within a tolerance) are one equivalence class.

*Fisher features*: the spectrum of the Fisher information of a model at initialisation
with the candidate activation, in the K-FAC approximation (Martens & Grosse 2015): per
``nn.Linear`` / ``nn.Conv2d`` layer, F ~ A (x) G with A the covariance of the layer inputs
(im2col patches for a convolution, plus a ones column for the bias) and G the covariance of
the gradients of the log-likelihood w.r.t. the layer outputs, labels sampled from the model
(the true Fisher). The eigenvalues of A (x) G are the products of theirs, so in log space
they are all sums log a_i + log g_j. Each layer is summarised by the empirical CDF of those
sums at `N_BINS` fixed points, which gives a fixed-length vector per model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "N_POINTS",
    "CLIP",
    "N_BINS",
    "LOG10_RANGE",
    "sample_points",
    "output_features",
    "fisher_features",
    "compute_fisher",
    "encode",
    "decode",
    "equivalent",
]

N_POINTS = 1000
CLIP = 3.0
SEED = 0
N_BINS = 32
LOG10_RANGE = (-14.0, 6.0)
"""Range of log10 eigenvalues the CDF is sampled on."""

ATOL = 1e-6
RTOL = 1e-6


def sample_points() -> np.ndarray:
    """The fixed input points: `N_POINTS` draws of N(0, 1), seed 0, clipped, sorted."""
    rng = np.random.default_rng(SEED)
    return np.sort(np.clip(rng.standard_normal(N_POINTS), -CLIP, CLIP))


_POINTS = sample_points()


def output_features(fn) -> np.ndarray:
    """Values of a torch function on the fixed points (float64; may hold inf/NaN)."""
    x = torch.as_tensor(_POINTS, dtype=torch.float64)
    with torch.no_grad(), np.errstate(all="ignore"):
        try:
            y = fn(x)
        except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
            return np.full(N_POINTS, np.nan)
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.shape != x.shape:
        y = torch.broadcast_to(y, x.shape)
    return y.detach().numpy().astype(np.float64).copy()


def equivalent(a: np.ndarray, b: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> bool:
    """Whether two output vectors are the same function within the tolerance."""
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))))


def encode(a: np.ndarray | None) -> bytes | None:
    """A float array as a BLOB (little-endian float64)."""
    if a is None:
        return None
    return np.ascontiguousarray(a, dtype="<f8").tobytes()


def decode(b: bytes | None) -> np.ndarray | None:
    """The inverse of `encode`."""
    if b is None:
        return None
    return np.frombuffer(bytes(b), dtype="<f8").copy()


def _kfac_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]


def _inputs_matrix(layer: nn.Module, a: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Conv2d):
        cols = F.unfold(a, layer.kernel_size, dilation=layer.dilation, padding=layer.padding,
                        stride=layer.stride)  # (B, C*kh*kw, L)
        a = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    else:
        a = a.reshape(-1, a.shape[-1])
    if layer.bias is not None:
        a = torch.cat([a, a.new_ones(a.shape[0], 1)], dim=1)
    return a


def _grads_matrix(layer: nn.Module, g: torch.Tensor, batch: int) -> torch.Tensor:
    g = g * batch  # undo the mean of the loss: per-sample gradients
    if isinstance(layer, nn.Conv2d):
        return g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])
    return g.reshape(-1, g.shape[-1])


def _cdf(log_eigs: np.ndarray, n_bins: int) -> np.ndarray:
    grid = np.linspace(*LOG10_RANGE, n_bins)
    s = np.sort(log_eigs)
    return np.searchsorted(s, grid, side="right") / max(len(s), 1)


def fisher_features(model: nn.Module, inputs: torch.Tensor, *, n_bins: int = N_BINS,
                    seed: int = 0) -> np.ndarray:
    """K-FAC Fisher-spectrum features of `model` on one batch.

    Parameters
    ----------
    model : nn.Module
        A classifier returning logits; its ``Linear`` and ``Conv2d`` layers are summarised.
    inputs : Tensor
        One batch of inputs.
    n_bins : int
        CDF points per layer.
    seed : int
        Seed of the labels sampled from the model.

    Returns
    -------
    ndarray, shape (n_layers * n_bins,)
        Per layer, the CDF of the log10 eigenvalues of A (x) G at `n_bins` points of
        `LOG10_RANGE`; NaN where the model's outputs are not finite.
    """
    layers = _kfac_layers(model)
    acts: dict[nn.Module, torch.Tensor] = {}
    grads: dict[nn.Module, torch.Tensor] = {}
    shapes: dict[nn.Module, torch.Size] = {}
    hooks = []

    def keep(m, inp, out):
        acts[m] = inp[0].detach()
        shapes[m] = out.shape
        if out.requires_grad:  # a tensor hook sees d loss / d output, with no module hook
            out.register_hook(lambda g: grads.__setitem__(m, g.detach()))

    for layer in layers:
        hooks.append(layer.register_forward_hook(keep))
    nan = np.full(len(layers) * n_bins, np.nan)
    try:
        was_training = model.training
        model.eval()
        model.zero_grad(set_to_none=True)
        logits = model(inputs)
        if not torch.isfinite(logits).all():
            return nan
        gen = torch.Generator().manual_seed(seed)
        probs = torch.softmax(logits.detach().double(), dim=-1)
        labels = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        F.cross_entropy(logits, labels).backward()
        model.train(was_training)
        out = []
        batch = inputs.shape[0]
        for layer in layers:
            a = _inputs_matrix(layer, acts[layer]).double()
            # no gradient reached the layer (a constant activation cuts the graph): it is 0
            g = grads.get(layer)
            if g is None:
                g = torch.zeros(shapes[layer])
            g = _grads_matrix(layer, g, batch).double()
            if not (torch.isfinite(a).all() and torch.isfinite(g).all()):
                return nan
            ea = torch.linalg.eigvalsh(a.T @ a / a.shape[0]).clamp_min(1e-30).log10()
            eg = torch.linalg.eigvalsh(g.T @ g / g.shape[0]).clamp_min(1e-30).log10()
            out.append(_cdf((ea[:, None] + eg[None, :]).flatten().numpy(), n_bins))
        return np.concatenate(out)
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)


def compute_fisher(db, task, net: str = "mlp", *, batch: int = 256, seed: int = 0,
                   force: bool = False) -> int:
    """Store the Fisher features of every finite class of `db` that lacks them.

    Each class's network is built fresh (seed `seed`) and measured on the first `batch`
    training inputs of `task`; a constant function (its gradients vanish) gets the features
    of zero gradients: every eigenvalue below the CDF's range. Returns how many were computed.
    """
    from .expr import ExprActivation

    x = task.data[0][:batch]
    rows = [r for r in db.classes(status=("pending", "running", "done", "failed"),
                                  with_features=True) if force or r["fisher"] is None]
    for r in rows:
        torch.manual_seed(seed)
        model = task.model(lambda text=r["representative"]: ExprActivation(text), net)
        db.update_class(r["id"], fisher=fisher_features(model, x, seed=seed))
    return len(rows)
