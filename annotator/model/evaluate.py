"""Evaluation of a BEDspace model the way the BEDspace paper does it, per label group.

Three retrieval scenarios on held-out region sets:

1. label -> region sets: rank the held-out sets by cosine to a label vector; **R-precision** (precision among
   the top R sets, R = number of held-out sets that carry the label), averaged over labels.
2. region set -> labels: rank a group's labels for each held-out set; **MRR**, **top-1 accuracy**, **micro-F1**
   and **macro-F1** of the top-1 label, and the **confusion matrix**. With exactly one true label per set and
   group, micro-F1 equals top-1 accuracy (every wrong top-1 is one false positive and one false negative); it is
   reported because the paper does, macro-F1 is the one that shows rare labels going wrong.
3. region set -> region sets: the **fraction of the 10 nearest other sets** (cosine) that share the label. In a
   model whose groups live in separate dimensions (ours), the whole-vector cosine mixes all groups, so the same
   fraction is also given with neighbours found in the group's own label space (`neighbour_agreement_in_group`:
   cosine between the sets' score vectors over the group's labels).

Ranks break ties the way `annotator.project.rank_labels` does (stable: earlier vocabulary entry first), so the
numbers here are the ranks users see. A held-out set whose true label is not in the model's vocabulary gets rank
infinity: reciprocal rank 0, a wrong top-1.

Everything here is pure numpy on vectors; reading files happens in `annotator.model.corpus`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.errors import TrainingError
from annotator.model.params import DEFAULT_TEST_FRACTION as DEFAULT_TEST_FRACTION
from annotator.model.rows import embed_region_sets, mean_reciprocal_rank, true_ranks, unit_rows

if TYPE_CHECKING:
    from annotator.model.corpus import Corpus
    from annotator.model.format import BedspaceModel

#: Neighbours compared in scenario 3.
DEFAULT_NEIGHBOURS = 10


def f1_scores(predicted: np.ndarray, truth: np.ndarray, n_labels: int) -> tuple[float, float]:
    """(micro-F1, macro-F1) of single-label predictions; truth -1 (label unknown to the model) is always wrong.

    Macro-F1 averages over the labels that occur in `truth` or `predicted`.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    if predicted.shape[0] == 0:
        return float("nan"), float("nan")
    hit = predicted == truth
    tp = np.bincount(predicted[hit], minlength=n_labels).astype(np.float64)
    fp = np.bincount(predicted[~hit], minlength=n_labels).astype(np.float64)
    known = truth >= 0
    fn = np.bincount(truth[known & ~hit], minlength=n_labels).astype(np.float64)
    n_unknown = float(np.count_nonzero(~known))
    micro_p = tp.sum() / (tp.sum() + fp.sum())
    micro_r = tp.sum() / (tp.sum() + fn.sum() + n_unknown)
    micro = 0.0 if micro_p + micro_r == 0 else 2 * micro_p * micro_r / (micro_p + micro_r)
    present = (tp + fp + fn) > 0
    denom = 2 * tp + fp + fn
    per_label = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    macro = float(per_label[present].mean()) if present.any() else float("nan")
    return float(micro), macro


