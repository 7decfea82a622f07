import math
import os

import pytest
import torch

from pwlgen.nn import OpError, kbit_act_backward, kbit_activation
from pwlgen.nn import kbit_act as ka
from pwlgen.nn import reference as ref
from pwlgen.pwl import PWL

CUDA = torch.cuda.is_available()

DTYPES = [
    pytest.param(torch.float32, (1e-6, 1e-5), id="fp32"),
    pytest.param(torch.float16, (1e-3, 1e-3), id="fp16"),
    # the CPU interpreter truncates fp32 -> bf16 instead of rounding: one bf16 ulp
    pytest.param(torch.bfloat16, (1e-2, 1.6e-2), id="bf16"),
]
SHAPES = [(1,), (1023,), (3, 7, 257)]


def _tables(bits):
    """A k-bit PWL approximating GELU-ish (knots spread, non-trivial levels)."""
    n = 2**bits - 1
    knots = torch.linspace(-3.0, 3.0, n + 2)[1:-1].tolist()
    levels = torch.linspace(-0.1, 1.1, n + 1).tolist()
    levels[0], levels[-1] = 0.0, 1.0
    return knots, levels


def _pwl(knots, levels):
    values = [0.0]
    for i in range(1, len(knots)):
        values.append(values[-1] + levels[i] * (knots[i] - knots[i - 1]))
    return PWL(knots, values, levels[0], levels[-1])


def _input(shape, dtype):
    return (torch.randn(shape) * 3).to(dtype)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_kernel_codes_are_bit_exact_with_reference(bits, shape, dtype, tol):
    knots, levels = _tables(bits)
    x = _input(shape, dtype)
    y, codes = torch.ops.pwlgen.kbit_act(x, knots, levels, bits, "gelu")
    y_ref, codes_ref = ref.kbit_forward(x, torch.tensor(knots), bits, "gelu")
    assert codes.dtype == torch.uint8 and codes.numel() == math.ceil(bits * x.numel() / 8)
    assert torch.equal(codes, codes_ref)
    assert y.shape == x.shape and y.dtype == dtype
    torch.testing.assert_close(y, y_ref, atol=tol[0], rtol=tol[1])


