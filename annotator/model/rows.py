"""Pure helpers on rows of vectors and labels, shared by training and evaluation (the bottom of `annotator.model`).

Region-set vectors exactly as projection computes them, unit rows, the rank of a true label with projection's tie
rule, and the seeded stratified split. Nothing here imports another module of the package but `errors` and `params`, so
corpus -> train -> evaluate -> calibrate can all use it without importing back up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from annotator.errors import TrainingError
from annotator.model.params import DEFAULT_TEST_FRACTION


def stratified_split(
    labels: Sequence[str] | np.ndarray, test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of row indices into (train, test).

    The test set has `ceil(test_fraction * n)` rows, shared out over the classes in proportion to their size
    (largest remainders first, ties broken by the seed). A class keeps at least one member in training, so a class
    of one is never tested: a label the model never saw cannot be predicted. Rows with an empty label are only
    ever used for training.

    Parameters
    ----------
    labels
        One label per row ("" or None for missing).
    test_fraction
        Share of rows to hold out, in [0, 1).
    seed
        Seed of the random choice; the same seed and labels give the same split.

    Returns
    -------
    train, test
        Sorted int64 row indices.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise TrainingError(f"test fraction must be in [0, 1), got {test_fraction}")
    values = np.array(["" if v is None else str(v) for v in labels], dtype=object)
    n = values.shape[0]
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(values[values != ""], return_counts=True)
    capacity = np.maximum(counts - 1, 0)  # every class keeps one training member
    n_test = min(int(np.ceil(test_fraction * n)) if test_fraction > 0 else 0, int(capacity.sum()))
    quota = test_fraction * counts
    take = np.minimum(np.floor(quota).astype(np.int64), capacity)
    # largest remainder first; random tie-breaking so that equal classes share the extra rows fairly
    order = np.lexsort((rng.random(classes.shape[0]), -(quota - take)))
    while take.sum() < n_test:
        for c in order:
            if take.sum() >= n_test:
                break
            if take[c] < capacity[c]:
                take[c] += 1
    test = [
        rng.choice(np.flatnonzero(values == c), size=int(k), replace=False) for c, k in zip(classes, take, strict=True)
    ]
    test_rows = np.sort(np.concatenate(test)).astype(np.int64) if test else np.zeros(0, np.int64)
    train_rows = np.setdiff1d(np.arange(n, dtype=np.int64), test_rows)
    return train_rows, test_rows


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def embed_region_sets(matrix: sp.spmatrix, token_ids: np.ndarray, token_vectors: np.ndarray) -> np.ndarray:
    """Region-set vectors of a sample x universe-token matrix, exactly as projection computes them.

    A set's vector is the L2-normalised sum of the vectors of the distinct tokens it hits that the model knows
    (`annotator.project.region_set_vector`); a set that hits none gets the zero vector.
    """
    known = sp.csr_matrix(matrix)[:, np.asarray(token_ids, dtype=np.int64)]
    known.data = np.ones_like(known.data, dtype=np.float32)  # distinct tokens count once
    return unit_rows(np.asarray(known @ np.asarray(token_vectors, dtype=np.float32)))


def true_ranks(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based rank of each row's true label among the columns of `scores` (float; inf where truth is -1).

    Ties are broken like a stable sort on descending score: a label listed earlier ranks first.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    ranks = np.full(truth.shape[0], np.inf)
    known = truth >= 0
    if not known.any():
        return ranks
    s, t = scores[known], truth[known]
    own = s[np.arange(t.shape[0]), t][:, None]
    before = np.arange(s.shape[1])[None, :] < t[:, None]
    ranks[known] = 1 + np.count_nonzero((s > own) | ((s == own) & before), axis=1)
    return ranks


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """Mean of 1/rank (rank infinity counts 0)."""
    return float(np.mean(1.0 / np.asarray(ranks, dtype=np.float64))) if len(ranks) else float("nan")
