"""Reading and writing the pipeline's Parquet tables: schema-checked, atomic, pandas-free.

Writes go to a temporary file in the destination folder and are renamed into place, so a reader (or a run killed
half-way) never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from annotator.errors import SchemaError
from annotator.schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLE_NAME_KEY, TABLES


def to_table(name: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build table `name` from dict rows; missing keys become nulls, unknown keys are an error."""
    schema = _schema(name)
    rows = list(rows)
    known = set(schema.names)
    for row in rows:
        unknown = set(row) - known
        if unknown:
            raise SchemaError(f"table {name!r} has no column(s) {sorted(unknown)}")
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    return pa.Table.from_pydict(columns, schema=schema)


def conform(name: str, table: pa.Table) -> pa.Table:
    """Cast `table` to the schema of `name` (column order, types); raises SchemaError when it cannot."""
    schema = _schema(name)
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise SchemaError(f"table {name!r} lacks column(s) {missing}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise SchemaError(f"table {name!r} does not fit its schema: {exc}") from exc


def write_table(name: str, table: pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write `table` as Parquet at `path` atomically, with the schema version in the file metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = conform(name, table)
    meta = dict(table.schema.metadata or {})
    meta.update({SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: name.encode()})
    table = table.replace_schema_metadata(meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(name: str, path: str | os.PathLike[str]) -> pa.Table:
    """Read table `name` from `path`, checking its schema version; raises SchemaError on mismatch."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path} does not exist: run the stage that writes the {name!r} table first")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path} is not a readable Parquet file: {exc}") from exc
    meta = table.schema.metadata or {}
    version = meta.get(SCHEMA_VERSION_KEY, b"").decode() or None
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{path} has schema version {version!r}, this annotator writes {SCHEMA_VERSION!r}: "
            "re-run the stage that wrote it"
        )
    return conform(name, table)


def _schema(name: str) -> pa.Schema:
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None
