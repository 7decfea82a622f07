"""Hardware-faithful PWL activation: forward computes exactly what the emitted unit computes.

Forward, per element (the `pwlgen.fixedpoint.FixedPWL` golden model between a quantiser
and a dequantiser):

1. ``x_code = clip(round_half_even(x * 2**in_frac), in_min, in_max)`` (x upcast to fp32,
   exact for fp16 / bf16 / fp32 inputs);
2. ``v = x_code``, or ``-|x_code|`` for a folded unit; ``seg = #{breakpoints <= v}``
   (``searchsorted(..., "right")``);
3. ``acc = slopes[seg] * v + (intercepts[seg] << (acc_frac - intercept_frac))``;
4. ``y_code = clip(round_shift(acc, acc_frac - out_frac, rounding), out_min, out_max)``,
   then for a folded unit and x > 0 the unfold (-y, C - y, y, y + relu(x)), clipped again;
5. ``y = float32(y_code) * 2**-out_frac``, stored in x's dtype.

So ``y * 2**out_frac == FixedPWL.evaluate(in_fmt.from_real(x))`` bit for bit whenever the
output format fits the float's mantissa (<= 24 bits for fp32; fp16 / bf16 outputs are that
value rounded to the dtype).

Backward, selectable:

- ``"slope"``: ``grad * slopes[seg] * 2**-slope_frac`` (the slope of the unit's segment,
  the quantisers passed straight through; for a folded unit at x > 0 the unfolded slope:
  slope, slope, -slope or 1 - slope); saves only the packed segment index (plus the segment
  count for x > 0 in a folded unit), ``ceil(b*n/8)`` bytes with b the smallest of 1, 2, 4, 8
  bits holding those codes (at most 256);
- ``"ste"``: ``grad * f'(x)``, f the unit's target function: the whole unit is a
  straight-through stand-in for f. Saves x.

NaN in gives NaN out; a NaN is quantised as the smallest input code (segment 0).
+-inf saturate to the end codes, as in the hardware (the unit's output there, not f's
limit); the ``"ste"`` gradient at +-inf is the slope of f's asymptote.

Layout: a dense input in any dimension order (``channels_last``) keeps its strides.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import torch

from .kbit_act import (
    _backward_impl,
    _check_dtype,
    _grid,
    torch_function,
    triton,
    use_triton,
)
from .reference import (
    OpError,
    grad_with_limits,
    inverse_order,
    memory_order,
    pack_codes,
    packed_size,
)

if triton is not None:
    import triton.language as tl

    from .kbit_act import _GROUPS, _store_codes
else:  # pragma: no cover
    _GROUPS = 256

__all__ = ["BACKWARD_MODES", "fixed_spec", "load_fixed", "pwl_activation", "pwl_forward_reference"]

BACKWARD_MODES = ("slope", "ste")
_ROUNDING_IDS = {"nearest-even": 0, "nearest-away": 1, "truncate": 2}
_FOLD_IDS = {"none": 0, "odd": 1, "point": 2, "even": 3, "residual": 4}
_SPEC_LEN = 14
_MAX_SEGMENTS = 256


def _seg_bits(n_segments: int) -> int:
    for b in (1, 2, 4, 8):
        if n_segments <= 2**b:
            return b
    raise OpError(
        f"the slope backward packs at most {_MAX_SEGMENTS} segments (8 bits), not {n_segments}; "
        "use backward='ste'"
    )


def fixed_spec(fixed) -> dict:
    """The op arguments of a `FixedPWL`: integer tables, a ``spec`` int list, grad slopes.

    Raises
    ------
    TypeError
        When `fixed` is not a FixedPWL.
    OpError
        When the unit has more segments than the slope backward packs (with a fold: twice
        its segments, one set per side of 0).
    """
    from ..fixedpoint import FixedPWL

    if not isinstance(fixed, FixedPWL):
        raise TypeError(f"fixed must be a FixedPWL, not {type(fixed).__name__}")
    s = fixed.n_segments
    # a folded unit's derivative also depends on the side of 0: code = seg (+ S for x > 0)
    n_codes = 2 * s if fixed.folded else s
    bits = _seg_bits(n_codes) if n_codes <= _MAX_SEGMENTS else 8
    spec = [
        fixed.in_fmt.frac_bits, fixed.in_fmt.min_code, fixed.in_fmt.max_code,
        fixed.intercept_shift, fixed.out_shift, fixed.out_fmt.frac_bits,
        fixed.out_fmt.min_code, fixed.out_fmt.max_code, _ROUNDING_IDS[fixed.rounding], bits,
        _FOLD_IDS[fixed.fold], fixed.fold_center, max(fixed.relu_shift, 0), s,
    ]
    grad_slopes = [math.ldexp(float(v), -fixed.slope_frac_bits) for v in fixed.slopes]
    if fixed.folded:
        # d/dx of the unfold at x > 0, with g' = slope at v = -x:
        # -g(-x) -> slope, C - g(-x) -> slope, g(-x) -> -slope, g(-x) + x -> 1 - slope
        mirror = {"odd": lambda m: m, "point": lambda m: m, "even": lambda m: -m,
                  "residual": lambda m: 1.0 - m}[fixed.fold]
        grad_slopes += [mirror(m) for m in grad_slopes]
    grad_slopes += [0.0] * (2**bits - len(grad_slopes))
    return {
        "breakpoints": [int(v) for v in fixed.breakpoints],
        "slopes": [int(v) for v in fixed.slopes],
        "intercepts": [int(v) for v in fixed.intercepts],
        "spec": spec,
        "grad_slopes": grad_slopes,
        "fn": fixed.function,
    }


# ---------------------------------------------------------------------------------- reference
def _quantize_codes(x: torch.Tensor, in_frac: int, in_min: int, in_max: int) -> torch.Tensor:
    xd = x.double()
    xd = torch.where(torch.isnan(xd), float("-inf"), xd)  # NaN -> smallest code
    scaled = torch.round(torch.ldexp(xd, torch.tensor(float(in_frac))))  # half to even
    return scaled.clamp(-(2.0**62), 2.0**62).to(torch.int64).clamp(in_min, in_max)


def pwl_forward_reference(x: torch.Tensor, fixed) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference forward through ``FixedPWL.evaluate`` itself: ``(y, backward code)``.

    The code is the segment index, plus the segment count for x > 0 in a folded unit.
    """
    codes = _quantize_codes(x, fixed.in_fmt.frac_bits, fixed.in_fmt.min_code,
                            fixed.in_fmt.max_code)
    c = codes.cpu().numpy().reshape(-1)
    y_code = torch.from_numpy(np.asarray(fixed.evaluate(c), dtype=np.int64))
    seg = fixed.segment_index(c)
    if fixed.folded:  # the saved code tells the side of 0 as well
        seg = seg + fixed.n_segments * (c > 0)
    seg = torch.from_numpy(seg)
    y = torch.ldexp(y_code.double(), torch.tensor(float(-fixed.out_fmt.frac_bits)))
    y = y.float().reshape(x.shape).to(device=x.device, dtype=x.dtype)
    y = torch.where(torch.isnan(x), torch.full_like(y, float("nan")), y)
    return y, seg.reshape(x.shape).to(x.device)


