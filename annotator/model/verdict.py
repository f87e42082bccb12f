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
| `tile_ratio` | the file's best tile overlap (Ochiai) with a reference of this label / its best with any reference |
| `tile_log_rank` | log of the label's rank when labels are ordered by their best tile overlap |
| `cross_gap` | `ref_gap` in the other group's block (cell type for an antibody, antibody for a cell type) |
| `gap_x_cross` | `gap` x `cross_gap` |
| `ref_gap_x_cross` | `ref_gap` x `cross_gap` |
| `log_tokens` | log10(1 + known tiles the file hits): sparse files carry less evidence |
| `block_share` | share of the file vector's length in the group's block of dimensions |
| `top_score` | the top cosine |

`cross_gap` says how far the label's references are from the file in the other respect: an antibody whose training
files are all of other cell types is expected to score lower on this file, without being wrong.

The *references* are the model's training files: their vectors as the model projects them
(``reference_vectors.npy``) and the sets of the model's tiles they hit (``reference_tiles.npy``). Their cosines and
tile overlaps are a second opinion: a sparse file (a few hundred random peaks) loses most of its signal when its
tiles are pooled into one vector, but still shares tiles with the training files of its own label. A logistic
model fitted on held-out files with simulated mislabels (`annotator.model.verdict_fit`) turns the features into
P(wrong), and a label is **contradicted** when P(wrong) reaches the group's threshold (chosen so that few true
labels reach it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

#: Features of one label of one file, in the order `label_features` returns them.
FEATURES = ("gap", "log_rank", "rank_share", "zscore", "ref_gap", "ref_log_rank", "tile_ratio", "tile_log_rank",
            "cross_gap", "gap_x_cross", "ref_gap_x_cross", "log_tokens", "block_share", "top_score")  # fmt: skip
#: `best_reference` of a label without any reference: as if its best reference were orthogonal to the file.
_NO_REFERENCE = 0.0


def reliable_labels(ref_label: np.ndarray, ref_context: Sequence[str | None], n_labels: int,
                    contexts: Sequence[str | None]) -> np.ndarray:  # fmt: skip
    """(n files, n labels) bool: whether a label can be judged alone for each file — its references span two or
    more contexts, or include the file's context (`contexts`, None when unknown). `ref_label` is each reference's
    label index (-1: none), `ref_context` its context (its label in the other group; None: none)."""
    seen: list[set[str]] = [set() for _ in range(n_labels)]
    for label, context in zip(np.asarray(ref_label).tolist(), ref_context, strict=True):
        if label >= 0:
            seen[label].add(context or "")
    spread = np.array([len(s) >= 2 for s in seen], dtype=bool)
    out = np.repeat(spread[None, :], len(contexts), axis=0)
    for i, context in enumerate(contexts):
        if context:
            out[i] |= np.array([context in s for s in seen], dtype=bool)
    return out


def class_p_wrong(p: np.ndarray, classes: Sequence[str], reliable: np.ndarray) -> np.ndarray:
    """(n, L): for every label the P(wrong) of its class — the lowest P(wrong) among the class's reliable labels
    in the file, or among all its labels when none is reliable (`p` and `reliable` are (n, L))."""
    p = np.asarray(p, dtype=np.float64)
    of_label = np.asarray(classes, dtype=object)
    out = np.empty_like(p)
    for c in dict.fromkeys(of_label.tolist()):
        cols = np.flatnonzero(of_label == c)
        part, rel = p[:, cols], np.asarray(reliable, dtype=bool)[:, cols]
        best_reliable = np.where(rel, part, np.inf).min(axis=1)
        out[:, cols] = np.where(rel.any(axis=1), best_reliable, part.min(axis=1))[:, None]
    return out


def decision_score(p: np.ndarray, class_p: np.ndarray, reliable: np.ndarray, by_class: bool) -> np.ndarray:
    """The score a group's threshold is compared with: a label's own P(wrong) when it is judged alone, else the
    lower of its own and its class's (0 for a group without classes: never contradicted). `contradicted` with the
    class threshold equal to the threshold is ``decision_score >= threshold``; the fit chooses the threshold on it,
    so the false-alarm bound holds for what is flagged."""
    p = np.asarray(p, dtype=np.float64)
    fallback = np.minimum(p, np.asarray(class_p, dtype=np.float64)) if by_class else np.zeros_like(p)
    return np.where(np.asarray(reliable, dtype=bool), p, fallback)


def contradicted(p: np.ndarray, class_p: np.ndarray, reliable: np.ndarray, threshold: float,
                 class_threshold: float | None) -> np.ndarray:  # fmt: skip
    """Whether each label is contradicted: a reliable label by its own P(wrong); an unreliable one only when its
    own P(wrong) and its class's both reach their thresholds (never, without a class threshold). A label's own
    evidence is one-sided when it is unreliable: a cell-type shift makes a true label look wrong, never a wrong one
    look right, so a low own P(wrong) still clears it."""
    own = np.asarray(p) >= threshold
    by_class = np.zeros_like(own) if class_threshold is None else np.asarray(class_p) >= class_threshold
    return np.where(np.asarray(reliable, dtype=bool), own, own & by_class)


