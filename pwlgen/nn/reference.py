"""Pure-PyTorch specification of the GPU ops: k-bit codes, their packing, and the ops' maths.

The Triton kernels in `kbit_act` and `pwl_act` must agree with these functions bit for bit
on the integer parts (codes, packed bytes) and to a per-dtype tolerance on the float parts.
On CPU without Triton's interpreter the ops run these functions directly.

Code of an element
    The number of knots strictly below x (``sum_i (x > c_i)``, compared in fp32), the same
    as `pwlgen.pwl.PWL.segment_index`. NaN compares false with every knot, so **NaN has
    code 0** (the left tail); -inf has code 0 and +inf has code 2**k - 1.

Packing (k bits per element, k in 1..4)
    The codes form one little-endian bit stream: bit b of the code of element j is bit
    ``(k*j + b) mod 8`` of byte ``(k*j + b) // 8``. The buffer holds exactly
    ``ceil(k*n / 8)`` bytes; the unused high bits of the last byte are 0.

    - k = 1, 2, 4: element j sits at bits ``k*(j mod (8/k))`` of byte ``j // (8/k)``
      (for k = 2 this is the Approx-BP layout: 4 codes per byte, element j at bits
      ``2*(j mod 4)`` of byte ``j // 4``);
    - k = 3: every 8 elements fill 3 bytes (a 24-bit little-endian word, element
      ``8g + r`` at bits ``3r .. 3r+2`` of word g); elements 2 and 5 of a group straddle
      two bytes (bits 6-7 of byte 0 + bit 0 of byte 1; bit 7 of byte 1 + bits 0-1 of
      byte 2).

Non-finite inputs
    ``f(+-inf)`` is f's mathematical limit, taken from the target's asymptotes (0 or a
    constant for a flat side, +-inf for a sloped one; f's own value where there is no
    asymptote): gelu and silu give ``f(-inf) = 0``, ``f(+inf) = +inf``. NaN gives NaN.

Element order
    Codes follow the elements in *memory* order: a dense tensor in any dimension order
    (``channels_last`` ...) is read where it lies and its output gets the same strides;
    `memory_order` gives that order.
"""

from __future__ import annotations

import functools
import math

import torch

from ..errors import OpError

__all__ = [
    "OpError",
    "MAX_BITS",
    "FUSED_FUNCTIONS",
    "packed_size",
    "memory_order",
    "inverse_order",
    "limits",
    "with_limits",
    "slope_limits",
    "grad_with_limits",
    "kbit_codes",
    "pack_codes",
    "unpack_codes",
    "exact_forward",
    "kbit_forward",
    "kbit_backward",
]

MAX_BITS = 4
"""Largest supported code width k (2**k levels)."""

FUSED_FUNCTIONS = {"gelu": 1, "silu": 2}
"""Targets whose exact fp32 forward is computed inside the kernel (name -> kernel id)."""


def packed_size(n: int, bits: int) -> int:
    """Bytes of the packed code buffer for `n` elements of `bits` bits: ``ceil(bits*n/8)``."""
    return (bits * n + 7) // 8


def memory_order(t: torch.Tensor) -> list[int]:
    """Dimension order p with ``t.permute(p)`` contiguous: t's memory order (identity if none).

    A dense tensor in any dimension order (``channels_last``, a transpose) gets the order
    its elements lie in memory; any other tensor gets the identity (it is copied contiguous).
    """
    p = sorted(range(t.dim()), key=lambda d: (-t.stride(d), d))
    return p if t.permute(p).is_contiguous() else list(range(t.dim()))


def inverse_order(p: list[int]) -> list[int]:
    """The permutation that undoes `p`."""
    inv = [0] * len(p)
    for i, d in enumerate(p):
        inv[d] = i
    return inv


@functools.lru_cache(maxsize=64)
def limits(fn: str) -> tuple[float | None, float | None]:
    """``(f(-inf), f(+inf))`` from the target's asymptotes; None where f has none."""
    from ..functions import get_target

    t = get_target(fn)

    def side(a, sign):
        if a is None:
            return None
        if a.slope == 0.0:
            return float(a.intercept)
        return math.copysign(math.inf, a.slope * sign)

    return side(t.left, -1.0), side(t.right, 1.0)


