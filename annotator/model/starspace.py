"""Import and export StarSpace `.tsv` models, the format of the original BEDspace pipeline.

A StarSpace model file has one line per vocabulary entry: the entry, then its `dim` weights, tab-separated.
Region tokens are named `chr1_1000_2000` (or `chr1:1000-2000`); labels carry StarSpace's `__label__` prefix.
StarSpace has no label groups, so importing needs a label -> group mapping.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from annotator.errors import ModelError
from annotator.model.format import BedspaceModel
from annotator.regions.universe import Universe

LABEL_PREFIX = "__label__"


def read_label_groups(path: str | os.PathLike[str]) -> dict[str, str]:
    """Label -> group from a CSV with columns `label,group` (labels may contain spaces or commas if quoted)."""
    with Path(path).open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"label", "group"} <= set(reader.fieldnames):
            raise ModelError(f"{path}: label-group CSV needs the columns 'label' and 'group'")
        return {row["label"]: row["group"] for row in reader}


def import_starspace(
    tsv: str | os.PathLike[str], universe: Universe, label_groups: Mapping[str, str], name: str | None = None
) -> BedspaceModel:
    """Read a StarSpace `.tsv` into a `BedspaceModel` over `universe`.

    Raises
    ------
    ModelError
        Ragged rows, a label without a group, or a token that is not an interval of `universe`.
    """
    path = Path(tsv)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types={"f0": pa.string()}),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ModelError(f"{path}: not a StarSpace .tsv model: {exc}") from exc
    names = np.asarray(table.column(0).to_pylist(), dtype=object)
    try:
        weights = np.column_stack([table.column(i).to_numpy().astype(np.float32) for i in range(1, table.num_columns)])
    except (pa.ArrowInvalid, ValueError) as exc:
        raise ModelError(f"{path}: non-numeric weights: {exc}") from exc
    is_label = np.array([n.startswith(LABEL_PREFIX) for n in names], dtype=bool)
    groups: dict[str, list[str]] = {}
    vectors: dict[str, list[np.ndarray]] = {}
    for label_name, vec in zip(names[is_label], weights[is_label], strict=True):
        label = label_name[len(LABEL_PREFIX) :]
        group = label_groups.get(label)
        if group is None:
            raise ModelError(f"{path}: label {label!r} has no group in the label-group mapping")
        groups.setdefault(group, []).append(label)
        vectors.setdefault(group, []).append(vec)
    ids = universe.ids_from_names([str(n) for n in names[~is_label]])
    order = np.argsort(ids, kind="stable")
    if np.any(np.diff(ids[order]) == 0):
        raise ModelError(f"{path}: the same universe token appears twice")
    return BedspaceModel(
        name=name or path.stem,
        universe=universe,
        token_ids=ids[order],
        token_vectors=weights[~is_label][order],
        groups=groups,
        label_vectors={g: np.vstack(v) for g, v in vectors.items()},
        training={"imported_from": str(path), "method": "starspace"},
    )


def export_starspace(model: BedspaceModel, tsv: str | os.PathLike[str]) -> Path:
    """Write `model` as a StarSpace `.tsv`: tokens first, then every label as `__label__<name>`."""
    path = Path(tsv)
    names = model.universe.token_names(model.token_ids)
    with path.open("w") as fh:
        _write_rows(fh, names, model.token_vectors.astype(np.float32))
        for group, labels in model.groups.items():
            _write_rows(fh, [LABEL_PREFIX + lab for lab in labels], model.label_vectors[group].astype(np.float32))
    return path


def _write_rows(fh: object, names: list[str], vectors: np.ndarray) -> None:
    # repr-precision floats so that import(export(m)) gives back the same float32 weights
    body = np.char.mod("%.9g", vectors)
    lines = ["\t".join([n, *row]) + "\n" for n, row in zip(names, body.tolist(), strict=True)]
    fh.writelines(lines)  # type: ignore[attr-defined]
