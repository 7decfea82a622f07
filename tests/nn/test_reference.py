import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pwlgen.nn import reference as ref
from pwlgen.pwl import PWL


def _bitstream_model(codes, bits):
    """Independent model of the layout: bit b of code j is bit k*j+b of a little-endian stream."""
    n = len(codes)
    out = [0] * math.ceil(bits * n / 8)
    for j, c in enumerate(codes):
        for b in range(bits):
            if (int(c) >> b) & 1:
                pos = bits * j + b
                out[pos // 8] |= 1 << (pos % 8)
    return out


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 1023])
def test_pack_codes_matches_the_bitstream_model(bits, n):
    codes = torch.randint(0, 2**bits, (n,))
    packed = ref.pack_codes(codes, bits)
    assert packed.dtype == torch.uint8
    assert packed.numel() == ref.packed_size(n, bits) == math.ceil(bits * n / 8)
    assert packed.tolist() == _bitstream_model(codes.tolist(), bits)
    assert torch.equal(ref.unpack_codes(packed, bits, n), codes)


def test_two_bit_layout_is_approx_bp_four_codes_per_byte():
    codes = torch.tensor([1, 2, 3, 0, 3, 3])
    packed = ref.pack_codes(codes, 2).tolist()
    expect = [0, 0]
    for j, c in enumerate(codes.tolist()):
        expect[j // 4] |= c << (2 * (j % 4))
    assert packed == expect


def test_three_bit_layout_packs_eight_codes_into_three_bytes():
    codes = torch.arange(8)
    word = sum(c << (3 * r) for r, c in enumerate(range(8)))
    assert ref.pack_codes(codes, 3).tolist() == [word & 255, (word >> 8) & 255, word >> 16]


def test_codes_count_knots_strictly_below_like_segment_index():
    pwl = PWL([-1.0, 0.0, 2.0], [0.0, 0.0, 2.0], 0.0, 1.0)
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 1e-7, 2.0, 2.5], dtype=torch.float32)
    codes = ref.kbit_codes(x, torch.tensor(pwl.knots))
    assert torch.equal(codes, pwl.segment_index(x))


def test_nan_has_code_zero_and_infinities_the_ends():
    x = torch.tensor([float("nan"), float("-inf"), float("inf")])
    codes = ref.kbit_codes(x, torch.tensor([-1.0, 0.0, 1.0]))
    assert codes.tolist() == [0, 0, 3]


def test_reference_backward_multiplies_by_level_of_code():
    levels = torch.tensor([0.0, 0.25, 0.5, 1.0])
    x = torch.tensor(np.linspace(-3, 3, 50), dtype=torch.float32)
    knots = torch.tensor([-1.0, 0.0, 1.0])
    _, packed = ref.kbit_forward(x, knots, 2, "gelu")
    g = torch.randn(50)
    want = g * levels[ref.kbit_codes(x, knots)]
    assert torch.equal(ref.kbit_backward(g, packed, levels, 2), want)


@given(st.integers(1, 4).flatmap(
    lambda k: st.tuples(st.just(k), st.lists(st.integers(0, 2**k - 1), max_size=70))))
@settings(max_examples=60, deadline=None)
def test_unpack_inverts_pack_for_any_codes(case):
    bits, codes = case
    t = torch.tensor(codes, dtype=torch.int64)
    packed = ref.pack_codes(t, bits)
    assert packed.numel() == math.ceil(bits * len(codes) / 8)
    assert ref.unpack_codes(packed, bits, len(codes)).tolist() == codes
