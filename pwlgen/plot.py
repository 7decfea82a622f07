"""Figures: a PWL against its target (f and h, f' and h', the error) and search histories."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .functions import Target
from .io import atomic_write
from .pwl import PWL

__all__ = ["plot_pwl", "save_figure"]


def plot_pwl(pwl: PWL, target: Target, interval: tuple[float, float], *, title: str = "",
             history: list[float] | None = None):
    """Draw f and h, f' and h', and f - h over `interval` (plus the history when given).

    Returns the matplotlib Figure (Agg backend: no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = interval
    pad = 0.1 * (hi - lo)
    x = np.linspace(lo - pad, hi + pad, 4001)
    x = np.unique(np.concatenate([x, pwl.knots]))
    panels = 4 if history else 3
    fig, axes = plt.subplots(panels, 1, figsize=(7, 2.4 * panels), constrained_layout=True)
    ax = axes[0]
    ax.plot(x, target.f(x), label=f"f = {target.name}", lw=1.5)
    ax.plot(x, pwl(x), "--", label="h (PWL)", lw=1.2)
    ax.plot(pwl.knots, pwl.values, "o", ms=4, label="knots")
    ax.set_ylabel("value")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or f"{target.name}: {pwl.n_knots} knots")
    ax = axes[1]
    ax.plot(x, target.df(x), label="f'", lw=1.5)
    ax.step(x, pwl.derivative(x), where="post", label="h' (levels)", lw=1.2)
    ax.set_ylabel("derivative")
    ax.legend(loc="best", fontsize=8)
    ax = axes[2]
    ax.plot(x, target.f(x) - pwl(x), lw=1.0)
    ax.axhline(0.0, color="0.6", lw=0.6)
    for k in pwl.knots:
        ax.axvline(k, color="0.85", lw=0.6, zorder=0)
    ax.axvspan(lo, hi, color="0.95", zorder=-1)
    ax.set_ylabel("f - h")
    ax.set_xlabel("x (shaded: objective interval)")
    if history:
        ax = axes[3]
        ax.plot(np.arange(len(history)), history, lw=1.0)
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("objective")
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Render `fig` to PNG/SVG/PDF (by suffix) and write it atomically."""
    path = Path(path)
    buf = io.BytesIO()
    fmt = path.suffix.lstrip(".") or "png"
    fig.savefig(buf, format=fmt, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return atomic_write(path, buf.getvalue())
