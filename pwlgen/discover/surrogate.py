"""The surrogate: embeddings of the features, a regressor, an acquisition, and `suggest`.

AQuaSurF's ingredients: the output features (and, where computed, the Fisher features) of
every class are embedded per feature set (unsupervised, so the embedding depends only on the
features and is cached) and concatenated; a regressor fitted on the evaluated classes
predicts the validation accuracy of the others. AQuaSurF embeds with UMAP in 2-D and ranks by
a kNN's prediction; measured against exhaustive ground truth (benchmarks/discover_quality.py)
that exploits a plateau and loses to random order. The default here is a PCA embedding (10
components per feature set), a Gaussian process and expected improvement, which balances
exploring classes far from all evaluated ones against refining the best region; UMAP, kNN
and the pure-prediction rule stay available. `suggest` returns the pending baselines first,
then the pending classes by acquisition -- optionally only those within a hardware budget
(segments), or by Pareto fronts of predicted accuracy against segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SearchError

__all__ = ["EMBEDDINGS", "COMPONENTS", "RANKS", "ACQUISITIONS", "MODELS", "DEFAULT_K",
           "Suggestion", "embed", "class_features", "predict", "rank_pending", "suggest"]

EMBEDDINGS = {
    "umap": "UMAP, 2 components per feature set (umap-learn; AQuaSurF's choice)",
    "pca": "PCA, 10 components per feature set (fast, deterministic)",
}
COMPONENTS = {"umap": 2, "pca": 10}
"""Components per feature set of each embedding."""
RANKS = ("accuracy", "pareto")
ACQUISITIONS = ("ei", "ucb", "mean")
MODELS = ("gp", "knn")
DEFAULT_K = 3
"""Neighbours of the kNN regressor (AQuaSurF's choice)."""

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

        m = min(n_components, n, x.shape[1])
        return np.pad(PCA(n_components=m, random_state=seed).fit_transform(x),
                      ((0, 0), (0, n_components - m)))
    import torch
    import umap

    threads = torch.get_num_threads()
    try:
        reducer = umap.UMAP(n_components=n_components, n_neighbors=min(15, n - 1),
                            min_dist=0.1, random_state=seed, n_jobs=1,
                            init="spectral" if n > 16 else "random")
        return reducer.fit_transform(x)
    finally:  # umap/numba's start-up changes torch's thread count: every training slows down
        torch.set_num_threads(threads)


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
    dim = COMPONENTS.get(method, 2)
    parts = [embed(out, method, seed=seed, n_components=dim)]
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
        parts.append(embed(fm, method, seed=seed, n_components=dim))
    feats = np.hstack(parts)
    _CACHE.clear()
    _CACHE[key] = feats
    return feats


def _score(r: dict) -> float:
    v = r.get("val_acc")
    return float(v) if v is not None and math.isfinite(v) else 0.0


def _predict_knn(feats, done, y, query, k):
    from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors

    k = max(1, min(k, len(done)))
    knn = KNeighborsRegressor(n_neighbors=k, weights="distance").fit(feats[done], y)
    mean = knn.predict(feats[query])
    dist, idx = knn.kneighbors(feats[query])
    w = 1.0 / np.maximum(dist, 1e-12)
    spread = np.sqrt(np.sum(w * (y[idx] - mean[:, None]) ** 2, axis=1) / np.sum(w, axis=1))
    near = NearestNeighbors(n_neighbors=min(2, len(feats))).fit(feats)
    typical = float(np.median(near.kneighbors(feats)[0][:, -1]))
    far = 1.0 - np.exp(-dist[:, 0] / max(typical, 1e-12))
    return mean, spread + y.std() * far


def _predict_gp(feats, done, y, query):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(1.0, (1e-2, 1e3), nu=2.5)
              + WhiteKernel(1e-3, (1e-6, 1.0)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
    with warnings.catch_warnings():  # a hyper-parameter at its bound is not an error here
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(feats[done], y)
    return gp.predict(feats[query], return_std=True)


def predict(feats: np.ndarray, done: np.ndarray, y: np.ndarray, query: np.ndarray, *,
            model: str = "gp", k: int = DEFAULT_K) -> tuple[np.ndarray, np.ndarray]:
    """Predicted score and its uncertainty at the `query` rows.

    Parameters
    ----------
    feats : ndarray, shape (n, d)
        The surrogate's input of every class.
    done, query : ndarray of int
        Rows with a known score `y`, and rows to predict.
    model : {"gp", "knn"}
        ``"gp"``: a Gaussian process (Matern 5/2 kernel times a constant, plus white noise,
        hyper-parameters by maximum likelihood; the uncertainty is its posterior standard
        deviation). ``"knn"``: AQuaSurF's distance-weighted kNN regressor; its uncertainty is
        the weighted spread of the neighbours' scores plus the spread of all scores times
        ``1 - exp(-d / d0)``, with d the distance to the nearest evaluated class and d0 the
        median distance between neighbouring classes.
    k : int
        Neighbours of the kNN.

    Returns
    -------
    (ndarray, ndarray)
        Mean and uncertainty.
    """
    if model not in MODELS:
        raise SearchError(f"unknown surrogate model {model!r}: choose one of "
                          f"{', '.join(MODELS)}")
    y = np.asarray(y, dtype=np.float64)
    done, query = np.asarray(done, dtype=int), np.asarray(query, dtype=int)
    if model == "knn":
        return _predict_knn(feats, done, y, query, k)
    return _predict_gp(feats, done, y, query)


def _acquire(mean, unc, best, acquisition, beta):
    if acquisition == "mean":
        return mean
    if acquisition == "ucb":
        return mean + beta * unc
    from scipy.stats import norm

    sd = np.maximum(unc, 1e-12)
    z = (mean - best) / sd
    return (mean - best) * norm.cdf(z) + sd * norm.pdf(z)


def rank_pending(feats: np.ndarray, done: np.ndarray, y: np.ndarray, pending: np.ndarray, *,
                 model: str = "gp", k: int = DEFAULT_K, acquisition: str = "ei",
                 beta: float = 1.0, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Order the `pending` rows for evaluation (the core of `suggest`).

    The acquisition scores each pending row from the model's mean and uncertainty
    (`predict`): ``"ei"`` the expected improvement over the best score so far, ``"ucb"``
    mean + `beta` x uncertainty, ``"mean"`` the mean alone (pure exploitation, AQuaSurF's
    rule). A batch is picked greedily: after each pick the picked row counts as evaluated at
    its predicted mean and the model is refitted, so the next pick's uncertainty near it
    shrinks and a batch of suggestions spreads out.

    Returns
    -------
    (ndarray, ndarray)
        Positions into `pending` in evaluation order (the first `n`, default all), and the
        predicted mean of every pending row.
    """
    if acquisition not in ACQUISITIONS:
        raise SearchError(f"unknown acquisition {acquisition!r}: choose one of "
                          f"{', '.join(ACQUISITIONS)}")
    done, pending = np.asarray(done, dtype=int), np.asarray(pending, dtype=int)
    y = np.asarray(y, dtype=np.float64)
    mean, unc = predict(feats, done, y, pending, model=model, k=k)
    n = len(pending) if n is None else min(n, len(pending))
    if acquisition == "mean":
        return np.argsort(-mean, kind="stable")[:n], mean
    order: list[int] = []
    d_now, y_now = list(done), list(y)
    left = np.ones(len(pending), dtype=bool)
    score = _acquire(mean, unc, y.max(), acquisition, beta)
    while True:
        j = int(np.flatnonzero(left)[np.argmax(score[left])])
        order.append(j)
        left[j] = False
        if len(order) == n:
            break
        d_now.append(pending[j])
        y_now.append(mean[j])
        m, u = predict(feats, np.array(d_now), np.array(y_now), pending[left], model=model, k=k)
        score[left] = _acquire(m, u, max(y_now), acquisition, beta)
    return np.array(order, dtype=int), mean


def suggest(db, *, n: int = 1, embedding: str = "pca", k: int = DEFAULT_K, seed: int = 0,
            max_segments: int | None = None, rank: str = "accuracy", model: str = "gp",
            acquisition: str = "ei", fisher: bool = True) -> list[Suggestion]:
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
        Neighbours of the kNN regressor (distance-weighted).
    seed : int
        Seed of the embedding and of the order before two classes are evaluated.
    max_segments : int, optional
        Only classes whose PWL needs at most this many segments (hardware budget).
    rank : {"accuracy", "pareto"}
        By the acquisition score, or by Pareto fronts of predicted accuracy against
        segments (the non-dominated classes, then those non-dominated among the rest...),
        each front's knee (nearest to the best accuracy at the fewest segments, both axes
        scaled to [0, 1]) first.
    model : {"gp", "knn"}
        The regressor (`predict`).
    acquisition : {"ei", "ucb", "mean"}
        See `rank_pending`.
    fisher : bool
        Use the Fisher features where computed (else the output features only).

    Returns
    -------
    list of Suggestion
        Pending baselines first, then the best predicted.
    """
    if rank not in RANKS:
        raise SearchError(f"unknown rank {rank!r}: choose one of {', '.join(RANKS)}")
    if max_segments is not None and max_segments < 1:
        raise SearchError(f"max_segments must be a positive integer, not {max_segments!r}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise SearchError(f"the number of neighbours must be a positive integer, not {k!r}")
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
    if not fisher:
        rows = [{**r, "fisher": None} for r in rows]
    feats = class_features(rows, embedding, seed)
    y = [_score(rows[i]) for i in done]
    want = n - len(out)
    if rank == "pareto":
        order, pred = rank_pending(feats, done, y, rest, model=model, k=k, acquisition="mean")
        segs = np.array([np.inf if _segments(rows[i]) is None else _segments(rows[i])
                         for i in rest], dtype=float)
        from .hardware import pareto_front

        order = []
        left = np.arange(len(rest))
        while len(left):  # non-dominated sorting: front after front, each knee first
            front = sorted((int(left[j]) for j in pareto_front(pred[left], segs[left])),
                           key=lambda j: _knee_distance(pred, segs, j))
            order += front
            left = np.setdiff1d(left, front)
        reason = "pareto"
    else:
        order, pred = rank_pending(feats, done, y, rest, model=model, k=k,
                                   acquisition=acquisition, n=want)
        reason = "predicted"
    out += [Suggestion(rows[rest[j]]["id"], rows[rest[j]]["representative"], float(pred[j]),
                       _segments(rows[rest[j]]), reason) for j in order[:want]]
    return out


def _knee_distance(pred: np.ndarray, segs: np.ndarray, j: int) -> float:
    """Distance of point j to (best accuracy, fewest segments), both axes scaled to [0, 1]."""
    fin = np.isfinite(segs)
    if not fin[j]:
        return math.inf
    a_rng = max(float(pred.max() - pred.min()), 1e-12)
    s_lo, s_hi = float(segs[fin].min()), float(segs[fin].max())
    return math.hypot((pred.max() - pred[j]) / a_rng, (segs[j] - s_lo) / max(s_hi - s_lo, 1e-12))


def _segments(row: dict) -> int | None:
    """The stored segment count of a class row (None when unknown or not finite)."""
    s = row.get("segments")
    return None if s is None or s < 0 else int(s)
