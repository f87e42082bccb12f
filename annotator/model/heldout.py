"""Held-out calls of every fold and condition, cross-fitted calibration, and the tables of the model card.

`collect` trains one model per fold (`crossval`) and keeps every rank-1 call it makes on the fold's test files
under every condition. `crossfit` then gives each call a calibrated probability and decision from a calibration
fitted **without any file of that call's source** (so no reported number was tuned on what it reports), and
`fit_calibration` fits the calibration the bundled model ships, on every held-out call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotator.model import calibrate
from annotator.model.conditions import CONDITIONS
from annotator.model.crossval import DEFAULT_AUGMENT, Fitted, fit_rows, score_rows
from annotator.model.sources import SourceCorpus
from annotator.model.train import TrainParams


@dataclass(frozen=True)
class Records:
    """One row per held-out rank-1 call (fold x condition x group x file)."""

    fold: np.ndarray
    group: np.ndarray
    condition: np.ndarray
    source: np.ndarray  # source of the file
    known: np.ndarray  # the true label is in the fold model's vocabulary
    correct: np.ndarray
    rank: np.ndarray  # rank of the true label (inf when unknown)
    n_tokens: np.ndarray
    features: np.ndarray

    def select(self, mask: np.ndarray) -> Records:
        return Records(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def collect(
    corpus: SourceCorpus, folds: dict[str, tuple[np.ndarray, np.ndarray]], params: TrainParams,
    widths: Sequence[int] = (5000,), augment: Sequence[str] = DEFAULT_AUGMENT,
    conditions: Sequence[str] = CONDITIONS,
    on_fold: Callable[[str, Fitted, np.ndarray, np.ndarray], None] | None = None,
) -> Records:  # fmt: skip
    """Train one model per fold and keep every call it makes on the fold's test files under every condition;
    `on_fold(fold, fitted, train, test)` sees each fold's model (the verdict's evidence is collected there)."""
    parts: dict[str, list[np.ndarray]] = {f: [] for f in Records.__dataclass_fields__}
    for fold, (train, test) in folds.items():
        fitted = fit_rows(corpus, train, params, widths, augment)
        if on_fold is not None:
            on_fold(fold, fitted, train, test)
        for condition in conditions:
            for group, calls in score_rows(fitted, corpus, test, condition).items():
                n = calls.rows.shape[0]
                parts["fold"].append(np.full(n, fold, dtype=object))
                parts["group"].append(np.full(n, group, dtype=object))
                parts["condition"].append(np.full(n, condition, dtype=object))
                parts["source"].append(corpus.sources[calls.rows].astype(object))
                parts["known"].append(calls.in_vocab)
                parts["correct"].append(calls.ranks == 1)
                parts["rank"].append(calls.ranks)
                parts["n_tokens"].append(np.round(10 ** calls.features[:, -1] - 1).astype(np.int64))
                parts["features"].append(calls.features)
    return Records(**{k: np.concatenate(v) for k, v in parts.items()})


def fit_calibration(records: Records) -> dict[str, Any]:
    """Calibration per group from held-out calls (the bundled model's `calibration`)."""
    out = {}
    for group in sorted(set(records.group.tolist())):
        r = records.select(records.group == group)
        out[group] = calibrate.fit_group(r.features, r.correct, r.known, r.condition, r.n_tokens)
        out[group]["features"] = list(calibrate.FEATURES)
    return out


def crossfit(records: Records, calibrating: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, confident, reason) per record, each from a calibration fitted on the `calibrating` records of
    the other sources only."""
    p = np.zeros(records.group.shape[0])
    confident = np.zeros(records.group.shape[0], dtype=bool)
    reason = np.full(records.group.shape[0], None, dtype=object)
    for source in sorted(set(records.source.tolist())):
        calibration = fit_calibration(records.select(calibrating & (records.source != source)))
        for group, cal in calibration.items():
            mask = (records.source == source) & (records.group == group)
            if mask.any():
                p[mask], confident[mask], why = calibrate.decide(cal, records.features[mask], records.n_tokens[mask])
                reason[mask] = why
    return p, confident, reason


def table(records: Records, confident: np.ndarray, by: Sequence[str] = ("fold", "group", "condition")
          ) -> list[dict[str, Any]]:  # fmt: skip
    """Per key: files with a known label (top-1, MRR, confident share and precision) and unknown-label files
    (share confidently called: always a mislabel)."""
    keys = np.array(["|".join(str(getattr(records, b)[i]) for b in by) for i in range(records.group.shape[0])])
    out = []
    for key in dict.fromkeys(keys.tolist()):
        m = keys == key
        known, unknown = m & records.known, m & ~records.known
        conf_known = known & confident
        row: dict[str, Any] = dict(zip(by, key.split("|"), strict=True))
        row |= {
            "n": int(known.sum()),
            "top1": _mean(records.correct[known]),
            "mrr": _mean(1.0 / records.rank[known]),
            "confident_share": _mean(confident[known]),
            "confident_precision": _mean(records.correct[conf_known]),
            "n_oov": int(unknown.sum()),
            "oov_confident_rate": _mean(confident[unknown]),
        }
        out.append(row)
    return out


def novel_table(records: Records, reason: np.ndarray, calibrating: np.ndarray) -> list[dict[str, Any]]:
    """Per group and condition of the calibration folds: how often a call is `no_known_label` on files whose true
    label the fold model knows (a wrong abstention) and on files whose label it does not know (a right one)."""
    novel = reason == calibrate.REASON_NO_KNOWN_LABEL
    out = []
    for group in sorted(set(records.group[calibrating].tolist())):
        for condition in CONDITIONS:
            m = calibrating & (records.group == group) & (records.condition == condition)
            if m.any():
                out.append({"group": group, "condition": condition, "n_known": int((m & records.known).sum()),
                            "on_known": _mean(novel[m & records.known]), "n_unknown": int((m & ~records.known).sum()),
                            "on_unknown": _mean(novel[m & ~records.known])})  # fmt: skip
    return out


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if values.size else None
