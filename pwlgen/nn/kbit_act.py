"""k-bit memory-saving activation: exact forward, k-bit code of the derivative level for backward.

Forward returns f(x) computed in fp32 (in the input's dtype) and a packed buffer holding, for
every element, the k-bit code ``c = #{knots < x}`` (layout: `pwlgen.nn.reference`). Backward
returns ``grad * levels[c]``, the levels being the slopes of a continuous PWL approximation
h of f with ``2**k - 1`` knots, i.e. ``h'(x)``. The op saves **only** the packed codes for
backward: ``ceil(k*n/8)`` bytes, neither x nor y.

Two torch ops (namespace ``pwlgen``):

- ``pwlgen::kbit_act(Tensor x, float[] knots, float[] levels, int bits, str fn)
  -> (Tensor y, Tensor codes)``, differentiable in x;
- ``pwlgen::kbit_act_backward(Tensor grad, Tensor codes, float[] levels, int bits) -> Tensor``.

Both are `torch.library.custom_op` with a fake implementation, so ``torch.compile(
fullgraph=True)`` traces them without a graph break and `torch.library.opcheck` passes. Their
implementation launches the Triton kernels on CUDA tensors (and on CPU tensors when
``TRITON_INTERPRET=1``), else runs the pure-torch reference.

NaN / Inf: a NaN input gives a NaN output and code 0 (it compares false with every knot);
its gradient is ``grad * levels[0]``. ``f(-inf)`` and ``f(+inf)`` are f's limits (gelu,
silu: 0 and +inf) on every path; ``-inf`` has code 0 and ``+inf`` code ``2**k - 1``.

Layout: a dense input in any dimension order (``channels_last``) keeps its strides in the
output and in the gradient; any other input is copied contiguous once.
"""

from __future__ import annotations

import functools
import os

import torch

from . import reference as ref
from .reference import FUSED_FUNCTIONS, MAX_BITS, OpError, packed_size

try:  # Triton is the optional [nn] extra: without it the reference path runs.
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised only without triton
    triton = None

__all__ = [
    "SUPPORTED_DTYPES",
    "kbit_activation",
    "kbit_act_forward",
    "kbit_act_backward",
    "torch_function",
    "use_triton",
]

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

_GROUPS = 256
"""Groups of 8 elements per program (2048 elements): whole bytes for every k."""


