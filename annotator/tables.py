"""Reading and writing the pipeline's Parquet tables: schema-checked, atomic, pandas-free.

Writes go to a temporary file in the destination folder and are renamed into place, so a reader (or a run
killed half-way) never sees half a file.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.errors import SchemaError
from annotator.schema import (
    ADDED_COLUMNS,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TABLE_NAME_KEY,
    TABLES,
)


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
    table = conform(name, table)
    # Only our keys: metadata carried in from elsewhere (pandas' index description above all) must not leak.
    meta = {SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: name.encode()}
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary sibling of `path` to write; it replaces `path` on success, is removed on error.

    The temporary file is created by the writer with the usual permissions (0666 minus the umask), unlike
    `tempfile.mkstemp`'s 0600, so tables and reports on a shared drive stay readable by the team.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: Names annotator gives what it writes before renaming: `.NAME.<16 hex>.tmp` (atomic_path), `.part-….tmp`
#: (digest-named parts: journal, embeddings, author labels), `.ledger.<mkstemp>.tmp` (ledger compaction).
_TEMPORARY = re.compile(r"^\.(.+\.[0-9a-f]{16}|part-[0-9]+-[0-9]+\.[0-9a-f]{8}|ledger\.[A-Za-z0-9_]{8})\.tmp$")


def remove_stale_temporaries(workdir: str | os.PathLike[str]) -> int:
    """Delete the temporary files that killed writes left in `workdir` (and its `.cache`); returns how many.

    Call it only while holding the workdir lock: then no live writer owns such a file. Only names annotator
    itself gives its temporaries are touched, never `beds/` (downloads resume from their own partial files).
    """
    workdir = Path(workdir)
    places = [workdir, workdir / ".cache" / "author-labels"]
    for parent in (workdir / ".cache" / "projections", workdir / "embeddings"):  # one folder per model
        if parent.is_dir():
            places += [p for p in parent.iterdir() if p.is_dir()]
    removed = 0
    for place in places:
        if not place.is_dir():
            continue
        for path in place.iterdir():
            if _TEMPORARY.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


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
    if version not in READABLE_SCHEMA_VERSIONS:
        raise SchemaError(
            f"{path} has schema version {version!r}, this annotator writes {SCHEMA_VERSION!r}: "
            "re-run the stage that wrote it"
        )
    stored_name = meta.get(TABLE_NAME_KEY, b"").decode()
    if stored_name and stored_name != name:
        raise SchemaError(f"{path} holds the {stored_name!r} table, not {name!r}: check the file name")
    return conform(name, with_added_columns(name, table, _schema(name).names))


def read_columns(
    name: str, path: str | os.PathLike[str], columns: list[str] | None = None, filters: Any = None
) -> pa.Table:
    """Read some columns (and rows, with a pyarrow `filters` expression) of table `name`, schema-checked.

    The version check reads only the file's footer, so a large table is never loaded whole.
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path} does not exist: run the stage that writes the {name!r} table first")
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{path} is not a readable Parquet file: {exc}") from exc
    version = meta.get(SCHEMA_VERSION_KEY, b"").decode() or None
    if version not in READABLE_SCHEMA_VERSIONS or meta.get(TABLE_NAME_KEY, name.encode()).decode() != name:
        raise SchemaError(f"{path} is not a version-{SCHEMA_VERSION} {name!r} table: re-run the stage that wrote it")
    schema = _schema(name)
    if columns == []:
        return schema.empty_table()
    columns = columns or schema.names
    table = pq.read_table(path, columns=_stored(path, columns), filters=filters)
    return with_added_columns(name, table, columns).cast(pa.schema([schema.field(c) for c in columns]))


def read_rows_where(
    name: str, path: str | os.PathLike[str], column: str, values: pa.Array, columns: list[str] | None = None
) -> pa.Table:
    """Rows of table `name` whose `column` is in `values`; see `read_rows_matching`."""
    wanted = pc.cast(values, pa.string())
    return read_rows_matching(name, path, lambda batch: pc.is_in(batch.column(column), value_set=wanted), columns)


def read_rows_matching(
    name: str,
    path: str | os.PathLike[str],
    predicate: Callable[[pa.RecordBatch], pa.Array],
    columns: list[str] | None = None,
) -> pa.Table:
    """Rows of table `name` for which `predicate(batch)` is true, read batch by batch, keeping only matches.

    Memory is bounded by one batch plus the matches, whatever the size of the file (`pq.read_table` with filters
    decodes whole row groups in parallel first).
    """
    path = Path(path)
    read_columns(name, path, [])  # schema version check (footer only) and a clear error when missing
    schema = _schema(name)
    columns = columns or schema.names
    parts = []
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=65_536, columns=_stored(path, columns), use_threads=False):
            mask = pc.fill_null(predicate(batch), False)
            if pc.any(mask).as_py():
                parts.append(with_added_columns(name, pa.Table.from_batches([batch.filter(mask)]), columns))
    target = pa.schema([schema.field(c) for c in columns])
    return pa.concat_tables(parts).cast(target) if parts else target.empty_table()


def _stored(path: Path, columns: list[str]) -> list[str]:
    """The `columns` a file holds (one of an older schema version lacks the columns added since)."""
    present = set(pq.read_schema(path).names)
    return [c for c in columns if c in present]


def with_added_columns(name: str, table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """`table` with the `ADDED_COLUMNS` among `columns` that it lacks appended as nulls (an older file)."""
    schema = _schema(name)
    for column in ADDED_COLUMNS.get(name, ()):
        if column in columns and column not in table.column_names:
            field = schema.field(column)
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def _schema(name: str) -> pa.Schema:
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None


class TableWriter:
    """Stream record batches of table `name` into one Parquet file, renamed into place only on success.

    Used where a table can outgrow memory (predictions of a whole night): the caller's memory stays bounded by
    one batch, and an interrupted run leaves the previous file untouched.
    """

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name, self.path = name, Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        schema = _schema(name).with_metadata(
            {SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: name.encode()}
        )
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        self.n_rows = 0

    def write(self, table: pa.Table) -> None:
        table = conform(self.name, table)
        self._writer.write_table(table.replace_schema_metadata(self._writer.schema.metadata))
        self.n_rows += table.num_rows

    def close(self) -> Path:
        try:
            self._writer.close()  # the footer: a full disk often shows here, after every batch was accepted
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
