"""The pipelined PWL unit: an Amaranth stream component built from a FixedPWL.

Data path, one sample per clock::

    x ─▶ segment select ─▶ coefficient ROM ─▶ slope·x ─▶ + intercept, round, saturate ─▶ y

The integer arithmetic is exactly the golden model of `pwlgen.fixedpoint.FixedPWL.evaluate`:
``seg = #{breakpoints <= x}``, ``acc = slope[seg]·x + (intercept[seg] << d)``, then a rounding
right shift by ``s = acc_frac_bits - out_frac_bits`` and saturation to the output format.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError

__all__ = ["PWLUnit", "SELECT_ARCHS", "select_cost", "choose_select_arch"]

SELECT_ARCHS = ("parallel", "tree")
"""Segment-select architectures: parallel comparators + priority, or a binary comparison tree."""

_ROUNDINGS = ("nearest-even", "nearest-away", "truncate")


def select_cost(arch: str, n_segments: int, in_bits: int) -> float:
    """Estimated LUT4 cost of the segment select (a model used to pick the architecture).

    ``parallel``: one comparator against a constant per breakpoint (about ``in_bits / 2`` LUT4
    each: a constant halves the inputs of every carry-chain stage) plus a priority encoder of
    ``S - 1`` inputs (about ``S * log2(S) / 3`` LUT4). ``tree``: ``L = ceil(log2 S)`` levels, each a
    comparator against a ``2**l``-entry constant table (``in_bits`` wide, a mux of ``2**l`` inputs
    is about ``2**l / 3`` LUT4 per bit, more or less shared with the comparator) plus the
    comparator (``in_bits + 1`` LUT4).
    """
    if n_segments <= 1:
        return 0.0
    if arch == "parallel":
        return (n_segments - 1) * (in_bits / 2 + 1) + n_segments * math.log2(n_segments) / 3
    if arch == "tree":
        levels = math.ceil(math.log2(n_segments))
        return sum(in_bits * (2 ** lvl) / 3 + in_bits + 1 for lvl in range(levels))
    raise HardwareError(f"select architecture must be one of {SELECT_ARCHS}, not {arch!r}")


def choose_select_arch(n_segments: int, in_bits: int) -> str:
    """The cheaper segment select by `select_cost` (ties go to ``parallel``)."""
    costs = {a: select_cost(a, n_segments, in_bits) for a in SELECT_ARCHS}
    return min(SELECT_ARCHS, key=lambda a: (costs[a], SELECT_ARCHS.index(a)))


def _fmt_shape(fmt):
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


class PWLUnit(wiring.Component):
    """A fixed-point PWL evaluator with stream input and output and a chosen pipeline depth.

    Parameters
    ----------
    fixed : FixedPWL
        Integer tables and formats (`pwlgen.fixedpoint.FixedPWL`).
    stages : int or None, >= 0
        Number of register stages. 0 is purely combinational (``o_stream`` follows ``i_stream``
        in the same cycle); ``max_stages`` registers every cut (each comparison-tree level, the
        ROM output, the product, the output). None picks ``max_stages``.
    select_arch : str or None
        ``"parallel"`` or ``"tree"``; None picks the smaller by `select_cost`.

    Attributes
    ----------
    i_stream : In(stream.Signature(in_fmt))
        Input codes (payload, valid, ready).
    o_stream : Out(stream.Signature(out_fmt))
        Output codes (payload, valid, ready).
    latency : int
        Cycles from an input transfer to its output becoming valid (= ``stages``).
    throughput : float
        Samples per cycle when the consumer is always ready (1.0: fully pipelined).
    select_arch : str
        The segment-select architecture used.
    max_stages : int
        The deepest pipeline this unit supports.
    slope_bits, intercept_bits, acc_bits : int
        Coefficient and accumulator widths (two's complement).

    Notes
    -----
    All stage registers advance together under a ready chain ``ready_i = ~valid_i | ready_i+1``:
    a stage loads whenever it is empty or its content moves on, so bubbles are squeezed out and no
    sample is lost or duplicated. Valid bits reset (synchronously, the ``sync`` domain's reset),
    data registers are reset-less.
    """

    def __init__(self, fixed, stages: int | None = None, select_arch: str | None = None):
        bps = np.asarray(fixed.breakpoints, dtype=np.int64)
        slopes = np.asarray(fixed.slopes, dtype=np.int64)
        intercepts = np.asarray(fixed.intercepts, dtype=np.int64)
        in_fmt, out_fmt = fixed.in_fmt, fixed.out_fmt
        n_seg = len(slopes)
        if n_seg < 1 or len(intercepts) != n_seg or len(bps) != n_seg - 1:
            raise HardwareError(
                f"a FixedPWL needs S slopes, S intercepts and S-1 breakpoints, not "
                f"{len(slopes)}, {len(intercepts)}, {len(bps)}"
            )
        if np.any(np.diff(bps) <= 0):
            raise HardwareError(f"breakpoints must be strictly increasing, not {bps.tolist()!r}")
        if fixed.rounding not in _ROUNDINGS:
            raise HardwareError(f"rounding must be one of {_ROUNDINGS}, not {fixed.rounding!r}")
        acc_frac = in_fmt.frac_bits + fixed.slope_frac_bits
        if acc_frac < fixed.intercept_frac_bits or acc_frac < 0:
            raise HardwareError(
                f"acc_frac_bits ({acc_frac}) must be >= intercept_frac_bits "
                f"({fixed.intercept_frac_bits}) and >= 0"
            )
        if select_arch is None:
            select_arch = choose_select_arch(n_seg, in_fmt.bits)
        if select_arch not in SELECT_ARCHS:
            raise HardwareError(
                f"select architecture must be one of {SELECT_ARCHS}, not {select_arch!r}"
            )
        self.fixed = fixed
        self.in_fmt, self.out_fmt = in_fmt, out_fmt
        self.n_segments = n_seg
        self.select_arch = select_arch
        self._bps = [int(b) for b in bps]
        self._slopes = [int(v) for v in slopes]
        self._intercepts = [int(v) for v in intercepts]
        self.slope_bits = int(fixed.slope_bits)
        self.intercept_bits = int(fixed.intercept_bits)
        self.seg_bits = max(1, (n_seg - 1).bit_length())
        self.shift_in = acc_frac - fixed.intercept_frac_bits
        self.shift_out = acc_frac - out_fmt.frac_bits
        # the golden model's exact accumulator width: the product and the sum may wrap in it
        # (two's complement is modular) because the final sum always fits
        self.acc_bits = int(fixed.acc_bits)
        self.tree_levels = (
            max(1, math.ceil(math.log2(n_seg))) if select_arch == "tree" and n_seg > 1 else 0
        )
        # cut points, in data-path order: each tree level, ROM output, product, output
        self._cuts = [f"level{i}" for i in range(self.tree_levels)] + ["rom", "mul", "out"]
        if select_arch == "parallel" and n_seg > 1:
            self._cuts = ["select"] + self._cuts
        self.max_stages = len(self._cuts)
        if stages is None:
            stages = self.max_stages
        if not isinstance(stages, int) or isinstance(stages, bool):
            raise TypeError(f"stages must be an int, not {type(stages).__name__}")
        if not 0 <= stages <= self.max_stages:
            raise HardwareError(
                f"stages must be in [0, {self.max_stages}] for this unit, not {stages!r}"
            )
        self.stages = stages
        self.registered = self._place(stages)
        self.latency = stages
        self.throughput = 1.0
        super().__init__({
            "i_stream": In(stream.Signature(_fmt_shape(in_fmt))),
            "o_stream": Out(stream.Signature(_fmt_shape(out_fmt))),
        })

    def _place(self, stages: int) -> set[str]:
        """Which cuts get a register: the output first, then product, ROM, then the select."""
        order = ["out", "mul", "rom"]
        select = [c for c in self._cuts if c not in order]
        # then the select levels, deepest first (the shallow ones feed the long table muxes)
        order += select[::-1]
        return set(order[:stages])

    def elaborate(self, platform):
        """Build the pipeline; Python ``if``s pick structure from the parameters only."""
        m = Module()
        in_fmt, out_fmt = self.in_fmt, self.out_fmt
        pipe = _Pipeline(m, self.i_stream.valid)

        x = Signal(_fmt_shape(in_fmt), name="x")
        m.d.comb += x.eq(self.i_stream.payload)
        # thresholds hold max_code + 1 (padding: never reached), hence the extra bits
        cmp_shape = signed(in_fmt.bits + 2)

        # segment select
        if self.n_segments == 1:
            seg = Const(0, self.seg_bits)
        elif self.select_arch == "parallel":
            ge = Signal(len(self._bps), name="ge")  # thermometer: ge[i] = x >= bp[i]
            m.d.comb += ge.eq(Cat(*[x >= b for b in self._bps]))
            seg_c = Signal(self.seg_bits, name="seg_idx_c")
            # a thermometer code: the highest set comparison wins (later assignments take priority)
            for i in range(len(self._bps)):
                with m.If(ge[i]):
                    m.d.comb += seg_c.eq(i + 1)
            x, seg = pipe.stage("select" in self.registered, "select", x, seg_c)
        else:
            levels = self.tree_levels
            pad = [*self._bps] + [in_fmt.max_code + 1] * (2 ** levels - 1 - len(self._bps))
            prefix = Const(0, 1)
            for lvl in range(levels):
                # node breakpoint for the next bit: seg >= (2p+1)*2**(L-l-1) iff x >= bp[that-1]
                span = 2 ** (levels - lvl - 1)
                table = [pad[(2 * p + 1) * span - 1] for p in range(2 ** lvl)]
                thr = Signal(cmp_shape, name=f"thr{lvl}")
                if lvl == 0:
                    m.d.comb += thr.eq(table[0])
                else:
                    with m.Switch(prefix):
                        for p, t in enumerate(table):
                            with m.Case(p):
                                m.d.comb += thr.eq(t)
                bit = Signal(name=f"bit{lvl}")
                m.d.comb += bit.eq(x >= thr)
                nxt = Signal(lvl + 1, name=f"prefix{lvl}")
                m.d.comb += nxt.eq(Cat(bit, prefix) if lvl else bit)
                x, prefix = pipe.stage(f"level{lvl}" in self.registered, f"level{lvl}", x, nxt)
            seg = prefix

        # coefficient ROM (entries past the last segment cannot be reached)
        slope_c = Signal(signed(self.slope_bits), name="slope_c")
        icpt_c = Signal(signed(self.intercept_bits), name="intercept_c")
        if self.n_segments == 1:
            m.d.comb += [slope_c.eq(self._slopes[0]), icpt_c.eq(self._intercepts[0])]
        else:
            with m.Switch(seg):
                for i in range(self.n_segments - 1):
                    with m.Case(i):
                        m.d.comb += [slope_c.eq(self._slopes[i]),
                                     icpt_c.eq(self._intercepts[i])]
                with m.Default():  # the last segment; indices past it cannot occur
                    m.d.comb += [slope_c.eq(self._slopes[-1]), icpt_c.eq(self._intercepts[-1])]
        x, slope, icpt = pipe.stage("rom" in self.registered, "rom", x, slope_c, icpt_c)

        # multiply
        prod_c = Signal(signed(self.acc_bits), name="product_c")
        m.d.comb += prod_c.eq(x * slope)
        prod, icpt = pipe.stage("mul" in self.registered, "mul", prod_c, icpt)

        # add, round, saturate
        acc = Signal(signed(self.acc_bits), name="acc")
        m.d.comb += acc.eq(prod + (icpt << self.shift_in))
        s = self.shift_out
        rounded = Signal(signed(self.acc_bits + 1), name="rounded")
        if s <= 0:
            m.d.comb += rounded.eq(acc << -s)
        elif self.fixed.rounding == "truncate":
            m.d.comb += rounded.eq(acc >> s)
        else:
            # floor((acc + half - 1 + c) / 2**s): c = 1 for a positive tie (away from zero) or
            # the quotient's LSB (ties to even); both reduce to round-to-nearest elsewhere
            c = ~acc[-1] if self.fixed.rounding == "nearest-away" else acc[s]
            half = 1 << (s - 1)
            wide = Signal(signed(self.acc_bits + 2), name="acc_biased")
            m.d.comb += wide.eq(acc + (half - 1) + c)
            m.d.comb += rounded.eq(wide >> s)
        y_c = Signal(_fmt_shape(out_fmt), name="y_c")
        lo, hi = out_fmt.min_code, out_fmt.max_code
        m.d.comb += y_c.eq(Mux(rounded > hi, hi, Mux(rounded < lo, lo, rounded)))
        (y,) = pipe.stage("out" in self.registered, "out", y_c)

        m.d.comb += self.o_stream.payload.eq(y)
        pipe.finish(self.i_stream, self.o_stream)
        return m


class _Pipeline:
    """Stage registers that advance under one ready chain (see `PWLUnit` Notes)."""

    def __init__(self, m: Module, valid_in):
        self.m = m
        self.valid = valid_in  # valid of the current (combinational) point
        self.regs = []  # (valid_reg, load_enable) in order

    def stage(self, register: bool, name: str, *values):
        if not register:
            return values
        m = self.m
        idx = len(self.regs) + 1
        valid = Signal(name=f"s{idx}_valid")
        load = Signal(name=f"s{idx}_load")
        out = []
        for k, v in enumerate(values):
            r = Signal(v.shape(), name=f"s{idx}_{name}_{k}", reset_less=True)
            with m.If(load):
                m.d.sync += r.eq(v)
            out.append(r)
        with m.If(load):
            m.d.sync += valid.eq(self.valid)
        self.regs.append((valid, load))
        self.valid = valid
        return tuple(out)

    def finish(self, i_stream, o_stream):
        m = self.m
        ready = o_stream.ready
        for valid, load in reversed(self.regs):
            # a stage loads when it is empty or its content leaves this cycle
            m.d.comb += load.eq(~valid | ready)
            ready = load
        m.d.comb += [i_stream.ready.eq(ready), o_stream.valid.eq(self.valid)]