def unit_block(vectors: np.ndarray, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows restricted to `block` and scaled to unit length, their length before scaling)."""
    part = np.asarray(vectors, dtype=np.float64)[:, block]
    norm = np.linalg.norm(part, axis=1)
    return part / np.where(norm > 0, norm, 1.0)[:, None], norm


def best_by_label(sims: np.ndarray, ref_label: np.ndarray, n_labels: int) -> np.ndarray:
    """(n files, n labels): per file the highest of `sims` (n, R) over the references of each label (0 when the
    label has none; `ref_label` is each reference's label index, -1 for none)."""
    out = np.full((sims.shape[0], n_labels), _NO_REFERENCE - 2.0)
    labelled = np.flatnonzero(ref_label >= 0)
    if labelled.size:
        order = labelled[np.argsort(ref_label[labelled], kind="stable")]
        labels, starts = np.unique(ref_label[order], return_index=True)
        out[:, labels] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return np.where(out < -1.5, _NO_REFERENCE, out)


def best_reference(file_block: np.ndarray, ref_block: np.ndarray, ref_label: np.ndarray, n_labels: int) -> np.ndarray:
    """(n files, n labels): each file's best cosine with a reference of each label (unit rows restricted to the
    group's block)."""
    return best_by_label(file_block @ ref_block.T, ref_label, n_labels)


def tile_overlap(files: sp.spmatrix, references: sp.spmatrix) -> np.ndarray:
    """(n files, R) Ochiai coefficient |A & B| / sqrt(|A| |B|) of binary tile sets (rows over the same tiles)."""
    a = sp.csr_matrix(files, dtype=np.float64)
    b = sp.csr_matrix(references, dtype=np.float64)
    a.data[:] = 1.0
    b.data[:] = 1.0
    inter = np.asarray((a @ b.T).todense())
    size = np.sqrt(np.diff(a.indptr).astype(np.float64))[:, None] * np.sqrt(np.diff(b.indptr).astype(np.float64))
    return np.divide(inter, size, out=np.zeros_like(inter), where=size > 0)


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based rank of each entry within its row, highest first (ties by position, like the projection)."""
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1)[None, :]
    return ranks


def label_features(scores: np.ndarray, best_ref: np.ndarray, best_tiles: np.ndarray, best_cross: np.ndarray,
                   n_tokens: np.ndarray, block_share: np.ndarray) -> np.ndarray:  # fmt: skip
    """(n files, n labels, len(FEATURES)) features of every label of every file (see the module table).

    `scores` are the group's cosines (n, L) in vocabulary order, `best_ref` the best reference cosine per label
    (`best_reference`), `best_tiles` the best reference tile overlap per label (`best_by_label` of `tile_overlap`),
    `best_cross` the best reference cosine per label in the other group's block, `n_tokens` the known tiles each
    file hits, `block_share` the file vector's length in the group's block.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n, n_labels = scores.shape
    top = scores.max(axis=1, keepdims=True)
    rank = _ranks(scores)
    std = scores.std(axis=1, keepdims=True)
    zscore = (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
    ref = np.asarray(best_ref, dtype=np.float64)
    ref_rank = _ranks(ref)
    tiles = np.asarray(best_tiles, dtype=np.float64)
    tiles_top = tiles.max(axis=1, keepdims=True)
    cross = np.asarray(best_cross, dtype=np.float64)
    cross_gap = cross.max(axis=1, keepdims=True) - cross
    ref_gap = ref.max(axis=1, keepdims=True) - ref
    per_file = np.broadcast_to
    return np.stack(
        [
            top - scores,
            np.log(rank),
            (rank - 1) / max(n_labels - 1, 1),
            zscore,
            ref_gap,
            np.log(ref_rank),
            np.divide(tiles, tiles_top, out=np.zeros_like(tiles), where=tiles_top > 0),
            np.log(_ranks(tiles)),
            cross_gap,
            (top - scores) * cross_gap,
            ref_gap * cross_gap,
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


def features_of(
    scores: np.ndarray, file_vectors: np.ndarray, overlap: np.ndarray, block: np.ndarray, cross_block: np.ndarray,
    ref_vectors: np.ndarray, ref_label: np.ndarray, n_tokens: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """`label_features` of files given as their unit vectors and tile overlaps with every reference (`tile_overlap`
    or `overlap_of_rows`); the references as their vectors and label index in the group's vocabulary (-1: none).
    `block` holds the group's dimensions, `cross_block` the other group's (empty: no cross features)."""
    n_labels = scores.shape[1]
    file_block, share = unit_block(file_vectors, block)
    ref_block, _ = unit_block(ref_vectors, block)
    best = best_reference(file_block, ref_block, ref_label, n_labels)
    tiles = best_by_label(np.asarray(overlap, dtype=np.float64), ref_label, n_labels)
    if cross_block.size:
        file_cross, _ = unit_block(file_vectors, cross_block)
        ref_cross, _ = unit_block(ref_vectors, cross_block)
        cross = best_reference(file_cross, ref_cross, ref_label, n_labels)
    else:
        cross = np.zeros_like(best)
    return label_features(scores, best, tiles, cross, n_tokens, share)


def overlap_of_rows(rows: np.ndarray, tiles_by_row: sp.csr_matrix, ref_sizes: np.ndarray) -> np.ndarray:
    """(1, R) Ochiai overlap of one file, given as the distinct tile rows it hits, with every reference
    (`tiles_by_row`: tile row x reference, 1 where the reference hits the tile)."""
    inter = np.asarray(tiles_by_row[rows].sum(axis=0), dtype=np.float64).reshape(1, -1)
    size = np.sqrt(float(rows.shape[0]) * np.asarray(ref_sizes, dtype=np.float64))[None, :]
    return np.divide(inter, size, out=np.zeros_like(inter), where=size > 0)