def _reference_impl(x, breakpoints, slopes, intercepts, spec):
    (in_frac, in_min, in_max, ishift, oshift, out_frac, out_min, out_max, rnd, _, fold, center,
     rshift, n_seg) = spec
    xc = _quantize_codes(x, in_frac, in_min, in_max).reshape(-1)
    v = torch.where(xc < 0, xc, -xc) if fold else xc  # the fold: tables on v = -|x|
    dev = str(x.device)
    if breakpoints:
        seg = torch.searchsorted(_int_table(tuple(breakpoints), dev), v, right=True)
    else:
        seg = torch.zeros_like(v)
    s, b = _int_table(tuple(slopes), dev), _int_table(tuple(intercepts), dev)
    acc = s[seg] * v + (b[seg] << ishift)
    if oshift > 0:
        q = acc >> oshift
        if rnd != 2:
            rem = acc - (q << oshift)
            half = 1 << (oshift - 1)
            tie = (q & 1) == 1 if rnd == 0 else acc >= 0
            q = q + ((rem > half) | ((rem == half) & tie)).to(torch.int64)
        y_code = q
    else:
        y_code = acc << (-oshift)
    y_code = y_code.clamp(out_min, out_max)
    if fold:
        pos = xc > 0
        mirrored = {1: -y_code, 2: center - y_code, 3: y_code,
                    4: y_code + (xc << rshift)}[fold]
        y_code = torch.where(pos, mirrored.clamp(out_min, out_max), y_code)
        seg = seg + n_seg * pos.to(torch.int64)
    y = (y_code.double() * math.ldexp(1.0, -out_frac)).float().reshape(x.shape).to(x.dtype)
    y = torch.where(torch.isnan(x), torch.full_like(y, float("nan")), y)
    return y, seg


