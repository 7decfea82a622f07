import math
import os

import numpy as np
import pytest
import torch

from pwlgen.fixedpoint import FixedPWL, design
from pwlgen.io import save
from pwlgen.nn import OpError, PWLActivation, pwl_activation
from pwlgen.nn import kbit_act as ka
from pwlgen.nn.pwl_act import fixed_spec, pwl_forward_reference
from pwlgen.nn.reference import unpack_codes


@pytest.fixture(scope="module")
def gelu_unit():
    return design("gelu", n_segments=8, symmetry="none")


def _with_rounding(fx, rounding):
    return FixedPWL(fx.function, fx.in_fmt, fx.out_fmt, fx.breakpoints, fx.slopes,
                    fx.slope_frac_bits, fx.intercepts, fx.intercept_frac_bits, rounding)


HAND_UNITS = {
    # output finer than the accumulator: a left shift
    "left_shift": FixedPWL("relu", "s3.4", "s3.6", [0], [0, 1], 0, [0, 0], 0),
    # unsigned input, saturating output, negative slope
    "saturating": FixedPWL("sigmoid", "u2.6", "s1.3", [64, 128], [3, -5, 1], 2,
                           [1, 100, -7], 4, "nearest-away"),
    # no breakpoint at all, truncation
    "one_segment": FixedPWL("tanh", "s2.5", "s2.5", [], [7], 3, [-3], 2, "truncate"),
}


def _golden(fx, x):
    xd = x.double().numpy()
    return fx.evaluate(fx.in_fmt.from_real(xd))


@pytest.mark.parametrize("rounding", ["nearest-even", "nearest-away", "truncate"])
def test_forward_is_bit_exact_with_the_golden_model_on_every_input_code(gelu_unit, rounding):
    fx = _with_rounding(gelu_unit, rounding)
    x = torch.from_numpy(fx.in_fmt.to_real(fx.in_fmt.codes())).float()
    y = pwl_activation(x, fx)
    y_code = y.double().numpy() * 2.0**fx.out_fmt.frac_bits
    assert np.array_equal(y_code, _golden(fx, x))


@pytest.mark.parametrize("name", list(HAND_UNITS))
def test_forward_is_bit_exact_for_every_shift_rounding_and_saturation(name):
    fx = HAND_UNITS[name]
    # every code, the halfway points between codes (rounding) and far outside (saturation)
    codes = fx.in_fmt.to_real(fx.in_fmt.codes())
    x = np.concatenate([codes, codes + fx.in_fmt.lsb / 2, [-1e6, 1e6, 3.3, -3.3]])
    xt = torch.from_numpy(x).float()
    y = pwl_activation(xt, fx)
    assert np.array_equal(y.double().numpy() * 2.0**fx.out_fmt.frac_bits, _golden(fx, xt))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_output_is_the_golden_value_rounded_to_the_dtype(gelu_unit, dtype):
    x = (torch.randn(3, 7, 257) * 4).to(dtype)
    y = pwl_activation(x, gelu_unit)
    want = torch.from_numpy(_golden(gelu_unit, x.float()) * 2.0**-gelu_unit.out_fmt.frac_bits)
    want = want.float().reshape(x.shape).to(dtype)
    assert y.dtype == dtype
    # the CPU interpreter truncates fp32 -> bf16: one ulp there; fp16 converts exactly
    tol = (0, 0) if dtype == torch.float16 else (1e-2, 1e-2)
    torch.testing.assert_close(y, want, atol=tol[0], rtol=tol[1])


def test_reference_path_matches_kernel_path(gelu_unit, monkeypatch):
    x = torch.randn(1023) * 5
    y_k = pwl_activation(x, gelu_unit)
    y_ref, _ = pwl_forward_reference(x, gelu_unit)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert not ka.use_triton(x)
    assert torch.equal(pwl_activation(x, gelu_unit), y_k)
    assert torch.equal(y_ref, y_k)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_gives_nan_and_infinities_saturate(gelu_unit):
    x = torch.tensor([float("nan"), float("inf"), float("-inf")])
    y = pwl_activation(x, gelu_unit)
    lsb = 2.0**-gelu_unit.out_fmt.frac_bits
    ends = gelu_unit.evaluate([gelu_unit.in_fmt.max_code, gelu_unit.in_fmt.min_code]) * lsb
    assert math.isnan(y[0]) and y[1:].tolist() == ends.tolist()


