"""`annotator evaluate --conditions`: score a saved model on labelled files under GEO-like conditions.

Each file is read once with its signal and summits (`conditions.read_peaks`), turned into every condition's region
set, and projected exactly as `annotator project` does (`project.rank_labels`, calibrated confidence included).
Per condition and group: top-1 and MRR over files whose label the model knows, the share of those called
confidently and how many of the confident calls are right, and for files whose label the model does not know, the
share that still got a confident call (each one a mislabel).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError, InputError
from annotator.model.conditions import CONDITIONS, apply_condition, read_peaks
from annotator.model.corpus import read_metadata
from annotator.model.format import BedspaceModel, load_model
from annotator.project import rank_labels, region_set_vector

#: One call: (condition, group, truth, rank of truth or 0 when unknown, confident, right)
_Call = tuple[str, str, str, int, bool, bool]


def evaluate_conditions(
    model: BedspaceModel, beds: Path, metadata: Path, conditions: Sequence[str] = CONDITIONS,
    workers: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows of (condition, group) metrics for the files listed in `metadata` (see the module docstring)."""
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise InputError(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
    groups = list(model.groups)
    files, labels = _labels(metadata, groups)
    jobs = [(model.path, beds / f, {g: labels[g][i] for g in labels}, tuple(conditions)) for i, f in enumerate(files)]
    n_workers = workers or os.cpu_count() or 1
    if model.path is None or n_workers == 1 or len(jobs) < 8:
        calls = [c for job in jobs for c in _file_calls(job, model)]
    else:
        with ProcessPoolExecutor(max_workers=min(n_workers, 2)) as pool:
            calls = [c for part in pool.map(_file_calls, jobs, chunksize=2) for c in part]
    return summarise_calls(calls, conditions, groups)


def _labels(metadata: Path, groups: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    from annotator.model.corpus import metadata_columns

    present = [g for g in groups if g in metadata_columns(metadata)]
    if not present:
        raise InputError(f"{metadata}: no column for any label group of the model ({', '.join(groups)})")
    return read_metadata(metadata, present)


_WORKER_MODELS: dict[str, BedspaceModel] = {}


def _file_calls(job: tuple[Path | None, Path, dict[str, str], tuple[str, ...]], model: BedspaceModel | None = None
                ) -> list[_Call]:  # fmt: skip
    model_path, path, truth, conditions = job
    if model is None:
        key = str(model_path)
        if key not in _WORKER_MODELS:
            _WORKER_MODELS[key] = load_model(model_path)
        model = _WORKER_MODELS[key]
    try:
        peaks = read_peaks(path, model.universe.genome)
    except AnnotatorError as exc:
        raise InputError(str(exc)) from exc
    out: list[_Call] = []
    for condition in conditions:
        tokens = model.universe.tokenize(apply_condition(peaks, condition), known=model.known_tokens)
        vector = region_set_vector(model, tokens.ids)
        rankings = rank_labels(model, vector, n_tokens=int(tokens.ids.shape[0])) if vector is not None else {}
        for group, label in truth.items():
            if not label or group not in model.groups:
                continue
            r = rankings.get(group)
            rank = r.labels.index(label) + 1 if r is not None and label in r.labels else 0
            out.append((condition, group, label, rank, bool(r is not None and r.confident), rank == 1))
    return out


def summarise_calls(calls: Sequence[_Call], conditions: Sequence[str], groups: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for condition in conditions:
        for group in groups:
            sel = [c for c in calls if c[0] == condition and c[1] == group]
            if not sel:
                continue
            known = [c for c in sel if c[3] > 0]
            oov = [c for c in sel if c[3] == 0]
            confident = [c for c in known if c[4]]
            rows.append({
                "condition": condition,
                "group": group,
                "n": len(known),
                "top1": _mean([c[5] for c in known]),
                "mrr": _mean([1.0 / c[3] for c in known]),
                "confident_share": _mean([c[4] for c in known]),
                "confident_precision": _mean([c[5] for c in confident]),
                "n_oov": len(oov),
                "oov_confident_rate": _mean([c[4] for c in oov]),
            })  # fmt: skip
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None
