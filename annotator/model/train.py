"""Training BEDspace embeddings for exactly the projection `annotator.project` does.

At inference a region set's vector is the L2-normalised sum of the vectors of the distinct tokens it hits, and a
label's score is its cosine with that vector (StarSpace trainMode 0). Training here keeps that model and changes
how it is fitted:

* **Labels of each group live in their own block of dimensions** with fixed, orthonormal label vectors (a random
  near-orthogonal frame when the block is smaller than the group). A label of one group therefore never competes
  with, or serves as a negative for, another group's labels, and a sample's own label is never its negative.
* **Dual (kernel) parameterisation.** Gradient descent from zero can only ever give a token the vector
  `T_t = w_t * sum over training sets s containing t of a_s`, so we fit the per-set vectors `a_s` directly. With
  `K` the set x set matrix of weighted shared tokens, the training sets' sums are `K @ A`: an epoch costs
  O(n_sets² · dim) instead of O(token hits · dim), and the token vectors are written out once at the end.
* **Losses** (all on the cosine of the normalised set vector with its label vectors): ``squared`` regresses the
  set vector onto its label vector with a ridge penalty, solved in closed form (best on held-out data, default);
  ``softmax`` is cross-entropy over all labels of the group; ``hinge`` is StarSpace's ranking loss with sampled
  negatives and margin. The last two are fitted with Adam (learning rate decaying linearly to zero) in the
  whitened kernel basis, where the ridge penalty is a plain L2 penalty.
* **Token weighting and vocabulary.** Tokens seen in fewer than `min_df` training sets are dropped; each group
  weights the rest by how much their presence varies between its labels (η², the correlation ratio; or IDF, or
  nothing) raised to `weight_power`, and keeps its `tokens_per_group` highest-weighted tokens. Saved vectors
  already include the weights, so projection stays a plain sum.

Everything is seeded: the same corpus, parameters and seed give the same weights.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from annotator.errors import TrainingError
from annotator.model.format import BedspaceModel
from annotator.model.params import LOSSES as LOSSES
from annotator.model.params import WEIGHTINGS as WEIGHTINGS
from annotator.model.params import TrainParams as TrainParams
from annotator.model.rows import stratified_split, unit_rows
from annotator.model.solvers import solve_iterative, solve_squared
from annotator.progress import NULL_PROGRESS, Progress

if TYPE_CHECKING:
    from annotator.model.corpus import Corpus

log = logging.getLogger(__name__)

#: Ridge strengths tried on the validation split for the squared loss (relative to the unit kernel diagonal).
#: Columns densified at a time when building kernels: 128 sets x 65,536 float32 = 32 MiB.
_CHUNK = 1 << 16
#: Largest absolute token-vector entry after rescaling: float16 keeps ~3 significant digits from 6e-5 to 65504.
_STORAGE_MAX = 1024.0


@dataclass(frozen=True)
class Embeddings:
    """Result of `train_embeddings`: vectors for the columns of the training matrix that any group kept."""

    columns: np.ndarray  # sorted column indices of the input matrix
    token_vectors: np.ndarray  # (len(columns), dim) float32
    label_vectors: dict[str, np.ndarray]  # group -> (n_labels, dim) float32
    info: dict[str, Any]  # per group: tokens kept, ridge/epochs used, history; dims


@dataclass(frozen=True)
class _Fit:
    """One group's fit: z(q) = scale * sum over kept tokens t in q of weights[t] * (X[:, t] . coef)."""

    columns: np.ndarray  # kept candidate columns
    weights: np.ndarray  # their token weights
    x: sp.csr_matrix  # (n_rows, len(columns)) the training rows the fit used
    coef: np.ndarray  # (n_rows, d_g): per-training-row vectors divided by the row's kernel norm
    scale: float
    info: dict[str, Any]