def use_triton(t: torch.Tensor) -> bool:
    """Whether the ops run their Triton kernels on `t` (CUDA, or CPU under the interpreter)."""
    if triton is None:
        return False
    return t.is_cuda or (t.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1")


@functools.lru_cache(maxsize=64)
def torch_function(fn: str):
    """The differentiable torch version of target `fn` (a registry name or expression)."""
    from ..functions import get_target

    return get_target(fn).torch_fn


@functools.lru_cache(maxsize=256)
def _table(values: tuple[float, ...], device: str) -> torch.Tensor:
    # Knots and levels travel as float[] (no tensor to save for backward); one small
    # device copy per distinct table, not one per call.
    return torch.tensor(values, dtype=torch.float32, device=device)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise OpError(f"bits must be an integer in 1..{MAX_BITS}, not {bits!r}")
    return bits


def _check_dtype(name: str, t: torch.Tensor) -> None:
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32, float16 or bfloat16, not {t.dtype}")


def _check_table(name: str, values, count: int, bits: int) -> None:
    if len(values) != count:
        raise OpError(f"{bits}-bit codes need {count} {name}, not {len(values)}: {list(values)!r}")


def _check_forward(x, knots, levels, bits, fn) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, not {type(x).__name__}")
    _check_dtype("x", x)
    bits = _check_bits(bits)
    _check_table("knots", knots, 2**bits - 1, bits)
    _check_table("levels", levels, 2**bits, bits)
    if any(b <= a for a, b in zip(knots, knots[1:], strict=False)):
        raise OpError(f"knots must be strictly increasing, not {list(knots)!r}")
    if not isinstance(fn, str):
        raise TypeError(f"fn must be a target name or expression (str), not {type(fn).__name__}")


def _check_backward(grad, codes, levels, bits) -> None:
    _check_dtype("grad", grad)
    bits = _check_bits(bits)
    _check_table("levels", levels, 2**bits, bits)
    if codes.dtype != torch.uint8:
        raise TypeError(f"codes must be a uint8 tensor, not {codes.dtype}")
    want = packed_size(grad.numel(), bits)
    if codes.numel() != want:
        raise OpError(
            f"the code buffer of {grad.numel()} elements at {bits} bits must hold "
            f"ceil({bits}*{grad.numel()}/8) = {want} bytes, not {codes.numel()}"
        )
    if codes.device != grad.device:
        raise TypeError(f"codes are on {codes.device} but grad is on {grad.device}")


# ---------------------------------------------------------------------------------- kernels
if triton is not None:

    @triton.jit
    def _store_codes(P_ptr, grp, code, n_bytes, BITS: tl.constexpr):
        # code: [GROUPS, 8] int64 (padding elements 0). Element r of group g sits at bits
        # BITS*r of the little-endian (8*BITS)-bit word of bytes BITS*g .. BITS*g+BITS-1;
        # the bits are disjoint, so the sum is their OR (for BITS = 8 it wraps in int64,
        # which keeps every bit).
        lane = tl.arange(0, 8)
        word = tl.sum(code << (lane * BITS).to(tl.int64)[None, :], axis=1)
        for b in tl.static_range(BITS):
            bidx = grp * BITS + b
            tl.store(P_ptr + bidx, ((word >> (8 * b)) & 0xFF).to(tl.uint8), mask=bidx < n_bytes)

    @triton.jit
    def _load_codes(P_ptr, grp, n_bytes, BITS: tl.constexpr, GROUPS: tl.constexpr):
        # inverse of _store_codes: [GROUPS, 8] int64 codes (0 past the buffer's end)
        lane = tl.arange(0, 8)
        word = tl.zeros([GROUPS], dtype=tl.int64)
        for b in tl.static_range(BITS):
            bidx = grp * BITS + b
            byte = tl.load(P_ptr + bidx, mask=bidx < n_bytes, other=0).to(tl.int64)
            word = word | (byte << (8 * b))
        return (word[:, None] >> (lane * BITS).to(tl.int64)[None, :]) & ((1 << BITS) - 1)

    @triton.jit
    def _kbit_act_fwd_kernel(
        X_ptr, Y_ptr, P_ptr, K_ptr, n_elements, n_bytes,
        BITS: tl.constexpr, N_KNOTS: tl.constexpr, FN: tl.constexpr, GROUPS: tl.constexpr,
    ):
        # One program owns GROUPS groups of 8 elements = GROUPS * BITS whole bytes, so no
        # two programs write the same byte (no atomics) for any k in 1..4.
        pid = tl.program_id(0).to(tl.int64)
        grp = pid * GROUPS + tl.arange(0, GROUPS).to(tl.int64)
        lane = tl.arange(0, 8)
        offs = grp[:, None] * 8 + lane[None, :]
        mask = offs < n_elements
        x = tl.load(X_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        if FN != 0:
            if FN == 1:  # GELU, erf form: x * Phi(x)
                y = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
            else:  # SiLU: x * sigmoid(x)
                y = x * tl.sigmoid(x)
            # the limits f(-inf) = 0, f(+inf) = +inf (IEEE gives -inf * 0 = NaN)
            y = tl.where(x == float("-inf"), 0.0, y)
            y = tl.where(x == float("inf"), x, y)
            tl.store(Y_ptr + offs, y.to(Y_ptr.dtype.element_ty), mask=mask)
        # code = number of knots strictly below x (NaN compares false: code 0)
        code = tl.zeros([GROUPS, 8], dtype=tl.int64)
        for i in tl.static_range(N_KNOTS):
            c = tl.load(K_ptr + i)
            code += (x > c).to(tl.int64)
        _store_codes(P_ptr, grp, tl.where(mask, code, 0), n_bytes, BITS)

    @triton.jit
    def _kbit_act_bwd_kernel(
        G_ptr, P_ptr, L_ptr, DX_ptr, n_elements, n_bytes,
        BITS: tl.constexpr, GROUPS: tl.constexpr,
    ):
        # dx = grad * levels[code]; the level table (2**BITS floats) is gathered from
        # memory and stays in cache.
        pid = tl.program_id(0).to(tl.int64)
        grp = pid * GROUPS + tl.arange(0, GROUPS).to(tl.int64)
        lane = tl.arange(0, 8)
        offs = grp[:, None] * 8 + lane[None, :]
        mask = offs < n_elements
        code = _load_codes(P_ptr, grp, n_bytes, BITS, GROUPS)
        level = tl.load(L_ptr + code)
        g = tl.load(G_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        tl.store(DX_ptr + offs, (g * level).to(DX_ptr.dtype.element_ty), mask=mask)


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(triton.cdiv(n, 8), _GROUPS),)


# ---------------------------------------------------------------------------------- launchers
def kbit_act_forward(
    x: torch.Tensor, knots, bits: int, fn: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Launch the forward: ``(f(x), packed codes)``; see the module docstring.

    The output has x's strides when x is dense in any dimension order (``channels_last``
    in, ``channels_last`` out); the codes follow its elements in memory order.
    """
    y = torch.empty_like(x)  # keeps a dense layout, as the fake implementation does
    order = ref.memory_order(y)
    xm = x.permute(order).contiguous()  # a view (no copy) when x is dense like y
    ym = y.permute(order)
    n = xm.numel()
    codes = torch.empty(packed_size(n, bits), dtype=torch.uint8, device=x.device)
    if n == 0:
        return y, codes
    table = _table(tuple(knots), str(x.device))
    if not use_triton(xm):
        yr, codes = ref.kbit_forward(xm, table, bits, fn)
        ym.copy_(yr)
        return y, codes
    fused = FUSED_FUNCTIONS.get(fn, 0)
    # without a fused f, the kernel writes codes only (Y_ptr is never touched)
    _kbit_act_fwd_kernel[_grid(n)](
        xm, ym if fused else xm, codes, table, n, codes.numel(),
        BITS=bits, N_KNOTS=len(knots), FN=fused, GROUPS=_GROUPS,
    )
    if not fused:
        ym.copy_(ref.exact_forward(xm, fn))
    return y, codes


def kbit_act_backward(grad: torch.Tensor, codes: torch.Tensor, levels, bits: int) -> torch.Tensor:
    """Gradient ``grad * levels[code]`` from the packed codes (any Approx-BP 2-bit buffer too).

    Parameters
    ----------
    grad : Tensor, float32 / float16 / bfloat16
        Gradient of the output; any shape.
    codes : Tensor, uint8, ceil(bits * grad.numel() / 8) bytes
        The packed codes of the forward.
    levels : sequence of float, 2**bits values
        ``h'`` on each piece (left tail first).
    bits : int, 1..4

    Raises
    ------
    TypeError
        For an unsupported dtype.
    OpError
        For a code buffer of the wrong size, `bits` outside 1..4 or a wrong level count.
    """
    _check_backward(grad, codes, levels, bits)
    return torch.ops.pwlgen.kbit_act_backward(grad, codes, [float(v) for v in levels], bits)


def _backward_impl(grad, codes, levels, bits):
    gc = grad.contiguous()
    n = gc.numel()
    if n == 0:
        return grad.new_empty(grad.shape)
    table = _table(tuple(levels), str(grad.device))
    if not use_triton(gc):
        return ref.kbit_backward(gc, codes, table, bits)
    dx = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
    _kbit_act_bwd_kernel[_grid(n)](
        gc, codes.contiguous(), table, dx, n, codes.numel(), BITS=bits, GROUPS=_GROUPS
    )
    return dx


# ---------------------------------------------------------------------------------- torch.library
@torch.library.custom_op("pwlgen::kbit_act_backward", mutates_args=())
def _kbit_act_backward_op(
    grad: torch.Tensor, codes: torch.Tensor, levels: list[float], bits: int
) -> torch.Tensor:
    _check_backward(grad, codes, levels, bits)
    return _backward_impl(grad, codes, levels, bits)


@_kbit_act_backward_op.register_fake
def _(grad, codes, levels, bits):
    return grad.new_empty(grad.shape)


@torch.library.custom_op("pwlgen::kbit_act", mutates_args=())
def _kbit_act_op(
    x: torch.Tensor, knots: list[float], levels: list[float], bits: int, fn: str
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_forward(x, knots, levels, bits, fn)
    return kbit_act_forward(x, knots, bits, fn)


@_kbit_act_op.register_fake
def _(x, knots, levels, bits, fn):
    n = x.numel()
    return torch.empty_like(x), x.new_empty(((bits * n + 7) // 8,), dtype=torch.uint8)


def _setup_context(ctx, inputs, output):
    _, _, levels, bits, _ = inputs
    # Only the packed codes are saved: ceil(bits * n / 8) bytes.
    ctx.save_for_backward(output[1])
    ctx.levels = levels
    ctx.bits = bits
    ctx.order = ref.memory_order(output[0])


def _backward(ctx, grad_y, grad_codes):
    (codes,) = ctx.saved_tensors
    # the codes follow y's memory order: bring grad into it, and dx back to y's layout
    g = grad_y.permute(ctx.order)
    dx = torch.ops.pwlgen.kbit_act_backward(g, codes, ctx.levels, ctx.bits)
    return dx.permute(ref.inverse_order(ctx.order)), None, None, None, None


_kbit_act_op.register_autograd(_backward, setup_context=_setup_context)


def kbit_activation(x: torch.Tensor, knots, levels, bits: int, fn: str) -> torch.Tensor:
    """Exact ``f(x)`` forward, k-bit-code backward ``grad * levels[#{knots < x}]``.

    Parameters
    ----------
    x : Tensor, float32 / float16 / bfloat16
        Any shape and strides (a dense x in any dimension order is read in place, any
        other x is copied once).
    knots : sequence of float, 2**bits - 1 values, strictly increasing
    levels : sequence of float, 2**bits values
        The slope of the PWL on each piece, left tail first.
    bits : int, 1..4
    fn : str
        The target: ``"gelu"`` and ``"silu"`` run fused in the kernel; any other registry
        name or expression is evaluated by its torch function and only the codes come
        from the kernel.

    Returns
    -------
    Tensor
        f(x), same shape, dtype and (dense) strides as x. NaN in gives NaN out (code 0);
        +-inf give f's limits.

    Raises
    ------
    TypeError
        For a non-tensor or an unsupported dtype.
    OpError
        For `bits` outside 1..4 or knot / level counts that do not match it.

    Examples
    --------
    >>> import torch
    >>> y = kbit_activation(torch.zeros(3), [-1.0, 0.0, 1.0], [0.0, 0.3, 0.7, 1.0], 2, "gelu")
    >>> y.tolist()
    [0.0, 0.0, 0.0]
    """
    knots = [float(v) for v in knots]
    levels = [float(v) for v in levels]
    _check_forward(x, knots, levels, bits, fn)
    return torch.ops.pwlgen.kbit_act(x, knots, levels, bits, fn)[0]
