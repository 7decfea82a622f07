"""`pwlgen functions`: list the built-in targets and the expression grammar."""

from __future__ import annotations

from ..functions import BUILTINS, get_target
from ._common import add_command, print_json

__all__ = ["register", "cmd_functions"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "functions", cmd_functions,
        help="list the built-in target functions",
        description="List the built-in targets with their asymptotes, and the grammar operators.",
        example="pwlgen functions --json",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _asym(a) -> str:
    return "none" if a is None else f"{a.slope:g}*x{a.intercept:+g}"


def cmd_functions(args) -> int:
    """List targets (and operators when the grammar is available)."""
    rows = []
    for name in BUILTINS:
        t = get_target(name)
        rows.append({
            "name": name,
            "description": t.description,
            "left_asymptote": None if t.left is None else [t.left.slope, t.left.intercept],
            "right_asymptote": None if t.right is None else [t.right.slope, t.right.intercept],
        })
    ops = _operators()
    if args.json:
        print_json({"functions": rows, "operators": ops})
        return 0
    width = max(len(r["name"]) for r in rows)
    for name in BUILTINS:
        t = get_target(name)
        left, right = _asym(t.left), _asym(t.right)
        print(f"{name:<{width}}  left {left:<14} right {right:<14} {t.description}")
    if ops:
        print()
        for arity, names in ops.items():
            print(f"{arity} operators: {', '.join(names)}")
        print("expressions: nested calls on the leaf x, e.g. 'max(relu(x),cosh(elu(x)))'")
    return 0


def _operators() -> dict[str, list[str]]:
    try:
        from ..functions.grammar import OPERATORS_BY_ARITY
    except ImportError:
        return {}
    return {k: list(v) for k, v in OPERATORS_BY_ARITY.items()}
