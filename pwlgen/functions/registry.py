"""Built-in targets with closed-form f, f', f'' in float64, and `get_target` for any spec."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ExpressionError, TargetError
from .target import Asymptote, Target

__all__ = ["BUILTINS", "ALIASES", "get_target", "builtin_names"]

_SQRT2 = math.sqrt(2.0)
_C_TANH = math.sqrt(2.0 / math.pi)
_K_TANH = 0.044715
_SELU_L = 1.0507009873554804934193349852946
_SELU_A = 1.6732632423543772848170429916717
_LEAK = 0.01


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# scipy is imported where it is first used: building a target (the CLI, `pwlgen verify`)
# does not pay its start-up (about 0.15 s)
def _Phi(x):
    from scipy.special import erfc

    return 0.5 * erfc(-x / _SQRT2)


def _sig(x):
    from scipy.special import expit

    return expit(x)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _torch():
    # imported when a torch function is first called, not when a target is built: the CLI
    # and the numpy search methods never pay torch's start-up (about 1.5 s)
    import torch

    return torch


# Each entry: f, f', f'' (numpy), torch f, left/right asymptotes, kinks, description.
def _gelu():
    return dict(
        f=lambda x: x * _Phi(x),
        df=lambda x: _Phi(x) + x * _phi(x),
        d2f=lambda x: _phi(x) * (2.0 - x * x),
        torch_fn=lambda x: _torch().nn.functional.gelu(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        description="x*Phi(x), the exact (erf) GELU",
        # Approx-BP's interval for ReGELU2 (LowMemoryBP), kept so results compare like for like
        kbit_interval=(-6.0697, 6.0697),
    )


def _gelu_tanh_parts(x):
    u = _C_TANH * (x + _K_TANH * x**3)
    th = np.tanh(u)
    du = _C_TANH * (1.0 + 3.0 * _K_TANH * x * x)
    d2u = _C_TANH * 6.0 * _K_TANH * x
    return th, du, d2u


def _gelu_tanh():

    def df(x):
        th, du, _ = _gelu_tanh_parts(x)
        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du

    def d2f(x):
        th, du, d2u = _gelu_tanh_parts(x)
        sech2 = 1.0 - th * th
        return sech2 * du + 0.5 * x * (-2.0 * th * sech2 * du * du + sech2 * d2u)

    return dict(
        f=lambda x: 0.5 * x * (1.0 + _gelu_tanh_parts(x)[0]),
        df=df, d2f=d2f,
        torch_fn=lambda x: _torch().nn.functional.gelu(x, approximate="tanh"),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        description="GELU, tanh approximation 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))",
    )


def _silu():
    return dict(
        f=lambda x: x * _sig(x),
        df=lambda x: _sig(x) * (1.0 + x * (1.0 - _sig(x))),
        d2f=lambda x: _sig(x) * (1 - _sig(x)) * (2.0 + x * (1.0 - 2.0 * _sig(x))),
        torch_fn=lambda x: _torch().nn.functional.silu(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        description="x*sigmoid(x) (swish)",
        kbit_interval=(-38.228, 38.228),  # Approx-BP's interval for ReSiLU2
    )


def _sigmoid():
    return dict(
        f=_sig,
        df=lambda x: _sig(x) * (1.0 - _sig(x)),
        d2f=lambda x: _sig(x) * (1.0 - _sig(x)) * (1.0 - 2.0 * _sig(x)),
        torch_fn=lambda x: _torch().sigmoid(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(0.0, 1.0),
        description="1/(1+exp(-x))",
    )


def _tanh():
    return dict(
        f=np.tanh,
        df=lambda x: 1.0 - np.tanh(x) ** 2,
        d2f=lambda x: -2.0 * np.tanh(x) * (1.0 - np.tanh(x) ** 2),
        torch_fn=lambda x: _torch().tanh(x),
        left=Asymptote(0.0, -1.0), right=Asymptote(0.0, 1.0),
        description="hyperbolic tangent",
    )


def _softplus_entry():
    return dict(
        f=_softplus,
        df=_sig,
        d2f=lambda x: _sig(x) * (1.0 - _sig(x)),
        torch_fn=lambda x: _torch().nn.functional.softplus(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        description="log(1+exp(x))",
    )


def _elu():
    return dict(
        f=lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        df=lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
        d2f=lambda x: np.where(x > 0, 0.0, np.exp(np.minimum(x, 0.0))),
        torch_fn=lambda x: _torch().nn.functional.elu(x),
        left=Asymptote(0.0, -1.0), right=Asymptote(1.0, 0.0),
        kinks=(0.0,),
        description="x if x>0 else exp(x)-1 (alpha=1)",
    )


def _selu():
    la = _SELU_L * _SELU_A
    return dict(
        f=lambda x: np.where(x > 0, _SELU_L * x, la * np.expm1(np.minimum(x, 0.0))),
        df=lambda x: np.where(x > 0, _SELU_L, la * np.exp(np.minimum(x, 0.0))),
        d2f=lambda x: np.where(x > 0, 0.0, la * np.exp(np.minimum(x, 0.0))),
        torch_fn=lambda x: _torch().nn.functional.selu(x),
        left=Asymptote(0.0, -la), right=Asymptote(_SELU_L, 0.0),
        kinks=(0.0,),
        description="scaled ELU (lambda=1.0507, alpha=1.6733)",
    )


def _mish():

    def parts(x):
        th = np.tanh(_softplus(x))
        return th, 1.0 - th * th, _sig(x)

    def df(x):
        th, sech2, s = parts(x)
        return th + x * sech2 * s

    def d2f(x):
        th, sech2, s = parts(x)
        return 2.0 * sech2 * s + x * sech2 * s * ((1.0 - s) - 2.0 * th * s)

    return dict(
        f=lambda x: x * np.tanh(_softplus(x)),
        df=df, d2f=d2f,
        torch_fn=lambda x: _torch().nn.functional.mish(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        description="x*tanh(softplus(x))",
    )


def _hardswish():
    return dict(
        f=lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        df=lambda x: np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2.0 * x + 3.0) / 6.0)),
        d2f=lambda x: np.where((x > -3) & (x < 3), 1.0 / 3.0, 0.0),
        torch_fn=lambda x: _torch().nn.functional.hardswish(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        kinks=(-3.0, 3.0),
        description="x*relu6(x+3)/6",
    )


def _relu():
    return dict(
        f=lambda x: np.maximum(x, 0.0),
        df=lambda x: np.where(x > 0, 1.0, 0.0),
        d2f=lambda x: np.zeros_like(x, dtype=np.float64),
        torch_fn=lambda x: _torch().relu(x),
        left=Asymptote(0.0, 0.0), right=Asymptote(1.0, 0.0),
        kinks=(0.0,),
        description="max(x, 0)",
    )


def _leaky_relu():
    return dict(
        f=lambda x: np.where(x > 0, x, _LEAK * x),
        df=lambda x: np.where(x > 0, 1.0, _LEAK),
        d2f=lambda x: np.zeros_like(x, dtype=np.float64),
        torch_fn=lambda x: _torch().nn.functional.leaky_relu(x, _LEAK),
        left=Asymptote(_LEAK, 0.0), right=Asymptote(1.0, 0.0),
        kinks=(0.0,),
        description="x if x>0 else 0.01x",
    )


def _exp():
    return dict(
        f=np.exp, df=np.exp, d2f=np.exp,
        torch_fn=lambda x: _torch().exp(x),
        left=Asymptote(0.0, 0.0), right=None,
        description="exp(x) (no right asymptote)",
    )


BUILTINS = {
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "silu": _silu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softplus": _softplus_entry,
    "elu": _elu,
    "selu": _selu,
    "mish": _mish,
    "hardswish": _hardswish,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "exp": _exp,
}
"""Registry of built-in targets: name -> factory of the Target's fields."""