@pytest.mark.parametrize("fn", ["gelu", "silu", "tanh"])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_forward_is_the_exact_function(fn, dtype, tol):
    knots, levels = _tables(2)
    x = _input((1023,), dtype)
    y = kbit_activation(x, knots, levels, 2, fn)
    exact = {"gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
             "tanh": torch.tanh}[fn]
    torch.testing.assert_close(y, exact(x.float()).to(dtype), atol=tol[0], rtol=tol[1])


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_equals_autograd_of_the_pwl(bits, shape):
    knots, levels = _tables(bits)
    x = _input(shape, torch.float32).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    g = torch.randn(shape)
    kbit_activation(x, knots, levels, bits, "gelu").backward(g)
    _pwl(knots, levels)(x2).backward(g)
    torch.testing.assert_close(x.grad, x2.grad, atol=0, rtol=0)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_backward_in_every_dtype_matches_reference(dtype, tol):
    knots, levels = _tables(2)
    x = _input((3, 7, 257), dtype).requires_grad_(True)
    g = torch.randn(x.shape).to(dtype)
    kbit_activation(x, knots, levels, 2, "silu").backward(g)
    _, packed = ref.kbit_forward(x.detach(), torch.tensor(knots), 2, "silu")
    want = ref.kbit_backward(g, packed, torch.tensor(levels), 2)
    assert x.grad.dtype == dtype
    torch.testing.assert_close(x.grad, want, atol=tol[0], rtol=tol[1])


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_backward_saves_only_the_packed_codes(bits):
    knots, levels = _tables(bits)
    x = torch.randn(1023, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = kbit_activation(x, knots, levels, bits, "gelu")
    assert len(saved) == 1
    assert saved[0].dtype == torch.uint8
    assert saved[0].numel() * saved[0].element_size() == math.ceil(bits * 1023 / 8)
    y.sum().backward()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_in_gives_nan_out_and_code_zero():
    knots, levels = _tables(2)
    x = torch.tensor([float("nan"), 0.5, float("inf"), float("-inf")], requires_grad=True)
    y, codes = torch.ops.pwlgen.kbit_act(x.detach(), knots, levels, 2, "gelu")
    assert torch.isnan(y[0]) and not torch.isnan(y[1])
    assert ref.unpack_codes(codes, 2, 4).tolist() == [0, 2, 3, 0]
    kbit_activation(x, knots, levels, 2, "gelu").backward(torch.ones(4))
    assert x.grad.tolist() == [levels[0], levels[2], levels[3], levels[0]]


def test_non_contiguous_input_gives_the_same_result():
    knots, levels = _tables(2)
    base = torch.randn(64, 48)
    xt = base.t().requires_grad_(True)
    xc = base.t().contiguous().requires_grad_(True)
    assert not xt.is_contiguous()
    yt = kbit_activation(xt, knots, levels, 2, "gelu")
    yc = kbit_activation(xc, knots, levels, 2, "gelu")
    assert torch.equal(yt, yc)
    g = torch.randn(48, 64)[:, ::1].t().t()
    yt.backward(g)
    yc.backward(g.contiguous())
    assert torch.equal(xt.grad, xc.grad)


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_tensor_gives_empty_output_and_gradient(shape):
    knots, levels = _tables(2)
    x = torch.empty(shape, requires_grad=True)
    y = kbit_activation(x, knots, levels, 2, "gelu")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_reference_path_matches_kernel_path(monkeypatch):
    knots, levels = _tables(3)
    x = torch.randn(1000)
    y_k, c_k = torch.ops.pwlgen.kbit_act(x, knots, levels, 3, "gelu")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert not ka.use_triton(x)
    y_r, c_r = torch.ops.pwlgen.kbit_act(x, knots, levels, 3, "gelu")
    assert torch.equal(c_k, c_r)
    torch.testing.assert_close(y_k, y_r, atol=1e-6, rtol=1e-5)


def test_backward_reads_an_approx_bp_two_bit_buffer():
    levels = [0.0, 0.5, 0.75, 1.0]
    codes = [3, 0, 1, 2, 2, 1]
    buf = [0, 0]
    for j, c in enumerate(codes):
        buf[j // 4] |= c << (2 * (j % 4))
    g = torch.full((6,), 2.0)
    dx = kbit_act_backward(g, torch.tensor(buf, dtype=torch.uint8), levels, 2)
    assert dx.tolist() == [2.0 * levels[c] for c in codes]


@pytest.mark.parametrize("bits", [1, 3])
def test_opcheck_passes(bits):
    knots, levels = _tables(bits)
    x = torch.randn(3, 257, requires_grad=True)
    torch.library.opcheck(torch.ops.pwlgen.kbit_act, (x, knots, levels, bits, "gelu"))
    _, codes = torch.ops.pwlgen.kbit_act(x.detach(), knots, levels, bits, "gelu")
    torch.library.opcheck(torch.ops.pwlgen.kbit_act_backward,
                          (torch.randn(3, 257), codes, levels, bits))


def test_compile_fullgraph_traces_the_op_without_graph_break():
    # aot_eager: the CPU CI has no Triton GPU backend for inductor to fuse into; the
    # custom op is traced opaquely either way, which is what fullgraph checks.
    knots, levels = _tables(2)

    def f(t):
        return kbit_activation(t * 2.0, knots, levels, 2, "gelu").sum()

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    x = torch.randn(777, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    compiled(x).backward()
    f(x2).backward()
    assert torch.equal(x.grad, x2.grad)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_compile_with_inductor_runs_the_op_inside_a_compiled_graph():
    # ~30 s: inductor builds C++ for the ops around the (opaque) custom op
    act_knots, act_levels = _tables(2)

    def f(t):
        return kbit_activation(t * 2.0, act_knots, act_levels, 2, "gelu").sum()

    x = torch.randn(1000, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    torch.compile(f, fullgraph=True)(x).backward()
    f(x2).backward()
    assert torch.equal(x.grad, x2.grad)


def test_unsupported_dtype_is_a_type_error():
    knots, levels = _tables(2)
    msg = r"^x must be float32, float16 or bfloat16, not torch\.float64$"
    with pytest.raises(TypeError, match=msg):
        kbit_activation(torch.randn(4, dtype=torch.float64), knots, levels, 2, "gelu")
    with pytest.raises(TypeError, match=r"int64"):
        kbit_activation(torch.arange(4), knots, levels, 2, "gelu")


@pytest.mark.parametrize("bits", [0, 5, 2.0, True])
def test_bits_outside_one_to_four_is_rejected(bits):
    with pytest.raises(OpError, match=r"^bits must be an integer in 1\.\.4, not "):
        kbit_activation(torch.randn(4), [0.0], [0.0, 1.0], bits, "gelu")


def test_wrong_level_count_is_rejected():
    with pytest.raises(OpError, match=r"^2-bit codes need 4 levels, not 3: \[0\.0, 0\.5, 1\.0\]$"):
        kbit_activation(torch.randn(4), [-1.0, 0.0, 1.0], [0.0, 0.5, 1.0], 2, "gelu")


def test_wrong_code_buffer_size_is_rejected():
    with pytest.raises(OpError, match=r"^the code buffer of 9 elements at 2 bits must hold "
                                      r"ceil\(2\*9/8\) = 3 bytes, not 2$"):
        kbit_act_backward(torch.randn(9), torch.zeros(2, dtype=torch.uint8),
                          [0.0, 0.2, 0.8, 1.0], 2)


# ------------------------------------------------------------------ GPU only
gpu = pytest.mark.skipif(
    not CUDA or os.environ.get("TRITON_INTERPRET") == "1",
    reason="needs a CUDA GPU and compiled kernels (run with TRITON_INTERPRET=0)",
)


@pytest.mark.gpu
@gpu
def test_gpu_bf16_is_bit_exact_with_reference():
    knots, levels = _tables(2)
    x = torch.randn(1 << 20, device="cuda").to(torch.bfloat16)
    y, codes = torch.ops.pwlgen.kbit_act(x, knots, levels, 2, "silu")
    _, codes_ref = ref.kbit_forward(x, torch.tensor(knots), 2, "silu")
    assert torch.equal(codes, codes_ref)
    # the bf16 output is the kernel's fp32 result rounded to nearest-even, bit for bit
    y32, codes32 = torch.ops.pwlgen.kbit_act(x.float(), knots, levels, 2, "silu")
    assert torch.equal(codes32, codes)
    assert torch.equal(y, y32.to(torch.bfloat16))
    torch.testing.assert_close(y32, torch.nn.functional.silu(x.float()), atol=1e-6, rtol=1e-5)
    g = torch.randn_like(x)
    dx = kbit_act_backward(g, codes, levels, 2)
    assert torch.equal(dx, ref.kbit_backward(g, codes, torch.tensor(levels), 2))


@pytest.mark.gpu
@gpu
def test_gpu_more_than_two_to_the_31_elements_uses_64_bit_offsets():
    n = (1 << 31) + 1000
    knots, levels = _tables(2)
    x = torch.full((n,), 5.0, device="cuda", dtype=torch.bfloat16)
    x[-9:] = -5.0
    y, codes = torch.ops.pwlgen.kbit_act(x, knots, levels, 2, "gelu")
    assert abs(float(y[-1])) < 1e-5 and float(y[-10]) == pytest.approx(5.0, rel=1e-2)
    tail = ref.unpack_codes(codes[-8:].cpu(), 2, 32)
    assert tail[-9:].tolist() == [0] * 9 and tail[-10] == 3
    del y
    dx = kbit_act_backward(torch.ones_like(x), codes, levels, 2)
    assert float(dx[-1]) == levels[0] and float(dx[-10]) == levels[3]


@pytest.mark.gpu
@gpu
def test_gpu_fused_forward_backward_smoke():
    from pwlgen.nn import ReGELU2

    act = ReGELU2()
    x = torch.randn(1 << 24, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    for _ in range(3):
        act(x).sum().backward()
    torch.cuda.synchronize()
    assert x.grad is not None


# The mathematical limits f(-inf), f(+inf) (the table in docs/nn.md).
LIMITS = {"gelu": (0.0, math.inf), "silu": (0.0, math.inf), "tanh": (-1.0, 1.0),
          "mish": (0.0, math.inf)}


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("path", ["triton", "reference"])
@pytest.mark.parametrize("fn", sorted(LIMITS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_infinities_give_the_functions_limits_on_every_path(fn, path, dtype, monkeypatch):
    if path == "reference":
        monkeypatch.setenv("TRITON_INTERPRET", "0")
    knots, levels = _tables(2)
    x = torch.tensor([float("-inf"), float("inf"), float("nan"), 1.0], dtype=dtype)
    assert ka.use_triton(x) == (path == "triton")
    y = kbit_activation(x, knots, levels, 2, fn)
    assert y[:2].tolist() == list(LIMITS[fn])
    assert math.isnan(y[2]) and math.isfinite(y[3])


def _channels_last(shape=(2, 3, 5, 7)):
    return (torch.randn(shape) * 3).to(memory_format=torch.channels_last)


@pytest.mark.parametrize("bits", [2, 3])
def test_channels_last_in_gives_channels_last_out_and_gradient(bits):
    knots, levels = _tables(bits)
    x = _channels_last().requires_grad_(True)
    x2 = x.detach().contiguous().requires_grad_(True)
    g = torch.randn(x.shape)
    y = kbit_activation(x, knots, levels, bits, "silu")
    y2 = kbit_activation(x2, knots, levels, bits, "silu")
    assert y.stride() == x.stride() and y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, y2)
    y.backward(g)
    y2.backward(g)
    assert x.grad.stride() == x.stride()
    assert torch.equal(x.grad, x2.grad)


def test_opcheck_passes_on_a_channels_last_input():
    knots, levels = _tables(2)
    x = _channels_last().requires_grad_(True)
    torch.library.opcheck(torch.ops.pwlgen.kbit_act, (x, knots, levels, 2, "gelu"))