# ---------------------------------------------------------------------------------- kernel
if triton is not None:

    @triton.jit
    def _pwl_act_fwd_kernel(
        X_ptr, Y_ptr, P_ptr, BP_ptr, S_ptr, I_ptr, n_elements, n_bytes,
        in_scale, in_min, in_max, out_lsb, out_min, out_max,
        center, n_seg,
        N_BP: tl.constexpr, ISHIFT: tl.constexpr, OSHIFT: tl.constexpr, ROUND: tl.constexpr,
        SEG_BITS: tl.constexpr, SAVE_SEG: tl.constexpr, GROUPS: tl.constexpr,
        FOLD: tl.constexpr, RSHIFT: tl.constexpr,
    ):
        pid = tl.program_id(0).to(tl.int64)
        grp = pid * GROUPS + tl.arange(0, GROUPS).to(tl.int64)
        lane = tl.arange(0, 8)
        offs = grp[:, None] * 8 + lane[None, :]
        mask = offs < n_elements
        x = tl.load(X_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        is_nan = x != x
        # quantise: x * 2**in_frac is exact in fp32; round half to even via floor
        s = tl.where(is_nan, float("-inf"), x) * in_scale
        f = tl.floor(s)
        d = s - f
        odd = (f - 2.0 * tl.floor(f * 0.5)) == 1.0
        r = f + tl.where((d > 0.5) | ((d == 0.5) & odd), 1.0, 0.0)
        r = tl.minimum(tl.maximum(r, -4.611686018427388e18), 4.611686018427388e18)
        xc = r.to(tl.int64)
        xc = tl.minimum(tl.maximum(xc, in_min), in_max)
        # the fold: a folded unit's tables are indexed by v = -|x|
        if FOLD != 0:
            v = tl.where(xc < 0, xc, -xc)
        else:
            v = xc
        # segment = number of breakpoints <= v (searchsorted right)
        seg = tl.zeros([GROUPS, 8], dtype=tl.int64)
        for i in tl.static_range(N_BP):
            seg += (v >= tl.load(BP_ptr + i)).to(tl.int64)
        acc = tl.load(S_ptr + seg) * v + (tl.load(I_ptr + seg) << ISHIFT)
        # the golden model's final shift: floor, nearest-even or nearest-away
        if OSHIFT > 0:
            q = acc >> OSHIFT
            if ROUND != 2:
                rem = acc - (q << OSHIFT)
                half = tl.full([GROUPS, 8], 1, tl.int64) << (OSHIFT - 1)
                if ROUND == 0:
                    tie = (q & 1) == 1
                else:
                    tie = acc >= 0
                q = q + ((rem > half) | ((rem == half) & tie)).to(tl.int64)
            yc = q
        elif OSHIFT < 0:
            yc = acc << (-OSHIFT)
        else:
            yc = acc
        yc = tl.minimum(tl.maximum(yc, out_min), out_max)
        # the unfold for x > 0 (odd, point, even, residual), saturated again; the saved code
        # also tells the side: seg + n_seg for x > 0
        if FOLD != 0:
            pos = xc > 0
            if FOLD == 1:
                m = -yc
            elif FOLD == 2:
                m = center - yc
            elif FOLD == 3:
                m = yc
            else:
                m = yc + (xc << RSHIFT)
            yc = tl.where(pos, tl.minimum(tl.maximum(m, out_min), out_max), yc)
            seg = seg + tl.where(pos, n_seg, 0)
        y = yc.to(tl.float32) * out_lsb
        y = tl.where(is_nan, float("nan"), y)
        tl.store(Y_ptr + offs, y.to(Y_ptr.dtype.element_ty), mask=mask)
        if SAVE_SEG:
            _store_codes(P_ptr, grp, tl.where(mask, seg, 0), n_bytes, SEG_BITS)


def _forward_impl(x, breakpoints, slopes, intercepts, spec, save_seg):
    bits = spec[9]
    y = torch.empty_like(x)  # keeps a dense layout (channels_last), as the fake does
    order = memory_order(y)
    xm = x.permute(order).contiguous()  # a view (no copy) when x is dense like y
    ym = y.permute(order)
    n = xm.numel()
    nbytes = packed_size(n, bits) if save_seg else 0
    if n == 0:
        return y, torch.empty(nbytes, dtype=torch.uint8, device=x.device)
    if not use_triton(xm):
        yr, seg = _reference_impl(xm, breakpoints, slopes, intercepts, spec)
        ym.copy_(yr)
        codes = pack_codes(seg, bits) if save_seg else torch.empty(0, dtype=torch.uint8,
                                                                   device=x.device)
        return y, codes
    (in_frac, in_min, in_max, ishift, oshift, out_frac, out_min, out_max, rnd, _, fold, center,
     rshift, n_seg) = spec
    codes = torch.empty(nbytes, dtype=torch.uint8, device=x.device)
    dev = str(x.device)
    bp = _int_table(tuple(breakpoints) or (0,), dev)
    _pwl_act_fwd_kernel[_grid(n)](
        xm, ym, codes if save_seg else ym, bp, _int_table(tuple(slopes), dev),
        _int_table(tuple(intercepts), dev), n, nbytes,
        math.ldexp(1.0, in_frac), in_min, in_max, math.ldexp(1.0, -out_frac), out_min, out_max,
        center, n_seg,
        N_BP=len(breakpoints), ISHIFT=ishift, OSHIFT=oshift, ROUND=rnd, SEG_BITS=bits,
        SAVE_SEG=save_seg, GROUPS=_GROUPS, FOLD=fold, RSHIFT=rshift,
    )
    return y, codes


@functools.lru_cache(maxsize=256)
def _int_table(values: tuple[int, ...], device: str) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64, device=device)