def with_limits(x: torch.Tensor, y: torch.Tensor, fn: str) -> torch.Tensor:
    """`y` with f's limits at x = -inf and x = +inf (``f(x)`` in IEEE maths gives NaN there)."""
    lo, hi = limits(fn)
    if lo is not None:
        y = torch.where(x == -math.inf, torch.full_like(y, lo), y)
    if hi is not None:
        y = torch.where(x == math.inf, torch.full_like(y, hi), y)
    return y


@functools.lru_cache(maxsize=64)
def slope_limits(fn: str) -> tuple[float | None, float | None]:
    """``(f'(-inf), f'(+inf))``: the slopes of f's asymptotes; None where f has none."""
    from ..functions import get_target

    t = get_target(fn)
    return (None if t.left is None else float(t.left.slope),
            None if t.right is None else float(t.right.slope))


def grad_with_limits(x: torch.Tensor, grad: torch.Tensor, dx: torch.Tensor,
                     fn: str) -> torch.Tensor:
    """`dx` (``grad * f'(x)``) with ``grad * f'(+-inf)`` where x is infinite."""
    lo, hi = slope_limits(fn)
    if lo is not None:
        dx = torch.where(x == -math.inf, grad * lo, dx)
    if hi is not None:
        dx = torch.where(x == math.inf, grad * hi, dx)
    return dx


def kbit_codes(x: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """Codes (int64, shape of `x`): the number of fp32 `knots` strictly below ``x.float()``."""
    xf = x.float().reshape(-1, 1)
    c = knots.to(device=x.device, dtype=torch.float32).reshape(1, -1)
    if c.numel() == 0:
        return torch.zeros(x.shape, dtype=torch.int64, device=x.device)
    return (xf > c).sum(dim=1).reshape(x.shape)


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes (< 2**bits, bits in 1..4 or 8) densely, little-endian (flat uint8)."""
    flat = codes.reshape(-1).to(torch.int64)
    n = flat.numel()
    if bits == 8:  # one byte per element (segment codes of `pwl_act`)
        return flat.to(torch.uint8)
    pad = (-n) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    shifts = bits * torch.arange(8, device=flat.device)
    words = (flat.reshape(-1, 8) << shifts).sum(dim=1)  # disjoint bits: sum == or
    byte_shifts = 8 * torch.arange(bits, device=flat.device)
    out = ((words.reshape(-1, 1) >> byte_shifts) & 0xFF).reshape(-1).to(torch.uint8)
    return out[: packed_size(n, bits)].contiguous()


def unpack_codes(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """Inverse of `pack_codes`: the first `n` codes (flat int64)."""
    groups = math.ceil(n / 8)
    p = packed.reshape(-1).to(torch.int64)
    if bits == 8:
        return p[:n]
    need = groups * bits
    if p.numel() < need:
        p = torch.cat([p, p.new_zeros(need - p.numel())])
    byte_shifts = 8 * torch.arange(bits, device=p.device)
    words = (p[:need].reshape(-1, bits) << byte_shifts).sum(dim=1)
    shifts = bits * torch.arange(8, device=p.device)
    codes = (words.reshape(-1, 1) >> shifts) & ((1 << bits) - 1)
    return codes.reshape(-1)[:n]


def exact_forward(x: torch.Tensor, fn: str) -> torch.Tensor:
    """The exact target f(x), computed in fp32 and returned in x's dtype (limits at +-inf)."""
    xf = x.float()
    if fn == "gelu":
        y = torch.nn.functional.gelu(xf)
    elif fn == "silu":
        y = torch.nn.functional.silu(xf)
    else:
        from .kbit_act import torch_function

        y = torch_function(fn)(xf)
    return with_limits(xf, y, fn).to(x.dtype)


def kbit_forward(
    x: torch.Tensor, knots: torch.Tensor, bits: int, fn: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference forward: ``(f(x) in x's dtype, packed k-bit codes)``."""
    return exact_forward(x, fn), pack_codes(kbit_codes(x, knots), bits)


def kbit_backward(
    grad: torch.Tensor, packed: torch.Tensor, levels: torch.Tensor, bits: int
) -> torch.Tensor:
    """Reference backward: ``grad * levels[code]`` in fp32, returned in grad's dtype."""
    codes = unpack_codes(packed, bits, grad.numel()).reshape(grad.shape)
    lv = levels.to(device=grad.device, dtype=torch.float32)
    return (grad.float() * lv[codes]).to(grad.dtype)
