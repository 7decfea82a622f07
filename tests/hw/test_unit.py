# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the PWL unit against the golden integer model."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from pwlgen.errors import HardwareError
from pwlgen.fixedpoint import FixedPWL, Format, design
from pwlgen.hw.unit import PWLUnit, choose_select_arch, select_cost


def make_fixed(n_seg=5, in_fmt="s3.4", out_fmt="s2.5", rounding="nearest-even",
               seed=0, slope_frac=6, icpt_frac=7):
    """Random integer tables (a FixedPWL by hand: the unit must match any, not only designs)."""
    in_fmt = Format.parse(in_fmt)
    rng = np.random.default_rng(seed)
    codes = in_fmt.codes()
    bps = np.sort(rng.choice(codes[1:], n_seg - 1, replace=False)).astype(np.int64)
    slopes = rng.integers(-40, 40, n_seg).astype(np.int64)
    icpts = rng.integers(-300, 300, n_seg).astype(np.int64)
    return FixedPWL("test", in_fmt, out_fmt, bps, slopes, slope_frac, icpts, icpt_frac, rounding)


# --- simulation helpers ---
def run_stream(unit, xs, *, seed=0, p_valid=1.0, p_ready=1.0, reset_at=None, max_cycles=None):
    """Drive `xs` through the unit; returns (accepted inputs, outputs) as lists of ints.

    With `reset_at`, the reset is pulsed after that many input transfers; the inputs accepted
    but not yet output are dropped from the expected list (a reset empties the pipeline) and sent
    again.
    """
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.unit = unit
    sim = Simulator(top)
    sim.add_clock(1e-6)
    rng = random.Random(seed)
    expected, got = [], []
    pending = list(xs)
    state = {"in_flight": [], "sent": 0}
    max_cycles = max_cycles or 20 * (len(xs) + 50)

    async def bench(ctx):
        cycles = 0
        did_reset = False
        while (pending or state["in_flight"]) and cycles < max_cycles:
            cycles += 1
            if reset_at is not None and not did_reset and state["sent"] == reset_at:
                did_reset = True
                # pulse the synchronous reset for two cycles, with no handshakes
                ctx.set(unit.i_stream.valid, 0)
                ctx.set(unit.o_stream.ready, 0)
                ctx.set(cd.rst, 1)
                await ctx.tick()
                await ctx.tick()
                ctx.set(cd.rst, 0)
                pending[:0] = state["in_flight"]
                state["in_flight"] = []
                continue
            v = bool(pending) and rng.random() < p_valid
            r = rng.random() < p_ready
            ctx.set(unit.i_stream.valid, v)
            if v:
                ctx.set(unit.i_stream.payload, pending[0])
            ctx.set(unit.o_stream.ready, r)
            # sample handshakes before the edge (combinational paths settle on ctx.get)
            in_fire = v and ctx.get(unit.i_stream.ready)
            out_fire = r and ctx.get(unit.o_stream.valid)
            out_val = ctx.get(unit.o_stream.payload) if out_fire else None
            await ctx.tick()
            if in_fire:
                state["in_flight"].append(pending.pop(0))
                state["sent"] += 1
            if out_fire:
                got.append(out_val)
                expected.append(state["in_flight"].pop(0) if state["in_flight"] else None)
        ctx.set(unit.i_stream.valid, 0)

    sim.add_testbench(bench)
    sim.run()
    return expected, got


def check(unit, fixed, xs, **kw):
    expected, got = run_stream(unit, xs, **kw)
    assert None not in expected, "an output appeared with no input in flight"
    assert sorted(expected) == sorted(xs), "inputs lost or duplicated"
    want = fixed.evaluate(np.array(expected, dtype=np.int64))
    bad = np.flatnonzero(want != np.array(got, dtype=np.int64))
    assert bad.size == 0, f"first mismatches: x={[expected[i] for i in bad[:5]]} " \
        f"got={[got[i] for i in bad[:5]]} want={want[bad[:5]].tolist()}"


# --- tests ---
@pytest.mark.parametrize("arch", ["parallel", "tree"])
@pytest.mark.parametrize("rounding", ["nearest-even", "nearest-away", "truncate"])
def test_unit_matches_golden_model_on_every_code(arch, rounding):
    fixed = make_fixed(n_seg=6, rounding=rounding, seed=1)
    unit = PWLUnit(fixed, select_arch=arch)
    check(unit, fixed, fixed.in_fmt.codes().tolist())


@pytest.mark.parametrize("stages", [0, 1, 2, 3, 4, 5])
def test_unit_matches_golden_model_at_every_pipeline_depth(stages):
    fixed = make_fixed(n_seg=9, seed=2)
    unit = PWLUnit(fixed, stages=stages, select_arch="tree")
    assert unit.latency == stages
    check(unit, fixed, fixed.in_fmt.codes().tolist(), seed=stages, p_valid=0.7, p_ready=0.6)


