"""The exception hierarchy: every error that user input can cause is a `PwlgenError`.

Each class also subclasses the builtin it narrows, so callers that catch `ValueError`
keep working. The CLI turns any `PwlgenError` into one line on stderr and exit status 2.
"""

__all__ = [
    "PwlgenError",
    "TargetError",
    "TargetTypeError",
    "ExpressionError",
    "PWLError",
    "SearchError",
    "FormatError",
    "ResultFileError",
    "HardwareError",
    "OpError",
]


class PwlgenError(Exception):
    """Base class of every error pwlgen raises on bad input or a failed run."""


class TargetError(PwlgenError, ValueError):
    """An unknown target function or one that cannot be evaluated."""


class TargetTypeError(PwlgenError, TypeError):
    """A target that is neither a `Target` nor a string (a name or an expression)."""


class ExpressionError(TargetError):
    """A malformed expression in the operator grammar.

    Parameters
    ----------
    message : str
        What must hold, without the position.
    text : str
        The whole expression.
    pos : int
        Zero-based column of the offending token.
    """

    def __init__(self, message: str, text: str = "", pos: int | None = None):
        self.text = text
        self.pos = pos
        if pos is not None:
            message = f"{message} at column {pos + 1} of {text!r}"
        super().__init__(message)


class PWLError(PwlgenError, ValueError):
    """An invalid piecewise-linear function (knots out of order, non-finite values...)."""


class SearchError(PwlgenError, ValueError):
    """An impossible search problem (bad knot count, empty interval, unknown method...)."""


class FormatError(PwlgenError, ValueError):
    """An impossible fixed-point format or bit width."""


class ResultFileError(PwlgenError, ValueError):
    """A result file that cannot be read, does not parse, or is not of the expected kind."""


class HardwareError(PwlgenError, RuntimeError):
    """A hardware unit that cannot be built, emitted, simulated or synthesised."""


class OpError(PwlgenError, ValueError):
    """Bad input to a GPU op: code width, code-buffer size, knot / level counts."""
