"""The expression grammar: a safe parser of nested operator calls on the leaf ``x``.

::

    expr := "x" | NAME "(" expr ("," expr)* ")"

``NAME`` is an operator of `pwlgen.functions.ops.OPERATORS` with the right number of
arguments; whitespace may separate tokens. Examples: ``max(relu(x),cosh(elu(x)))``,
``sum_n(abs(x), swish(x), sigmoid(x))``. The parser is a hand-written recursive descent
over a regular-expression tokenizer (never `eval`); every malformed input raises an
`ExpressionError` that names what must hold, the offending token and its column. Inputs
longer than `MAX_LENGTH` characters or nested deeper than `MAX_DEPTH` calls are refused
before they can exhaust the stack.

The tree is two frozen dataclasses, `Leaf` (the variable) and `Call`; ``str(node)`` is the
canonical text without spaces, and ``parse(str(node)) == node`` for every tree.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ExpressionError
from .ops import COMMUTATIVE, OPERATORS, OPERATORS_BY_ARITY, Op
from .target import Target, target_from_torch

__all__ = [
    "Node",
    "Leaf",
    "Call",
    "parse",
    "canonical",
    "compile_torch",
    "parse_target",
    "find_kinks",
    "OPERATORS",
    "OPERATORS_BY_ARITY",
    "COMMUTATIVE",
    "MAX_LENGTH",
    "MAX_DEPTH",
]

MAX_LENGTH = 10_000
"""Longest expression text accepted, in characters."""

MAX_DEPTH = 200
"""Deepest nesting of calls accepted (``relu(relu(x))`` nests 2)."""

VARIABLE = "x"


class Node:
    """An expression tree: a `Leaf` or a `Call`."""

    __slots__ = ()

    @property
    def depth(self) -> int:
        """Nesting depth in calls (0 for the leaf)."""
        return _depth(self)

    @property
    def size(self) -> int:
        """Number of nodes (leaves and calls)."""
        return sum(1 for _ in self.walk())

    def walk(self):
        """Yield every node of the tree, parents before children, left to right."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, Call):
                stack.extend(reversed(node.args))


@dataclass(frozen=True, slots=True)
class Leaf(Node):
    """The variable ``x``."""

    def __str__(self) -> str:
        return VARIABLE


@dataclass(frozen=True, slots=True)
class Call(Node):
    """An operator applied to its arguments.

    Parameters
    ----------
    op : str
        Name of an operator in `OPERATORS`.
    args : tuple of Node
        Its arguments, as many as the operator takes (a list is turned into a tuple).

    Raises
    ------
    ExpressionError
        For an unknown operator or a wrong number of arguments.
    """

    op: str
    args: tuple[Node, ...]

    def __post_init__(self):
        if not isinstance(self.op, str):
            raise TypeError(f"an operator is named by a string, not {type(self.op).__name__}")
        args = tuple(self.args)
        for a in args:
            if not isinstance(a, Node):
                raise TypeError(f"arguments of {self.op} must be Nodes, not {type(a).__name__}")
        object.__setattr__(self, "args", args)
        op = OPERATORS.get(self.op)
        if op is None:
            raise ExpressionError(f"unknown operator {self.op!r}")
        if not op.accepts(len(args)):
            raise ExpressionError(_arity_message(self.op, op, len(args)))

    def __str__(self) -> str:
        return _text(self)


def _text(node: Node) -> str:
    """Canonical text, built without recursion (trees may nest `MAX_DEPTH` deep or more)."""
    out: list[str] = []
    stack: list[Node | str] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, str):
            out.append(n)
        elif isinstance(n, Call):
            out.append(n.op + "(")
            stack.append(")")
            for i, a in enumerate(reversed(n.args)):
                if i:
                    stack.append(",")
                stack.append(a)
        else:
            out.append(VARIABLE)
    return "".join(out)


def _depth(node: Node) -> int:
    best = 0
    stack = [(node, 0)]
    while stack:
        n, d = stack.pop()
        if isinstance(n, Call):
            d += 1
            best = max(best, d)
            stack.extend((a, d) for a in n.args)
    return best


def _arity_message(name: str, op: Op, n: int) -> str:
    if op.arity is None:
        want = "2 or more arguments"
    else:
        want = f"{op.arity} argument" + ("s" if op.arity != 1 else "")
    return f"{name} takes {want}, not {n}"


# --- tokenizer -------------------------------------------------------------------------

_TOKEN = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),])|(?P<space>[ \t\r\n\f\v]+)")
_END = ""


