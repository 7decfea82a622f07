"""`sgd`: gradient descent in torch over knots and values together, with projection.

Parameters are the knots, the values that are not pinned, and the tail slopes that are
fitted. The loss is the objective itself, integrated by Gauss-Legendre quadrature on every
piece between the current knots (and the target's kinks), so it is exact for the current
knots and differentiable in them (nodes and weights move with the knots). For ``max``
the loss is the smooth surrogate ``(mean |f - h|**p)**(1/p)`` on the same nodes, p =
``p_norm``. After every step the knots are projected back: clipped into the interval,
sorted (their values permuted with them) and kept ``min_gap`` apart; pinned values stay on
the asymptotes because they are computed, not learned. Adam (default) or SGD with
momentum, a learning rate decaying geometrically to ``lr * lr_end`` (step sizes relative
to the interval width for knots and to the range of f for values), float64 throughout,
deterministic for a given seed (the start is jittered by a `torch.Generator` seeded from
the method's generator). The start: knots at the quantiles of the curvature density with
their least-squares values; the best iterate is returned.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..errors import SearchError
from ..pwl import PWL
from .inner import (
    check_options,
    curvature_knots,
    positive_float,
    positive_int,
    sanitize_knots,
)
from .lstsq import solve_values
from .problem import Problem

__all__ = ["run", "DEFAULTS"]

DEFAULTS = {
    "optimizer": "adam",  # "adam" or "sgd" (SGD with momentum)
    "steps": 1000,
    "lr": 0.003,  # first step size: fraction of the width (knots) / of the range of f (values)
    "lr_end": 0.01,  # the learning rate decays geometrically to lr * lr_end
    "momentum": 0.9,  # SGD only
    "jitter": 0.01,  # start: knots moved by this fraction of the width (seeded)
    "order": 16,  # Gauss-Legendre nodes per piece
    "p_norm": 32.0,  # the max objective's surrogate
    "min_gap": 1e-6,  # fraction of the width between neighbouring knots
}
OPTIMIZERS = ("adam", "sgd")


def _pwl_eval(torch, x, knots, values, s_left, s_right):
    """h(x) for sorted `knots` and `values` (torch, differentiable in all of them)."""
    n = knots.shape[0]
    # number of knots strictly below x; a comparison beats torch.searchsorted by far at
    # these sizes (measured ~17 ms per call here for 15 knots)
    idx = (x.detach()[:, None] > knots.detach()[None, :]).sum(dim=1)
    il = (idx - 1).clamp(0, n - 1)
    ir = idx.clamp(0, n - 1)
    xl, xr, yl, yr = knots[il], knots[ir], values[il], values[ir]
    inner = (idx > 0) & (idx < n)
    den = torch.where(inner, xr - xl, torch.ones_like(xl))
    mid = yl + (yr - yl) * (x - xl) / den
    left = values[0] + s_left * (x - knots[0])
    right = values[-1] + s_right * (x - knots[-1])
    h = torch.where(idx == 0, left, torch.where(idx == n, right, mid))
    slopes = torch.where(idx == 0, s_left, torch.where(idx == n, s_right, (yr - yl) / den))
    return h, slopes


def run(problem: Problem, rng: np.random.Generator, *, progress: bool = False,
        **options) -> tuple[PWL, list[float], dict]:
    """Descend on knots and values; return the best iterate.

    Parameters
    ----------
    problem : Problem
    rng : numpy.random.Generator
        Seeds the `torch.Generator` of the start's jitter.
    progress : bool
        Show a progress bar over the steps (stderr).
    **options
        ``optimizer`` ("adam" or "sgd"), ``steps`` (1000), ``lr`` (0.003), ``lr_end``
        (0.01), ``momentum`` (0.9, SGD), ``jitter`` (0.01), ``order`` (16), ``p_norm``
        (32, for ``max``), ``min_gap`` (1e-6); see the module docstring.

    Returns
    -------
    pwl : PWL
    history : list of float
        The loss every 10 steps.
    info : dict
        ``steps``, ``best_step``, ``optimizer``.

    Raises
    ------
    SearchError
        On an unknown or invalid option.
    """
    import torch

    opt = check_options("sgd", options, DEFAULTS)
    if opt["optimizer"] not in OPTIMIZERS:
        raise SearchError(
            f"sgd: optimizer must be one of {', '.join(OPTIMIZERS)}, not {opt['optimizer']!r}"
        )
    steps = positive_int("sgd", "steps", opt["steps"])
    lr = positive_float("sgd", "lr", opt["lr"])
    lr_end = positive_float("sgd", "lr_end", opt["lr_end"])
    momentum = positive_float("sgd", "momentum", opt["momentum"], allow_zero=True)
    jitter = positive_float("sgd", "jitter", opt["jitter"], allow_zero=True)
    order = positive_int("sgd", "order", opt["order"], minimum=2)
    p_norm = positive_float("sgd", "p_norm", opt["p_norm"])
    min_gap = positive_float("sgd", "min_gap", opt["min_gap"])
    if momentum >= 1.0:
        raise SearchError(f"sgd: momentum must be below 1, not {momentum!r}")

    target = problem.target
    lo, hi = problem.interval
    width = hi - lo
    n = problem.n_knots
    dt = torch.float64
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))

    k0 = curvature_knots(problem)
    k0 = k0 + jitter * width * torch.randn(n, generator=gen, dtype=dt).numpy()
    k0 = sanitize_knots(problem, k0, min_gap * width)
    start = solve_values(problem, k0)
    xs = np.linspace(lo, hi, 257)
    fscale = float(np.ptp(target.f(xs))) or 1.0

    pin_l, pin_r = problem.pinned("left"), problem.pinned("right")
    if n == 1 and pin_l is not None:
        pin_r = None  # as in lstsq: one knot, pinned to the left asymptote
    free = np.ones(n, dtype=bool)
    free[0] &= pin_l is None
    free[-1] &= pin_r is None
    fixed_sl, fixed_sr = problem.tail_slope("left"), problem.tail_slope("right")

    knots = torch.tensor(start.knots, dtype=dt, requires_grad=True)
    # values are learned as offsets from f at their knot, so that a moving knot carries its
    # value along the curve (far better conditioned than absolute values)
    vals = torch.tensor((start.values - target.f(start.knots))[free], dtype=dt,
                        requires_grad=True)
    slopes = torch.tensor([start.left_slope, start.right_slope], dtype=dt, requires_grad=True)
    groups = [{"params": [knots], "lr": lr * width}, {"params": [vals], "lr": lr * fscale}]
    if fixed_sl is None or fixed_sr is None:
        groups.append({"params": [slopes], "lr": lr})
    gl_t, gl_w = (torch.tensor(a, dtype=dt) for a in np.polynomial.legendre.leggauss(order))
    kinks = torch.tensor([v for v in target.kinks if lo < v < hi], dtype=dt)
    ends = torch.tensor([lo, hi], dtype=dt)
    free_t = torch.tensor(free)

    def assemble():
        full = torch.zeros(n, dtype=dt)
        full = full.masked_scatter(free_t, vals) if vals.numel() else full
        full = full + target.torch_fn(knots)
        if pin_l is not None:
            full = torch.cat([(pin_l.slope * knots[:1] + pin_l.intercept), full[1:]])
        if pin_r is not None:
            full = torch.cat([full[:-1], pin_r.slope * knots[-1:] + pin_r.intercept])
        sl = slopes[0] if fixed_sl is None else torch.tensor(fixed_sl, dtype=dt)
        sr = slopes[1] if fixed_sr is None else torch.tensor(fixed_sr, dtype=dt)
        return full, sl, sr

    def loss_fn():
        full, sl, sr = assemble()
        bp, _ = torch.sort(torch.cat([ends, knots.clamp(lo, hi), kinks]))
        a, b = bp[:-1, None], bp[1:, None]
        x = (0.5 * (a + b) + 0.5 * (b - a) * gl_t).reshape(-1)
        w = (0.5 * (b - a) * gl_w).reshape(-1)
        h, dh = _pwl_eval(torch, x, knots, full, sl, sr)
        if problem.objective == "l2-deriv":
            with torch.enable_grad():
                xg = x if x.requires_grad else x.requires_grad_(True)
                (df,) = torch.autograd.grad(target.torch_fn(xg).sum(), xg, create_graph=True)
            return torch.sum(w * (df - dh) ** 2)
        r = target.torch_fn(x) - h
        if problem.objective == "l2":
            return torch.sum(w * r * r)
        scale = r.detach().abs().max().clamp_min(1e-300)  # keeps |r/scale|**p finite
        return scale * (torch.sum(w * (r.abs() / scale) ** p_norm) / width) ** (1.0 / p_norm)

    clip = None
    if opt["optimizer"] == "adam":
        optim = torch.optim.Adam(groups)
    else:
        # plain SGD steps scale with the gradient: normalise by the first knot gradient
        # (the values start optimal, their gradient is ~0) so that lr means about the same
        # first step as for Adam
        loss_fn().backward()
        gmax = max(float(knots.grad.abs().max()), 1e-300)
        clip = 10.0 * float(knots.grad.norm()) or None  # keeps a sharp valley from blowing up
        for g in groups:
            g["lr"] = g["lr"] * (1.0 - momentum) / gmax
        optim = torch.optim.SGD(groups, momentum=momentum)
    sched = torch.optim.lr_scheduler.ExponentialLR(optim, lr_end ** (1.0 / max(steps, 1)))
    history: list[float] = []
    best_loss, best_state, best_step = np.inf, None, -1
    bar = tqdm(range(steps + 1), desc="sgd", unit="step", disable=(not progress) or None,
               leave=False)
    for step in bar:
        optim.zero_grad()
        loss = loss_fn()
        value = float(loss.detach())
        if value < best_loss:
            full, sl, sr = assemble()
            best_loss, best_step = value, step
            best_state = (knots.detach().numpy().copy(), full.detach().numpy().copy(),
                          float(sl.detach()), float(sr.detach()))
        if step % 10 == 0:
            history.append(value)
        if step == steps:
            break
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([knots, vals, slopes], clip)
        optim.step()
        sched.step()
        with torch.no_grad():  # projection: sorted, inside, min_gap apart
            order_ = torch.argsort(knots)
            knots.copy_(torch.as_tensor(
                sanitize_knots(problem, knots[order_].numpy(), min_gap * width)))
            if vals.numel():
                full = torch.zeros(n, dtype=dt).masked_scatter(free_t, vals)[order_]
                vals.copy_(full[free_t])
    bar.close()
    k, y, sl, sr = best_state
    pwl = PWL(k, y, sl, sr)
    return pwl, history, {"steps": steps, "best_step": best_step,
                          "optimizer": opt["optimizer"]}
