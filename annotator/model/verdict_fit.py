"""Fit the verdict on authors' labels (`annotator.model.verdict`) from held-out files with simulated mislabels.

Data flows one way: a fold's fitted model (`crossval.fit_rows`) -> `collect_evidence` (features of every label of
every held-out file under every GEO-like condition, the true label marked) -> `fit_group` (a weighted logistic
model of P(wrong) and the threshold) -> the model's ``verdict`` entry.

Simulated mislabels: every label of the fold's vocabulary other than a file's true one is a wrong label an author
could have written. `mislabel_kind` sorts them the way curators meet them — `across` classes (an active histone
mark for a repressive one, a TF for a histone mark), `within` a class (H3K4me1 for H3K27ac, one TF for another) and
`slip` (a near-identical name: H3K4me1 for H3K4me3, STAT1 for STAT3, HSMM for HSMMtube) — so recall can be read
per kind. The threshold is the lowest P(wrong) that keeps the share of *true* labels reaching it at most
`MAX_FALSE_ALARM` in every condition and source of the fitting files, for the decision as applied: labels the
verdict cannot judge alone (`verdict.reliable_labels`) are also judged by their class, against the same threshold
(`class_threshold`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import scipy.sparse as sp

from annotator.model import verdict
from annotator.model.calibrate import fit_logistic
from annotator.model.classes import cross_group, label_class
from annotator.model.crossval import Fitted
from annotator.model.format import reference_label_ids
from annotator.model.rows import embed_region_sets
from annotator.model.sources import SourceCorpus

#: Share of true labels a threshold may flag in any condition x source of the fitting files.
MAX_FALSE_ALARM = 0.05
#: Groups the verdict is fitted for (the groups reconcile compares with authors' labels).
VERDICT_GROUPS = ("antibody", "cell_type")
#: Mislabel kinds, in table order.
KINDS = ("across", "within", "slip")
_RESIDUE = re.compile(r"H[234][A-Z.]*?K\d+")


@dataclass(frozen=True)
class Evidence:
    """One row per (held-out file x condition, label of the fold's vocabulary)."""

    fold: np.ndarray
    group: np.ndarray
    condition: np.ndarray
    source: np.ndarray  # source of the file
    file: np.ndarray  # corpus row of the file
    truth: np.ndarray  # the file's true label
    label: np.ndarray  # the label an author wrote (simulated)
    wrong: np.ndarray  # bool: label != truth
    kind: np.ndarray  # "true", or the mislabel kind (KINDS)
    known: np.ndarray  # bool: the truth is in the fold's vocabulary
    features: np.ndarray  # (n, len(verdict.FEATURES))
    reliable: np.ndarray  # bool: the label can be judged alone for this file (`verdict.reliable_labels`)

    def select(self, mask: np.ndarray) -> Evidence:
        return Evidence(*(getattr(self, f.name)[mask] for f in fields(self)))

    @staticmethod
    def concat(parts: list[Evidence]) -> Evidence:
        return Evidence(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Evidence)))

    def save(self, path: str | os.PathLike[str]) -> None:
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        np.savez_compressed(path, **{f"e_{k}": v.astype(str) if v.dtype == object else v for k, v in arrays.items()})

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Evidence:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[f"e_{f.name}"] for f in fields(Evidence)]
        return Evidence(*(a.astype(object) if a.dtype.kind == "U" else a for a in arrays))


def is_slip(a: str, b: str) -> bool:
    """Near-identical names an author could confuse: two marks of the same histone residue (H3K4me1/H3K4me3,
    H3K27ac/H3K27me3), else a shared stem of >= 3 characters and short, different ends (STAT1/STAT5A, E2F1/E2F4,
    HSMM/HSMMtube)."""
    residues = _RESIDUE.match(a), _RESIDUE.match(b)
    if residues[0] or residues[1]:
        return a != b and residues[0] is not None and residues[1] is not None and \
            residues[0].group(0) == residues[1].group(0)  # fmt: skip
    stem = 0
    while stem < min(len(a), len(b)) and a[stem] == b[stem]:
        stem += 1
    return a != b and stem >= 3 and max(len(a), len(b)) - stem <= 4


