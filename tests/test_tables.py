"""Parquet table I/O: write -> read -> equal for every table, readable by DuckDB and pandas-free pyarrow, atomic."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotator.errors import SchemaError
from annotator.schema import ADDED_COLUMNS, SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLE_NAME_KEY, TABLES
from annotator.tables import atomic_path, conform, read_columns, read_rows_where, read_table, to_table, write_table


def _value(field: pa.Field, i: int) -> Any:
    """A value for `field` in row `i` that survives float32 exactly and exercises unicode and nesting."""
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}-ü—<b>"
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_integer(t):
        return 7 * i + 1
    if pa.types.is_floating(t):
        return 0.25 * i + 0.5
    if pa.types.is_timestamp(t):
        return datetime(2024, 5, 14, 2, i, 30, 123456, tzinfo=UTC)
    if pa.types.is_list(t) and pa.types.is_struct(t.value_type):
        return [{"key": "cell line", "value": f"K562-{i}"}, {"key": "chip antibody", "value": "H3K4me3"}]
    if pa.types.is_list(t):
        return [f"GSE{i}", "GSE2"]
    raise AssertionError(f"no example for {field.name}: {t}")


def _rows(name: str) -> list[dict[str, Any]]:
    """Two full rows, and one with every nullable column null."""
    schema = TABLES[name]
    full = [{f.name: _value(f, i) for f in schema} for i in range(2)]
    sparse = {f.name: _value(f, 9) for f in schema if not f.nullable}
    return [*full, sparse]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_write_read_equal(name: str, tmp_path: Path) -> None:
    rows = _rows(name)
    table = to_table(name, rows)
    path = write_table(name, table, tmp_path / f"{name}.parquet")
    back = read_table(name, path)
    assert back.schema.equals(TABLES[name], check_metadata=False)
    assert back.equals(table)
    assert back.to_pylist() == [{f.name: row.get(f.name) for f in TABLES[name]} for row in rows]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_files_carry_version_and_name_but_no_pandas_metadata(name: str, tmp_path: Path) -> None:
    # a table that went through pandas carries an index column and its description; neither may reach the file
    frame = to_table(name, _rows(name)).to_pandas()
    frame.index = [f"row{i}" for i in range(len(frame))]
    via_pandas = pa.Table.from_pandas(frame)
    assert b"pandas" in via_pandas.schema.metadata and "__index_level_0__" in via_pandas.column_names
    path = write_table(name, via_pandas, tmp_path / f"{name}.parquet")
    schema = pq.read_schema(path)
    assert schema.metadata == {SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: name.encode()}
    assert schema.names == TABLES[name].names


@pytest.mark.parametrize("name", sorted(TABLES))
def test_duckdb_reads_the_files(name: str, tmp_path: Path) -> None:
    rows = _rows(name)
    path = write_table(name, to_table(name, rows), tmp_path / f"{name}.parquet")
    con = duckdb.connect()
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        first_col = TABLES[name].names[0]
        values = con.execute(f'SELECT "{first_col}" FROM read_parquet(?)', [str(path)]).fetchall()
    finally:
        con.close()
    assert [d[0] for d in described] == TABLES[name].names
    assert [v[0] for v in values] == [r[first_col] for r in rows]


def test_duckdb_sees_nested_and_typed_columns(tmp_path: Path) -> None:
    path = write_table("samples", to_table("samples", _rows("samples")), tmp_path / "samples.parquet")
    con = duckdb.connect()
    try:
        key, n = con.execute(
            "SELECT characteristics[1].value, file_size FROM read_parquet(?) WHERE selected", [str(path)]
        ).fetchone() or (None, None)
    finally:
        con.close()
    assert (key, n) == ("K562-0", 1)


def test_pyarrow_reads_the_files_with_pandas_unavailable(tmp_path: Path) -> None:
    for name in TABLES:
        write_table(name, to_table(name, _rows(name)), tmp_path / f"{name}.parquet")
    code = f"""
import json, sys

class NoPandas:  # any import of pandas now fails, as on a machine without it
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pandas":
            raise ImportError("pandas is blocked in this test")

sys.meta_path.insert(0, NoPandas())
import pyarrow.parquet as pq
from annotator.tables import read_table
rows = {{n: [pq.read_table(f"{tmp_path}/{{n}}.parquet").num_rows, read_table(n, f"{tmp_path}/{{n}}.parquet").num_rows]
        for n in {sorted(TABLES)!r}}}
