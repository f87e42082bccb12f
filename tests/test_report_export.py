"""`export_tables`: Parquet copies that round-trip, flat CSV for tools without Parquet, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from annotator.errors import ConfigError, InputError, SchemaError
from annotator.report.export import export_tables, flatten_for_csv
from annotator.tables import read_table


def test_parquet_export_round_trips_every_table(report_workdir: Path, tmp_path: Path) -> None:
    written = export_tables(report_workdir, tmp_path / "out")
    assert [p.stem for p in written] == ["samples", "predictions", "annotations", "runs"]
    assert all(p.suffix == ".parquet" for p in written)
    for path in written:
        name = path.stem
        assert read_table(name, path).equals(read_table(name, report_workdir / path.name))


def test_absent_tables_are_left_out(tmp_path: Path, make_report_workdir) -> None:
    workdir = make_report_workdir(tmp_path / "w", predictions=False, runs=False)
    written = export_tables(workdir, tmp_path / "out", "parquet")
    assert [p.name for p in written] == ["samples.parquet", "annotations.parquet"]


def test_csv_export_flattens_nested_columns_to_json(report_workdir: Path, tmp_path: Path) -> None:
    written = export_tables(report_workdir, tmp_path / "out", "csv")
    samples = pacsv.read_csv(tmp_path / "out" / "samples.csv")
    original = read_table("samples", report_workdir / "samples.parquet")
    assert samples.num_rows == original.num_rows and samples.column_names == original.column_names
    first = json.loads(samples.column("characteristics")[0].as_py())
    assert first == original.column("characteristics")[0].as_py()
    runs = pacsv.read_csv(tmp_path / "out" / "runs.csv")
    assert json.loads(runs.column("inputs")[1].as_py()) == ["GSE100", "GSE200"]
    assert pa.types.is_timestamp(runs.schema.field("started_at").type)  # ISO timestamps parse back as such
    assert len(written) == 4


def test_flatten_keeps_flat_columns_and_nulls() -> None:
    table = pa.table({"a": pa.array([1, None]), "l": pa.array([["x"], None], pa.list_(pa.string()))})
    flat = flatten_for_csv(table)
    assert flat.column("a").equals(table.column("a"))
    assert flat.column("l").to_pylist() == ['["x"]', None]


def test_unknown_format_is_a_config_error(report_workdir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'"):
        export_tables(report_workdir, tmp_path, "xlsx")


def test_workdir_without_tables_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="annotator workdir"):
        export_tables(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(InputError, match="does not exist"):
        export_tables(tmp_path / "missing", tmp_path / "out")


def test_a_table_of_another_schema_version_stops_the_export_before_writing(
    report_workdir: Path, tmp_path: Path
) -> None:
    runs = pq.read_table(report_workdir / "runs.parquet")
    pq.write_table(runs.replace_schema_metadata({b"annotator.schema_version": b"0"}), report_workdir / "runs.parquet")
    with pytest.raises(SchemaError, match="schema version '0'"):
        export_tables(report_workdir, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
