"""Per-transaction cocotb tests of the stream handshake corner cases of an emitted unit.

The bulk proof (``pwl_unit_tests.py``) covers every code; these drive the unit itself (no
wrapper), cycle by cycle, where the corner cases are: ``i_stream.ready`` during reset, defined
valid/ready right after a one-cycle reset, no loss or duplicate under arbitrary stalls, and
back-pressure. Each cycle the bench samples at the rising edge (pre-edge values) and drives at
the falling edge, so there is no race with the unit's registers.

Environment: ``PWLGEN_REPORT`` (the unit's ``hw_report``), ``PWLGEN_SEED``.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from pwlgen.fixedpoint import FixedPWL


def _fixed() -> FixedPWL:
    with open(os.environ["PWLGEN_REPORT"]) as fh:
        return FixedPWL.from_dict(json.load(fh)["fixed"])


def _bit(handle) -> int | None:
    """0 or 1, or None when the value is X or Z."""
    v = handle.value
    return int(v) if v.is_resolvable else None


def _signed(handle, signed: bool) -> int:
    v = handle.value
    return v.to_signed() if signed else v.to_unsigned()


class Bench:
    """Clock, reset and a per-cycle driver/monitor with a scoreboard of the unit's outputs."""

    def __init__(self, dut, fixed: FixedPWL):
        self.dut, self.fixed = dut, fixed
        self.sent: list[int] = []
        self.got: list[int] = []
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self, cycles: int):
        dut = self.dut
        dut.i_stream__valid.value = 0
        dut.o_stream__ready.value = 0
        dut.i_stream__payload.value = 0
        dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0

    async def run(self, codes, valid_at, ready_at, limit: int):
        """Offer `codes` in order; valid_at(cycle) / ready_at(cycle) give the stalls."""
        dut, pending, offering = self.dut, list(codes), False
        signed = self.fixed.out_fmt.signed
        for cycle in range(limit):
            if not offering and pending:
                offering = valid_at(cycle)
            dut.i_stream__valid.value = int(offering)
            if offering:
                dut.i_stream__payload.value = pending[0]
            ready = ready_at(cycle)
            dut.o_stream__ready.value = int(ready)
            await RisingEdge(dut.clk)
            if offering and _bit(dut.i_stream__ready) == 1:
                self.sent.append(pending.pop(0))
                offering = False
            if ready and _bit(dut.o_stream__valid) == 1:
                self.got.append(_signed(dut.o_stream__payload, signed))
            await FallingEdge(dut.clk)
            if not pending and len(self.got) == len(self.sent) and not offering:
                return

    def check(self, n: int):
        assert len(self.sent) == n, f"{n - len(self.sent)} inputs were never accepted"
        assert len(self.got) == n, f"{len(self.got)} outputs for {n} inputs"
        want = self.fixed.evaluate(np.array(self.sent, dtype=np.int64)).tolist()
        bad = [i for i, (a, b) in enumerate(zip(self.got, want, strict=True)) if a != b]
        assert not bad, f"outputs out of order, lost, duplicated or wrong from #{bad[0]}"


def _codes(fixed: FixedPWL, rng: random.Random, n: int) -> list[int]:
    fmt = fixed.in_fmt
    return [rng.randint(fmt.min_code, fmt.max_code) for _ in range(n)]


@cocotb.test()
async def test_ready_is_low_during_reset(dut):
    """A sample offered while the unit is in reset must not be accepted (it would vanish)."""
    bench = Bench(dut, _fixed())
    dut.rst.value = 1
    dut.i_stream__valid.value = 1
    dut.i_stream__payload.value = 0
    dut.o_stream__ready.value = 1
    for cycle in range(6):
        await RisingEdge(dut.clk)
        if cycle:  # from the second edge on, the reset has reached every register
            assert _bit(dut.i_stream__ready) == 0, f"i_stream.ready is not 0 in reset ({cycle})"
    assert bench.sent == []


@cocotb.test()
async def test_valid_and_ready_are_defined_after_a_one_cycle_reset(dut):
    """After a single reset cycle from power-on, valid/ready are 0 or 1, never X or Z."""
    bench = Bench(dut, _fixed())
    await bench.reset(1)
    dut.o_stream__ready.value = 1
    for cycle in range(20):
        await RisingEdge(dut.clk)
        assert _bit(dut.i_stream__ready) is not None, f"i_stream.ready is X, cycle {cycle}"
        assert _bit(dut.o_stream__valid) is not None, f"o_stream.valid is X, cycle {cycle}"


@cocotb.test()
async def test_no_loss_or_duplicate_under_arbitrary_stalls(dut):
    """Random stalls, bursts and long gaps on both sides: every input out once, in order."""
    fixed = _fixed()
    rng = random.Random(int(os.environ.get("PWLGEN_SEED", "0")))
    bench = Bench(dut, fixed)
    await bench.reset(2)
    codes = _codes(fixed, rng, 300)
    # a stall pattern per 64-cycle window: always, never, or random at some probability
    modes = [rng.choice((0.0, 1.0, 0.1, 0.5, 0.9)) for _ in range(64)]
    modes_r = [rng.choice((0.0, 1.0, 0.1, 0.5, 0.9)) for _ in range(64)]
    await bench.run(codes, lambda c: rng.random() < max(modes[c // 64 % 64], 0.05),
                    lambda c: rng.random() < max(modes_r[c // 64 % 64], 0.05), 20000)
    bench.check(len(codes))


@cocotb.test()
async def test_back_pressure_stops_input_and_holds_output(dut):
    """With the consumer stalled the unit fills up and stops accepting; the output holds."""
    fixed = _fixed()
    rng = random.Random(1)
    bench = Bench(dut, fixed)
    await bench.reset(2)
    codes = _codes(fixed, rng, 64)
    signed = fixed.out_fmt.signed
    accepted, held = 0, None
    dut.o_stream__ready.value = 0
    for _ in range(100):  # consumer never ready
        dut.i_stream__valid.value = 1
        dut.i_stream__payload.value = codes[accepted]
        await RisingEdge(dut.clk)
        if _bit(dut.i_stream__ready) == 1:
            accepted += 1
        if _bit(dut.o_stream__valid) == 1:
            now = _signed(dut.o_stream__payload, signed)
            assert held in (None, now), "the output payload changed while not ready"
            held = now
        await FallingEdge(dut.clk)
    assert 0 < accepted <= 64, f"{accepted} inputs accepted with the output stalled"
    assert held is not None, "no output became valid"
    bench.sent = codes[:accepted]
    await bench.run(codes[accepted:], lambda c: True, lambda c: True, 1000)
    bench.check(len(codes))


@cocotb.test()
async def test_first_samples_after_a_one_cycle_power_on_reset_are_right(dut):
    """From power-on and one reset cycle, the first samples already match the golden model.

    The first codes select the first segment, whose stage values equal the registers' initial
    values: a simulator that never evaluates the combinational blocks at time 0 (initialisers
    with SystemVerilog semantics, -g2012) computes them from undefined values.
    """
    fixed = _fixed()
    bench = Bench(dut, fixed)
    await bench.reset(1)
    fmt = fixed.in_fmt
    codes = [fmt.min_code, fmt.min_code + 1, 0, fmt.max_code, fmt.min_code]
    await bench.run(codes, lambda c: True, lambda c: True, 200)
    bench.check(len(codes))