@pytest.mark.parametrize("in_fmt,out_fmt", [
    ("u2.5", "u1.6"),
    ("s3.4", "u0.6"),
    ("u3.4", "s6.6"),  # acc_frac (4 + 1) < out_frac (6): a left shift
    ("u3.4", "s6.5"),  # acc_frac == out_frac: no shift
])
def test_unit_handles_unsigned_formats_and_left_shift(in_fmt, out_fmt):
    fixed = make_fixed(n_seg=4, in_fmt=in_fmt, out_fmt=out_fmt, seed=3, slope_frac=1, icpt_frac=3)
    for arch in ("parallel", "tree"):
        check(PWLUnit(fixed, select_arch=arch), fixed, fixed.in_fmt.codes().tolist())


def test_unit_with_one_segment_is_a_single_line():
    fixed = make_fixed(n_seg=1, seed=4)
    check(PWLUnit(fixed), fixed, fixed.in_fmt.codes().tolist())


def test_backpressure_never_loses_or_duplicates_a_sample():
    fixed = make_fixed(n_seg=7, seed=5)
    unit = PWLUnit(fixed)
    xs = fixed.in_fmt.codes().tolist() * 2
    check(unit, fixed, xs, seed=11, p_valid=0.5, p_ready=0.3)


def test_reset_mid_stream_empties_the_pipeline_and_keeps_working():
    fixed = make_fixed(n_seg=7, seed=6)
    unit = PWLUnit(fixed)
    check(unit, fixed, fixed.in_fmt.codes().tolist(), seed=3, p_valid=0.8, p_ready=0.7,
          reset_at=40)


def test_full_throughput_when_always_ready():
    fixed = make_fixed(n_seg=7, seed=7)
    unit = PWLUnit(fixed)
    n = 50
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    count = {"out": 0, "cycles": 0}

    async def bench(ctx):
        ctx.set(unit.o_stream.ready, 1)
        ctx.set(unit.i_stream.valid, 1)
        for i in range(n + unit.latency):
            ctx.set(unit.i_stream.payload, i % 64)
            assert ctx.get(unit.i_stream.ready)
            if ctx.get(unit.o_stream.valid):
                count["out"] += 1
            await ctx.tick()
    sim.add_testbench(bench)
    sim.run()
    assert count["out"] == n
    assert unit.throughput == 1.0


def test_stage_count_out_of_range_raises_hardware_error():
    fixed = make_fixed(n_seg=5)
    unit = PWLUnit(fixed)
    with pytest.raises(HardwareError, match=rf"^stages must be in \[0, {unit.max_stages}\] "
                                            rf"for this unit, not {unit.max_stages + 1}$"):
        PWLUnit(fixed, stages=unit.max_stages + 1)


def test_unknown_select_arch_raises_hardware_error():
    with pytest.raises(HardwareError, match=r"^select architecture must be one of .*'magic'$"):
        PWLUnit(make_fixed(), select_arch="magic")


def test_select_arch_is_parallel_for_few_segments_and_tree_for_many():
    assert choose_select_arch(4, 16) == "parallel"
    assert choose_select_arch(200, 16) == "tree"
    for n in (2, 8, 40, 300):
        arch = choose_select_arch(n, 16)
        assert select_cost(arch, n, 16) == min(select_cost(a, n, 16) for a in ("parallel", "tree"))


@pytest.mark.parametrize("n_seg,arch", [(1, "parallel"), (6, "parallel"), (6, "tree"),
                                        (40, "tree")])
def test_latency_attribute_is_the_measured_input_to_output_delay(n_seg, arch):
    fixed = make_fixed(n_seg=n_seg, seed=8)
    for stages in range(PWLUnit(fixed, select_arch=arch).max_stages + 1):
        unit = PWLUnit(fixed, stages=stages, select_arch=arch)
        top = Module()
        top.domains.sync = ClockDomain()  # a 0-stage unit has no domain of its own
        top.submodules.unit = unit
        sim = Simulator(top)
        sim.add_clock(1e-6)
        seen = {}

        async def bench(ctx, unit=unit, seen=seen):
            ctx.set(unit.o_stream.ready, 1)
            ctx.set(unit.i_stream.valid, 1)
            ctx.set(unit.i_stream.payload, 3)
            for cycle in range(unit.max_stages + 3):
                if ctx.get(unit.o_stream.valid):
                    seen["latency"] = cycle
                    return
                await ctx.tick()
                ctx.set(unit.i_stream.valid, 0)

        sim.add_testbench(bench)
        sim.run()
        assert seen["latency"] == unit.latency == stages


def make_folded(fold, n_seg=5, seed=0, in_fmt="s3.4", out_fmt="s2.5"):
    """Random half-range tables (breakpoints <= 0) with a fold."""
    in_fmt = Format.parse(in_fmt)
    rng = np.random.default_rng(seed)
    bps = np.sort(rng.choice(np.arange(in_fmt.min_code + 1, 1), n_seg - 1, replace=False))
    return FixedPWL("test", in_fmt, out_fmt, bps.astype(np.int64),
                    rng.integers(-40, 40, n_seg), 6, rng.integers(-300, 300, n_seg), 7,
                    fold=fold, fold_center=int(rng.integers(-40, 200)) if fold == "point" else 0)