def confusion_matrix(predicted: np.ndarray, truth: np.ndarray, n_labels: int) -> np.ndarray:
    """Counts (n_labels x n_labels): rows true label, columns predicted; rows with truth -1 are left out."""
    predicted = np.asarray(predicted, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    keep = truth >= 0
    out = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(out, (truth[keep], predicted[keep]), 1)
    return out


def r_precision(scores: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """Scenario 1: label column -> R-precision over the rows, for every label that some row carries.

    For label c with R rows carrying it, the rows are ranked by `scores[:, c]` (descending, stable) and the share
    of true carriers among the first R is returned.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    out: dict[int, float] = {}
    for c in np.unique(truth[truth >= 0]):  # one iteration per label, not per region
        relevant = truth == c
        r = int(relevant.sum())
        top = np.argsort(-scores[:, c], kind="stable")[:r]
        out[int(c)] = float(relevant[top].mean())
    return out


def neighbour_agreement(
    vectors: np.ndarray,
    labels: np.ndarray,
    queries: np.ndarray | None = None,
    k: int = DEFAULT_NEIGHBOURS,
) -> np.ndarray:
    """Scenario 3: for each query row, the share of its `k` nearest other rows (cosine) with the same label.

    Parameters
    ----------
    vectors
        (n, dim) region-set vectors (normalised here).
    labels
        (n,) label ids; -1 never agrees with anything.
    queries
        Rows to score (default: all); their neighbours are searched among all other rows.
    k
        Neighbours per query (fewer when there are fewer other rows).

    Returns
    -------
    np.ndarray
        Agreement per query row (NaN when a query has no other row or no label).
    """
    unit = unit_rows(vectors)
    labels = np.asarray(labels, dtype=np.int64)
    queries = np.arange(unit.shape[0]) if queries is None else np.asarray(queries, dtype=np.int64)
    k = min(k, unit.shape[0] - 1)
    if k <= 0 or queries.shape[0] == 0:
        return np.full(queries.shape[0], np.nan)
    sims = unit[queries] @ unit.T
    sims[np.arange(queries.shape[0]), queries] = -np.inf  # a set is not its own neighbour
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    own = labels[queries][:, None]
    agree = (labels[nearest] == own) & (own >= 0)
    out = agree.mean(axis=1)
    out[labels[queries] < 0] = np.nan
    return out


def evaluate_group(
    set_vectors: np.ndarray,
    truth: np.ndarray,
    label_vectors: np.ndarray,
    label_names: Sequence[str],
    test_rows: np.ndarray,
    k: int = DEFAULT_NEIGHBOURS,
    margin_threshold: float = 0.1,
) -> dict[str, Any]:
    """All three scenarios for one label group.

    Parameters
    ----------
    set_vectors
        (n, dim) unit region-set vectors of every set of the corpus (training and held-out).
    truth
        (n,) index of each set's true label in `label_names`, -1 where missing or unknown to the model.
    label_vectors
        (n_labels, dim) the group's label vectors.
    label_names
        The group's labels, in the order of `label_vectors`.
    test_rows
        Rows evaluated; scenario 3 searches their neighbours among all other rows.
    k
        Neighbours in scenario 3.
    margin_threshold
        Top-1 minus top-2 cosine at which a prediction counts as confident (reported as a share).

    Returns
    -------
    dict
        JSON-ready metrics: n_test, n_unknown_label, mrr, top1, micro_f1, macro_f1, r_precision (mean) and per
        label, neighbour_agreement (+ _in_group), mean_margin, confident_share, confusion {labels, matrix}, per_label.
    """
    test_rows = np.asarray(test_rows, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    names = list(label_names)
    all_scores = unit_rows(set_vectors) @ unit_rows(label_vectors).T
    scores = all_scores[test_rows]
    t = truth[test_rows]
    ranks = true_ranks(scores, t)
    order = np.argsort(-scores, axis=1, kind="stable")
    predicted = order[:, 0]
    ranked = np.take_along_axis(scores, order, axis=1)
    margins = ranked[:, 0] - ranked[:, 1] if ranked.shape[1] > 1 else np.zeros(ranked.shape[0])
    micro, macro = f1_scores(predicted, t, len(names))
    rp = r_precision(scores, t)
    agreement = neighbour_agreement(set_vectors, truth, test_rows, k)
    in_group = neighbour_agreement(all_scores, truth, test_rows, k)
    per_label = {}
    for c, name in enumerate(names):
        rows = t == c
        if rows.any():
            per_label[name] = {
                "n": int(rows.sum()),
                "top1": float(np.mean(ranks[rows] == 1)),
                "mrr": mean_reciprocal_rank(ranks[rows]),
                "r_precision": rp.get(c),
            }
    return {
        "n_test": int(test_rows.shape[0]),
        "n_unknown_label": int(np.count_nonzero(t < 0)),
        "mrr": mean_reciprocal_rank(ranks),
        "top1": float(np.mean(ranks == 1)) if ranks.size else float("nan"),
        "micro_f1": micro,
        "macro_f1": macro,
        "r_precision": float(np.mean(list(rp.values()))) if rp else float("nan"),
        "neighbour_agreement": _nanmean(agreement),
        "neighbour_agreement_in_group": _nanmean(in_group),
        "neighbours": k,
        "mean_margin": float(margins.mean()) if margins.size else float("nan"),
        "confident_share": float(np.mean(margins >= margin_threshold)) if margins.size else float("nan"),
        "confusion": {"labels": names, "matrix": confusion_matrix(predicted, t, len(names)).tolist()},
        "per_label": per_label,
    }


def evaluate_embeddings(
    set_vectors: np.ndarray,
    truth: Mapping[str, Sequence[str] | np.ndarray],
    groups: Mapping[str, Sequence[str]],
    label_vectors: Mapping[str, np.ndarray],
    test_rows: np.ndarray,
    k: int = DEFAULT_NEIGHBOURS,
    margin_threshold: float = 0.1,
) -> dict[str, dict[str, Any]]:
    """`evaluate_group` for every group of a model; `truth` holds label names ("" or None when missing)."""
    out = {}
    for group, names in groups.items():
        if group not in truth:
            continue
        index = {name: i for i, name in enumerate(names)}
        ids = np.array([index.get(str(v), -1) if v not in (None, "") else -1 for v in truth[group]], np.int64)
        rows = np.asarray(test_rows, dtype=np.int64)
        # sets without a label in this group are not questions we can score: leave them out of this group
        labelled = np.array([v not in (None, "") for v in np.asarray(truth[group], dtype=object)[rows]], bool)
        out[group] = evaluate_group(set_vectors, ids, label_vectors[group], names, rows[labelled], k, margin_threshold)
    return out


def _nanmean(values: np.ndarray) -> float:
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def evaluate_model(
    model: BedspaceModel,
    corpus: Corpus,
    test_rows: np.ndarray | None = None,
    k: int = DEFAULT_NEIGHBOURS,
    margin_threshold: float = 0.1,
) -> dict[str, dict[str, Any]]:
    """Metrics per group of `model` on the files `test_rows` of `corpus` (default: the files it was not trained on).

    Scenario 3 searches neighbours among all files of the corpus. Groups the corpus has no labels for are skipped.

    Raises
    ------
    TrainingError
        No file to evaluate (every file of the corpus was used for training).
    """
    rows = held_out_rows(model, corpus) if test_rows is None else np.asarray(test_rows, dtype=np.int64)
    if rows.size == 0:
        raise TrainingError(
            f"no held-out file to evaluate: model {model.name!r} was trained on every file "
            "listed; give files it has not seen, or pass --all to score the training files"
        )
    vectors = embed_region_sets(corpus.matrix, model.token_ids, model.token_vectors)
    return evaluate_embeddings(vectors, corpus.labels, model.groups, model.label_vectors, rows, k, margin_threshold)


def held_out_rows(model: BedspaceModel, corpus: Corpus) -> np.ndarray:
    """Rows of `corpus` whose file name is not among the model's training files."""
    trained = set(model.training.get("train_files", []))
    return np.array([i for i, f in enumerate(corpus.files) if f not in trained], dtype=np.int64)
