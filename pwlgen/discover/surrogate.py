"""The surrogate: embeddings of the features, a kNN regressor, and `suggest`.

Following AQuaSurF's idea: the output features (and, where computed, the Fisher features)
of every class are embedded in two dimensions each with UMAP (unsupervised, so the embedding
depends only on the features and is cached); the two embeddings are concatenated, and a
k-nearest-neighbour regressor fitted on the evaluated classes predicts the validation
accuracy of the others. `suggest` returns the pending baselines first, then the pending
classes ranked by predicted accuracy -- optionally only those within a hardware budget
(PWL segments), or the Pareto front of accuracy against segments first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SearchError

__all__ = ["EMBEDDINGS", "RANKS", "Suggestion", "embed", "class_features", "suggest"]

EMBEDDINGS = {
    "umap": "UMAP, 2 components per feature set (umap-learn)",
    "pca": "PCA, 2 components per feature set (fast, for tests and tiny databases)",
}
RANKS = ("accuracy", "pareto")

_CACHE: dict[tuple, np.ndarray] = {}


@dataclass(frozen=True)
class Suggestion:
    """A class to evaluate next, with why."""

    class_id: int
    expression: str
    predicted: float
    segments: int | None
    reason: str


def _squash(y: np.ndarray) -> np.ndarray:
    # signed log: keeps exp(exp(x))-like outputs from dominating the distances
    return np.sign(y) * np.log1p(np.abs(y))


def embed(x: np.ndarray, method: str = "umap", *, seed: int = 0, n_components: int = 2
          ) -> np.ndarray:
    """Embed the rows of `x` (standardised first) in `n_components` dimensions."""
    if method not in EMBEDDINGS:
        raise SearchError(f"unknown embedding {method!r}: choose one of {', '.join(EMBEDDINGS)}")
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    n = len(x)
    if n <= n_components + 1:
        return np.pad(x[:, :n_components], ((0, 0), (0, max(0, n_components - x.shape[1]))))
    if method == "pca" or n < 8:
        from sklearn.decomposition import PCA

        return PCA(n_components=n_components, random_state=seed).fit_transform(x)
    import umap

    reducer = umap.UMAP(n_components=n_components, n_neighbors=min(15, n - 1), min_dist=0.1,
                        random_state=seed, n_jobs=1,
                        init="spectral" if n > 16 else "random")
    return reducer.fit_transform(x)


def class_features(rows: list[dict], method: str = "umap", seed: int = 0) -> np.ndarray:
    """The surrogate's input for class rows (with features): concatenated embeddings.

    Cached on the class ids and on which classes have Fisher features, so a search loop
    embeds again only when the database changed.
    """
    ids = tuple(r["id"] for r in rows)
    has_fisher = tuple(r["fisher"] is not None for r in rows)
    key = (ids, has_fisher, method, seed)
    if key in _CACHE:
        return _CACHE[key]
    out = np.array([_squash(r["outputs"]) for r in rows])
    parts = [embed(out, method, seed=seed)]
    if sum(has_fisher) >= max(3, len(rows) // 2):
        fis = [r["fisher"] for r in rows if r["fisher"] is not None]
        width = max(len(f) for f in fis)
        fm = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            if r["fisher"] is not None and len(r["fisher"]) == width:
                fm[i] = r["fisher"]
        col_mean = np.nanmean(np.where(np.isfinite(fm), fm, np.nan), axis=0)
        col_mean = np.where(np.isfinite(col_mean), col_mean, 0.0)
        fm = np.where(np.isfinite(fm), fm, col_mean)
        parts.append(embed(fm, method, seed=seed))
    feats = np.hstack(parts)
    _CACHE.clear()
    _CACHE[key] = feats
    return feats


def _score(r: dict) -> float:
    v = r.get("val_acc")
    return float(v) if v is not None and math.isfinite(v) else 0.0


def suggest(db, *, n: int = 1, embedding: str = "umap", k: int = 5, seed: int = 0,
            max_segments: int | None = None, rank: str = "accuracy") -> list[Suggestion]:
    """The best pending classes to evaluate next.

    Parameters
    ----------
    db : FunctionDB
        The function database.
    n : int
        How many suggestions.
    embedding : {"umap", "pca"}
        How the features are embedded.
    k : int
        Neighbours of the regressor (distance-weighted).
    seed : int
        Seed of the embedding and of the order before two classes are evaluated.
    max_segments : int, optional
        Only classes whose PWL needs at most this many segments (hardware budget).
    rank : {"accuracy", "pareto"}
        Predicted accuracy, or the Pareto front (accuracy vs segments) first.

    Returns
    -------
    list of Suggestion
        Pending baselines first, then the best predicted.
    """
    if rank not in RANKS:
        raise SearchError(f"unknown rank {rank!r}: choose one of {', '.join(RANKS)}")
    if max_segments is not None and max_segments < 1:
        raise SearchError(f"max_segments must be a positive integer, not {max_segments!r}")
    rows = db.classes(status=("pending", "running", "done", "failed"), with_features=True)
    pending = [i for i, r in enumerate(rows) if r["status"] == "pending"]
    if max_segments is not None:
        pending = [i for i in pending if _segments(rows[i]) is not None
                   and _segments(rows[i]) <= max_segments]
    if not pending:
        return []
    out = [Suggestion(rows[i]["id"], rows[i]["representative"], math.nan, _segments(rows[i]),
                      "baseline") for i in pending if rows[i]["is_baseline"]]
    rest = [i for i in pending if not rows[i]["is_baseline"]]
    done = [i for i, r in enumerate(rows) if r["status"] == "done"]
    if len(out) >= n or not rest:
        return out[:n]
    if len(done) < 2:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rest))
        return (out + [Suggestion(rows[rest[j]]["id"], rows[rest[j]]["representative"],
                                  math.nan, _segments(rows[rest[j]]), "random")
                       for j in order])[:n]
    from sklearn.neighbors import KNeighborsRegressor

    feats = class_features(rows, embedding, seed)
    knn = KNeighborsRegressor(n_neighbors=min(k, len(done)), weights="distance")
    knn.fit(feats[done], [_score(rows[i]) for i in done])
    pred = knn.predict(feats[rest])
    order = list(np.argsort(-pred, kind="stable"))
    reason = "predicted"
    if rank == "pareto":
        segs = np.array([1e9 if _segments(rows[i]) is None else _segments(rows[i])
                         for i in rest])
        from .hardware import pareto_front

        front = list(pareto_front(pred, segs))
        front.sort(key=lambda j: -pred[j])
        order = front + [j for j in order if j not in set(front)]
        reason = "pareto"
    out += [Suggestion(rows[rest[j]]["id"], rows[rest[j]]["representative"], float(pred[j]),
                       _segments(rows[rest[j]]), reason) for j in order[: n - len(out)]]
    return out


def _segments(row: dict) -> int | None:
    """The stored segment count of a class row (None when unknown or not finite)."""
    s = row.get("segments")
    return None if s is None or s < 0 else int(s)
