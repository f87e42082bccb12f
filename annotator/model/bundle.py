"""Train the bundled multi-source model: held-out folds -> calibration -> final fit on every file -> model dir.

`train_bundled` reads the four corpora of `../shared/data` (see `annotator.model.sources`), collects held-out calls
from the leave-one-source-out, label-out and within-source folds (`heldout.collect`), fits the calibration on the
leave-one-source-out and label-out calls, trains the final model on every file, and saves it with the calibration
and the held-out tables in `model.json`. Everything is seeded: running it twice writes identical bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.model import heldout, verdict_fit
from annotator.model.conditions import CONDITIONS
from annotator.model.crossval import DEFAULT_AUGMENT, Fitted, fit_rows, label_out_folds, source_folds, within_folds
from annotator.model.format import BedspaceModel, pack_tiles, save_model
from annotator.model.sources import DEFAULT_SOURCES, MASKED_CHROMS, SourceCorpus, read_sources
from annotator.model.train import TrainParams
from annotator.regions.universe import TileUniverse

#: Parameters of the bundled model (chosen on the tuning fold, see the model card).
BUNDLED_PARAMS = TrainParams(ridge=1.0)
BUNDLED_WIDTH = 5000


@dataclass(frozen=True)
class Bundle:
    model: BedspaceModel
    records: heldout.Records
    probability: np.ndarray
    confident: np.ndarray
    reason: np.ndarray
    metrics: dict[str, Any]


def all_folds(corpus: SourceCorpus) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folds = {f"loso:{k}": v for k, v in source_folds(corpus).items()}
    folds |= {f"out:{k}": v for k, v in label_out_folds(corpus).items()}
    folds |= {f"within:{i}": v for i, v in enumerate(within_folds(corpus))}
    return folds


def train_bundled(
    data: Path, out: Path, params: TrainParams = BUNDLED_PARAMS, width: int = BUNDLED_WIDTH,
    augment: Sequence[str] = DEFAULT_AUGMENT, corpus: SourceCorpus | None = None, workers: int = 2,
) -> Bundle:  # fmt: skip
    """Train, calibrate, evaluate and save the bundled model to `out`."""
    corpus = corpus or read_sources(data, widths=(width,), seed=params.seed, workers=workers)
    evidence: list[verdict_fit.Evidence] = []

    def keep_evidence(fold: str, fitted: Fitted, train: np.ndarray, test: np.ndarray) -> None:
        if (ev := verdict_fit.fold_evidence(fitted, corpus, fold, train, test, CONDITIONS)) is not None:
            evidence.append(ev)

    records = heldout.collect(corpus, all_folds(corpus), params, (width,), augment, on_fold=keep_evidence)
    calibrating = np.array([not f.startswith("within:") for f in records.fold.tolist()])
    probability, confident, reason = heldout.crossfit(records, calibrating)
    calibration = heldout.fit_calibration(records.select(calibrating))
    fitted = fit_rows(corpus, np.arange(len(corpus)), params, (width,), augment)
    pooled = verdict_fit.Evidence.concat(evidence)
    verdict_groups = verdict_fit.fit_verdict(pooled)
    _, flagged = verdict_fit.crossfit(pooled)
    everything = np.arange(len(corpus))
    references = verdict_fit.fold_references(fitted, corpus, everything).astype(np.float16).astype(np.float32)
    reference_tiles = pack_tiles(corpus.matrix("whole", (width,))[:, fitted.columns])
    verdict = {
        "groups": verdict_groups,
        "references": {g: [v or None for v in corpus.labels[g].tolist()] for g in verdict_groups},
        "reference_files": list(corpus.files),
    }
    metrics = {
        "held_out": heldout.table(records, confident),
        "by_source": heldout.table(records, confident, ("fold", "source", "group", "condition")),
        "no_known_label": heldout.novel_table(records, reason, calibrating),
        "mislabels": verdict_fit.table(pooled, flagged),
        "reliability": [  # rows, not a dict per group: `annotator model info` shows dicts as metric tables
            {"group": g, **row}
            for g in sorted(set(records.group.tolist()))
            for row in _reliability(records, probability, g, calibrating)
        ],
    }
    model = BedspaceModel(
        name=out.name,
        universe=TileUniverse(width),
        token_ids=fitted.columns.astype(np.int64),
        token_vectors=fitted.vectors,
        groups=fitted.groups,
        label_vectors=fitted.label_vectors,
        training={
            "method": "annotator dual BEDspace, multi-source (annotator.model.bundle)",
            "params": params.to_dict(),
            "augment": list(augment),
            "masked_chroms": list(MASKED_CHROMS),
            "sources": {name: int(np.sum(corpus.sources == name)) for name in DEFAULT_SOURCES},
            "train_files": list(corpus.files),
            "label_counts": {g: _counts(corpus.labels[g]) for g in fitted.groups},
        },
        metrics=metrics,
        calibration=calibration,
        verdict=verdict,
        reference_vectors=references,
        reference_tiles=reference_tiles,
    )
    saved = save_model(model, out, dtype=params.dtype)
    return Bundle(saved, records, probability, confident, reason, metrics)


def _counts(values: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(values[values != ""], return_counts=True)
    return {str(n): int(c) for n, c in zip(names, counts, strict=True)}


def _reliability(records: heldout.Records, p: np.ndarray, group: str, calibrating: np.ndarray) -> list[dict[str, Any]]:
    from annotator.model.calibrate import reliability

    m = (records.group == group) & calibrating
    return reliability(p[m], records.correct[m])


def default_data_root() -> Path:
    """`../shared/data` beside the repository (or $ANNOTATOR_TRAINING_DATA)."""
    env = os.environ.get("ANNOTATOR_TRAINING_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
