"""CSV injection: no CSV annotator writes lets a spreadsheet run GEO text as a formula (ASCII or fullwidth signs)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotator.cli import app
from annotator.report.csvsafe import escape_cell
from annotator.report.curate import CSV_COLUMNS
from annotator.tables import to_table, write_table

HOSTILE = ['=HYPERLINK("http://example.invalid","x")', "=1+1", "+1+1", "-1+1", "@SUM(A1)", "\uff1d1+1",
           "\uff0bcmd", "\uff0d1", "\uff20SUM(A1)", "\t=1+1"]  # fmt: skip


def _workdir(path: Path) -> Path:
    samples = [{"gsm": f"GSM{i}", "gse": "GSE1", "title": text, "selected": True, "sample_id": f"GSM{i}/{i}.bed",
                "download_status": "downloaded"} for i, text in enumerate(HOSTILE)]  # fmt: skip
    annotations = [{"sample_id": f"GSM{i}/{i}.bed", "gsm": f"GSM{i}", "group": "antibody", "title": text,
                    "author_label": text, "author_label_raw": text, "flag": "match", "reason": text,
                    "model_digest": "d" * 64} for i, text in enumerate(HOSTILE)]  # fmt: skip
    path.mkdir()
    write_table("samples", to_table("samples", samples), path / "samples.parquet")
    write_table("annotations", to_table("annotations", annotations), path / "annotations.parquet")
    return path


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_export_csv_escapes_every_formula_start(tmp_path: Path, tally) -> None:
    work = _workdir(tmp_path / "work")
    result = CliRunner().invoke(app, ["export", "--workdir", str(work), "--to", str(tmp_path / "out"),
                                      "--format", "csv"])  # fmt: skip
    assert result.exit_code == 0, result.output
    tally.cases += 1
    for name in ("samples.csv", "annotations.csv"):
        cells = _cells(tmp_path / "out" / name)
        wrong = [c for c in cells if c[:1] and c[0] in "=+-@\t\uff1d\uff0b\uff0d\uff20"]
        tally.wrong += len(wrong)
        assert wrong == [], (name, wrong)
        assert "'=1+1" in cells and "'\uff1d1+1" in cells  # kept, readable, as text
    tally.recovered += 1


@pytest.mark.parametrize("text", HOSTILE)
def test_the_report_csv_and_the_export_share_one_escaper(text: str) -> None:
    row = {c: text for c in CSV_COLUMNS}
    from annotator.report.curate import csv_row

    assert csv_row(row)[CSV_COLUMNS.index("title")] == escape_cell(text) == "'" + text


def test_numbers_and_plain_text_are_left_alone() -> None:
    assert escape_cell(-1.5) == -1.5 and escape_cell("K562 H3K4me3") == "K562 H3K4me3" and escape_cell(None) is None
