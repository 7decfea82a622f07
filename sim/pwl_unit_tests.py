"""cocotb bench of an emitted PWL unit: driver, monitor, checker and the test.

The unit under test is described by its ``hw_report`` JSON (``PWLGEN_REPORT``): the FixedPWL in
it is the golden model, its function is the true f, its error report the bound. Each cycle the
bench samples both handshakes at the rising edge (pre-edge values) and drives new inputs at the
falling edge, so no race with the DUT's registers is possible and a combinational unit
(0 stages) works too.

Environment: ``PWLGEN_REPORT`` (path), ``PWLGEN_SUMMARY`` (where to write the JSON summary),
``PWLGEN_SEED``, ``PWLGEN_P_VALID`` / ``PWLGEN_P_READY`` (probabilities of asserting valid /
ready each cycle), ``PWLGEN_RESET_AT`` (input transfers before the mid-stream reset; -1: none),
``PWLGEN_MAX_CODES`` (formats wider than this many codes get random codes plus corners),
``PWLGEN_REF_F`` (optional ``.npy`` of f at every input code, ascending).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from pwlgen.fixedpoint import FixedPWL
from pwlgen.functions import get_target


def stimulus(fixed: FixedPWL, rng: random.Random, max_codes: int = 1 << 16) -> list[int]:
    """Every input code (shuffled) when there are at most `max_codes`, else random + corners."""
    fmt = fixed.in_fmt
    n = fmt.max_code - fmt.min_code + 1
    if n <= max_codes:
        codes = list(range(fmt.min_code, fmt.max_code + 1))
    else:
        corners = {fmt.min_code, fmt.max_code, 0}
        for b in fixed.breakpoints.tolist():
            corners.update(c for c in (b - 1, b, b + 1) if fmt.min_code <= c <= fmt.max_code)
        codes = sorted(corners) + [rng.randint(fmt.min_code, fmt.max_code)
                                   for _ in range(max_codes - len(corners))]
    rng.shuffle(codes)
    return codes


class StreamDriver:
    """Drives ``i_stream``: offers the next pending code with probability `p_valid`.

    Holds valid and payload until the transfer (the stream rule); idle during reset.
    """

    def __init__(self, dut, codes, rng: random.Random, p_valid: float):
        self.dut, self.rng, self.p_valid = dut, rng, p_valid
        self.pending = deque(codes)
        self.valid = False

    def drive(self, in_reset: bool):
        if not self.valid and self.pending and not in_reset:
            self.valid = self.rng.random() < self.p_valid
        if in_reset:
            self.valid = False
        self.dut.i_stream__valid.value = int(self.valid)
        if self.valid:
            self.dut.i_stream__payload.value = self.pending[0]

    def sample(self) -> int | None:
        """At the rising edge: the code transferred this cycle, if any."""
        if self.valid and int(self.dut.i_stream__ready.value):
            self.valid = False
            return self.pending.popleft()
        return None

    def resend(self, codes):
        """Codes lost in a reset go back to the front of the queue."""
        self.valid = False
        self.pending.extendleft(reversed(list(codes)))


class StreamMonitor:
    """Drives ``o_stream.ready`` with probability `p_ready` and collects transferred outputs."""

    def __init__(self, dut, rng: random.Random, p_ready: float, signed: bool):
        self.dut, self.rng, self.p_ready, self.signed = dut, rng, p_ready, signed
        self.ready = False

    def drive(self, in_reset: bool):
        self.ready = (not in_reset) and self.rng.random() < self.p_ready
        self.dut.o_stream__ready.value = int(self.ready)

    def sample(self) -> int | None:
        if self.ready and int(self.dut.o_stream__valid.value):
            v = self.dut.o_stream__payload.value
            return v.to_signed() if self.signed else v.to_unsigned()
        return None


class Checker:
    """Scoreboard: in-order expected inputs; each output is checked against the golden model
    (bit-exact) and, independently, against the true f within the reported max error."""

    def __init__(self, fixed: FixedPWL, f, bound_abs: float | None):
        self.fixed, self.f, self.bound_abs = fixed, f, bound_abs
        self.in_flight: deque[int] = deque()
        self.checked = 0
        self.mismatches: list[dict] = []
        self.bound_violations: list[dict] = []
        self.unexpected = 0
        self.max_err_abs = 0.0
        self.xs: list[int] = []
        self.ys: list[int] = []

    def accepted(self, x: int):
        self.in_flight.append(x)

    def output(self, y: int):
        if not self.in_flight:
            self.unexpected += 1
            return
        x = self.in_flight.popleft()
        self.xs.append(x)
        self.ys.append(y)

    def flush(self) -> list[int]:
        """A reset empties the unit: the in-flight inputs will never come out."""
        lost = list(self.in_flight)
        self.in_flight.clear()
        return lost

    def finish(self):
        """Compare everything collected (vectorised: the golden model is numpy)."""
        x = np.array(self.xs, dtype=np.int64)
        y = np.array(self.ys, dtype=np.int64)
        want = self.fixed.evaluate(x)
        bad = np.flatnonzero(want != y)
        self.checked = int(x.size)
        self.mismatches = [{"x": int(x[i]), "got": int(y[i]), "want": int(want[i])}
                           for i in bad[:20]]
        self.n_mismatches = int(bad.size)
        self.n_bound_violations = 0
        self.max_err_abs = self.max_err_lsb = None
        if self.f is None:
            return
        xr = self.fixed.in_fmt.to_real(x)
        err = np.abs(self.fixed.out_fmt.to_real(y) - self.f(xr))
        self.max_err_abs = float(err.max()) if err.size else 0.0
        self.max_err_lsb = self.max_err_abs / self.fixed.out_fmt.lsb
        if self.bound_abs is not None:
            over = np.flatnonzero(err > self.bound_abs * (1 + 1e-9) + 1e-15)
            self.bound_violations = [{"x": int(x[i]), "err_abs": float(err[i])}
                                     for i in over[:20]]
            self.n_bound_violations = int(over.size)


def _bound(report: dict) -> float | None:
    err = report.get("error") or {}
    for key in ("max_err_abs", "max_err_abs_vs_f", "max_abs_error"):
        if isinstance(err.get(key), int | float):
            return float(err[key])
    vs_f = err.get("vs_f") or err.get("vs_target") or {}
    if isinstance(vs_f, dict) and isinstance(vs_f.get("max_err_abs"), int | float):
        return float(vs_f["max_err_abs"])
    return None


def _true_f(report: dict, fixed: FixedPWL):
    """f on reals: from ``PWLGEN_REF_F`` (f of every input code, precomputed by the runner so
    the simulator's Python need not import torch) or else from the target registry."""
    path = os.environ.get("PWLGEN_REF_F")
    if path and os.path.isfile(path):
        table = np.load(path)
        lsb, lo = fixed.in_fmt.lsb, fixed.in_fmt.min_code
        return lambda xr: table[np.rint(np.asarray(xr) / lsb).astype(np.int64) - lo]
    return get_target(report["function"]).f


@cocotb.test()
async def test_every_code_with_stalls_and_reset(dut):
    """Every input code through the unit, random stalls, one reset mid-stream."""
    t0 = time.perf_counter()
    with open(os.environ["PWLGEN_REPORT"]) as fh:
        report = json.load(fh)
    fixed = FixedPWL.from_dict(report["fixed"])
    bound = _bound(report)
    # the true-f check needs the reported bound (a report without error report: golden only)
    f = _true_f(report, fixed) if bound is not None else None
    seed = int(os.environ.get("PWLGEN_SEED", "0"))
    rng = random.Random(seed)
    codes = stimulus(fixed, rng, int(os.environ.get("PWLGEN_MAX_CODES", str(1 << 16))))
    reset_at = int(os.environ.get("PWLGEN_RESET_AT", str(len(codes) // 2)))

    driver = StreamDriver(dut, codes, rng, float(os.environ.get("PWLGEN_P_VALID", "0.9")))
    monitor = StreamMonitor(dut, rng, float(os.environ.get("PWLGEN_P_READY", "0.9")),
                            fixed.out_fmt.signed)
    checker = Checker(fixed, f, bound)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    edge = RisingEdge(dut.clk)
    dut.rst.value = 1
    driver.drive(in_reset=True)
    monitor.drive(in_reset=True)
    for _ in range(2):
        await edge
    dut.rst.value = 0

    sent, resets, cycles, reset_left = 0, 0, 0, 0
    limit = 40 * len(codes) + 1000
    driver.drive(in_reset=False)
    monitor.drive(in_reset=False)
    while (driver.pending or checker.in_flight) and cycles < limit:
        await edge
        cycles += 1
        # sampled at the edge: the values the DUT's registers see; new inputs written now
        # are applied in this step's ReadWrite phase, after the registers have updated
        x, y = driver.sample(), monitor.sample()
        if x is not None:
            checker.accepted(x)
            sent += 1
        if y is not None:
            checker.output(y)
        if reset_left:
            reset_left -= 1
            if reset_left == 0:
                dut.rst.value = 0
        elif reset_at >= 0 and sent >= reset_at and resets == 0:
            resets += 1
            dut.rst.value = 1
            reset_left = 2
            driver.resend(checker.flush())
        driver.drive(in_reset=reset_left > 0)
        monitor.drive(in_reset=reset_left > 0)
    checker.finish()
    summary = {
        "vectors": len(codes),
        "checked": checker.checked,
        "mismatches": checker.n_mismatches,
        "first_mismatches": checker.mismatches,
        "unexpected_outputs": checker.unexpected,
        "lost": len(driver.pending) + len(checker.in_flight),
        "bound_abs": checker.bound_abs,
        "bound_violations": checker.n_bound_violations,
        "first_bound_violations": checker.bound_violations,
        "max_err_lsb": checker.max_err_lsb,
        "max_err_abs": checker.max_err_abs,
        "cycles": cycles,
        "resets": resets,
        "seed": seed,
        "sim_time_s": time.perf_counter() - t0,
    }
    path = os.environ.get("PWLGEN_SUMMARY")
    if path:
        with open(path, "w") as fh:
            json.dump(summary, fh, indent=2)
    assert summary["lost"] == 0, f"{summary['lost']} inputs never came out ({cycles} cycles)"
    assert checker.unexpected == 0, f"{checker.unexpected} outputs with no input in flight"
    assert checker.n_mismatches == 0, f"mismatches vs golden: {checker.mismatches[:5]}"
    assert checker.n_bound_violations == 0, \
        f"errors above the reported bound: {checker.bound_violations[:5]}"
    assert checker.checked == len(codes)
