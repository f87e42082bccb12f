"""Import and export StarSpace `.tsv` models, the format of the original BEDspace pipeline.

A StarSpace model file has one line per vocabulary entry: the entry, then its `dim` weights, tab-separated.
Region tokens are named `chr1_1000_2000` (or `chr1:1000-2000`); labels carry StarSpace's `__label__` prefix.
StarSpace has no label groups, so importing needs a label -> group mapping.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from annotator.errors import ModelError
from annotator.model.format import BedspaceModel
from annotator.regions.universe import Universe

LABEL_PREFIX = "__label__"
_SPAN = re.compile(r"(?P<start>\d+)[_-](?P<end>\d+)\s*$")


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
    token_names = [str(n) for n in names[~is_label]]
    ids = universe.ids_from_names(token_names)
    _check_spans(path, token_names, universe.token_names(ids))
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


def _check_spans(path: Path, given: list[str], expected: list[str]) -> None:
    """Every token must span exactly the universe interval it maps to (a 5 kb token is not a 1 kb tile)."""
    spans = [(_span(g), _span(e)) for g, e in zip(given, expected, strict=True)]
    bad = [(g, e) for (g, e), (sg, se) in zip(zip(given, expected, strict=True), spans, strict=True) if sg != se]
    if bad:
        widths = Counter(end - start for (start, end), _ in spans)
        usual = widths.most_common(1)[0][0]
        raise ModelError(
            f"{path}: {len(bad):,} of {len(given):,} tokens do not match the universe (e.g. {bad[0][0]!r} is not "
            f"{bad[0][1]!r}); the tokens are mostly {usual:,} bp: pass --universe tiles:{usual} or the universe BED "
            "the model was trained on"
        )


def _span(name: str) -> tuple[int, int]:
    m = _SPAN.search(name)
    return (int(m["start"]), int(m["end"])) if m else (-1, -1)


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
