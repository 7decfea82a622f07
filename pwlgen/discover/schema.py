"""Schemas such as ``"binary(unary(x),unary(x))"``: enumerate their expressions.

A schema is an expression whose operators may be the placeholders ``unary`` and
``binary``; every placeholder is replaced, independently, by each operator of that arity
(all of the grammar's, or the lists given). Concrete operators may appear too:
``"add(unary(x),x)"``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence

from ..errors import ExpressionError
from .expr import grammar

__all__ = ["PLACEHOLDERS", "parse_schema", "operator_names", "enumerate_schema", "schema_size"]

PLACEHOLDERS = {"unary": 1, "binary": 2}
"""Placeholder name -> arity."""

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<punct>[(),]))")


def _arity_of(op) -> int | None:
    a = getattr(op, "arity", None)
    return a if isinstance(a, int) else None


def operator_names(kind: str) -> list[str]:
    """The grammar's operators of one kind (``"unary"``, ``"binary"`` or ``"n-ary"``)."""
    return list(grammar().OPERATORS_BY_ARITY.get(kind, []))


def _check_list(kind: str, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return operator_names(kind)
    allowed = operator_names(kind)
    if kind == "binary":  # n-ary operators (sum_n, max_n...) also take two arguments
        allowed += operator_names("n-ary")
    out = []
    for n in names:
        n = n.strip()
        if n not in allowed:
            raise ExpressionError(
                f"unknown {kind} operator {n!r} in the operator list: choose from "
                f"{', '.join(allowed)}"
            )
        if n not in out:
            out.append(n)
    if not out:
        raise ExpressionError(f"the {kind} operator list is empty")
    return out


def parse_schema(text: str):
    """Parse a schema into a tree: ``"x"`` or ``(name, [children])``.

    Raises
    ------
    ExpressionError
        For a malformed schema, an unknown operator or a wrong number of arguments.
    """
    if not isinstance(text, str):
        raise TypeError(f"a schema is a string, not {type(text).__name__}")
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise ExpressionError(f"unexpected character {text[pos]!r}", text, pos)
        tok = m.group("name") or m.group("punct")
        tokens.append((tok, m.start(m.lastgroup)))
        pos = m.end()
    ops = grammar().OPERATORS
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else ("", len(text))

    def take(expected=None):
        nonlocal i
        tok, p = peek()
        if expected is not None and tok != expected:
            raise ExpressionError(f"expected {expected!r}, found {tok or 'the end'!r}", text, p)
        i += 1
        return tok, p

    def node():
        tok, p = take()
        if tok == "x":
            return "x"
        if not tok or not tok[0].isalpha() and tok[0] != "_":
            raise ExpressionError(f"expected an operator or x, found {tok or 'the end'!r}", text, p)
        if tok in PLACEHOLDERS:
            arity = PLACEHOLDERS[tok]
        elif tok in ops:
            arity = _arity_of(ops[tok])
        else:
            raise ExpressionError(
                f"unknown operator {tok!r} (placeholders: {', '.join(PLACEHOLDERS)})", text, p
            )
        take("(")
        args = [node()]
        while peek()[0] == ",":
            take(",")
            args.append(node())
        take(")")
        if arity is not None and len(args) != arity:
            raise ExpressionError(f"{tok!r} takes {arity} argument(s), not {len(args)}", text, p)
        if arity is None and len(args) < 2:
            raise ExpressionError(f"{tok!r} takes 2 or more arguments, not {len(args)}", text, p)
        return (tok, args)

    tree = node()
    if i != len(tokens):
        tok, p = tokens[i]
        raise ExpressionError(f"unexpected {tok!r} after the schema", text, p)
    return tree


def _slots(tree) -> list[str]:
    if tree == "x":
        return []
    name, args = tree
    out = [name] if name in PLACEHOLDERS else []
    for a in args:
        out += _slots(a)
    return out


def _render(tree, choice: Iterator[str]) -> str:
    if tree == "x":
        return "x"
    name, args = tree
    op = next(choice) if name in PLACEHOLDERS else name
    return f"{op}({','.join(_render(a, choice) for a in args)})"


def schema_size(schema: str, unary: Sequence[str] | None = None,
                binary: Sequence[str] | None = None) -> int:
    """How many expressions `enumerate_schema` yields (before de-duplication)."""
    lists = {"unary": _check_list("unary", unary), "binary": _check_list("binary", binary)}
    n = 1
    for s in _slots(parse_schema(schema)):
        n *= len(lists[s])
    return n


def enumerate_schema(schema: str, unary: Sequence[str] | None = None,
                     binary: Sequence[str] | None = None) -> Iterator[str]:
    """Yield every expression of `schema` (placeholders replaced by each operator).

    Parameters
    ----------
    schema : str
        E.g. ``"binary(unary(x),unary(x))"``.
    unary, binary : list of str, optional
        Operators to substitute (default: all of the grammar's of that arity).

    Raises
    ------
    ExpressionError
        For a malformed schema or an unknown operator, in the schema or in a list.

    Examples
    --------
    >>> list(enumerate_schema("binary(unary(x),x)", ["tanh"], ["add", "mul"]))
    ['add(tanh(x),x)', 'mul(tanh(x),x)']
    """
    lists = {"unary": _check_list("unary", unary), "binary": _check_list("binary", binary)}
    tree = parse_schema(schema)
    slots = _slots(tree)
    for combo in itertools.product(*(lists[s] for s in slots)):
        yield _render(tree, iter(combo))