def _tokenize(text: str) -> list[tuple[str, int]]:
    """(token, position) pairs, whitespace dropped, then an end marker at len(text)."""
    tokens = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = ""
            if ch.isdigit() or ch in ".+-*/":
                hint = " (the grammar has no numbers or infix operators: use one(x), add(a,b)...)"
            raise ExpressionError(f"unexpected character {ch!r}{hint}", text, pos)
        if m.lastgroup != "space":
            tokens.append((m.group(), pos))
        pos = m.end()
    tokens.append((_END, n))
    return tokens


# Names users try from other libraries -> the grammar's spelling.
_SPELLINGS = {
    "silu": "swish",
    "hardswish": "mul(x,hard_sigmoid(x))",
    "hard_swish": "mul(x,hard_sigmoid(x))",
    "hardsigmoid": "hard_sigmoid",
    "logsigmoid": "log_sigmoid",
    "asinh": "arcsinh",
    "atan": "arctan",
    "neg": "negative",
    "sqr": "square",
    "i0e": "bessel_i0e",
    "i1e": "bessel_i1e",
    "maximum": "max",
    "minimum": "min",
}


def _unknown(tok: str) -> str:
    hint = VARIABLE if tok.lower() == VARIABLE else _SPELLINGS.get(tok.lower())
    if hint is None:
        close = difflib.get_close_matches(tok.lower(), OPERATORS, n=1, cutoff=0.75)
        hint = close[0] if close else None
    return f"unknown operator {tok!r}" + (f" (did you mean {hint!r}?)" if hint else "")


# --- parser ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, self.text, pos)

    def peek(self) -> tuple[str, int]:
        return self.tokens[self.i]

    def next(self) -> tuple[str, int]:
        tok = self.tokens[self.i]
        if tok[0] != _END:
            self.i += 1
        return tok

    def expect_after(self, what: str) -> None:
        """Raise for the current token, which should have been `what`."""
        tok, pos = self.peek()
        if tok == _END:
            raise self.error(f"unexpected end of expression, expected {what}", pos)
        raise self.error(f"expected {what}, not {tok!r}", pos)

    def expression(self, depth: int) -> Node:
        tok, pos = self.next()
        if tok == VARIABLE:
            if self.peek()[0] == "(":
                raise self.error(
                    f"the variable {VARIABLE!r} takes no arguments", self.peek()[1]
                )
            return Leaf()
        if tok == _END:
            raise self.error(
                f"unexpected end of expression, expected an operator or {VARIABLE!r}", pos
            )
        if tok in ("(", ")", ","):
            raise self.error(f"expected an operator or {VARIABLE!r}, not {tok!r}", pos)
        op = OPERATORS.get(tok)
        if op is None:
            raise self.error(_unknown(tok), pos)
        if depth >= MAX_DEPTH:
            raise self.error(f"expression nests more than {MAX_DEPTH} calls", pos)
        if self.peek()[0] != "(":
            self.expect_after(f"'(' after {tok}")
        self.next()
        args: list[Node] = []
        if self.peek()[0] == ")":
            raise self.error(_arity_message(tok, op, 0), pos)
        while True:
            args.append(self.expression(depth + 1))
            sep = self.peek()[0]
            if sep == ",":
                self.next()
            elif sep == ")":
                self.next()
                break
            else:
                self.expect_after("',' or ')'")
        if not op.accepts(len(args)):
            raise self.error(_arity_message(tok, op, len(args)), pos)
        return Call(tok, tuple(args))

    def parse(self) -> Node:
        if self.peek()[0] == _END:
            raise self.error("empty expression", 0)
        node = self.expression(0)
        tok, pos = self.peek()
        if tok != _END:
            raise self.error(f"expected the end of the expression, not {tok!r}", pos)
        return node


def parse(text: str) -> Node:
    """Parse an expression of the operator grammar into a tree.

    Parameters
    ----------
    text : str
        Nested calls on the leaf ``x``, at most `MAX_LENGTH` characters and `MAX_DEPTH`
        nested calls; whitespace between tokens is allowed.

    Returns
    -------
    Node
        The tree; ``str()`` of it is the canonical text.

    Raises
    ------
    ExpressionError
        For malformed input; the message names what must hold, the offending token and
        its column.
    TypeError
        When `text` is not a string.

    Examples
    --------
    >>> str(parse("max( relu(x), cosh(elu(x)) )"))
    'max(relu(x),cosh(elu(x)))'
    >>> parse("foo(x)")
    Traceback (most recent call last):
    ...
    pwlgen.errors.ExpressionError: unknown operator 'foo' at column 1 of 'foo(x)'
    """
    if not isinstance(text, str):
        raise TypeError(f"an expression is a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        err = ExpressionError(
            f"expression has {len(text)} characters, more than the limit of {MAX_LENGTH}",
            text,
        )
        err.pos = MAX_LENGTH
        raise err
    return _Parser(text).parse()