# ---------------------------------------------------------------------------------- torch.library
def _check(x, breakpoints, slopes, spec, backward):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, not {type(x).__name__}")
    _check_dtype("x", x)
    if backward not in BACKWARD_MODES:
        raise OpError(f"backward must be one of {', '.join(BACKWARD_MODES)}, not {backward!r}")
    if backward == "slope":
        _seg_bits(len(slopes))
    if len(spec) != _SPEC_LEN or len(breakpoints) != len(slopes) - 1:
        raise OpError(f"inconsistent FixedPWL tables: spec {list(spec)!r}")


@torch.library.custom_op("pwlgen::pwl_act", mutates_args=())
def _pwl_act_op(
    x: torch.Tensor, breakpoints: list[int], slopes: list[int], intercepts: list[int],
    spec: list[int], grad_slopes: list[float], fn: str, backward: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    _check(x, breakpoints, slopes, spec, backward)
    return _forward_impl(x, breakpoints, slopes, intercepts, spec, backward == "slope")


@_pwl_act_op.register_fake
def _(x, breakpoints, slopes, intercepts, spec, grad_slopes, fn, backward):
    nbytes = (spec[9] * x.numel() + 7) // 8 if backward == "slope" else 0
    return torch.empty_like(x), x.new_empty((nbytes,), dtype=torch.uint8)


@torch.library.custom_op("pwlgen::target_grad", mutates_args=())
def _target_grad_op(grad: torch.Tensor, x: torch.Tensor, fn: str) -> torch.Tensor:
    _check_dtype("grad", grad)
    # the op body runs below the autograd dispatch key: torch.func carries its own
    xf = x.detach().float()
    _, vjp = torch.func.vjp(torch_function(fn), xf)
    # f'(+-inf) is the slope of f's asymptote there (autograd gives NaN)
    g = grad.float()
    return grad_with_limits(xf, g, vjp(g)[0], fn).to(grad.dtype)


@_target_grad_op.register_fake
def _(grad, x, fn):
    return grad.new_empty(grad.shape)


def _setup_context(ctx, inputs, output):
    x, _, _, _, spec, grad_slopes, fn, backward = inputs
    ctx.backward_mode = backward
    ctx.fn = fn
    ctx.bits = spec[9]
    ctx.grad_slopes = grad_slopes
    ctx.order = memory_order(output[0])
    # slope: only the packed segment index; ste: the input itself
    ctx.save_for_backward(output[1] if backward == "slope" else x)


def _backward(ctx, grad_y, grad_codes):
    (saved,) = ctx.saved_tensors
    if ctx.backward_mode == "slope":
        # the segment codes follow y's memory order: grad into it, dx back to y's layout
        dx = torch.ops.pwlgen.pwl_act_backward(grad_y.permute(ctx.order), saved,
                                               ctx.grad_slopes, ctx.bits)
        dx = dx.permute(inverse_order(ctx.order))
    else:
        dx = torch.ops.pwlgen.target_grad(grad_y, saved, ctx.fn)
    return dx, None, None, None, None, None, None, None


@torch.library.custom_op("pwlgen::pwl_act_backward", mutates_args=())
def _pwl_act_backward_op(
    grad: torch.Tensor, codes: torch.Tensor, grad_slopes: list[float], bits: int
) -> torch.Tensor:
    _check_dtype("grad", grad)
    if codes.numel() != packed_size(grad.numel(), bits) or len(grad_slopes) != 2**bits:
        raise OpError(
            f"segment buffer of {codes.numel()} bytes / {len(grad_slopes)} slopes do not fit "
            f"{grad.numel()} elements at {bits} bits"
        )
    return _backward_impl(grad, codes, grad_slopes, bits)


@_pwl_act_backward_op.register_fake
def _(grad, codes, grad_slopes, bits):
    return grad.new_empty(grad.shape)


_pwl_act_op.register_autograd(_backward, setup_context=_setup_context)


def pwl_activation(x: torch.Tensor, fixed, backward: str = "slope") -> torch.Tensor:
    """What the hardware unit of `fixed` computes on x (see the module docstring).

    Parameters
    ----------
    x : Tensor, float32 / float16 / bfloat16
    fixed : FixedPWL or dict
        The unit's tables, or the `fixed_spec` dict of one.
    backward : {"slope", "ste"}

    Returns
    -------
    Tensor
        Same shape and dtype as x.

    Raises
    ------
    TypeError
        For an unsupported dtype or a `fixed` that is not a FixedPWL.
    OpError
        For an unknown backward mode, or ``"slope"`` with more than 256 segments.
    """
    a = fixed if isinstance(fixed, dict) else fixed_spec(fixed)
    _check(x, a["breakpoints"], a["slopes"], a["spec"], backward)
    return torch.ops.pwlgen.pwl_act(
        x, a["breakpoints"], a["slopes"], a["intercepts"], a["spec"], a["grad_slopes"],
        a["fn"], backward,
    )[0]


def load_fixed(path: str | os.PathLike):
    """Read a ``fixed_pwl`` file (written by ``pwlgen quantize``)."""
    from ..fixedpoint import FixedPWL
    from ..io import load_kind

    return FixedPWL.from_dict(load_kind(path, "fixed_pwl"))
