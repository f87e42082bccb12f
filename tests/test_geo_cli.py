"""`annotator harvest` on the command line: summary, exit codes, clean errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from annotator.cli import app
from annotator.tables import read_table

SOFT = Path(__file__).parent / "data" / "soft"


def test_metadata_only_harvest_prints_the_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["harvest", "GSE900001", "--soft-dir", str(SOFT), "--metadata-only", "--workdir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "GSE900001" in result.stdout and "genome_build_ambiguous" in result.stdout
    assert "4 selected" in result.stderr  # 4 peak files; never GEO's RAW.tar bundle
    assert len(read_table("samples", tmp_path / "samples.parquet")) == 15  # 14 sample rows + the series' RAW.tar


def test_repeated_strategy_option(tmp_path: Path) -> None:
    args = ["harvest", "GSE900001", "--soft-dir", str(SOFT), "--metadata-only", "-w", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--strategy", "ChIP-Seq", "--strategy", "ATAC-seq"])
    assert result.exit_code == 0, result.output
    assert "5 selected" in result.stderr


def test_unreadable_series_exits_1_and_names_it(tmp_path: Path) -> None:
    args = ["harvest", "GSE900002", "GSE1", "--soft-dir", str(SOFT), "--metadata-only", "-w", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "GSE1" in result.stderr and "no SOFT files" in result.stderr


def test_bad_accession_is_a_clean_error_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["harvest", "GSM123", "--metadata-only", "-w", str(tmp_path)])
    assert result.exit_code == 2
    assert "not GEO series accessions: GSM123" in result.stderr
    assert "Traceback" not in result.output


def test_help_describes_the_options() -> None:
    result = CliRunner().invoke(app, ["harvest", "--help"])
    assert result.exit_code == 0
    for option in (
        "--gse-file",
        "--since-days",
        "--workdir",
        "--genome",
        "--strategy",
        "--metadata-only",
        "--soft-dir",
    ):
        assert option in result.stdout