@pytest.mark.parametrize("fold", ["odd", "point", "even", "residual"])
def test_folded_unit_matches_golden_model_at_every_depth(fold):
    fixed = make_folded(fold, n_seg=6, seed=hash(fold) % 100)
    for stages in range(0, PWLUnit(fixed).max_stages + 1, 2):
        unit = PWLUnit(fixed, stages=stages, select_arch="tree" if stages % 4 else "parallel")
        assert "fold" in unit._cuts and "unfold" in unit._cuts
        check(unit, fixed, fixed.in_fmt.codes().tolist(), seed=stages, p_valid=0.8,
              p_ready=0.6, reset_at=30 if stages else None)


def _handshake(unit, steps):
    """Apply (rst, i_valid, o_ready) per step; return i_stream.ready seen in each."""
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.unit = unit
    sim = Simulator(top)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        for rst, valid, ready in steps:
            ctx.set(cd.rst, rst)
            ctx.set(unit.i_stream.valid, valid)
            ctx.set(unit.i_stream.payload, 1)
            ctx.set(unit.o_stream.ready, ready)
            seen.append((ctx.get(unit.i_stream.ready), ctx.get(unit.o_stream.valid)))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    return seen


def test_input_is_not_ready_during_reset():
    unit = PWLUnit(make_fixed(n_seg=7, seed=9))
    seen = _handshake(unit, [(1, 1, 1)] * 3 + [(0, 1, 1)] * 3)
    assert [r for r, _ in seen] == [0, 0, 0, 1, 1, 1]


def test_input_ready_does_not_follow_output_ready_combinationally():
    # a consumer that stalls: ready upstream drops only a cycle after the spare entry fills
    unit = PWLUnit(make_fixed(n_seg=7, seed=9))
    steps = [(1, 0, 0)] + [(0, 1, 1)] * 12 + [(0, 1, 0)] * 4
    seen = _handshake(unit, steps)
    ready = [r for r, _ in seen]
    assert all(ready[1:14])       # flowing, and still ready in the first stalled cycle
    assert not any(ready[14:])    # then held: the spare entry is full
    for o_ready in (0, 1):        # same state, either o_ready: the same i_ready
        other = _handshake(unit, steps[:-1] + [(0, 1, o_ready)])
        assert other[-1][0] == seen[-1][0]


@pytest.mark.parametrize("mul_chunk", [1, 2, 3, 7, 64])
def test_chunked_and_single_multipliers_match_the_golden_model(mul_chunk):
    fixed = make_fixed(n_seg=5, seed=12, slope_frac=9)
    unit = PWLUnit(fixed, mul_chunk=mul_chunk)
    assert unit.mul_chunk == min(mul_chunk, unit.slope_bits)
    check(unit, fixed, fixed.in_fmt.codes().tolist(), seed=1, p_valid=0.9, p_ready=0.8)
    with pytest.raises(HardwareError, match=r"^mul_chunk must be a positive integer, not 0$"):
        PWLUnit(fixed, mul_chunk=0)


def _tree_bits(unit, widths):
    """Walk every code down the tree with k-bit compares (as the unit does): the index bits."""
    mag = unit.fold != "none"
    x = unit.in_fmt.codes()
    v = np.abs(x) if mag else x
    prefix = np.zeros(v.size, dtype=np.int64)
    exact = np.zeros(v.size, dtype=np.int64)
    for lvl, (table, k) in enumerate(zip(unit._tree_tables(), widths, strict=True)):
        t = np.asarray(table, dtype=np.int64)
        want = (v < t[exact]) if mag else (v >= t[exact])
        if lvl == 0:
            got = want
        else:
            d = (v - t[prefix]) & ((1 << k) - 1)  # two's complement in k bits
            negative = d >= 1 << (k - 1)
            got = negative if mag else ~negative
        exact = 2 * exact + want
        prefix = 2 * prefix + got
    return prefix, exact


@pytest.mark.parametrize("fn,fmts,symmetry", [
    ("sigmoid", ("s3.12", "u0.16"), "auto"),
    ("tanh", ("s3.8", "s0.9"), "auto"),
    ("gelu", ("s3.8", "s3.8"), "none"),
])
def test_tree_levels_compare_few_bits_and_still_find_every_segment(fn, fmts, symmetry):
    fixed = design(fn, *fmts, symmetry=symmetry)
    unit = PWLUnit(fixed, select_arch="tree")
    widths = unit._compare_widths(unit._tree_tables())
    got, exact = _tree_bits(unit, widths)
    np.testing.assert_array_equal(got, exact)
    if fn == "sigmoid":
        assert min(widths) < fixed.in_fmt.bits  # the deep levels do narrow
    # one bit fewer at any narrowed level misjudges some code: the widths are the least
    for lvl in range(1, len(widths)):
        fewer = [*widths[:lvl], widths[lvl] - 1, *widths[lvl + 1:]]
        assert not np.array_equal(_tree_bits(unit, fewer)[0], exact), lvl