print(json.dumps([rows, "pandas" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [{name: [3, 3] for name in TABLES}, False]


def test_write_leaves_only_the_file(tmp_path: Path) -> None:
    write_table("runs", to_table("runs", _rows("runs")), tmp_path / "runs.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["runs.parquet"]


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_table("runs", to_table("runs", _rows("runs")), tmp_path / "runs.parquet")
    before = path.read_bytes()

    def half_write(table: pa.Table, where: str | os.PathLike[str], **kwargs: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_table("runs", to_table("runs", _rows("runs")[:1]), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["runs.parquet"]


def test_written_files_follow_the_umask_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_table("runs", to_table("runs", _rows("runs")), tmp_path / "runs.parquet")
        with atomic_path(tmp_path / "r.html") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    for p in (path, tmp_path / "r.html"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644  # readable by the team on a shared drive


def test_wrong_schema_version_is_refused(tmp_path: Path) -> None:
    table = to_table("runs", _rows("runs"))
    pq.write_table(table.replace_schema_metadata({SCHEMA_VERSION_KEY: b"0"}), tmp_path / "old.parquet")
    pq.write_table(table, tmp_path / "bare.parquet")
    with pytest.raises(SchemaError, match=r"schema version '0'.*re-run"):
        read_table("runs", tmp_path / "old.parquet")
    with pytest.raises(SchemaError, match="schema version None"):
        read_table("runs", tmp_path / "bare.parquet")


def test_a_version_1_annotations_file_reads_with_the_added_columns_null(tmp_path: Path) -> None:
    """Workdirs of earlier nights keep working across the upgrade that added `swapped_with` and the identifiers."""
    rows = [{"sample_id": "GSM1/a.bed", "group": "antibody", "flag": "match", "reason": "r"},
            {"sample_id": "GSM2/b.bed", "group": "antibody", "flag": "match", "reason": "r"}]  # fmt: skip
    old = to_table("annotations", rows).drop_columns(list(ADDED_COLUMNS["annotations"]))
    path = tmp_path / "annotations.parquet"
    pq.write_table(old.replace_schema_metadata({SCHEMA_VERSION_KEY: b"1", TABLE_NAME_KEY: b"annotations"}), path)
    again = read_table("annotations", path)
    assert again.column("swapped_with").to_pylist() == [None, None]
    assert again.column("cell_type_id").to_pylist() == [None, None]
    light = read_columns("annotations", path, ["sample_id", "swapped_with"])
    assert light.column_names == ["sample_id", "swapped_with"] and light.column(1).null_count == 2
    some = read_rows_where("annotations", path, "sample_id", pa.array(["GSM2/b.bed"]), ["sample_id", "swapped_with"])
    assert some.to_pylist() == [{"sample_id": "GSM2/b.bed", "swapped_with": None}]


def test_a_version_1_samples_file_reads_with_the_identifier_columns_null(tmp_path: Path) -> None:
    old = to_table("samples", _rows("samples")).drop_columns(list(ADDED_COLUMNS["samples"]))
    path = tmp_path / "samples.parquet"
    pq.write_table(old.replace_schema_metadata({SCHEMA_VERSION_KEY: b"1", TABLE_NAME_KEY: b"samples"}), path)
    table = read_table("samples", path)
    assert table.column("antibody_id").null_count == table.num_rows > 0


def test_reading_one_table_as_another_is_refused(tmp_path: Path) -> None:
    path = write_table("runs", to_table("runs", _rows("runs")), tmp_path / "annotations.parquet")
    with pytest.raises(SchemaError, match="holds the 'runs' table, not 'annotations'"):
        read_table("annotations", path)


def test_missing_and_unreadable_files_are_schema_errors(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="run the stage that writes the 'samples' table"):
        read_table("samples", tmp_path / "samples.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(SchemaError, match="not a readable Parquet file"):
        read_table("samples", tmp_path / "junk.parquet")


def test_rows_that_do_not_fit_are_refused() -> None:
    with pytest.raises(SchemaError, match="no column"):
        to_table("runs", [{"run_id": "r", "started_at": datetime(2024, 1, 1, tzinfo=UTC), "status": "ok", "x": 1}])
    with pytest.raises(SchemaError, match="non-nullable"):
        conform("runs", to_table("runs", [{"run_id": None, "status": "ok"}]))
    with pytest.raises(SchemaError, match=r"lacks column\(s\) \['gse'"):
        conform("samples", pa.table({"gsm": ["GSM1"]}))
    with pytest.raises(SchemaError, match="unknown table 'sample'"):
        to_table("sample", [])


def test_a_version_1_predictions_file_reads_by_chunk_with_p_wrong_null(tmp_path: Path) -> None:
    """Reconcile reads predictions by row group and casts them to today's schema: a v1 file lacks `p_wrong`."""
    from annotator.rankings import chunk_predictions

    rows = [{"sample_id": s, "group": "antibody", "rank": 1, "label": "H3K4me3", "score": 0.5, "status": "ok",
             "model_digest": "d"} for s in ("a", "b")]  # fmt: skip
    old = to_table("predictions", rows).drop_columns(list(ADDED_COLUMNS["predictions"]))
    path = tmp_path / "predictions.parquet"
    pq.write_table(old.replace_schema_metadata({SCHEMA_VERSION_KEY: b"1", TABLE_NAME_KEY: b"predictions"}), path)
    got = chunk_predictions(pq.ParquetFile(path), [0], pa.array(["a", "b"]), 1, 2)
    assert got.column("sample_id").to_pylist() == ["b"] and got.column("p_wrong").to_pylist() == [None]
