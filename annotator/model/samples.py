"""The model's own training samples, shipped beside its weights so search can return them (optional part).

```
training_vectors.npy    (n, dim) float16: each training file's unit region-set vector, projected by this model
training_samples.json   [{"sample_id": file name, "labels": {group: label}, "file_sha256": hex}, …] in the same
                        order (the sha256 lets search show a training file and a harvested copy as one region set)
model.json              "training_samples": {"model_digest", "n", "files": {name: sha256}}
```
The entry sits outside the weights' `files`, so adding samples leaves the model digest unchanged (they change no
prediction, and projection journals stay valid); instead it records the digest the vectors were projected with,
and reading refuses vectors of another model or files whose sha256 differs. A retrained model (`save_model`
rewrites the directory) has no samples until `annotator model add-samples` runs again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import InputError, ModelError
from annotator.hashing import sha256_of
from annotator.model.corpus import metadata_columns, read_metadata
from annotator.model.format import BedspaceModel, load_model
from annotator.project import STATUS_OK, project_file
from annotator.tables import atomic_path

VECTORS_FILE = "training_vectors.npy"
INDEX_FILE = "training_samples.json"
META_KEY = "training_samples"


@dataclass(frozen=True)
class TrainingSamples:
    """Training files of a model with their labels and unit vectors (float32 in memory)."""

    sample_ids: list[str]
    labels: list[dict[str, str | None]]
    vectors: np.ndarray
    file_sha256: list[str] = field(default_factory=list)  # per sample ("" unknown); empty list: none recorded

    def __len__(self) -> int:
        return len(self.sample_ids)


def training_sample_vectors(
    model: BedspaceModel, beds: str | os.PathLike[str], files: Sequence[str], labels: Sequence[dict[str, str | None]]
) -> TrainingSamples:
    """Project each training file (relative to `beds`) with `model`; files that project to nothing are left out.

    Raises
    ------
    InputError
        A listed file is missing or not a readable region file.
    """
    ids, kept, vectors, shas = [], [], [], []
    for name, lab in zip(files, labels, strict=True):
        path = Path(beds) / name
        if not path.is_file():
            raise InputError(f"{path}: training file listed in the metadata is missing")
        p = project_file(model, path, sample_id=name)
        if p.status == STATUS_OK and p.vector is not None:
            ids.append(name)
            kept.append(dict(lab))
            vectors.append(p.vector)
            shas.append(p.file_sha256 or sha256_of(path))
        elif p.status != STATUS_OK and "none of" not in (p.reason or ""):
            raise InputError(f"{path}: {p.reason}")
    matrix = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, model.dim), np.float32)
    return TrainingSamples(ids, kept, matrix, shas)


def add_training_samples(
    model_dir: str | os.PathLike[str] | None, beds: str | os.PathLike[str], metadata: str | os.PathLike[str],
    *, include_held_out: bool = False,
) -> TrainingSamples:  # fmt: skip
    """Write the training samples' vectors and labels into a model directory (see the module docstring).

    Parameters
    ----------
    model_dir
        Model directory (None: the bundled model).
    beds, metadata
        The folder of BED files and the metadata CSV the model was trained on (`file_name` plus one column per
        label group; groups the CSV lacks are left out of the labels).
    include_held_out
        Also add files the model was not trained on (by default only `training.train_files` from model.json, or
        every file listed when the model does not record its training files).
    """
    model = load_model(model_dir)
    assert model.path is not None
    groups = [g for g in model.groups if g in metadata_columns(metadata)]
    if not groups:
        raise InputError(f"{metadata}: none of the model's label groups {list(model.groups)} is a column")
    files, columns = read_metadata(metadata, groups)
    trained = model.training.get("train_files")
    keep = [i for i, f in enumerate(files) if include_held_out or not trained or f in set(trained)]
    if not keep:
        raise InputError(f"{metadata}: lists none of the model's training files")
    labels = [{g: columns[g][i] or None for g in groups} for i in keep]
    samples = training_sample_vectors(model, beds, [files[i] for i in keep], labels)
    write_training_samples(model.path, model.digest, samples)
    return samples


def write_training_samples(model_dir: Path, model_digest: str, samples: TrainingSamples) -> None:
    """Write the two files, then record them in model.json (each write atomic; model.json last)."""
    with atomic_path(model_dir / VECTORS_FILE) as tmp, tmp.open("wb") as fh:
        np.save(fh, samples.vectors.astype(np.float16))
    shas = samples.file_sha256 or [""] * len(samples)
    index = [{"sample_id": s, "labels": lab, **({"file_sha256": sha} if sha else {})}
             for s, lab, sha in zip(samples.sample_ids, samples.labels, shas, strict=True)]  # fmt: skip
    with atomic_path(model_dir / INDEX_FILE) as tmp:
        tmp.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    meta_path = model_dir / "model.json"
    meta = json.loads(meta_path.read_text())
    meta[META_KEY] = {
        "model_digest": model_digest,
        "n": len(samples),
        "files": {name: sha256_of(model_dir / name) for name in (VECTORS_FILE, INDEX_FILE)},
    }
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")


def read_training_samples(model: BedspaceModel) -> TrainingSamples | None:
    """The model's training samples, or None when it ships none.

    Raises
    ------
    ModelError
        The files are missing or changed, or were projected by another model.
    """
    if model.path is None:
        return None
    meta: dict[str, Any] = json.loads((model.path / "model.json").read_text()).get(META_KEY) or {}
    if not meta:
        return None
    if meta.get("model_digest") != model.digest:
        raise ModelError(f"{model.path}: its training-sample vectors were projected by another model: "
                         "run `annotator model add-samples` again")  # fmt: skip
    for name, expected in (meta.get("files") or {}).items():
        path = model.path / name
        if not path.is_file() or sha256_of(path) != expected:
            raise ModelError(f"{path}: missing or changed since model.json was written: run `annotator model "
                             "add-samples` again")  # fmt: skip
    vectors = np.load(model.path / VECTORS_FILE, allow_pickle=False).astype(np.float32)
    index = json.loads((model.path / INDEX_FILE).read_text(encoding="utf-8"))
    if vectors.ndim != 2 or vectors.shape != (len(index), model.dim):
        raise ModelError(f"{model.path}: {len(index)} training samples but vectors of shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # float16 storage: re-normalise
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    shas = [str(r.get("file_sha256") or "") for r in index]
    return TrainingSamples([str(r["sample_id"]) for r in index], [dict(r["labels"]) for r in index], vectors,
                           shas if any(shas) else [])  # fmt: skip

