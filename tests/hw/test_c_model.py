import shutil
import subprocess

import numpy as np
import pytest

from pwlgen.fixedpoint import ROUNDING, FixedPWL, Format, design
from pwlgen.hw.c_model import c_header, c_name, write_c_model

CC = shutil.which("gcc") or shutil.which("cc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")

_MAIN = """
#include <stdio.h>
#include "{header}"
int main(void) {{
    for (long long x = {lo}; x <= {hi}; ++x) printf("%lld\\n", (long long){fn}(x));
    return 0;
}}
"""


def _run_c(fx: FixedPWL, tmp_path) -> np.ndarray:
    header = write_c_model(fx, tmp_path)
    src = tmp_path / "main.c"
    src.write_text(_MAIN.format(header=header.name, lo=fx.in_fmt.min_code,
                                hi=fx.in_fmt.max_code, fn=c_name(fx)))
    exe = tmp_path / "main"
    subprocess.run([CC, "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                    str(src)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return np.array(out.split(), dtype=np.int64)


def _assert_bit_exact(fx, tmp_path):
    got = _run_c(fx, tmp_path)
    want = fx.evaluate(fx.in_fmt.codes())
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{fx}: first mismatches at codes "
                           f"{fx.in_fmt.codes()[bad[:5]].tolist()}: C {got[bad[:5]].tolist()} "
                           f"vs golden {want[bad[:5]].tolist()}")


@needs_cc
@pytest.mark.parametrize("fn,symmetry", [("gelu", "none"), ("gelu", "auto"),
                                         ("sigmoid", "auto"), ("tanh", "auto")])
def test_c_model_is_bit_exact_on_every_16_bit_code(fn, symmetry, tmp_path):
    fx = design(fn, symmetry=symmetry)
    assert (fx.fold == "none") == (symmetry == "none")
    _assert_bit_exact(fx, tmp_path)


@needs_cc
@pytest.mark.parametrize("fold", ["odd", "point", "even", "residual"])
def test_c_model_is_bit_exact_on_random_folded_tables(fold, tmp_path):
    rng = np.random.default_rng(len(fold))
    in_fmt, out_fmt = Format.parse("s3.5"), Format(bool(rng.integers(2)), 2, 6)
    n = int(rng.integers(1, 7))
    bps = np.sort(rng.choice(np.arange(in_fmt.min_code + 1, 1), n - 1, replace=False))
    fx = FixedPWL("rnd", in_fmt, out_fmt, bps, rng.integers(-(2**10), 2**10, n), 4,
                  rng.integers(-(2**12), 2**12, n), 6, str(rng.choice(ROUNDING)), fold=fold,
                  fold_center=150 if fold == "point" else 0)
    _assert_bit_exact(fx, tmp_path)


@needs_cc
@pytest.mark.parametrize("rounding", ROUNDING)
def test_c_model_is_bit_exact_at_halves_and_saturation(rounding, tmp_path):
    # y = 3x/2 on s3.4 -> s2.3: exact halves of an LSB everywhere, saturating at both ends
    fx = FixedPWL("steep", "s3.4", "s2.3", [-40, 40], [3, 1, 3], 1, [0, 5, -5], 2, rounding)
    _assert_bit_exact(fx, tmp_path)


@needs_cc
@pytest.mark.parametrize("seed", range(6))
def test_c_model_is_bit_exact_on_random_tables(seed, tmp_path):
    rng = np.random.default_rng(seed)
    in_fmt = Format(bool(rng.integers(2)), int(rng.integers(0, 4)), int(rng.integers(1, 8)))
    out_fmt = Format(bool(rng.integers(2)), int(rng.integers(0, 4)), int(rng.integers(1, 10)))
    n = int(rng.integers(1, 7))
    bps = np.sort(rng.choice(np.arange(in_fmt.min_code + 1, in_fmt.max_code + 1), n - 1,
                             replace=False))
    fs = int(rng.integers(-in_fmt.frac_bits, 12))
    fx = FixedPWL("rnd", in_fmt, out_fmt, bps, rng.integers(-(2**14), 2**14, n), fs,
                  rng.integers(-(2**16), 2**16, n), int(rng.integers(0, in_fmt.frac_bits + fs + 1)),
                  str(rng.choice(ROUNDING)))
    _assert_bit_exact(fx, tmp_path)


def test_header_names_and_file_follow_the_function(tmp_path):
    fx = FixedPWL("max(relu(x),x)", "u2.2", "u2.2", [], [1], 0, [0], 0)
    assert c_name(fx) == "pwl_max_relu_x__x"
    assert c_name(fx, "pwl_gelu") == "pwl_gelu"
    text = c_header(fx, "gelu")
    assert "static inline int32_t pwl_gelu(int32_t x)" in text
    assert '#define PWL_GELU_IN_FORMAT "u2.2"' in text
    assert write_c_model(fx, tmp_path / "x.h").name == "x.h"
    assert write_c_model(fx, tmp_path, "gelu") == tmp_path / "pwl_gelu.h"
