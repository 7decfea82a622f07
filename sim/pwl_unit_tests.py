"""cocotb bench of an emitted PWL unit in bulk: the test wrapper does the per-clock work.

The toplevel is the wrapper of `pwlgen.hw.harness` (stimulus memory, xorshift stalls on both
sides, a mid-stream reset, capture memory). This test writes the stimulus, raises ``start``,
waits for ``done`` and checks every captured output at once with numpy: output k must equal the
golden model (``FixedPWL.from_dict(report["fixed"]).evaluate``) of stimulus k, for all k (the
wrapper re-offers the inputs a reset loses, so no loss, no duplicate and the order are checked
by the same comparison). The accuracy against the true function is proven outside the
simulator (`pwlgen.hw.proof`) from the outputs this test saves.

Environment: ``PWLGEN_REPORT`` (the unit's ``hw_report``), ``PWLGEN_SEED``,
``PWLGEN_MAX_CODES``, ``PWLGEN_STIM`` / ``PWLGEN_CAPTURE`` (the wrapper's memory files),
``PWLGEN_SUMMARY`` (JSON summary written here) and ``PWLGEN_OUTPUTS`` (``.npz`` of the
stimulus ``x`` and the captured outputs ``y``, in order).
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from pwlgen.fixedpoint import FixedPWL
from pwlgen.hw.harness import read_capture, stimulus


def _write_stimulus(path: str, codes: np.ndarray, bits: int) -> None:
    digits = -(-bits // 4)
    mask = (1 << bits) - 1
    with open(path, "w") as fh:
        fh.write("\n".join(f"{c:0{digits}x}" for c in (codes & mask).tolist()) + "\n")


@cocotb.test()
async def test_every_code_in_bulk(dut):
    """Every input code through the wrapper, random stalls, one reset mid-stream."""
    t0 = time.perf_counter()
    with open(os.environ["PWLGEN_REPORT"]) as fh:
        fixed = FixedPWL.from_dict(json.load(fh)["fixed"])
    seed = int(os.environ.get("PWLGEN_SEED", "0"))
    codes = stimulus(fixed.in_fmt, fixed.breakpoints, seed,
                     int(os.environ.get("PWLGEN_MAX_CODES", str(1 << 16))))
    _write_stimulus(os.environ["PWLGEN_STIM"], codes, fixed.in_fmt.bits)

    dut.start.value = 1
    await RisingEdge(dut.done)

    n_out = int(dut.n_out.value)
    with open(os.environ["PWLGEN_CAPTURE"]) as fh:
        y, n_x = read_capture(fh.read(), min(n_out, codes.size), fixed.out_fmt.signed,
                              fixed.out_fmt.bits)
    want = fixed.evaluate(codes[:y.size])
    bad = np.flatnonzero(want != y)
    summary = {
        "vectors": int(codes.size),
        "checked": int(y.size),
        "lost": int(codes.size - y.size),
        "mismatches": int(bad.size),
        "first_mismatches": [{"index": int(i), "x": int(codes[i]), "got": int(y[i]),
                              "want": int(want[i])} for i in bad[:20]],
        "x_outputs": n_x,
        "undefined_handshake_cycles": int(dut.undefined_cycles.value),
        "cycles": int(dut.cycles.value),
        "resets": int(dut.resets.value) - 1,  # the first one is the power-on reset
        "inputs_accepted": int(dut.sent.value),
        "seed": seed,
        "sim_time_s": time.perf_counter() - t0,
    }
    np.savez(os.environ["PWLGEN_OUTPUTS"], x=codes[:y.size], y=y)
    with open(os.environ["PWLGEN_SUMMARY"], "w") as fh:
        json.dump(summary, fh, indent=2)
    assert summary["lost"] == 0, f"{summary['lost']} inputs never came out"
    assert n_x == 0, f"{n_x} outputs were X"
    assert summary["undefined_handshake_cycles"] == 0, "ready/valid were X or Z"
    assert bad.size == 0, f"mismatches vs golden: {summary['first_mismatches'][:5]}"
