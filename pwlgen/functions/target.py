"""The `Target`: a float function to approximate, with its derivatives and asymptotes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import TargetError

__all__ = ["Asymptote", "Target", "estimate_asymptote", "target_from_torch"]

ArrayFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Asymptote:
    """The line ``slope*x + intercept`` that f approaches on one side."""

    slope: float
    intercept: float

    def __call__(self, x):
        """Evaluate the line."""
        return self.slope * x + self.intercept


@dataclass(frozen=True, eq=False)
class Target:
    """A named float64 function f with f', f'', asymptotes and a torch version.

    Parameters
    ----------
    name : str
        Registry name, or the expression text for a parsed expression.
    f, df, d2f : callable
        float64 numpy functions: value, first and second derivative.
    torch_fn : callable
        The same f on torch tensors (differentiable), for the GPU ops and autograd.
    left, right : Asymptote or None
        Lines f approaches as x -> -inf / +inf, or None when there is none.
    kinks : tuple of float
        Points where f or f' is not smooth; quadrature splits there.
    description : str
        One line for `pwlgen functions`.
    expression : str or None
        Canonical expression text when the target came from the grammar.
    kbit_interval : (float, float) or None
        Interval of the k-bit problem when the literature fixes one (Approx-BP's).
    """

    name: str
    f: ArrayFn
    df: ArrayFn
    d2f: ArrayFn
    torch_fn: Callable
    left: Asymptote | None = None
    right: Asymptote | None = None
    kinks: tuple[float, ...] = ()
    description: str = ""
    expression: str | None = None
    kbit_interval: tuple[float, float] | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __call__(self, x):
        """Evaluate f (numpy float64)."""
        return self.f(np.asarray(x, dtype=np.float64))

    def curvature(self, x) -> np.ndarray:
        """Curvature ``|f''| / (1 + f'^2)^(3/2)`` at x."""
        x = np.asarray(x, dtype=np.float64)
        return np.abs(self.d2f(x)) / (1.0 + self.df(x) ** 2) ** 1.5

    def default_interval(self, tol: float = 1e-9, limit: float = 64.0) -> tuple[float, float]:
        """Interval outside which f is within `tol` of its asymptotes.

        Used as the objective's interval for the k-bit problem when the target carries no
        `kbit_interval`. A side without an asymptote gets 8.
        """
        if self.kbit_interval is not None:
            return self.kbit_interval
        key = ("interval", tol, limit)
        if key not in self._cache:
            self._cache[key] = (
                -_reach(self.f, self.left, -1.0, tol, limit),
                _reach(self.f, self.right, 1.0, tol, limit),
            )
        return self._cache[key]


def _reach(f: ArrayFn, asym: Asymptote | None, side: float, tol: float, limit: float) -> float:
    if asym is None:
        return 8.0
    x = np.linspace(0.0, limit, 64001)
    with np.errstate(all="ignore"):
        dev = np.abs(f(side * x) - asym(side * x))
    bad = np.nonzero(~(dev <= tol))[0]
    if bad.size == 0:
        return 1.0
    return float(min(max(x[bad[-1]], 1.0), limit))


def estimate_asymptote(f: ArrayFn, side: float) -> Asymptote | None:
    """Estimate the asymptote of f on one side (``side`` = -1 or +1) numerically.

    Fits the line through f at two far points and checks that it is stable further out;
    returns None when f has no finite linear asymptote there.
    """
    xs = side * np.array([1e3, 2e3, 1e4, 2e4])
    with np.errstate(all="ignore"):
        ys = f(xs)
    if not np.all(np.isfinite(ys)):
        return None
    m1 = (ys[1] - ys[0]) / (xs[1] - xs[0])
    m2 = (ys[3] - ys[2]) / (xs[3] - xs[2])
    b1 = ys[0] - m1 * xs[0]
    b2 = ys[2] - m2 * xs[2]
    if abs(m1 - m2) > 1e-6 * (1 + abs(m2)) or abs(b1 - b2) > 1e-3 * (1 + abs(b2)):
        return None
    m = float(np.round(m2, 9))
    b = float(np.round(b2, 6))
    return Asymptote(m + 0.0, b + 0.0)


def target_from_torch(
    name: str,
    torch_fn: Callable,
    *,
    expression: str | None = None,
    description: str = "",
) -> Target:
    """Build a `Target` from a torch function: f' and f'' by autograd, asymptotes estimated.

    Raises
    ------
    TargetError
        When the function cannot be evaluated on float64 tensors.
    """
    import torch

    def f(x):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        with torch.no_grad():
            return torch_fn(xt).detach().numpy().astype(np.float64)

    def _grads(x, order: int):
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64)).clone().requires_grad_(True)
        with torch.enable_grad():
            y = torch_fn(xt)
            if not y.requires_grad:
                return np.zeros(xt.shape)
            (g,) = torch.autograd.grad(y.sum(), xt, create_graph=order > 1, allow_unused=True)
            if g is None:
                return np.zeros(xt.shape)
            if order == 1:
                return g.detach().numpy(force=True)
            if not g.requires_grad:
                return np.zeros(xt.shape)
            (g2,) = torch.autograd.grad(g.sum(), xt, allow_unused=True)
            return np.zeros(xt.shape) if g2 is None else g2.detach().numpy(force=True)

    try:
        probe = f(np.linspace(-4.0, 4.0, 9))
    except Exception as e:  # noqa: BLE001 - any failure of user code is a bad target
        raise TargetError(f"cannot evaluate {name!r}: {e}") from e
    if probe.shape != (9,):
        raise TargetError(f"{name!r} must map x elementwise, got shape {probe.shape}")
    return Target(
        name=name,
        f=f,
        df=lambda x: _grads(x, 1),
        d2f=lambda x: _grads(x, 2),
        torch_fn=torch_fn,
        left=estimate_asymptote(f, -1.0),
        right=estimate_asymptote(f, 1.0),
        description=description,
        expression=expression,
    )