def train_embeddings(
    matrix: sp.spmatrix,
    labels: dict[str, np.ndarray],
    n_labels: dict[str, int],
    params: TrainParams = TrainParams(),
    *,
    augmented: sp.spmatrix | None = None,
    augmented_source: np.ndarray | None = None,
    progress: Progress = NULL_PROGRESS,
) -> Embeddings:
    """Fit token and label vectors on a binary set x token matrix.

    Parameters
    ----------
    matrix
        (n_sets, n_columns) sparse, non-zero where a set hits a token. Only these sets are trained on.
    labels
        group -> (n_sets,) label index, -1 where the set has no label in the group.
    n_labels
        group -> number of labels.
    params
        Training parameters.
    augmented, augmented_source
        Extra rows (random peak subsets) and the index of the set each came from; they inherit its labels.
    progress
        One task per group, advanced per epoch (or per ridge candidate) with the loss.

    Returns
    -------
    Embeddings
        Token vectors for the kept columns (weights folded in), label vectors, and what was done.
    """
    started = time.perf_counter()
    x = sp.csr_matrix(matrix, dtype=np.float32)
    n_sets = x.shape[0]
    groups = [g for g in labels if n_labels[g] > 0]
    if not groups:
        raise TrainingError("no label group has any label: nothing to learn")
    for g in groups:
        if labels[g].shape[0] != n_sets:
            raise TrainingError(f"group {g!r}: {labels[g].shape[0]} labels for {n_sets} region sets")
        if np.unique(labels[g][labels[g] >= 0]).shape[0] < 2:
            raise TrainingError(f"group {g!r}: the training sets carry fewer than two distinct labels")
    df = np.bincount(x.indices[x.data != 0], minlength=x.shape[1])
    candidates = np.flatnonzero(df >= params.min_df)
    if candidates.size == 0:
        raise TrainingError(f"no token is hit by {params.min_df} or more training sets: lower min_df")
    xc = x[:, candidates].tocsc()  # a copy: making it binary leaves the caller's matrix alone
    xc.eliminate_zeros()
    xc.data[:] = 1.0
    aug = None
    source = np.zeros(0, np.int64)
    if augmented is not None and augmented.shape[0]:
        aug = sp.csr_matrix(augmented, dtype=np.float32)[:, candidates].tocsc()
        aug.eliminate_zeros()
        aug.data[:] = 1.0
        source = np.asarray(augmented_source, dtype=np.int64)
    dims = _split_dims(params.dim, {g: n_labels[g] for g in groups})
    rng = np.random.default_rng(params.seed)
    frames = {g: _label_frame(n_labels[g], dims[g], rng) for g in groups}
    fits = {g: _fit_group(xc, aug, source, labels[g], frames[g], params, g, progress) for g in groups}
    kept = np.unique(np.concatenate([f.columns for f in fits.values()]))
    vectors = np.zeros((kept.shape[0], sum(dims.values())), dtype=np.float64)
    label_vectors = {g: np.zeros((n_labels[g], vectors.shape[1]), dtype=np.float32) for g in groups}
    offsets = dict(zip(groups, np.cumsum([0, *dims.values()]).tolist(), strict=False))
    for g, f in fits.items():  # each group writes its own block of dimensions
        block = slice(offsets[g], offsets[g] + dims[g])
        vectors[np.searchsorted(kept, f.columns), block] = np.asarray(f.x.T @ f.coef) * (f.weights[:, None] * f.scale)
        label_vectors[g][:, block] = frames[g]
    peak = float(np.abs(vectors).max()) if vectors.size else 0.0
    if peak > 0:
        vectors *= _STORAGE_MAX / peak  # cosines ignore a global scale; this keeps float16 in its normal range
    info = {
        "n_sets": n_sets,
        "n_augmented": int(aug.shape[0]) if aug is not None else 0,
        "n_candidate_tokens": int(candidates.shape[0]),
        "n_tokens": int(kept.shape[0]),
        "dims": dims,
        "groups": {g: f.info for g, f in fits.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Embeddings(candidates[kept], vectors.astype(np.float32), label_vectors, info)


def _split_dims(dim: int | None, n_labels: dict[str, int]) -> dict[str, int]:
    """Dimensions per group: one per label by default, else `dim` shared in proportion to the label counts."""
    if dim is None:
        return dict(n_labels)
    if dim < 2 * len(n_labels):
        raise TrainingError(f"dim {dim} is too small for {len(n_labels)} label groups (at least 2 each)")
    total = sum(n_labels.values())
    quota = {g: dim * n / total for g, n in n_labels.items()}
    dims = {g: max(2, int(q)) for g, q in quota.items()}
    for g in sorted(quota, key=lambda g: int(quota[g]) - quota[g]):  # largest remainders first
        if sum(dims.values()) >= dim:
            break
        dims[g] += 1
    while sum(dims.values()) > dim:  # the minimum of 2 may have overshot: take back from the largest
        dims[max(dims, key=lambda g: dims[g])] -= 1
    return dims


def _label_frame(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """(n, d) unit label vectors: the identity when d >= n (zero-padded), else a random near-orthogonal frame."""
    if d >= n:
        return np.eye(n, d)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return unit_rows(q[:, :d]).astype(np.float64)


def _fit_group(
    xc: sp.csc_matrix, aug: sp.csc_matrix | None, source: np.ndarray, y: np.ndarray, frame: np.ndarray,
    params: TrainParams, group: str, progress: Progress,
) -> _Fit:  # fmt: skip
    """Choose ridge strength or epoch count on a validation split (if asked), then fit on all labelled sets."""
    labelled = np.flatnonzero(y >= 0)
    chosen: dict[str, Any] = {}
    if params.validation_fraction > 0:
        fit_idx, val_idx = stratified_split(y[labelled].astype(str), params.validation_fraction, params.seed + 1)
        if val_idx.size:
            trial = _fit_rows(xc, aug, source, y, labelled[fit_idx], frame, params, group, progress, labelled[val_idx])
            chosen = {k: trial.info[k] for k in ("ridge", "epochs", "validation_mrr", "history") if k in trial.info}
            chosen["n_validation"] = int(val_idx.size)
    final = dataclasses.replace(params, **{k: v for k, v in chosen.items() if k in ("ridge", "epochs")})
    fit = _fit_rows(xc, aug, source, y, labelled, frame, final, group, progress, None)
    fit.info.update({"validation": chosen} if chosen else {})
    return fit


def _fit_rows(
    xc: sp.csc_matrix, aug: sp.csc_matrix | None, source: np.ndarray, y: np.ndarray, rows: np.ndarray,
    frame: np.ndarray, params: TrainParams, group: str, progress: Progress, val_rows: np.ndarray | None,
) -> _Fit:  # fmt: skip
    """Weights, vocabulary and fit from the sets `rows` (+ their augmented rows); validation on `val_rows`."""
    weights = _token_weights(xc[rows], y[rows], frame.shape[0], params)
    columns = _top_columns(weights, params.tokens_per_group)
    if columns.size == 0:
        raise TrainingError(f"group {group!r}: no token carries any weight; lower min_df or use --weighting idf")
    weights = weights[columns]
    fit_x, fit_y = xc[rows][:, columns].tocsr(), y[rows]
    if aug is not None:  # augmented rows inherit the label of the set they were drawn from
        member = np.flatnonzero(np.isin(source, rows))
        fit_x = sp.vstack([fit_x, aug[member][:, columns].tocsr()]).tocsr()
        fit_y = np.concatenate([fit_y, y[source[member]]])
    gram = _gram(fit_x, fit_x, weights)
    norms = np.sqrt(np.diag(gram))
    usable = norms > 0  # a set without any kept token cannot be represented
    gram, norms, fit_x, fit_y = gram[np.ix_(usable, usable)], norms[usable], fit_x[usable], fit_y[usable]
    kn = gram / np.outer(norms, norms)  # cosine kernel: large and small files count alike
    val = None
    if val_rows is not None:
        vx = xc[val_rows][:, columns].tocsr()
        vnorm = np.sqrt(vx @ weights)  # binary rows: x . diag(w) . x = x . w
        val = (_gram(vx, fit_x, weights) / np.outer(np.where(vnorm > 0, vnorm, 1.0), norms), y[val_rows])
    solve = solve_squared if params.loss == "squared" else solve_iterative
    a, info = solve(kn, fit_y, frame, params, val, f"fitting {group} ({params.loss} loss)", progress)
    info.update({"n_tokens": int(columns.shape[0]), "n_rows": int(fit_y.shape[0])})
    scale = 1.0 / float(np.median(norms))  # a typical training set's block then has the length of its fit
    return _Fit(columns, weights, fit_x, a / norms[:, None], scale, info)


def _token_weights(x: sp.csc_matrix, y: np.ndarray, n_labels: int, params: TrainParams) -> np.ndarray:
    """Weight of every candidate column for one group (0 = useless), before selection."""
    n = x.shape[0]
    present = np.diff(x.indptr)  # CSC: sets hitting each column
    if params.weighting == "none":
        return np.ones(x.shape[1])
    if params.weighting == "idf":
        return (np.log((n + 1) / (present + 1)) + 1.0) ** params.weight_power
    onehot = sp.csr_matrix((np.ones(n), (np.arange(n), y)), shape=(n, n_labels))
    counts = np.asarray(onehot.sum(axis=0)).ravel()
    freq = present / n
    class_hits = (onehot.T @ x).toarray()  # (n_labels, n_columns): sets of each label hitting each column
    class_freq = class_hits / np.maximum(counts, 1)[:, None]
    between = (counts[:, None] * (class_freq - freq) ** 2).sum(axis=0) / n
    total = freq * (1.0 - freq)
    eta = np.divide(between, total, out=np.zeros_like(between), where=total > 0)
    return eta**params.weight_power


def _top_columns(weights: np.ndarray, k: int | None) -> np.ndarray:
    """Sorted indices of the `k` largest positive weights (ties: lower index first)."""
    positive = np.flatnonzero(weights > 0)
    if k is None or positive.size <= k:
        return positive
    order = np.lexsort((positive, -weights[positive]))
    return np.sort(positive[order[:k]])


def _gram(a: sp.csr_matrix, b: sp.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """a @ diag(weights) @ b.T as a dense float64 matrix, densifying column blocks (BLAS uses both cores)."""
    out = np.zeros((a.shape[0], b.shape[0]))
    ac, bc = a.tocsc(), b.tocsc()
    for lo in range(0, a.shape[1], _CHUNK):
        hi = min(lo + _CHUNK, a.shape[1])
        w = weights[lo:hi].astype(np.float32)
        left = ac[:, lo:hi].toarray() * w
        right = left if a is b else bc[:, lo:hi].toarray()
        out += left @ right.T
    return out


def train_model(
    corpus: Corpus,
    params: TrainParams = TrainParams(),
    *,
    name: str,
    train_rows: np.ndarray | None = None,
    progress: Progress = NULL_PROGRESS,
) -> BedspaceModel:
    """Train a `BedspaceModel` on the files `train_rows` of `corpus` (default: all), one group per label column.

    Labels are the distinct labels of the training files; the model's `training` record holds the parameters,
    the corpus and split, the vocabulary and per-group fit details, and the timing.

    Raises
    ------
    TrainingError
        Invalid parameters, a group with fewer than two labels, or no usable token.
    """
    started = time.perf_counter()
    rows = np.arange(len(corpus)) if train_rows is None else np.asarray(train_rows, dtype=np.int64)
    train = corpus.subset(rows)
    groups = {g: list(train.label_names(g)) for g in train.groups}
    labels = {g: train.label_ids(g, names) for g, names in groups.items()}
    emb = train_embeddings(train.matrix, labels, {g: len(n) for g, n in groups.items()}, params,
                           augmented=train.augmented, augmented_source=train.augmented_source,
                           progress=progress)  # fmt: skip
    model = BedspaceModel(
        name=name,
        universe=corpus.universe,
        token_ids=emb.columns.astype(np.int64),
        token_vectors=emb.token_vectors,
        groups=groups,
        label_vectors=emb.label_vectors,
        training={
            "method": "annotator dual BEDspace (see annotator.model.train)",
            "params": params.to_dict(),
            "corpus": {
                "n_files": len(corpus),
                "n_train_files": len(train),
                "label_counts": {g: dict(Counter(v for v in train.labels[g] if v)) for g in groups},
            },
            "train_files": list(train.files),
            "fit": emb.info,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    log.info("trained %s: %d tokens x %d dims in %.1f s", name, model.token_ids.shape[0], model.dim,
             time.perf_counter() - started)  # fmt: skip
    return model