def mislabel_kind(group: str, truth: str, label: str) -> str:
    if label == truth:
        return "true"
    if is_slip(truth, label):
        return "slip"
    return "within" if label_class(group, truth) == label_class(group, label) else "across"


def fold_references(fitted: Fitted, corpus: SourceCorpus, train: np.ndarray) -> np.ndarray:
    """The fold model's training files projected by it: the references of its verdict (whole files)."""
    return embed_region_sets(corpus.matrix("whole", fitted.widths)[train], fitted.columns, fitted.vectors)


def collect_evidence(fitted: Fitted, corpus: SourceCorpus, fold: str, train: np.ndarray, test: np.ndarray,
                     conditions: tuple[str, ...]) -> Evidence | None:  # fmt: skip
    """Features of every label of the fold's vocabulary for every labelled test file under every condition."""
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    refs = fold_references(fitted, corpus, train)
    ref_tiles = corpus.matrix("whole", fitted.widths)[train][:, fitted.columns]
    parts = []
    for condition in conditions:
        matrix = corpus.matrix(condition, fitted.widths)[test]
        vectors = embed_region_sets(matrix, fitted.columns, fitted.vectors)
        tiles = matrix[:, fitted.columns]
        n_tokens = np.diff(sp.csr_matrix(tiles).indptr)
        overlap = verdict.tile_overlap(tiles, ref_tiles)
        for group, names in fitted.groups.items():
            if group not in VERDICT_GROUPS:
                continue
            truth = corpus.labels[group][test]
            rows = np.flatnonzero(truth != "")
            if not rows.size:
                continue
            block = np.flatnonzero(np.abs(fitted.label_vectors[group]).sum(axis=0) > 0)
            label_vectors = fitted.label_vectors[group]
            unit = label_vectors / np.maximum(np.linalg.norm(label_vectors, axis=1, keepdims=True), 1e-12)
            scores = vectors[rows] @ unit.T
            ref_ids = reference_label_ids(corpus.labels[group][train].tolist(), names)
            cross = fitted.label_vectors.get(cross_group(group))
            cross_block = np.zeros(0, np.int64) if cross is None else np.flatnonzero(np.abs(cross).sum(axis=0) > 0)
            feats = verdict.features_of(scores, vectors[rows], overlap[rows], block, cross_block, refs, ref_ids,
                                        n_tokens[rows])  # fmt: skip
            context = corpus.labels[cross_group(group)]
            reliable = verdict.reliable_labels(ref_ids, [c or None for c in context[train].tolist()], len(names),
                                               [c or None for c in context[test[rows]].tolist()])  # fmt: skip
            parts.append(_rows(fold, group, condition, corpus, test[rows], names, feats, reliable))
    return Evidence.concat(parts) if parts else None


def fold_evidence(fitted: Fitted, corpus: SourceCorpus, fold: str, train: np.ndarray, test: np.ndarray,
                  conditions: tuple[str, ...]) -> Evidence | None:  # fmt: skip
    """The evidence a held-out fold contributes to the verdict: every file of a left-out source; from the
    cell-type-out fold only histone files' antibodies (histone marks come from one source, so no source-out fold
    tests them); nothing from other folds."""
    if fold.startswith("loso:"):
        return collect_evidence(fitted, corpus, fold, train, test, conditions)
    if fold == "out:cell-third":
        ev = collect_evidence(fitted, corpus, fold, train, test, conditions)
        return None if ev is None else ev.select((ev.group == "antibody") & (ev.source == "histone"))
    return None


