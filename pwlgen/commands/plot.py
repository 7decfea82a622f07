"""`pwlgen plot`: draw a search result against its target."""

from __future__ import annotations

from pathlib import Path

from ..errors import ResultFileError
from ..io import check_output, load_kind, make_dirs, remove_dirs
from ..plot import plot_pwl, save_figure
from ..search import SearchResult
from ._common import add_command, print_json

__all__ = ["register", "cmd_plot"]


def register(sub) -> None:
    """Add the subcommand."""
    p = add_command(
        sub, "plot", cmd_plot,
        help="plot a result: f and h, f' and h', the error",
        description="Draw f and the PWL h, f' and h' (the backward levels), and f - h.",
        example="pwlgen plot results/gelu_optimal_k2.yaml -o gelu.png",
    )
    p.add_argument("result", help="a search result file (YAML or JSON)")
    p.add_argument("-o", "--out", help="image file (.png/.svg/.pdf); default: next to RESULT")
    p.add_argument("--json", action="store_true", help="print the output path as JSON")


def cmd_plot(args) -> int:
    """Load the result, draw, write the image."""
    result = SearchResult.from_dict(load_kind(args.result, "search_result"))
    out = Path(args.out) if args.out else Path(args.result).with_suffix(".png")
    if out.suffix not in (".png", ".svg", ".pdf"):
        raise ResultFileError(f"the image must end in .png, .svg or .pdf, not {str(out)!r}")
    check_output(out)
    l2 = result.metrics.get("l2", float("nan"))
    title = f"{result.target}: {result.method}, {result.n_knots} knots, l2={l2:.3g}"
    fig = plot_pwl(result.pwl, result.get_target(), result.interval, title=title,
                   history=result.history or None)
    created = make_dirs(out.parent if str(out.parent) else ".")
    try:
        save_figure(fig, out)
    except BaseException:
        remove_dirs(created)
        raise
    if args.json:
        print_json({"path": str(out)})
    else:
        print(f"wrote {out}")
    return 0
