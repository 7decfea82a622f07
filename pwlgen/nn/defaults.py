r"""Default k-bit coefficients: search results shipped as package data in ``pwlgen/nn/data``.

Every file is an unedited ``pwlgen search`` result, the same as::

    pwlgen search --fn gelu --kbit 2 --objective l2 --method optimal \\
        -o pwlgen/nn/data/gelu_k2_l2.yaml

``l2`` results are ReGELU2-shaped (continuous PWL, tails on the asymptotes, Approx-BP's
interval); ``l2-deriv`` results are Few-Bit's free step family of f' on [-10, 10], solved
globally (`pwlgen.search.stepfit`), so they do not depend on the seed.

`regenerate` rewrites them all (``python -m pwlgen.nn.defaults``); a test checks that the
shipped files still match a fresh search.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from ..errors import ResultFileError
from ..io import load_kind, save
from ..search import SearchResult

__all__ = [
    "SHIPPED_FUNCTIONS",
    "SHIPPED_BITS",
    "OBJECTIVES",
    "DEFAULT_METHOD",
    "data_file",
    "shipped_result",
    "load_result",
    "regenerate",
]

SHIPPED_FUNCTIONS = ("gelu", "gelu_tanh", "silu")
SHIPPED_BITS = (1, 2, 3, 4)
OBJECTIVES = ("l2", "l2-deriv")
"""``l2``: Approx-BP's function-space objective; ``l2-deriv``: Few-Bit's derivative space."""
DEFAULT_METHOD = "optimal"


def data_file(fn: str, bits: int, objective: str) -> Path:
    """Path of the shipped result for (fn, bits, objective) (it may not exist)."""
    name = f"{fn}_k{bits}_{objective.replace('-', '_')}.yaml"
    return Path(str(resources.files(__package__).joinpath("data", name)))


def load_result(path) -> SearchResult:
    """Read a ``pwlgen search`` result file (YAML or JSON)."""
    return SearchResult.from_dict(load_kind(path, "search_result"))


@functools.lru_cache(maxsize=64)
def shipped_result(fn: str, bits: int, objective: str) -> SearchResult | None:
    """The shipped result for (fn, bits, objective), or None when none ships."""
    path = data_file(fn, bits, objective)
    return load_result(path) if path.is_file() else None


def regenerate(method: str = DEFAULT_METHOD, directory=None) -> list[Path]:
    """Search every shipped (fn, bits, objective) again and rewrite its file."""
    from ..search import search

    out = []
    for fn in SHIPPED_FUNCTIONS:
        for bits in SHIPPED_BITS:
            for objective in OBJECTIVES:
                r = search(fn, kbit=bits, method=method, objective=objective, seed=0)
                path = data_file(fn, bits, objective)
                if directory is not None:
                    path = Path(directory) / path.name
                if r.n_knots != 2**bits - 1:  # pragma: no cover - search invariant
                    raise ResultFileError(f"search returned {r.n_knots} knots for k={bits}")
                out.append(save(r.to_dict(), path))
    shipped_result.cache_clear()
    return out


if __name__ == "__main__":  # pragma: no cover
    for p in regenerate():
        print(p)
