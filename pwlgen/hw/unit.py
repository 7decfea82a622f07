"""The pipelined PWL unit: an Amaranth stream component built from a FixedPWL.

Data path, one sample per clock::

    x ─▶ [fold: u = |x|] ─▶ segment select ─▶ coefficient ROM ─▶ slope·v
      ─▶ + intercept, round, saturate ─▶ [unfold] ─▶ y

The integer arithmetic is exactly the golden model of `pwlgen.fixedpoint.FixedPWL.evaluate`:
``seg = #{breakpoints <= v}``, ``acc = slope[seg]·v + (intercept[seg] << d)``, then a rounding
right shift by ``s = acc_frac_bits - out_frac_bits`` and saturation to the output format; a
folded unit evaluates its half-range table at ``v = -|x|`` and unfolds the result for x > 0.
It carries ``u = |x|`` (unsigned) instead of v: ``v >= t`` becomes ``u < 1 - t`` and
``slope·v`` becomes ``-(slope·u)``, the same integers from unsigned comparators and multiplier.
A tree level compares only as many low bits as the sign of ``v - t`` needs over every input
that reaches it (found by walking every code down the tree, formats up to 20 bits).
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..errors import HardwareError
from ..fixedpoint.area import SELECT_ARCHS, choose_select_arch, select_cost

__all__ = ["PWLUnit", "SELECT_ARCHS", "select_cost", "choose_select_arch"]

_ROUNDINGS = ("nearest-even", "nearest-away", "truncate")


def _fmt_shape(fmt):
    return signed(fmt.bits) if fmt.signed else unsigned(fmt.bits)


class PWLUnit(wiring.Component):
    """A fixed-point PWL evaluator with stream input and output and a chosen pipeline depth.

    Parameters
    ----------
    fixed : FixedPWL
        Integer tables and formats (`pwlgen.fixedpoint.FixedPWL`), folded or not.
    stages : int or None, >= 0
        Number of register stages. 0 is purely combinational (``o_stream`` follows ``i_stream``
        in the same cycle); ``max_stages`` registers every cut (the fold, each comparison-tree
        level, the ROM output, the product, the sum, the output, the unfold). None picks
        ``max_stages``.
    select_arch : str or None
        ``"parallel"`` or ``"tree"``; None picks the smaller by `select_cost`.
    mul_chunk : int or None, >= 1
        The slope is cut into chunks of this many bits that multiply the input in parallel;
        their sum with the intercept is a stage of its own (shorter paths for the price of a
        few registers and adders). None: chunks of at most 4 bits, in as few chunks as that
        allows (measured on iCE40: smaller and faster than one multiplier); ``slope_bits``
        (or more): one multiplier.

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
    With stages >= 1 the last register is a skid buffer (an output register plus one spare
    entry) and every earlier stage advances on one enable, ``~spare_valid``: ``i_stream.ready``
    is a register's output (no combinational path from ``o_stream.ready``), no sample is lost
    or duplicated under any stalls, and one sample per clock flows while the consumer is
    ready. ``i_stream.ready`` is low while ``rst`` is high. Valid bits reset synchronously
    (the ``sync`` domain's reset), data registers are reset-less.
    """

    def __init__(self, fixed, stages: int | None = None, select_arch: str | None = None,
                 mul_chunk: int | None = None):
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
        self.fold = fixed.fold
        # a folded unit carries the magnitude u = |x| = -v (see the module docstring)
        self.magnitude = self.fold != "none"
        self.n_segments = n_seg
        self.select_arch = select_arch
        self._bps = [int(b) for b in bps]
        self._slopes = [int(v) for v in slopes]
        self._intercepts = [int(v) for v in intercepts]
        self.slope_bits = int(fixed.slope_bits)
        self.intercept_bits = int(fixed.intercept_bits)
        # slopes that are all >= 0 are stored and multiplied unsigned, without the sign bit
        self.slope_signed = min(self._slopes) < 0
        self.mul_bits = (self.slope_bits if self.slope_signed
                         else max(1, max(self._slopes).bit_length()))
        if mul_chunk is None:
            n_chunks = max(1, math.ceil(self.mul_bits / 4))
            mul_chunk = math.ceil(self.mul_bits / n_chunks)
        if isinstance(mul_chunk, bool) or not isinstance(mul_chunk, int) or mul_chunk < 1:
            raise HardwareError(f"mul_chunk must be a positive integer, not {mul_chunk!r}")
        self.mul_chunk = min(mul_chunk, self.mul_bits)
        self.seg_bits = max(1, (n_seg - 1).bit_length())
        self.shift_in = acc_frac - fixed.intercept_frac_bits
        self.shift_out = acc_frac - out_fmt.frac_bits
        # the golden model's exact accumulator width: the product and the sum may wrap in it
        # (two's complement is modular) because the final sum always fits
        self.acc_bits = int(fixed.acc_bits)
        self.tree_levels = (
            max(1, math.ceil(math.log2(n_seg))) if select_arch == "tree" and n_seg > 1 else 0
        )
        # cut points, in data-path order: fold, select (or each tree level), ROM output,
        # product, sum, output, unfold
        self._cuts = [f"level{i}" for i in range(self.tree_levels)] + ["rom", "mul", "sum",
                                                                      "out"]
        if select_arch == "parallel" and n_seg > 1:
            self._cuts = ["select"] + self._cuts
        if fixed.folded:
            self._cuts = ["fold", *self._cuts, "unfold"]
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
        if in_fmt.bits <= 20:  # every code: saturations that never act are left out
            self._core_range, self._unfold_range = fixed.saturation_ranges()
        else:
            self._core_range = self._unfold_range = None
        self.latency = stages
        self.throughput = 1.0
        super().__init__({
            "i_stream": In(stream.Signature(_fmt_shape(in_fmt))),
            "o_stream": Out(stream.Signature(_fmt_shape(out_fmt))),
        })

    def _place(self, stages: int) -> set[str]:
        """Which cuts get a register: the last, product, sum, output, ROM, fold, then select."""
        order = [self._cuts[-1], "mul", "sum", "out", "rom", "fold"]
        order = [c for c in dict.fromkeys(order) if c in self._cuts]
        select = [c for c in self._cuts if c not in order]
        # then the select levels, deepest first (the shallow ones feed the long table muxes)
        order += select[::-1]
        return set(order[:stages])

    def _tree_tables(self) -> list[list[int]]:
        """Each tree level's thresholds, indexed by the bits found so far.

        Level l, prefix p: ``seg >= (2p+1)·2**(L-l-1)`` iff ``v >= bp[that - 1]``; past the
        last breakpoint the tree pads with ``table_max_code + 1`` (never reached). A folded
        unit tests ``u < 1 - t`` instead (`PWLUnit` carries ``u = |x| = -v``).
        """
        levels = self.tree_levels
        pad = [*self._bps] + [self.fixed.table_max_code + 1] * (2 ** levels - 1 - len(self._bps))
        tables = [[pad[(2 * p + 1) * 2 ** (levels - lvl - 1) - 1] for p in range(2 ** lvl)]
                  for lvl in range(levels)]
        return [[self._threshold(t) for t in table] for table in tables]

    def _threshold(self, t: int) -> int:
        """Threshold t (``v >= t``) as compared on the carried value: ``u < 1 - t`` folded.

        Folded thresholds are codes in [0, 2**(bits-1) + 1], unsigned.
        """
        return 1 - t if self.magnitude else t

    def _compare_widths(self, tables: list[list[int]]) -> list[int]:
        """Bits each tree level compares: enough for the sign of v - t, over every input.

        Formats of up to 20 bits walk every code down the tree (the largest |v - t| at each
        level); wider ones compare at full width.
        """
        full = self.in_fmt.bits + 2
        if self.in_fmt.bits > 20:
            return [full] * len(tables)
        mag = self.magnitude
        x = self.in_fmt.codes()
        v = np.abs(x) if mag else x  # what the tree compares: u = |x| or v = x
        prefix = np.zeros(v.size, dtype=np.int64)
        widths = []
        for table in tables:
            t = np.asarray(table, dtype=np.int64)[prefix]
            d = v - t
            hi, lo = int(d.max()), int(d.min())
            widths.append(min(full, max(hi.bit_length(), (-lo - 1).bit_length()) + 1))
            prefix = 2 * prefix + ((v < t) if mag else (v >= t))
        return widths

    def elaborate(self, platform):
        """Build the pipeline; Python ``if``s pick structure from the parameters only."""
        m = Module()
        in_fmt, out_fmt = self.in_fmt, self.out_fmt
        pipe = _Pipeline(m, self.i_stream.valid, self.registered, final=self._cuts[-1])

        x = Signal(_fmt_shape(in_fmt), name="x")
        m.d.comb += x.eq(self.i_stream.payload)
        # side band for the unfold: the sign (odd, point) and x itself (residual)
        side = []
        # a folded unit carries the magnitude u = |x| = -v (unsigned: in_fmt.bits hold
        # 2**(bits-1), the most negative code's), tests v >= t as u < 1 - t and subtracts
        # slope*u: unsigned comparators and multiplier, smaller than signed ones
        mag = self.magnitude
        if mag:
            u_c = Signal(unsigned(in_fmt.bits), name="u_c")
            m.d.comb += u_c.eq(Mux(x < 0, -x, x))
            pos_c = Signal(name="pos_c")
            m.d.comb += pos_c.eq(x > 0)
            side = [pos_c, x] if self.fold == "residual" else [pos_c]
            v, *side = pipe.stage("fold", u_c, *side)
        else:
            v = x

        def at_or_above(t):
            """Whether v >= t (t a threshold in table codes), on what the pipeline carries."""
            return v < t if mag else v >= t

        # segment select
        if self.n_segments == 1:
            seg = Const(0, self.seg_bits)
        elif self.select_arch == "parallel":
            ge = Signal(len(self._bps), name="ge")  # thermometer: ge[i] = v >= bp[i]
            m.d.comb += ge.eq(Cat(*[at_or_above(self._threshold(b)) for b in self._bps]))
            seg_c = Signal(self.seg_bits, name="seg_idx_c")
            # ge is a thermometer code of n = #{bp <= v} (ge[i] = i < n), so bit j of n,
            # floor(n / 2**j) mod 2, is the XOR of ge[k * 2**j - 1] over k >= 1: no priority chain
            n_ge = len(self._bps)
            m.d.comb += seg_c.eq(Cat(*[
                Cat(*[ge[k * 2 ** j - 1] for k in range(1, n_ge // 2 ** j + 1)]).xor()
                if n_ge >= 2 ** j else Const(0, 1)
                for j in range(self.seg_bits)]))
            v, seg, *side = pipe.stage("select", v, seg_c, *side)
        else:
            tables = self._tree_tables()
            widths = self._compare_widths(tables)
            prefix = Const(0, 1)
            for lvl, (table, k) in enumerate(zip(tables, widths, strict=True)):
                bit = Signal(name=f"bit{lvl}")
                if lvl == 0:
                    m.d.comb += bit.eq(at_or_above(table[0]))
                else:
                    # the sign of v - t in k bits: every v that reaches this level is within
                    # 2**(k-1) of its threshold, so the ROM holds only the k low bits of each
                    thr = Signal(k, name=f"thr{lvl}")
                    mask = (1 << k) - 1
                    m.d.comb += thr.eq(_rom(m, f"thr{lvl}_rom", unsigned(k),
                                            [t & mask for t in table], prefix))
                    diff = Signal(k, name=f"diff{lvl}")
                    m.d.comb += diff.eq((v[:k] if k < len(v) else v) - thr)
                    m.d.comb += bit.eq(diff[-1] if mag else ~diff[-1])
                nxt = Signal(lvl + 1, name=f"prefix{lvl}")
                m.d.comb += nxt.eq(Cat(bit, prefix) if lvl else bit)
                v, prefix, *side = pipe.stage(f"level{lvl}", v, nxt, *side)
            seg = prefix

        # coefficient ROM (entries past the last segment cannot be reached)
        slope_c = Signal(signed(self.slope_bits) if self.slope_signed else
                         unsigned(self.mul_bits), name="slope_c")
        icpt_c = Signal(signed(self.intercept_bits), name="intercept_c")
        if self.n_segments == 1:
            m.d.comb += [slope_c.eq(self._slopes[0]), icpt_c.eq(self._intercepts[0])]
        else:
            # indices past the last segment cannot occur: they read the last segment's entry
            pad = 2 ** self.seg_bits - self.n_segments
            m.d.comb += [
                slope_c.eq(_rom(m, "slope_rom", slope_c.shape(),
                                self._slopes + self._slopes[-1:] * pad, seg)),
                icpt_c.eq(_rom(m, "intercept_rom", icpt_c.shape(),
                               self._intercepts + self._intercepts[-1:] * pad, seg)),
            ]
        v, slope, icpt, *side = pipe.stage("rom", v, slope_c, icpt_c, *side)

        # multiply: the slope's chunks of `mul_chunk` bits multiply the operand in parallel
        # (the top chunk signed when slopes are), summed with the intercept in the next
        # stage. A folded unit's operand is u without its top bit, which only the most
        # negative code sets (the rest of u is then 0): that product is slope << top_bit
        if mag:
            top_bit = in_fmt.bits - 1
            operand = v[:top_bit]
            corr_c = Signal(slope.shape(), name="top_product_c")
            m.d.comb += corr_c.eq(Mux(v[top_bit], slope, 0))
            extra = [corr_c]
        else:
            operand, extra = v, []
        edges = list(range(0, self.mul_bits, self.mul_chunk)) + [self.mul_bits]
        parts = []
        for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
            chunk = slope[lo:hi]
            if hi == self.mul_bits and self.slope_signed:
                chunk = chunk.as_signed()
            product = operand * chunk
            p_c = Signal(product.shape(), name=f"product{i}_c")
            m.d.comb += p_c.eq(product)
            parts.append(p_c)
        n = len(parts) + len(extra)
        out = pipe.stage("mul", *parts, *extra, icpt, *side)
        prods, extra, icpt, side = out[:len(parts)], out[len(parts):n], out[n], list(out[n + 1:])
        terms = [p << lo for p, lo in zip(prods, edges[:-1], strict=True)]
        product = sum(terms[1:], terms[0])

        # add (modulo 2**acc_bits: the exact sum always fits), round, saturate
        acc_c = Signal(signed(self.acc_bits), name="acc_c")
        if mag:
            # slope*v = -(slope*u); the top product's bits do not overlap the others (0 then)
            (top_product,) = extra
            m.d.comb += acc_c.eq((icpt << self.shift_in) - (product | (top_product << top_bit)))
        else:
            m.d.comb += acc_c.eq(product + (icpt << self.shift_in))
        acc, *side = pipe.stage("sum", acc_c, *side)
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
        m.d.comb += y_c.eq(_saturate(rounded, out_fmt, self._core_range))
        y, *side = pipe.stage("out", y_c, *side)

        # unfold for x > 0, then saturate again
        if self.fold != "none":
            y = self._unfold(m, y, *side)
            (y,) = pipe.stage("unfold", y)

        pipe.finish(self.i_stream, self.o_stream, y)
        return m

    def _unfold(self, m: Module, g, pos, x=None):
        """Output of the core code `g`: -g, C - g, g or g + relu(x) where x > 0; saturated."""
        fixed, out_fmt = self.fixed, self.out_fmt
        if self.fold == "even":
            return g
        width = max(out_fmt.bits, self.in_fmt.bits + max(fixed.relu_shift, 0),
                    abs(fixed.fold_center).bit_length() + 1) + 2
        mirrored = Signal(signed(width), name="mirrored")
        if self.fold == "odd":
            m.d.comb += mirrored.eq(-g)
        elif self.fold == "point":
            m.d.comb += mirrored.eq(fixed.fold_center - g)
        else:  # residual: relu(x) in output codes, exact
            m.d.comb += mirrored.eq(g + (x << fixed.relu_shift))
        y = Signal(_fmt_shape(out_fmt), name="y_unfold_c")
        m.d.comb += y.eq(Mux(pos, _saturate(mirrored, out_fmt, self._unfold_range), g))
        return y


def _rom(m: Module, name: str, shape, table: list[int], addr):
    """A read-only table read combinationally at `addr` (its data signal).

    A memory rather than a ``Switch``: Icarus reads a Verilog array where it would rerun a
    case process, and synthesis maps it to LUTs or block RAM as it would map the case.
    """
    from amaranth.lib.memory import Memory, ReadPort

    mem = Memory(shape=shape, depth=len(table), init=table)
    m.submodules[name] = mem
    sig = ReadPort.Signature(shape=shape, addr_width=max(1, (len(table) - 1).bit_length()))
    port = ReadPort(sig, memory=mem, domain="comb", path=(name,))
    m.d.comb += port.addr.eq(addr)
    return port.data


def _saturate(value, fmt, reach: tuple[int, int] | None = None):
    """`value` clamped to the codes of `fmt` (an expression).

    `reach` is the (min, max) the value takes over every input: a side it never crosses
    gets no comparator (the outputs are the same, the logic smaller).
    """
    lo, hi = fmt.min_code, fmt.max_code
    low_seen, high_seen = reach if reach is not None else (lo - 1, hi + 1)
    out = value
    if low_seen < lo:
        out = Mux(value < lo, lo, out)
    if high_seen > hi:
        out = Mux(value > hi, hi, out)
    return out


class _Pipeline:
    """Stage registers on one enable, ending in a skid buffer (see `PWLUnit` Notes).

    `stage(cut, *values)` registers `values` when `cut` is in the unit's placement; the
    final cut's register is the skid buffer built by `finish`.
    """

    def __init__(self, m: Module, valid_in, registered: set[str], final: str):
        self.m = m
        self.valid = valid_in  # valid of the current (combinational) point
        self.registered = registered
        self.final = final
        self.enable = Signal(name="advance")  # every stage before the skid buffer moves on
        # valid bits reset explicitly (reset-less registers with rst in their next state)
        self.rst = ResetSignal("sync")
        self.n_regs = 0

    def stage(self, cut: str, *values):
        if cut not in self.registered or cut == self.final:
            return values
        m = self.m
        self.n_regs += 1
        idx = self.n_regs
        valid = Signal(name=f"s{idx}_valid", reset_less=True)
        out = []
        for k, v in enumerate(values):
            r = Signal(v.shape(), name=f"s{idx}_{cut}_{k}", reset_less=True)
            out.append(r)
        # unconditional next-state expressions (no process per register: Icarus simulates
        # continuous assignments much faster than the processes an ``If`` becomes)
        m.d.sync += [r.eq(Mux(self.enable, v, r)) for r, v in zip(out, values, strict=True)]
        m.d.sync += valid.eq(Mux(self.rst, 0, Mux(self.enable, self.valid, valid)))
        self.valid = valid
        return tuple(out)

    def finish(self, i_stream, o_stream, y):
        m = self.m
        if self.final not in self.registered:  # purely combinational
            m.d.comb += [o_stream.payload.eq(y), o_stream.valid.eq(self.valid),
                         i_stream.ready.eq(o_stream.ready)]
            return
        # skid buffer: the output register, and a spare entry that catches the one sample
        # still moving while the consumer stalls; upstream advances while the spare is empty
        out_valid = Signal(name="out_valid", reset_less=True)
        out_data = Signal(y.shape(), name="out_data", reset_less=True)
        spare_valid = Signal(name="spare_valid", reset_less=True)
        spare_data = Signal(y.shape(), name="spare_data", reset_less=True)
        incoming = self.valid & self.enable
        m.d.comb += self.enable.eq(~spare_valid)
        # the output register loads when it is empty or read: the spare entry first, else
        # the incoming sample; while it holds, an incoming sample goes into the spare entry
        load = o_stream.ready | ~out_valid
        m.d.sync += [
            out_data.eq(Mux(load, Mux(spare_valid, spare_data, y), out_data)),
            out_valid.eq(~self.rst & Mux(load, spare_valid | incoming, out_valid)),
            spare_data.eq(Mux(~load & incoming, y, spare_data)),
            spare_valid.eq(~self.rst & ~load & (spare_valid | incoming)),
        ]
        m.d.comb += [
            o_stream.payload.eq(out_data),
            o_stream.valid.eq(out_valid),
            i_stream.ready.eq(self.enable & ~self.rst),
        ]
