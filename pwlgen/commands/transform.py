"""`pwlgen transform`: the (a, c) ReLU-sum form of a result, and import of Approx-BP results.

Approx-BP's simulated-annealing scripts print rows ``energy, [x1, ..., xn, y1, ..., yn]``
(a change-point list whose tails are 0 and x); `transform` reads such a text file, keeps the
row of lowest energy, and writes it as a pwlgen search result so every later stage can use it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import PWLError, ResultFileError, SearchError, TargetError
from ..functions import get_target
from ..io import check_output, dump_text, load
from ..pwl import PWL
from ..search import SearchResult
from ._common import (
    add_command,
    check_range,
    finite_float,
    info,
    print_json,
    resolve_output,
    write_doc,
)

__all__ = ["register", "cmd_transform", "read_approxbp_rows"]

_ROW = re.compile(r"^\s*([-+0-9.eEinfa]+)\s*,?\s*\[([^\]]*)\]\s*,?\s*$")


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "transform", cmd_transform,
        help="print and write the (a, c) ReLU-sum form; import Approx-BP results",
        description=(
            "Print h(x) = b + s0*x + sum_i a_i*max(x - c_i, 0) for a result and check the "
            "Approx-BP constraints sum(a) = 1 and sum(a*c) = 0 when the tails are 0 and x.\n"
            "RESULT may also be an Approx-BP text file of rows 'energy, [x1..xn, y1..yn]': the "
            "lowest-energy row is imported as a search result (tails 0 and x)."
        ),
        example="pwlgen transform results/gelu_optimal_k2.yaml",
    )
    p.add_argument("result", help="a search result file, or an Approx-BP text result")
    p.add_argument("--fn", help="target of an Approx-BP text result, for its metrics "
                   "(default gelu; a pwlgen result names its own)")
    p.add_argument("--range", nargs=2, type=finite_float, metavar=("LO", "HI"),
                   help="interval for an imported result's metrics (default: the target's)")
    p.add_argument("-o", "--out", default=None,
                   help="output directory or .yaml/.json file (default: next to RESULT)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def read_approxbp_rows(path: str | Path) -> list[tuple[float, np.ndarray]]:
    """Parse Approx-BP result rows ``energy, [x1..xn, y1..yn]`` from a text file.

    Raises
    ------
    ResultFileError
        When no line has that form, or a row's list is empty or of odd length.
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ResultFileError(f"cannot read {str(path)!r}: {e}") from e
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ROW.match(line)
        if not m:
            raise ResultFileError(
                f"{str(path)!r} line {lineno}: expected 'energy, [x1, ..., y1, ...]', "
                f"got {line.strip()[:60]!r}"
            )
        try:
            energy = float(m.group(1))
            pts = np.array([float(v) for v in m.group(2).replace(",", " ").split()])
        except ValueError as e:
            raise ResultFileError(f"{str(path)!r} line {lineno}: {e}") from e
        if pts.size == 0 or pts.size % 2:
            raise ResultFileError(
                f"{str(path)!r} line {lineno}: the list must hold n knots then n values, "
                f"not {pts.size} numbers"
            )
        rows.append((energy, pts))
    if not rows:
        raise ResultFileError(f"{str(path)!r} holds no Approx-BP result rows")
    return rows


def _load_any(args) -> tuple[SearchResult, str]:
    path = Path(args.result)
    if args.range is not None:
        check_range(args, args.range)
    if path.suffix in (".yaml", ".yml", ".json"):
        for opt in ("fn", "range"):
            if getattr(args, opt) is not None:
                raise SearchError(f"--{opt} applies to Approx-BP text results; "
                                  f"{str(path)!r} is a pwlgen result with its own")
        result = SearchResult.from_dict(load(path))
        try:
            get_target(result.target)
        except TargetError as e:
            raise ResultFileError(f"{str(path)!r}: {e}") from e
        return result, "pwlgen"
    rows = read_approxbp_rows(path)
    energy, pts = min(rows, key=lambda r: r[0])
    target = get_target(args.fn or "gelu")
    try:
        pwl = PWL.from_change_points(pts, 0.0, 1.0)
    except PWLError as e:
        raise ResultFileError(f"{str(path)!r}: {e}") from e
    interval = tuple(args.range) if args.range else target.default_interval()
    result = SearchResult(
        pwl=pwl, target=target.expression or target.name, method="approx-bp", objective="l2",
        interval=interval, seed=None, wall_time_s=0.0,
        metrics=SearchResult.measure(pwl, target, interval),
        options={"source": str(path), "energy": energy, "rows": len(rows)},
        kbit=None, tails="pinned",
    )
    return result, "approx-bp"


def cmd_transform(args) -> int:
    """Convert, check the constraints, print and write."""
    result, source = _load_any(args)
    rs = result.pwl.to_relu_sum()
    sum_a, sum_ac = rs.constraint_residuals()
    pwl = result.pwl
    applies = pwl.left_slope == 0.0 and pwl.right_slope == 1.0 and abs(rs.bias) < 1e-12
    checks = {
        "applies": bool(applies),
        "sum_a_minus_1": sum_a,
        "sum_a_c": sum_ac,
        "ok": bool(applies and abs(sum_a) < 1e-9 and abs(sum_ac) < 1e-9),
    }
    doc = {
        "kind": "relu_sum",
        "schema": 1,
        "function": result.target,
        "source": source,
        "a": rs.a.tolist(),
        "c": rs.c.tolist(),
        "bias": rs.bias,
        "left_slope": rs.left_slope,
        "constraints": checks,
        "metrics": result.metrics,
    }
    stem = Path(args.result).stem
    out = resolve_output(args.out or str(Path(args.result).parent), f"{stem}_ac")
    extra = {}
    if source == "approx-bp":
        res_path = check_output(out.with_name(f"{stem}_result.yaml"))
        extra[res_path] = dump_text(result.to_dict(), res_path)
    write_doc(doc, out, extra=extra)
    written = [str(out), *map(str, extra)]
    if args.json:
        print_json({**doc, "paths": written})
        return 0
    terms = " ".join(f"{a:+.10g}*max(x{-c:+.10g},0)" for a, c in zip(rs.a, rs.c, strict=True))
    head = f"{rs.bias:.10g}" + (f" {rs.left_slope:+.10g}*x" if rs.left_slope else "")
    info(args, f"h(x) = {head} {terms}")
    info(args, f"a = {rs.a.tolist()}\nc = {rs.c.tolist()}")
    if applies:
        state = "ok" if checks["ok"] else "VIOLATED"
        info(args, f"constraints: sum(a) - 1 = {sum_a:.3g}, sum(a*c) = {sum_ac:.3g} ({state})")
    else:
        info(args, "constraints sum(a)=1, sum(a*c)=0 do not apply (tails are not 0 and x)")
    info(args, f"wrote {', '.join(written)}")
    return 0