def test_slope_backward_is_the_segment_slope_and_saves_only_packed_segments(gelu_unit):
    x = (torch.randn(1023) * 4).requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = pwl_activation(x, gelu_unit, "slope")
    bits = fixed_spec(gelu_unit)["spec"][9]
    assert bits == 4  # 8 segments
    assert len(saved) == 1 and saved[0].dtype == torch.uint8
    assert saved[0].numel() == math.ceil(bits * 1023 / 8)
    seg = gelu_unit.segment_index(gelu_unit.in_fmt.from_real(x.detach().double().numpy()))
    assert torch.equal(unpack_codes(saved[0], bits, 1023), torch.from_numpy(seg))
    g = torch.randn(1023)
    y.backward(g)
    slope = gelu_unit.slopes[seg] * 2.0**-gelu_unit.slope_frac_bits
    assert torch.equal(x.grad, g * torch.from_numpy(slope).float())


def test_ste_backward_is_the_targets_derivative(gelu_unit):
    x = (torch.randn(3, 257) * 3).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    pwl_activation(x, gelu_unit, "ste").sum().backward()
    torch.nn.functional.gelu(x2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


@pytest.mark.parametrize("backward", ["slope", "ste"])
def test_opcheck_passes(gelu_unit, backward):
    a = fixed_spec(gelu_unit)
    x = torch.randn(5, 129, requires_grad=True)
    torch.library.opcheck(torch.ops.pwlgen.pwl_act, (
        x, a["breakpoints"], a["slopes"], a["intercepts"], a["spec"], a["grad_slopes"],
        a["fn"], backward))


def test_compile_fullgraph_traces_the_module(gelu_unit):
    act = PWLActivation(gelu_unit)
    compiled = torch.compile(lambda t: act(t).sum(), fullgraph=True, backend="aot_eager")
    x = torch.randn(300, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    compiled(x).backward()
    act(x2).sum().backward()
    assert torch.equal(x.grad, x2.grad)


def test_empty_and_non_contiguous_inputs(gelu_unit):
    assert pwl_activation(torch.empty(2, 0), gelu_unit).shape == (2, 0)
    base = torch.randn(40, 30) * 3
    assert torch.equal(pwl_activation(base.t(), gelu_unit),
                       pwl_activation(base.t().contiguous(), gelu_unit))


def test_module_reads_a_fixed_pwl_file(gelu_unit, tmp_path):
    path = save(gelu_unit.to_dict(), tmp_path / "gelu.yaml")
    x = torch.randn(100)
    assert torch.equal(PWLActivation(path)(x), PWLActivation(gelu_unit)(x))


def test_bad_backward_mode_and_bad_tables_are_rejected(gelu_unit):
    with pytest.raises(OpError, match=r"^backward must be one of slope, ste, not 'exact'$"):
        PWLActivation(gelu_unit, backward="exact")
    with pytest.raises(TypeError, match=r"^fixed must be a FixedPWL, not str$"):
        pwl_activation(torch.randn(3), "gelu")
    with pytest.raises(TypeError, match=r"float64"):
        pwl_activation(torch.randn(3, dtype=torch.float64), gelu_unit)
    n = 300
    big = FixedPWL("x", "s3.12", "s3.12", np.arange(1, n) * 64, np.ones(n, dtype=np.int64), 0,
                   np.zeros(n, dtype=np.int64), 0)
    with pytest.raises(OpError, match=r"at most 256 segments"):
        PWLActivation(big)
    assert PWLActivation(big, backward="ste")(torch.ones(2)).tolist() == [1.0, 1.0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
                    reason="needs a CUDA GPU and compiled kernels (run with TRITON_INTERPRET=0)")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gpu_forward_is_bit_exact_with_the_golden_model(gelu_unit, dtype):
    x = torch.from_numpy(gelu_unit.in_fmt.to_real(gelu_unit.in_fmt.codes())).to(dtype)
    y = pwl_activation(x.cuda(), gelu_unit).cpu()
    want = torch.from_numpy(_golden(gelu_unit, x.float()) * 2.0**-gelu_unit.out_fmt.frac_bits)
    assert torch.equal(y, want.float().to(dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("path", ["triton", "reference"])
def test_infinities_saturate_on_every_path_and_ste_gradient_is_the_asymptote_slope(
        gelu_unit, path, monkeypatch):
    if path == "reference":
        monkeypatch.setenv("TRITON_INTERPRET", "0")
    x = torch.tensor([float("-inf"), float("inf")], requires_grad=True)
    y = pwl_activation(x, gelu_unit, "ste")
    lsb = 2.0**-gelu_unit.out_fmt.frac_bits
    ends = gelu_unit.evaluate([gelu_unit.in_fmt.min_code, gelu_unit.in_fmt.max_code]) * lsb
    assert y.tolist() == ends.tolist()
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0]  # gelu'(-inf), gelu'(+inf)


@pytest.mark.parametrize("backward", ["slope", "ste"])
def test_channels_last_layout_is_kept(gelu_unit, backward):
    x = (torch.randn(2, 3, 5, 7) * 3).to(memory_format=torch.channels_last).requires_grad_(True)
    x2 = x.detach().contiguous().requires_grad_(True)
    g = torch.randn(x.shape)
    y, y2 = pwl_activation(x, gelu_unit, backward), pwl_activation(x2, gelu_unit, backward)
    assert y.stride() == x.stride() and torch.equal(y, y2)
    y.backward(g)
    y2.backward(g)
    assert x.grad.stride() == x.stride()
    torch.testing.assert_close(x.grad, x2.grad)  # ste: f' by autograd, rounding may differ


FOLDED = {
    "residual": ("gelu", "s3.6", "s3.6"),
    "odd": ("tanh", "s3.6", "s0.7"),
    "point": ("sigmoid", "s3.6", "u0.8"),
}


def _line_slope(fx, x: np.ndarray) -> np.ndarray:
    """d/dx of the unit's unrounded line, unfolded, by a central difference inside segments."""
    def line(xr):
        v = -np.abs(xr)
        seg = fx.segment_index(fx.in_fmt.from_real(xr))
        g = (fx.slopes[seg] * 2.0**-fx.slope_frac_bits * v
             + fx.intercepts[seg] * 2.0**-fx.intercept_frac_bits)
        pos = xr > 0
        mirrored = {"odd": -g, "point": fx.fold_center * 2.0**-fx.out_fmt.frac_bits - g,
                    "even": g, "residual": g + xr}[fx.fold]
        return np.where(pos, mirrored, g)

    h = fx.in_fmt.lsb / 8
    return (line(x + h) - line(x - h)) / (2 * h)


@pytest.mark.parametrize("fold", list(FOLDED))
def test_folded_units_are_bit_exact_and_their_slope_backward_unfolds(fold):
    fn, fin, fout = FOLDED[fold]
    fx = design(fn, fin, fout, symmetry=fold)
    assert fx.fold == fold
    codes = fx.in_fmt.codes()
    x = torch.from_numpy(fx.in_fmt.to_real(codes)).float().requires_grad_()
    y = pwl_activation(x, fx)
    assert np.array_equal(y.detach().double().numpy() * 2.0**fx.out_fmt.frac_bits,
                          _golden(fx, x.detach()))
    y_ref, code = pwl_forward_reference(x.detach(), fx)
    assert torch.equal(y.detach(), y_ref)
    assert int(code.max()) >= fx.n_segments  # x > 0 has codes of its own
    y.backward(torch.ones_like(y))
    # away from breakpoints and 0, the gradient is the slope of the unfolded line
    xv = x.detach().double().numpy()
    seg = fx.segment_index(codes)
    inside = (np.abs(xv) > fx.in_fmt.lsb) & (fx.segment_index(codes - 1) == seg) \
        & (fx.segment_index(codes + 1 - 2 * (codes == codes.max())) == seg)
    want = _line_slope(fx, xv)
    np.testing.assert_allclose(x.grad.double().numpy()[inside], want[inside], rtol=1e-6,
                               atol=1e-9)