# --- canonical form ----------------------------------------------------------------------


def canonical(node: Node) -> Node:
    """Sort the arguments of commutative operators so equivalent trees print the same.

    The commutative operators are those in `COMMUTATIVE` (add, mul, max, min and the
    n-ary ones); arguments are ordered by their canonical text, bottom up. The result is
    the same function of x (up to floating-point rounding of reordered sums and
    products), `canonical` is idempotent, and trees that differ only by the order of
    commutative arguments map to the same tree.

    Examples
    --------
    >>> str(canonical(parse("max(x,abs(x))")))
    'max(abs(x),x)'
    """
    return _canon(node, {})[0]


def _canon(node: Node, memo: dict) -> tuple[Node, str]:
    if isinstance(node, Leaf):
        return node, VARIABLE
    if not isinstance(node, Call):
        raise TypeError(f"canonical takes a Node, not {type(node).__name__}")
    key = id(node)
    if key in memo:
        return memo[key][1]
    parts = [_canon(a, memo) for a in node.args]
    if node.op in COMMUTATIVE:
        parts.sort(key=lambda p: p[1])
    out = Call(node.op, tuple(p[0] for p in parts))
    text = f"{node.op}({','.join(p[1] for p in parts)})"
    memo[key] = (node, (out, text))  # keep node alive so its id stays unique
    return out, text


# --- compilation to torch ----------------------------------------------------------------


class CompiledExpression:
    """An expression compiled to a straight-line torch program.

    Equal subtrees are computed once per call, and evaluation never recurses, however
    deep the tree. Calling it on a tensor of any float dtype and shape returns a tensor of
    the same dtype and shape, differentiable by autograd. It pickles by its text.

    Parameters
    ----------
    node : Node
        The tree to compile.
    """

    def __init__(self, node: Node):
        if not isinstance(node, Node):
            raise TypeError(f"compile_torch takes a Node, not {type(node).__name__}")
        self.expression = str(node)
        slots: dict[Node, int] = {}
        program: list[tuple[Op | None, tuple[int, ...]]] = []
        # post-order without recursion: (node, children_done)
        stack: list[tuple[Node, bool]] = [(node, False)]
        while stack:
            n, done = stack.pop()
            if n in slots:
                continue
            if isinstance(n, Leaf):
                slots[n] = len(program)
                program.append((None, ()))
            elif done:
                slots[n] = len(program)
                program.append((OPERATORS[n.op], tuple(slots[a] for a in n.args)))
            else:
                stack.append((n, True))
                stack.extend((a, False) for a in reversed(n.args))
        self._program = program

    def __call__(self, x):
        """Evaluate the expression elementwise on the tensor `x`."""
        values = []
        for op, args in self._program:
            values.append(x if op is None else op.fn(*[values[i] for i in args]))
        return values[-1]

    def __repr__(self) -> str:
        return f"CompiledExpression({self.expression!r})"

    def __reduce__(self):
        return (_compile_text, (self.expression,))


def _compile_text(text: str) -> CompiledExpression:
    return CompiledExpression(parse(text))


def compile_torch(node: Node) -> CompiledExpression:
    """Compile a tree into an elementwise, differentiable torch function.

    Parameters
    ----------
    node : Node
        A tree from `parse` (or built from `Leaf` and `Call`).

    Returns
    -------
    CompiledExpression
        ``fn(x: Tensor) -> Tensor`` for any float dtype and shape.

    Examples
    --------
    >>> import torch
    >>> fn = compile_torch(parse("max(x,negative(x))"))
    >>> fn(torch.tensor([-2.0, 3.0]))
    tensor([2., 3.])
    """
    return CompiledExpression(node)


# --- targets -----------------------------------------------------------------------------

# Operators whose first derivative jumps where their argument crosses these points.
_NONSMOOTH_UNARY = {
    "abs": (0.0,),
    "relu": (0.0,),
    "elu": (0.0,),  # f' is continuous at 0 but f'' jumps; the quadrature still gains
    "selu": (0.0,),
    "leaky_relu": (0.0,),
    "hard_sigmoid": (-3.0, 3.0),
    "elish": (0.0,),
}