ALIASES = {"swish": "silu", "gelu_erf": "gelu", "hard_swish": "hardswish"}

_CACHE: dict[str, Target] = {}


def builtin_names() -> list[str]:
    """Names of the built-in targets, in registry order."""
    return list(BUILTINS)


def _wrap(fn):
    # scalar in -> float array out; keep numpy's own float64 semantics
    def g(x):
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(fn(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    return g


def get_target(spec: str) -> Target:
    """Return the target named by `spec`: a built-in name, an alias, or an expression.

    Parameters
    ----------
    spec : str
        ``"gelu"``, ``"swish"``, or an expression in the operator grammar such as
        ``"max(relu(x),cosh(elu(x)))"``.

    Raises
    ------
    TargetError
        For an unknown name; `ExpressionError` (a `TargetError`) for a bad expression.

    Examples
    --------
    >>> t = get_target("gelu")
    >>> round(float(t(1.0)), 6)
    0.841345
    """
    if not isinstance(spec, str):
        raise TypeError(f"a target is named by a string, not {type(spec).__name__}")
    key = spec.strip()
    name = ALIASES.get(key.lower(), key.lower())
    if name in BUILTINS:
        if name not in _CACHE:
            fields = BUILTINS[name]()
            for k in ("f", "df", "d2f"):
                fields[k] = _wrap(fields[k])
            _CACHE[name] = Target(name=name, **fields)
        return _CACHE[name]
    from .grammar import MAX_LENGTH, parse_target

    if len(spec) > MAX_LENGTH:  # as parse refuses it, spaces included
        raise ExpressionError(
            f"a target spec has at most {MAX_LENGTH} characters, not {len(spec)}"
        )
    if "(" in key or key == "x":
        return parse_target(key)
    raise TargetError(
        f"unknown function {spec[:80]!r}: choose one of {', '.join(BUILTINS)} "
        "or give an expression such as 'max(relu(x),tanh(x))'"
    )
