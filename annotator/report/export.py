"""Export the workdir's tables for downstream loading: schema-checked Parquet copies, or flat CSV.

Parquet keeps the exact types and the schema version (see `docs/schemas.md`). CSV is for tools that cannot read
Parquet: nested columns (`samples.characteristics`, `runs.inputs`) become JSON text, timestamps ISO-8601 UTC, and
text a spreadsheet would run as a formula starts with an apostrophe (`annotator.report.csvsafe`), and
the schema version is not carried, so prefer Parquet wherever it can be read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from annotator.errors import ConfigError, InputError
from annotator.report.csvsafe import escape_table
from annotator.schema import TABLES
from annotator.tables import atomic_path, read_table, write_table

EXPORT_FORMATS = ("parquet", "csv")


def export_tables(workdir: Path, to: Path, fmt: str = "parquet") -> list[Path]:
    """Copy every table present in `workdir` to `to` as Parquet or CSV; each file is written atomically.

    Parameters
    ----------
    workdir
        Folder holding any of ``samples``, ``predictions``, ``annotations`` and ``runs`` ``.parquet``.
    to
        Destination folder (created if needed); files are named ``<table>.parquet`` or ``<table>.csv``.
    fmt
        ``"parquet"`` (default) or ``"csv"``.

    Returns
    -------
    list of Path
        The files written, in the order samples, predictions, annotations, runs; absent tables are left out.

    Raises
    ------
    ConfigError
        `fmt` is not a known format.
    InputError
        `workdir` does not exist or holds none of the tables.
    SchemaError
        A table does not have this annotator's schema version.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    workdir, to = Path(workdir), Path(to)
    if not workdir.is_dir():
        raise InputError(f"workdir {workdir} does not exist: pass the --workdir of a finished run")
    present = [name for name in TABLES if (workdir / f"{name}.parquet").is_file()]
    if not present:
        raise InputError(
            f"{workdir} holds none of {', '.join(f'{n}.parquet' for n in TABLES)}: is it an annotator workdir?"
        )
    # Read (and so check) every table before writing any, so a bad table does not leave a half export behind.
    tables = {name: read_table(name, workdir / f"{name}.parquet") for name in present}
    written = []
    for name, table in tables.items():
        if fmt == "parquet":
            written.append(write_table(name, table, to / f"{name}.parquet"))
        else:
            written.append(_write_csv(flatten_for_csv(table), to / f"{name}.csv"))
    return written


def flatten_for_csv(table: pa.Table) -> pa.Table:
    """Replace list and struct columns by their JSON text so the table fits a flat CSV file."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_nested(field.type):
            text = [None if v is None else json.dumps(v, ensure_ascii=False) for v in column.to_pylist()]
            columns.append(pa.array(text, pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def _write_csv(table: pa.Table, path: Path) -> Path:
    with atomic_path(path) as tmp:
        pacsv.write_csv(escape_table(table), tmp)  # GEO text never reaches a spreadsheet as a formula
    return path
