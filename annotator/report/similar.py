"""Similar samples for the report's expanded rows: each shown sample's nearest region sets in the workdir's
embeddings archive and the model's training samples ("other samples that look like this one are called …").

Exact neighbours, computed in blocks of queries so memory stays bounded (a block × every candidate); with a model
whose label groups own disjoint dimensions, neighbours are found within each group's block (a curator checking an
antibody call sees samples with a similar antibody signal, whatever their cell type), else over the whole vector.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from annotator.embeddings import label_blocks, unit_rows
from annotator.errors import AnnotatorError
from annotator.model.format import BedspaceModel, load_model
from annotator.search import SOURCE_ARCHIVE, Candidates, load_candidates, predicted_labels

log = logging.getLogger(__name__)

ALL = "all"  # the space key when the model has no group blocks
_BLOCK_CELLS = 1 << 20  # query block x candidates scored at once: 4 MB of float32 (and its argpartition)


def similar_samples(
    workdir: str | os.PathLike[str], model: BedspaceModel, sample_ids: Sequence[str], k: int = 5
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """sample_id -> {space: the `k` nearest other region sets, best first}, for the ids found in the archive.

    A space is a label group (the model's block for it) or ``"all"``. Each neighbour is a dict with
    ``sample_id``, ``source`` (archive or training), ``cosine``, ``author`` and ``predicted`` ({group: label}).
    """
    candidates = load_candidates(workdir, model)
    row_of: dict[str, int] = {}
    for i, (sid, source) in enumerate(zip(candidates.sample_ids, candidates.sources, strict=True)):
        if source == SOURCE_ARCHIVE:
            row_of[sid] = i  # the latest vector of a sample id
    queries = np.array([row_of[s] for s in sample_ids if s in row_of], dtype=np.int64)
    if queries.size == 0 or len(candidates) < 2:
        return {}
    blocks = label_blocks(model)
    spaces: dict[str, list[int] | None] = dict(blocks) if blocks else {ALL: None}
    found: dict[str, list[list[tuple[int, float]]]] = {}
    for space, dims in spaces.items():
        matrix = candidates.vectors if dims is None else unit_rows(candidates.vectors[:, dims])
        found[space] = _nearest_rows(matrix, queries, k)
    rows = sorted({i for per in found.values() for hits in per for i, _ in hits})
    predicted = dict(zip(rows, predicted_labels(model, candidates.vectors[rows]), strict=True))
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for qi, q in enumerate(queries):
        sid = candidates.sample_ids[int(q)]
        out[sid] = {space: [_neighbour(candidates, i, score, predicted[i]) for i, score in per[qi]]
                    for space, per in found.items()}  # fmt: skip
    return out


def _nearest_rows(matrix: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """For each query row, the `k` best other rows by dot product (unit rows: cosine), best first."""
    n = matrix.shape[0]
    k = min(k, n - 1)
    step = max(1, _BLOCK_CELLS // max(n, 1))
    out: list[list[tuple[int, float]]] = []
    for start in range(0, queries.size, step):
        block = queries[start : start + step]
        scores = matrix[block] @ matrix.T
        scores[np.arange(block.size), block] = -np.inf  # a sample is not its own neighbour
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.argsort(-scores, axis=1)[:, :k]
        for r in range(block.size):
            idx = part[r]
            order = idx[np.lexsort((idx, -scores[r, idx]))]
            out.append([(int(i), float(scores[r, i])) for i in order if np.isfinite(scores[r, i])])
    return out


def _neighbour(c: Candidates, i: int, score: float, predicted: dict[str, str]) -> dict[str, Any]:
    return {
        "sample_id": c.sample_ids[i],
        "source": c.sources[i],
        "cosine": round(score, 4),
        "author": c.author_labels[i],
        "predicted": predicted,
    }


def model_of_run(runs: pa.Table | None, digest: str | None) -> BedspaceModel | None:
    """The model the latest run used (its `config.model`, else the bundled one) if its digest is `digest`."""
    if not digest:
        return None
    path = None
    if runs is not None and runs.num_rows:
        latest = runs.sort_by([("started_at", "descending")]).slice(0, 1).to_pylist()[0]
        try:
            path = (json.loads(latest["config"] or "{}") or {}).get("model")
        except ValueError:
            path = None
    try:
        model = load_model(Path(path) if path else None)
    except AnnotatorError as exc:
        log.info("no similar samples in the report: %s", exc)
        return None
    return model if model.digest == digest else None
