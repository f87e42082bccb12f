"""Train and evaluate a model from a folder of BED files: corpus -> train -> evaluate -> saved model (`annotator
train`). The orchestration sits here, above the stages, so that none of them imports another back up."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import TrainingError
from annotator.model.corpus import Corpus, read_corpus
from annotator.model.evaluate import evaluate_model
from annotator.model.format import BedspaceModel, save_model
from annotator.model.rows import DEFAULT_TEST_FRACTION, stratified_split
from annotator.model.train import TrainParams, train_model
from annotator.progress import NULL_PROGRESS, Progress
from annotator.regions.universe import Universe


@dataclass(frozen=True)
class TrainingRun:
    """What `train_and_evaluate` did: the saved model, the split, and the held-out metrics."""

    model: BedspaceModel
    corpus: Corpus
    train_rows: np.ndarray
    test_rows: np.ndarray
    metrics: dict[str, Any]


def train_and_evaluate(
    beds: str | os.PathLike[str],
    metadata: str | os.PathLike[str],
    label_columns: Sequence[str],
    out: str | os.PathLike[str],
    params: TrainParams | None = None,
    *,
    name: str | None = None,
    universe: Universe | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    stratify: str | None = None,
    augment: int = 0,
    augment_fraction: tuple[float, float] = (0.05, 0.5),
    workers: int | None = None,
    progress: Progress = NULL_PROGRESS,
) -> TrainingRun:
    """Read a corpus, hold out a stratified seeded test split, train, evaluate, and save the model to `out`.

    The held-out metrics are computed with the token vectors rounded to the storage dtype (what users load) and
    are stored in the model's `metrics["held_out"]`, with the split.

    Raises
    ------
    InputError
        Metadata or BED problems (see `read_corpus`).
    TrainingError
        Invalid parameters, or `stratify` not among the label columns.
    """
    params = params or TrainParams()
    stratify = stratify or label_columns[0]
    if stratify not in label_columns:
        raise TrainingError(
            f"cannot stratify on {stratify!r}: it is not one of the label columns {list(label_columns)}"
        )
    corpus = read_corpus(
        beds,
        metadata,
        label_columns,
        universe,
        augment=augment,
        augment_fraction=augment_fraction,
        seed=params.seed,
        workers=workers,
        progress=progress,
    )
    train_rows, test_rows = stratified_split(corpus.labels[stratify], test_fraction, params.seed)
    model = train_model(corpus, params, name=name or Path(out).name, train_rows=train_rows, progress=progress)
    stored = model.token_vectors.astype(params.dtype).astype(np.float32)
    model = dataclasses.replace(model, token_vectors=stored)
    split = {
        "test_fraction": test_fraction,
        "stratify": stratify,
        "seed": params.seed,
        "n_train": int(train_rows.size),
        "n_test": int(test_rows.size),
    }
    metrics: dict[str, Any] = {}
    if test_rows.size:
        groups = evaluate_model(model, corpus, test_rows)
        test_files = [corpus.files[i] for i in test_rows]
        metrics = {"split": split | {"kind": "held-out", "test_files": test_files}, "groups": groups}
    training = model.training | {"split": split, "augment": {"copies": augment, "fraction": list(augment_fraction)}}
    saved = save_model(dataclasses.replace(model, training=training, metrics=metrics), out, dtype=params.dtype)
    return TrainingRun(saved, corpus, train_rows, test_rows, metrics)
