"""The verdict on an author's label: P(the label is wrong) from the evidence about *that* label (pure scorer).

The calibrated rank-1 call (`annotator.model.calibrate`) says how sure the model is of its own best label; a
curator needs the other question answered — do the data contradict the label the authors wrote? Here every label
of a group gets features of its own, all vectorised over files x labels:

| feature | meaning |
|---|---|
| `gap` | top cosine minus this label's cosine (how far below the best label it scores) |
| `log_rank` | log of its rank among the group's labels |
| `rank_share` | (rank - 1) / (labels - 1): 0 for the top label, 1 for the last |
| `zscore` | its cosine standardised over the group's labels |
| `ref_gap` | the file's best cosine with any reference (training file) minus its best with one of this label |
| `ref_log_rank` | log of the label's rank when labels are ordered by their best reference |
| `log_tokens` | log10(1 + known tiles the file hits): sparse files carry less evidence |
| `block_share` | share of the file vector's length in the group's block of dimensions |
| `top_score` | the top cosine |

The *references* are the model's training files, each projected by the model (``reference_vectors.npy``); their
cosines are a second opinion that survives sparse files better than the ranking alone. A logistic model fitted on
held-out files with simulated mislabels (`annotator.model.verdict_fit`) turns the features into P(wrong), and a
label is **contradicted** when P(wrong) reaches the group's threshold (chosen so that few true labels reach it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Features of one label of one file, in the order `label_features` returns them.
FEATURES = ("gap", "log_rank", "rank_share", "zscore", "ref_gap", "ref_log_rank", "log_tokens", "block_share",
            "top_score")  # fmt: skip
#: `best_reference` of a label without any reference: as if its best reference were orthogonal to the file.
_NO_REFERENCE = 0.0


def unit_block(vectors: np.ndarray, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows restricted to `block` and scaled to unit length, their length before scaling)."""
    part = np.asarray(vectors, dtype=np.float64)[:, block]
    norm = np.linalg.norm(part, axis=1)
    return part / np.where(norm > 0, norm, 1.0)[:, None], norm


def best_reference(file_block: np.ndarray, ref_block: np.ndarray, ref_label: np.ndarray, n_labels: int) -> np.ndarray:
    """(n files, n labels): each file's best cosine with a reference of each label.

    `file_block` and `ref_block` are unit rows restricted to the group's block; `ref_label` gives each reference's
    label index (-1: none in this group).
    """
    sims = file_block @ ref_block.T  # (n, R)
    out = np.full((file_block.shape[0], n_labels), _NO_REFERENCE - 2.0)
    labelled = np.flatnonzero(ref_label >= 0)
    if labelled.size:
        order = labelled[np.argsort(ref_label[labelled], kind="stable")]
        labels, starts = np.unique(ref_label[order], return_index=True)
        out[:, labels] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return np.where(out < -1.5, _NO_REFERENCE, out)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each entry within its row, highest first (ties by position, like the projection)."""
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1)[None, :]
    return ranks


def label_features(scores: np.ndarray, best_ref: np.ndarray, n_tokens: np.ndarray, block_share: np.ndarray
                   ) -> np.ndarray:  # fmt: skip
    """(n files, n labels, len(FEATURES)) features of every label of every file (see the module table).

    `scores` are the group's cosines (n, L) in vocabulary order, `best_ref` the best reference cosine per label
    (`best_reference`), `n_tokens` the known tiles each file hits, `block_share` its vector's length in the block.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n, n_labels = scores.shape
    top = scores.max(axis=1, keepdims=True)
    rank = _ranks(scores)
    std = scores.std(axis=1, keepdims=True)
    zscore = (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    ref = np.asarray(best_ref, dtype=np.float64)
    ref_rank = _ranks(ref)
    per_file = np.broadcast_to
    return np.stack(
        [
            top - scores,
            np.log(rank),
            (rank - 1) / max(n_labels - 1, 1),
            zscore,
            ref.max(axis=1, keepdims=True) - ref,
            np.log(ref_rank),
            per_file(np.log10(1.0 + np.asarray(n_tokens, dtype=np.float64))[:, None], (n, n_labels)),
            per_file(np.asarray(block_share, dtype=np.float64)[:, None], (n, n_labels)),
            per_file(top, (n, n_labels)),
        ],
        axis=2,
    )


def p_wrong(group_verdict: Mapping[str, Any], features: np.ndarray) -> np.ndarray:
    """P(label is wrong) for features of any leading shape (..., len(FEATURES))."""
    coef = np.asarray(group_verdict["coef"], dtype=np.float64)
    logit = group_verdict["intercept"] + np.asarray(features, dtype=np.float64) @ coef
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0)))


def score_files(
    group_verdict: Mapping[str, Any], scores: np.ndarray, file_vectors: np.ndarray, block: np.ndarray,
    references: np.ndarray, ref_label: np.ndarray, n_tokens: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """P(wrong) (n files, n labels, vocabulary order) for files given as their full unit vectors."""
    file_block, block_share = unit_block(file_vectors, block)
    ref_block, _ = unit_block(references, block)
    best = best_reference(file_block, ref_block, ref_label, scores.shape[1])
    return p_wrong(group_verdict, label_features(scores, best, n_tokens, block_share))


def reference_label_ids(reference_labels: Sequence[str | None], vocabulary: Sequence[str]) -> np.ndarray:
    """Index of each reference's label in `vocabulary` (-1 when it has none there)."""
    index = {label: i for i, label in enumerate(vocabulary)}
    return np.array([index.get(label, -1) if label else -1 for label in reference_labels], dtype=np.int64)