def _rows(fold: str, group: str, condition: str, corpus: SourceCorpus, files: np.ndarray, names: list[str],
          feats: np.ndarray, reliable: np.ndarray) -> Evidence:  # fmt: skip
    n, n_labels = feats.shape[:2]
    truth = np.repeat(corpus.labels[group][files].astype(object), n_labels)
    label = np.tile(np.array(names, dtype=object), n)
    known = np.repeat(np.isin(corpus.labels[group][files], names), n_labels)
    kind = np.array([mislabel_kind(group, t, lab) for t, lab in zip(truth.tolist(), label.tolist(), strict=True)],
                    dtype=object)  # fmt: skip
    full = np.full(n * n_labels, None, dtype=object)
    return Evidence(
        fold=_fill(full, fold), group=_fill(full, group), condition=_fill(full, condition),
        source=np.repeat(corpus.sources[files].astype(object), n_labels), file=np.repeat(files, n_labels),
        truth=truth, label=label, wrong=truth != label, kind=kind, known=known,
        features=feats.reshape(n * n_labels, -1), reliable=np.asarray(reliable, dtype=bool).reshape(n * n_labels),
    )  # fmt: skip


def _fill(template: np.ndarray, value: str) -> np.ndarray:
    out = template.copy()
    out[:] = value
    return out


def fit_group(evidence: Evidence, max_false_alarm: float = MAX_FALSE_ALARM) -> dict[str, Any]:
    """Logistic P(wrong) and threshold of one group, from evidence of files whose true label the fold knew.

    Each file x condition weighs as much wrong as right: its true label weighs 1 and each of its wrong labels
    1 / (number of wrong labels), so the fit does not learn "most labels are wrong".
    """
    e = evidence.select(evidence.known)
    key = np.char.add(np.char.add(e.fold.astype(str), e.condition.astype(str)), e.file.astype(str))
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    weight = np.where(e.wrong, 1.0 / np.maximum(counts[inverse] - 1, 1), 1.0)
    model = fit_logistic(e.features, e.wrong.astype(float), weight)
    p = verdict.p_wrong(model, e.features)
    right = ~e.wrong
    # A label the verdict cannot judge alone is judged by its class too, against the same threshold — not one
    # fitted on its own: the class check guards against a shift the fitting files do not show (a new source),
    # where a threshold fitted in-sample would guard nothing (on the bundled data it came out at 0). The threshold
    # is chosen on the decision as applied (`verdict.decision_score`), so the bound holds for what is flagged.
    by_class = len({label_class(g, lab) for g, lab in zip(e.group.tolist(), e.label.tolist(), strict=True)}) > 1
    score = verdict.decision_score(p, class_p_of_rows(e, p), e.reliable, by_class)
    threshold = choose_threshold(score[right], e.condition[right], e.source[right], max_false_alarm)
    return {**model, "threshold": threshold, "class_threshold": threshold if by_class else None,
            "features": list(verdict.FEATURES), "n_files": int(right.sum())}  # fmt: skip


def class_p_of_rows(evidence: Evidence, p: np.ndarray) -> np.ndarray:
    """`verdict.class_p_wrong` of evidence rows: per row, the lowest P(wrong) among the reliable labels of its
    label's class for the same file, condition and fold (among all of them when none is reliable)."""
    classes = np.array([label_class(g, lab) for g, lab in zip(evidence.group.tolist(), evidence.label.tolist(),
                                                               strict=True)], dtype=str)  # fmt: skip
    key = np.char.add(np.char.add(evidence.fold.astype(str), "|"), evidence.condition.astype(str))
    key = np.char.add(np.char.add(np.char.add(key, "|"), evidence.file.astype(str)), "|")
    key = np.char.add(np.char.add(np.char.add(key, evidence.group.astype(str)), "|"), classes)
    _, inverse = np.unique(key, return_inverse=True)
    best_reliable = np.full(inverse.max() + 1 if inverse.size else 0, np.inf)
    best_any = best_reliable.copy()
    np.minimum.at(best_reliable, inverse[evidence.reliable], p[evidence.reliable])
    np.minimum.at(best_any, inverse, p)
    return np.where(np.isfinite(best_reliable[inverse]), best_reliable[inverse], best_any[inverse])


