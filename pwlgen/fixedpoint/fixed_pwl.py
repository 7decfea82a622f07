"""`FixedPWL`: the integer tables of a fixed-point PWL unit and its golden model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, ResultFileError
from .format import Format, _check_rounding, round_shift, signed_width

__all__ = ["FixedPWL", "FIXED_SCHEMA", "MAX_ACC_BITS", "FOLDS"]

FIXED_SCHEMA = 2
"""Schema version of the ``fixed_pwl`` document (2 added the symmetry fold; 1 still reads)."""
FOLDS = ("none", "odd", "point", "even", "residual")
"""Symmetry folds: the tables cover v = -|x| only, and the output is unfolded from g(v)."""
MAX_ACC_BITS = 62
"""Widest accumulator the int64 golden model computes without overflow."""

# --------------------------------------------------------------------------- FixedPWL
@dataclass(frozen=True, eq=False)
class FixedPWL:
    """Integer tables of a fixed-point piecewise-linear unit and its golden model.

    Parameters
    ----------
    function : str
        Name (or expression) of the target it approximates.
    in_fmt, out_fmt : Format
        Input and output formats (text like ``"s3.12"`` is accepted).
    breakpoints : array_like of int, shape (S-1,)
        Strictly increasing input codes; the segment of code x is
        ``np.searchsorted(breakpoints, x, side="right")``, so segment i covers the codes
        ``[breakpoints[i-1], breakpoints[i] - 1]``.
    slopes : array_like of int, shape (S,)
        Slope of each segment with `slope_frac_bits` fraction bits.
    slope_frac_bits : int
        Fraction bits of the slopes (may be negative).
    intercepts : array_like of int, shape (S,)
        Intercept of each segment with `intercept_frac_bits` fraction bits.
    intercept_frac_bits : int
        At most ``acc_frac_bits``.
    rounding : str
        One of `ROUNDING`, used by the final shift.
    fold : str
        One of `FOLDS`. With a fold the tables are indexed by ``v = -|x|`` (so every
        breakpoint is <= 0 and the most negative code has its own entry) and give a core
        code ``g`` (rounded and saturated as without a fold), which is unfolded for
        ``x > 0``: ``odd`` -g, ``point`` ``fold_center`` - g, ``even`` g, ``residual``
        g + relu(x) (x shifted to the output's fraction bits); then saturated again.
    fold_center : int
        The point fold's 2c in output codes (f(-x) = 2c - f(x)); 0 for the other folds.

    Raises
    ------
    FormatError
        On inconsistent tables, fraction bits or widths.
    """

    function: str
    in_fmt: Format
    out_fmt: Format
    breakpoints: np.ndarray
    slopes: np.ndarray
    slope_frac_bits: int
    intercepts: np.ndarray
    intercept_frac_bits: int
    rounding: str = "nearest-even"
    fold: str = "none"
    fold_center: int = 0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "in_fmt", Format.parse(self.in_fmt))
        set_(self, "out_fmt", Format.parse(self.out_fmt))
        _check_rounding(self.rounding)
        for name in ("slope_frac_bits", "intercept_frac_bits", "fold_center"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise FormatError(f"{name} must be an integer, not {v!r}")
            set_(self, name, int(v))
        arrays = {}
        for name in ("breakpoints", "slopes", "intercepts"):
            raw = np.asarray(getattr(self, name))
            if raw.ndim != 1 or (raw.size and not np.issubdtype(raw.dtype, np.integer)):
                raise FormatError(f"{name} must be a 1-D array of integers, not {raw!r}")
            arr = raw.astype(np.int64).copy()
            arr.setflags(write=False)
            arrays[name] = arr
            set_(self, name, arr)
        bp, n = arrays["breakpoints"], arrays["slopes"].size
        if n < 1 or arrays["intercepts"].size != n or bp.size != n - 1:
            raise FormatError(
                f"S segments need S slopes, S intercepts and S-1 breakpoints, not "
                f"{arrays['slopes'].size}, {arrays['intercepts'].size} and {bp.size}"
            )
        if np.any(np.diff(bp) <= 0):
            raise FormatError(f"breakpoints must be strictly increasing, not {bp.tolist()!r}")
        self._check_fold()
        top = self.table_max_code
        if bp.size and (bp[0] <= self.in_fmt.min_code or bp[-1] > top):
            fold = f", {self.fold} fold" if self.folded else ""
            raise FormatError(
                f"breakpoints must lie in ({self.in_fmt.min_code}, {top}] "
                f"(input format {self.in_fmt}{fold}), not {bp[0]}..{bp[-1]}"
            )
        if self.acc_frac_bits < 0:
            raise FormatError(
                f"acc_frac_bits (input frac bits + slope_frac_bits) must be >= 0, "
                f"not {self.acc_frac_bits}"
            )
        if self.intercept_frac_bits > self.acc_frac_bits:
            raise FormatError(
                f"intercept_frac_bits must be <= acc_frac_bits ({self.acc_frac_bits}), "
                f"not {self.intercept_frac_bits}"
            )
        if self.acc_bits > MAX_ACC_BITS:
            raise FormatError(
                f"the accumulator needs {self.acc_bits} bits, more than the "
                f"{MAX_ACC_BITS} supported"
            )

    def _check_fold(self) -> None:
        if self.fold not in FOLDS:
            raise FormatError(f"fold must be one of {FOLDS}, not {self.fold!r}")
        if self.fold != "none" and not self.in_fmt.signed:
            raise FormatError(f"a {self.fold} fold needs a signed input format, not {self.in_fmt}")
        if self.fold == "residual" and self.relu_shift < 0:
            raise FormatError(
                f"a residual fold adds relu(x) exactly: the output needs at least the input's "
                f"fraction bits ({self.out_fmt} has fewer than {self.in_fmt})"
            )
        if self.fold != "point" and self.fold_center != 0:
            raise FormatError(f"fold_center is only for the point fold, not {self.fold!r}")

    # ------------------------------------------------------------ derived widths
    @property
    def folded(self) -> bool:
        """Whether the tables cover the half range ``v = -|x| <= 0`` only."""
        return self.fold != "none"

    @property
    def table_max_code(self) -> int:
        """Largest code the tables are indexed with (0 with a fold, else the format's max)."""
        return 0 if self.folded else self.in_fmt.max_code

    @property
    def relu_shift(self) -> int:
        """Left shift taking an input code to the output's fraction bits (residual fold)."""
        return self.out_fmt.frac_bits - self.in_fmt.frac_bits

    @property
    def acc_frac_bits(self) -> int:
        """Fraction bits of the accumulator, ``in_fmt.frac_bits + slope_frac_bits``."""
        return self.in_fmt.frac_bits + self.slope_frac_bits

    @property
    def intercept_shift(self) -> int:
        """Left shift aligning an intercept to the accumulator."""
        return self.acc_frac_bits - self.intercept_frac_bits

    @property
    def out_shift(self) -> int:
        """Right shift from the accumulator to the output (negative: a left shift)."""
        return self.acc_frac_bits - self.out_fmt.frac_bits

    @property
    def n_segments(self) -> int:
        """Number of segments S."""
        return int(self.slopes.size)

    @property
    def slope_bits(self) -> int:
        """Two's-complement width holding every slope."""
        return signed_width(self.slopes)

    @property
    def intercept_bits(self) -> int:
        """Two's-complement width holding every intercept."""
        return signed_width(self.intercepts)

    @property
    def breakpoint_bits(self) -> int:
        """Width of a breakpoint (the input width)."""
        return self.in_fmt.bits

    @property
    def acc_bits(self) -> int:
        """Two's-complement width holding every accumulator value of every input code.

        Exact: the accumulator is linear on each segment, so its extremes sit at the
        segment's first and last codes. Computed with Python integers, so that a table
        whose accumulator would not fit int64 is caught rather than wrapped.
        """
        lo, hi = self.segment_bounds()
        k = self.intercept_shift
        ends = [int(m) * int(x) + (int(c) << k)
                for m, c, a, b in zip(self.slopes, self.intercepts, lo, hi, strict=True)
                for x in (a, b)]
        return max(2, signed_width(ends))

    def segment_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last table code of every segment (int64 arrays, shape (S,))."""
        lo = np.concatenate([[self.in_fmt.min_code], self.breakpoints]).astype(np.int64)
        hi = np.concatenate([self.breakpoints - 1, [self.table_max_code]]).astype(np.int64)
        return lo, hi

    # ------------------------------------------------------------ golden model
    def table_code(self, x_codes) -> np.ndarray:
        """The code the tables are indexed with: x, or ``v = -|x|`` with a fold (int64)."""
        x = np.asarray(x_codes, dtype=np.int64)
        return np.where(x < 0, x, -x) if self.folded else x

    def segment_index(self, x_codes) -> np.ndarray:
        """Segment of each input code (int64), after the fold."""
        return np.searchsorted(self.breakpoints, self.table_code(x_codes),
                               side="right").astype(np.int64)

    def unfold(self, x_codes, g_codes) -> np.ndarray:
        """Output codes from the core codes ``g`` of the table codes of `x_codes`, saturated.

        Without a fold this is the identity (g is already saturated).
        """
        if self.fold in ("none", "even"):
            return np.asarray(g_codes, dtype=np.int64)
        return np.clip(self._unfold_raw(x_codes, g_codes), self.out_fmt.min_code,
                       self.out_fmt.max_code)

    def _unfold_raw(self, x_codes, g_codes) -> np.ndarray:
        x = np.asarray(x_codes, dtype=np.int64)
        g = np.asarray(g_codes, dtype=np.int64)
        pos = x > 0
        if self.fold == "odd":
            return np.where(pos, -g, g)
        if self.fold == "point":
            return np.where(pos, self.fold_center - g, g)
        if self.fold == "residual":  # relu(x) in output codes is exact (relu_shift >= 0)
            return np.where(pos, g + (x << self.relu_shift), g)
        return g

    def _core(self, x) -> np.ndarray:
        """Core codes before saturation: the rounded line at the table code of each x."""
        v = self.table_code(x)
        acc = self._acc(v, np.searchsorted(self.breakpoints, v, side="right"))
        s = self.out_shift
        return round_shift(acc, s, self.rounding) if s > 0 else acc << -s

    def saturation_ranges(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(min, max) over every input code before the core and the unfold saturations.

        A saturation whose range stays inside the output format never acts, so hardware may
        leave it out without changing a single output.
        """
        x = self.in_fmt.codes()
        g = self._core(x)
        u = self._unfold_raw(x, np.clip(g, self.out_fmt.min_code, self.out_fmt.max_code))
        return (int(g.min()), int(g.max())), (int(u.min()), int(u.max()))

    def _acc(self, x, seg) -> np.ndarray:
        return self.slopes[seg] * x + (self.intercepts[seg] << self.intercept_shift)

    def evaluate(self, x_codes) -> np.ndarray:
        """The golden model: output codes (int64) of input codes, integer-only.

        Parameters
        ----------
        x_codes : array_like of int
            Input codes; must lie in the input format.

        Returns
        -------
        numpy.ndarray of int64, same shape
            ``clip(round_shift(slopes[seg]*x + (intercepts[seg] << k), s), min, max)``
            with ``seg = searchsorted(breakpoints, x, "right")``.

        Raises
        ------
        FormatError
            When a code lies outside the input format.

        Examples
        --------
        >>> fx = FixedPWL("id", "s3.4", "s3.4", [], [1], 0, [0], 0)
        >>> fx.evaluate([-128, 5, 127]).tolist()
        [-128, 5, 127]
        >>> FixedPWL("abs", "s3.4", "s3.4", [], [-1], 0, [0], 0, fold="even")([-7, 7]).tolist()
        [7, 7]
        """
        x = np.asarray(x_codes)
        if x.size and not np.issubdtype(x.dtype, np.integer):
            raise FormatError(f"input codes must be integers, not {x.dtype}")
        x = x.astype(np.int64)
        if x.size and (x.min() < self.in_fmt.min_code or x.max() > self.in_fmt.max_code):
            bad = x[(x < self.in_fmt.min_code) | (x > self.in_fmt.max_code)].flat[0]
            raise FormatError(f"input code {int(bad)} is outside the input format {self.in_fmt}")
        g = np.clip(self._core(x), self.out_fmt.min_code, self.out_fmt.max_code)
        return self.unfold(x, g)

    __call__ = evaluate

    def evaluate_real(self, x) -> np.ndarray:
        """Float convenience: quantise reals to input codes (nearest), evaluate, scale back."""
        return self.out_fmt.to_real(self.evaluate(self.in_fmt.from_real(x)))

    # ------------------------------------------------------------ comparison, files
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FixedPWL):
            return NotImplemented
        return (
            self.function == other.function
            and self.in_fmt == other.in_fmt
            and self.out_fmt == other.out_fmt
            and self.rounding == other.rounding
            and self.slope_frac_bits == other.slope_frac_bits
            and self.intercept_frac_bits == other.intercept_frac_bits
            and self.fold == other.fold
            and self.fold_center == other.fold_center
            and np.array_equal(self.breakpoints, other.breakpoints)
            and np.array_equal(self.slopes, other.slopes)
            and np.array_equal(self.intercepts, other.intercepts)
        )

    def __hash__(self) -> int:
        return hash((self.function, self.in_fmt, self.out_fmt, self.slopes.tobytes()))

    def __repr__(self) -> str:
        return (
            f"FixedPWL({self.function!r}, {self.in_fmt}->{self.out_fmt}, "
            f"{self.n_segments} segments, fold {self.fold}, "
            f"slope {self.slope_bits}b/{self.slope_frac_bits}f, "
            f"intercept {self.intercept_bits}b/{self.intercept_frac_bits}f, {self.rounding})"
        )

    def summary(self) -> str:
        """One line: formats, segments, coefficient widths."""
        fold = "" if not self.folded else f" (half range, {self.fold} fold)"
        return (
            f"{self.function}: {self.in_fmt} -> {self.out_fmt}, {self.n_segments} segments"
            f"{fold}, slope {self.slope_bits} bits ({self.slope_frac_bits} frac), intercept "
            f"{self.intercept_bits} bits ({self.intercept_frac_bits} frac), acc "
            f"{self.acc_bits} bits, {self.rounding}"
        )

    def to_dict(self) -> dict:
        """A ``fixed_pwl`` document (schema 2); formats as text, tables as int lists."""
        return {
            "kind": "fixed_pwl",
            "schema": FIXED_SCHEMA,
            "function": self.function,
            "in_fmt": str(self.in_fmt),
            "out_fmt": str(self.out_fmt),
            "rounding": self.rounding,
            "saturation": True,
            "fold": self.fold,
            "fold_center": self.fold_center,
            "n_segments": self.n_segments,
            "breakpoints": self.breakpoints.tolist(),
            "slopes": self.slopes.tolist(),
            "slope_frac_bits": self.slope_frac_bits,
            "intercepts": self.intercepts.tolist(),
            "intercept_frac_bits": self.intercept_frac_bits,
            "acc_frac_bits": self.acc_frac_bits,
            "slope_bits": self.slope_bits,
            "intercept_bits": self.intercept_bits,
            "acc_bits": self.acc_bits,
        }

    @classmethod
    def from_dict(cls, doc: dict) -> FixedPWL:
        """Read a ``fixed_pwl`` document; extra keys (a report...) are ignored.

        Raises
        ------
        ResultFileError
            When the document is not a valid ``fixed_pwl`` of a known schema.
        """
        if not isinstance(doc, dict) or doc.get("kind") != "fixed_pwl":
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise ResultFileError(f"not a fixed_pwl document (kind is {kind!r})")
        if doc.get("schema") not in (1, FIXED_SCHEMA):
            raise ResultFileError(
                f"unsupported fixed_pwl schema {doc.get('schema')!r} (expected {FIXED_SCHEMA})"
            )
        keys = ("function", "in_fmt", "out_fmt", "breakpoints", "slopes", "slope_frac_bits",
                "intercepts", "intercept_frac_bits", "rounding")
        missing = [k for k in keys if k not in doc]
        if missing:
            raise ResultFileError(f"fixed_pwl document lacks {', '.join(missing)}")
        try:
            tables = {}
            for k in ("breakpoints", "slopes", "intercepts"):
                v = doc[k]
                if not isinstance(v, list) or not all(
                    isinstance(e, int) and not isinstance(e, bool) for e in v
                ):
                    raise FormatError(f"{k} must be a list of integers, not {v!r}")
                tables[k] = np.array(v, dtype=np.int64)
            fold = {k: doc[k] for k in ("fold", "fold_center") if k in doc}
            if doc["schema"] == 1 and fold:
                raise FormatError("a schema 1 document has no fold")
            fx = cls(
                function=str(doc["function"]),
                in_fmt=Format.parse(doc["in_fmt"]),
                out_fmt=Format.parse(doc["out_fmt"]),
                slope_frac_bits=doc["slope_frac_bits"],
                intercept_frac_bits=doc["intercept_frac_bits"],
                rounding=doc["rounding"],
                **tables,
                **fold,
            )
        except (FormatError, OverflowError) as e:
            raise ResultFileError(f"bad fixed_pwl document: {e}") from e
        return fx