def find_kinks(
    node: Node, lo: float = -64.0, hi: float = 64.0, n: int = 8193
) -> tuple[float, ...]:
    """Points in [lo, hi] where the expression may not be smooth.

    Finds where the argument of a non-smooth unary operator (relu, abs, leaky_relu...)
    crosses its break point, or where the two arguments of max/min (or any pair of a
    max_n/min_n) cross, on a grid of `n` points refined by bisection. Poles (reciprocal,
    div) are not reported.

    Returns
    -------
    tuple of float
        Sorted, rounded to 12 significant digits, at most 64 of them.
    """
    import torch

    x = np.linspace(lo, hi, n)
    xt = torch.as_tensor(x)
    curves = []  # functions g(x) whose sign changes mark kinks
    for sub in set(node.walk()):
        if not isinstance(sub, Call):
            continue
        if sub.op in _NONSMOOTH_UNARY:
            g = compile_torch(sub.args[0])
            for b in _NONSMOOTH_UNARY[sub.op]:
                curves.append(lambda t, g=g, b=b: g(t) - b)
        elif sub.op in ("max", "min", "max_n", "min_n"):
            gs = [compile_torch(a) for a in sub.args]
            for i in range(len(gs)):
                for j in range(i + 1, len(gs)):
                    curves.append(lambda t, a=gs[i], b=gs[j]: a(t) - b(t))
    kinks: list[float] = []
    with torch.no_grad():
        for c in curves:
            s = _state(c(xt).numpy())
            ok = ~np.isnan(s)
            idx = np.nonzero(ok[:-1] & ok[1:] & (s[:-1] != s[1:]))[0]
            kinks.extend(_bisect(c, x[k], x[k + 1], s[k], s[k + 1]) for k in idx[:64])
    merged: list[float] = []
    for k in sorted(kinks):
        if not merged or k - merged[-1] > 1e-9 * (1.0 + abs(k)):
            merged.append(k + 0.0)
    return tuple(merged[:64])


def _state(v: np.ndarray) -> np.ndarray:
    """Sign of v (-1, 0, 1), NaN where v is not finite."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(v), np.sign(v), np.nan)


def _bisect(c, a: float, b: float, sa: float, sb: float) -> float:
    """A point where the sign of c changes between a and b (sign sa at a, sb at b)."""
    import torch

    for _ in range(64):
        m = 0.5 * (a + b)
        if not a < m < b:
            break
        sm = _state(c(torch.tensor([m], dtype=torch.float64)).numpy())[0]
        if sm == sa:
            a = m
        elif sm == sb:
            b = m
        else:  # a third state (0 between -1 and 1, or NaN): keep the side towards a
            b, sb = m, sm
    if sb == 0:
        return float(b)
    if sa == 0:
        return float(a)
    return float(0.5 * (a + b))


def parse_target(text: str) -> Target:
    """Parse an expression into a `Target`: f' and f'' by autograd, asymptotes estimated.

    Parameters
    ----------
    text : str
        An expression of the grammar, e.g. ``"max(relu(x),cosh(elu(x)))"``.

    Returns
    -------
    Target
        Named by the expression's text without spaces (also its ``expression``), with
        the kinks `find_kinks` locates in [-64, 64].

    Raises
    ------
    ExpressionError
        For malformed input.

    Warns
    -----
    UserWarning
        When f is NaN or infinite somewhere on [-8, 8] (``reciprocal(x)`` at 0,
        ``pow(x,sigmoid(x))`` for x < 0): legal, but a search there will not go well.

    Examples
    --------
    >>> t = parse_target("max(x, zero(x))")
    >>> t.name, float(t(-1.0)), float(t(2.0)), t.right
    ('max(x,zero(x))', 0.0, 2.0, Asymptote(slope=1.0, intercept=0.0))
    """
    node = parse(text)
    name = str(node)
    target = target_from_torch(
        name, compile_torch(node), expression=name, description="expression"
    )
    x = np.linspace(-8.0, 8.0, 1601)
    with np.errstate(all="ignore"):
        bad = x[~np.isfinite(target.f(x))]
    if bad.size:
        warnings.warn(
            f"{name} is not finite at {bad.size} of 1601 points in [-8, 8] "
            f"(first at x = {float(bad[0])!r}): searches there will fail or mislead",
            stacklevel=2,
        )
    kinks = find_kinks(node)
    return replace(target, kinks=kinks, _cache={}) if kinks else target