def decide_rows(evidence: Evidence, p: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """Whether the verdict contradicts each row's label (`verdict.contradicted`)."""
    return verdict.contradicted(p, class_p_of_rows(evidence, p), evidence.reliable, model["threshold"],
                                model.get("class_threshold"))  # fmt: skip


def choose_threshold(p_true: np.ndarray, condition: np.ndarray, source: np.ndarray,
                     max_false_alarm: float = MAX_FALSE_ALARM) -> float:  # fmt: skip
    """Lowest threshold flagging at most `max_false_alarm` of the true labels in every condition x source."""
    threshold = 0.0
    for c in np.unique(condition):
        for s in np.unique(source):
            sel = p_true[(condition == c) & (source == s)]
            if sel.size:
                # the smallest t with mean(sel >= t) <= max: just above the k-th largest value
                k = int(np.floor(max_false_alarm * sel.size))
                ordered = np.sort(sel)[::-1]
                t = float(np.nextafter(ordered[k], 1.0)) if k < ordered.size else 0.0
                threshold = max(threshold, t)
    return min(threshold, 1.0)


def fit_verdict(evidence: Evidence, max_false_alarm: float = MAX_FALSE_ALARM) -> dict[str, Any]:
    """The model's ``verdict`` entry: one fitted group per group with evidence."""
    return {g: fit_group(evidence.select(evidence.group == g), max_false_alarm)
            for g in VERDICT_GROUPS if (evidence.group == g).any()}  # fmt: skip


def crossfit(evidence: Evidence, max_false_alarm: float = MAX_FALSE_ALARM) -> tuple[np.ndarray, np.ndarray]:
    """P(wrong) and flag of every row from a verdict fitted and thresholded on the *other* sources' rows only."""
    p = np.zeros(evidence.wrong.shape[0])
    flagged = np.zeros(evidence.wrong.shape[0], dtype=bool)
    for source in sorted(set(evidence.source.tolist())):
        fitted = fit_verdict(evidence.select(evidence.source != source), max_false_alarm)
        for group, model in fitted.items():
            m = (evidence.source == source) & (evidence.group == group)
            p[m] = verdict.p_wrong(model, evidence.features[m])
            flagged[m] = decide_rows(evidence.select(m), p[m], model)
    return p, flagged


def rates(evidence: Evidence, flagged: np.ndarray) -> dict[str, Any]:
    """Recall of wrong labels (per kind, and the kinds averaged per file, then over files), false alarms on true
    labels, and wrong labels the model ranks first that are not flagged (reconcile would call them a match), over
    files whose true label the model knows."""
    e, f = evidence.select(evidence.known), flagged[evidence.known]
    key = np.char.add(e.condition.astype(str), np.char.add("|", e.file.astype(str)))
    true = ~e.wrong
    out: dict[str, Any] = {"n": int(true.sum()), "false_alarm": _share(f[true])}
    per_kind = {}
    for kind in KINDS:
        m = e.kind == kind
        per_kind[kind] = _mean_by(key[m], f[m])
        out[f"recall_{kind}"] = float(np.mean(list(per_kind[kind].values()))) if per_kind[kind] else None
    files = sorted(set().union(*per_kind.values()))
    out["recall"] = float(np.mean([np.mean([d[k] for d in per_kind.values() if k in d]) for k in files])) \
        if files else None  # fmt: skip
    rank1 = e.features[:, verdict.FEATURES.index("log_rank")] == 0.0
    out["wrong_rank1_unflagged"] = int((e.wrong & rank1 & ~f).sum())
    out["wrong"] = int(e.wrong.sum())
    return out


def table(evidence: Evidence, flagged: np.ndarray) -> list[dict[str, Any]]:
    """`rates` per group and condition (the model card's mislabel table)."""
    out = []
    for group in VERDICT_GROUPS:
        for condition in dict.fromkeys(evidence.condition.tolist()):
            m = (evidence.group == group) & (evidence.condition == condition)
            if m.any():
                out.append({"group": group, "condition": condition, **rates(evidence.select(m), flagged[m])})
    return out


def _share(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if values.size else None


def _mean_by(keys: np.ndarray, values: np.ndarray) -> dict[str, float]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(float), minlength=uniq.shape[0])
    counts = np.bincount(inverse, minlength=uniq.shape[0])
    return dict(zip(uniq.tolist(), (sums / counts).tolist(), strict=True))
