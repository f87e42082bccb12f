"""Fit on some files of a `SourceCorpus`, score others under every GEO-like condition: the evaluation harness.

Data flows one way: `sources` (token rows) -> `fit_rows` (train) -> `score_rows` (rank-1 calls and their features)
-> `annotator.model.calibrate` (probabilities, abstention) -> tables. Splits:

* **leave-one-source-out** (`source_folds`): train without one source, test on its files. Labels the other sources
  never show (e.g. the 58 GM12878-only TFs when that source is held out) are out of vocabulary for that fold: their
  calls are always wrong and feed the abstention measure, not top-1.
* **within-source** (`within_folds`): seeded stratified k-fold inside each source.
* **label-out** (`label_out_folds`): whole labels removed from training (a third of the TFs, the DNase assay, a third
  of the cell types) to measure how often a file of an unknown label still gets a confident call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from annotator.model.calibrate import call_features
from annotator.model.rows import embed_region_sets, true_ranks, unit_rows
from annotator.model.sources import ASSAY_DNASE, GROUPS, SourceCorpus
from annotator.model.train import TrainParams, train_embeddings

#: Conditions whose rows augment training by default (the strongest-peak and random-subset uploads).
DEFAULT_AUGMENT = ("top10000", "top2000", "top500", "random1000", "random300")


@dataclass(frozen=True)
class Fitted:
    """A fitted model over the columns of `SourceCorpus.matrix(condition, widths)`."""

    widths: tuple[int, ...]
    columns: np.ndarray
    vectors: np.ndarray  # float32 values of the float16 storage
    groups: dict[str, list[str]]
    label_vectors: dict[str, np.ndarray]
    dims: dict[str, int]


@dataclass(frozen=True)
class Calls:
    """Rank-1 calls of one group for some files under one condition, with the features calibration uses."""

    group: str
    condition: str
    rows: np.ndarray  # corpus rows
    truth: np.ndarray  # true label name ("" none)
    in_vocab: np.ndarray  # bool: the truth is a label of the model
    predicted: np.ndarray  # rank-1 label name
    ranks: np.ndarray  # rank of the truth (inf when out of vocabulary)
    features: np.ndarray  # (n, len(calibrate.FEATURES))


def fit_rows(
    corpus: SourceCorpus, rows: np.ndarray, params: TrainParams, widths: Sequence[int] = (5000,),
    augment: Sequence[str] = DEFAULT_AUGMENT, groups: Sequence[str] = GROUPS,
) -> Fitted:  # fmt: skip
    """Train on the whole files `rows` plus their `augment` condition rows (which inherit the file's labels)."""
    rows = np.asarray(rows, dtype=np.int64)
    widths = tuple(widths)
    names = {g: sorted(set(corpus.labels[g][rows].tolist()) - {""}) for g in groups}
    names = {g: n for g, n in names.items() if len(n) >= 2}
    ids = {g: _label_ids(corpus.labels[g][rows], n) for g, n in names.items()}
    x = corpus.matrix("whole", widths)[rows]
    aug, source = None, None
    if augment:
        aug = sp.vstack([corpus.matrix(c, widths)[rows] for c in augment]).tocsr()
        source = np.tile(np.arange(rows.shape[0], dtype=np.int64), len(augment))
    emb = train_embeddings(x, ids, {g: len(n) for g, n in names.items()}, params, augmented=aug,
                           augmented_source=source)  # fmt: skip
    stored = emb.token_vectors.astype(params.dtype).astype(np.float32)
    return Fitted(widths, emb.columns, stored, names, emb.label_vectors, emb.info["dims"])


def _label_ids(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(v, -1) for v in values.tolist()], dtype=np.int64)


def score_rows(fitted: Fitted, corpus: SourceCorpus, rows: np.ndarray, condition: str) -> dict[str, Calls]:
    """Rank-1 calls per group for the files `rows` under `condition` (files without a label in a group skipped)."""
    rows = np.asarray(rows, dtype=np.int64)
    matrix = corpus.matrix(condition, fitted.widths)[rows]
    vectors = embed_region_sets(matrix, fitted.columns, fitted.vectors)
    known = matrix[:, fitted.columns]
    n_tokens = np.diff(known.indptr)
    out = {}
    for group, names in fitted.groups.items():
        truth = corpus.labels[group][rows]
        labelled = truth != ""
        if group == "antibody":  # a DNase-seq file has no target: any antibody call on it is wrong
            labelled |= corpus.labels["assay"][rows] == ASSAY_DNASE
        scores = vectors[labelled] @ unit_rows(fitted.label_vectors[group]).T
        ids = _label_ids(truth[labelled], names)
        block = np.flatnonzero(np.abs(fitted.label_vectors[group]).sum(axis=0) > 0)
        feats = call_features(scores, vectors[labelled][:, block], n_tokens[labelled])
        out[group] = Calls(group, condition, rows[labelled], truth[labelled], ids >= 0,
                           np.array(names)[np.argmax(scores, axis=1)], true_ranks(scores, ids), feats)  # fmt: skip
    return out


def source_folds(corpus: SourceCorpus) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Source name -> (train rows = every other source, test rows = that source)."""
    return {s: (np.flatnonzero(corpus.sources != s), np.flatnonzero(corpus.sources == s))
            for s in dict.fromkeys(corpus.sources.tolist())}  # fmt: skip


def within_folds(corpus: SourceCorpus, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded k-fold over all files, stratified by source and label: every fold trains on every source."""
    rng = np.random.default_rng(seed)
    key = np.char.add(np.char.add(corpus.sources.astype(str), "|"), corpus.labels["antibody"].astype(str))
    key = np.char.add(np.char.add(key, "|"), corpus.labels["cell_type"].astype(str))
    fold = np.empty(len(corpus), dtype=np.int64)
    offset = 0
    for value in np.unique(key):  # members of a stratum dealt round the folds from a rotating start
        members = rng.permutation(np.flatnonzero(key == value))
        fold[members] = (offset + np.arange(members.shape[0])) % k
        offset += members.shape[0]
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k)]


def label_out_folds(corpus: SourceCorpus, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Folds holding whole labels out: a third of the TFs, the DNase assay, a third of the cell types."""
    rng = np.random.default_rng(seed)
    tf_rows = np.isin(corpus.sources, ["tf-gm12878", "tf-dream"]) & (corpus.labels["antibody"] != "")
    tfs = np.unique(corpus.labels["antibody"][tf_rows])
    out_tfs = rng.choice(tfs, size=len(tfs) // 3, replace=False)
    cells = np.unique(corpus.labels["cell_type"])
    out_cells = rng.choice(cells, size=len(cells) // 3, replace=False)
    masks = {
        "tf-third": np.isin(corpus.labels["antibody"], out_tfs),
        "dnase": corpus.labels["assay"] == "DNase-seq",
        "cell-third": np.isin(corpus.labels["cell_type"], out_cells),
    }
    return {name: (np.flatnonzero(~m), np.flatnonzero(m)) for name, m in masks.items()}


def summarise(calls: Calls) -> dict[str, float]:
    """top-1 and MRR over in-vocabulary files, and counts (OOV files excluded from top-1/MRR)."""
    inv = calls.in_vocab
    ranks = calls.ranks[inv]
    return {
        "n": int(inv.sum()),
        "n_oov": int((~inv).sum()),
        "top1": float(np.mean(ranks == 1)) if ranks.size else float("nan"),
        "mrr": float(np.mean(1.0 / ranks)) if ranks.size else float("nan"),
    }
