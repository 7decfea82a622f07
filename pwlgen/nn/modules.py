"""Thin `torch.nn.Module` wrappers of the ops: ReGELU2, ReSiLU2, FewBitActivation, PWLActivation.

Each module holds only its (small) coefficient tables; `forward` calls the op.
"""

from __future__ import annotations

import os

import torch

from ..errors import ResultFileError
from ..search import SearchResult
from .defaults import DEFAULT_METHOD, OBJECTIVES, load_result, shipped_result
from .kbit_act import kbit_activation
from .pwl_act import BACKWARD_MODES, fixed_spec, load_fixed, pwl_activation
from .reference import MAX_BITS, OpError

__all__ = ["FewBitActivation", "PWLActivation", "ReGELU2", "ReSiLU2", "levels_of"]


def levels_of(result: SearchResult) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """(knots, levels, bits) of a k-bit search result; levels are the PWL's slopes.

    Raises
    ------
    ResultFileError
        When the PWL does not have ``2**k - 1`` knots (``2**k`` levels) for a k in 1..4.
    """
    n = result.pwl.n_knots
    bits = (n + 1).bit_length() - 1
    if 2**bits != n + 1 or not 1 <= bits <= MAX_BITS:
        raise ResultFileError(
            f"a k-bit activation needs 2**k levels (2**k - 1 knots) with k in 1..{MAX_BITS}; "
            f"the result of {result.target!r} has {n} knots ({n + 1} levels)"
        )
    if result.kbit is not None and result.kbit != bits:
        raise ResultFileError(f"the result says kbit={result.kbit!r} but has {n} knots")
    knots = tuple(float(v) for v in result.pwl.knots)
    levels = tuple(float(v) for v in result.pwl.slopes)
    return knots, levels, bits


class FewBitActivation(torch.nn.Module):
    """Exact activation forward, k-bit backward: saves ``ceil(k*n/8)`` bytes for backward.

    Backward multiplies the incoming gradient by ``h'(x)``, h the PWL of a k-bit search
    result (2**k - 1 knots): the shipped default for GELU / SiLU, a fresh search for any
    other target, or the result given.

    Parameters
    ----------
    fn : str
        A registry target or expression ("gelu", "silu", "tanh", ...).
    bits : int, 1..4
        Bits stored per element.
    objective : {"l2", "l2-deriv"}
        Which search result: function-space L2 (Approx-BP) or derivative-space L2 (Few-Bit).
    result : SearchResult or path, optional
        Use this search result instead (its target becomes `fn`).

    Raises
    ------
    OpError
        For `bits` outside 1..4 or an unknown objective.
    ResultFileError
        For a result whose level count is not 2**k, k in 1..4.

    Examples
    --------
    >>> import torch
    >>> act = FewBitActivation("gelu", bits=2)
    >>> act(torch.zeros(4)).shape
    torch.Size([4])
    """

    def __init__(self, fn: str = "gelu", bits: int = 2, objective: str = "l2", *,
                 result: SearchResult | str | os.PathLike | None = None):
        super().__init__()
        if result is None:
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
                raise OpError(f"bits must be an integer in 1..{MAX_BITS}, not {bits!r}")
            if objective not in OBJECTIVES:
                raise OpError(
                    f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}"
                )
            result = _default_result(fn, bits, objective)
        elif not isinstance(result, SearchResult):
            result = load_result(result)
        self.knots, self.levels, self.bits = levels_of(result)
        self.fn = result.target
        self.objective = result.objective

    @classmethod
    def from_result(cls, path: SearchResult | str | os.PathLike) -> FewBitActivation:
        """Build from a ``pwlgen search`` result file (or a `SearchResult`) with 2**k levels."""
        return cls(result=path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x), exact; backward through the k-bit codes."""
        return kbit_activation(x, self.knots, self.levels, self.bits, self.fn)

    def extra_repr(self) -> str:
        """Shown by ``repr``: target, bits, objective."""
        return f"fn={self.fn!r}, bits={self.bits}, objective={self.objective!r}"


def _default_result(fn: str, bits: int, objective: str) -> SearchResult:
    r = shipped_result(fn, bits, objective)
    if r is not None:
        return r
    return _searched(fn, bits, objective)


_SEARCHED: dict[tuple[str, int, str], SearchResult] = {}


def _searched(fn: str, bits: int, objective: str) -> SearchResult:
    from ..search import search

    key = (fn, bits, objective)
    if key not in _SEARCHED:
        _SEARCHED[key] = search(fn, kbit=bits, method=DEFAULT_METHOD, objective=objective, seed=0)
    return _SEARCHED[key]


class ReGELU2(FewBitActivation):
    """Drop-in for ``nn.GELU()`` (erf form) storing 2 bits per element for backward.

    Parameters
    ----------
    result : SearchResult or path, optional
        A 2-bit GELU search result; default: the shipped ``pwlgen search --fn gelu --kbit 2``.
    """

    def __init__(self, result: SearchResult | str | os.PathLike | None = None):
        super().__init__("gelu", 2, "l2", result=result)


class ReSiLU2(FewBitActivation):
    """Drop-in for ``nn.SiLU()`` storing 2 bits per element for backward.

    Parameters
    ----------
    result : SearchResult or path, optional
        A 2-bit SiLU search result; default: the shipped ``pwlgen search --fn silu --kbit 2``.
    """

    def __init__(self, result: SearchResult | str | os.PathLike | None = None):
        super().__init__("silu", 2, "l2", result=result)


class PWLActivation(torch.nn.Module):
    """The activation the emitted hardware unit computes, bit-exact with its golden model.

    Forward quantises x to the unit's input format, runs the integer tables of `fixed`
    (``FixedPWL.evaluate``) and dequantises (see `pwlgen.nn.pwl_act`).

    Parameters
    ----------
    fixed : FixedPWL or path
        The unit (or a ``fixed_pwl`` file from ``pwlgen quantize``).
    backward : {"slope", "ste"}
        ``"slope"``: the slope of the unit's segment, from a packed segment index (1, 2, 4
        or 8 bits per element); ``"ste"``: the exact target's derivative f'(x) (saves x).

    Raises
    ------
    OpError
        For an unknown `backward`, or ``"slope"`` with more than 256 segments.
    """

    def __init__(self, fixed, backward: str = "slope"):
        super().__init__()
        if backward not in BACKWARD_MODES:
            raise OpError(f"backward must be one of {', '.join(BACKWARD_MODES)}, not {backward!r}")
        if isinstance(fixed, str | os.PathLike):
            fixed = load_fixed(fixed)
        self.fixed = fixed
        self.backward = backward
        self._args = fixed_spec(fixed)
        if backward == "slope" and fixed.n_segments > 256:
            raise OpError(f"the slope backward packs at most 256 segments, not "
                          f"{fixed.n_segments}; use backward='ste'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The unit's output for x, in x's dtype."""
        return pwl_activation(x, self._args, self.backward)

    def extra_repr(self) -> str:
        """Shown by ``repr``: the unit's summary and the backward mode."""
        return f"{self.fixed.summary()}, backward={self.backward!r}"
