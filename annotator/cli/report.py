"""`annotator report` (the HTML curator page) and `annotator export` (tables for downstream databases)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from annotator.cli.app import app, handle_errors, print_path
from annotator.config import Config
from annotator.errors import InputError
from annotator.report import REPORT_NAME


class ExportFormat(StrEnum):
    """File formats `annotator export` writes."""

    PARQUET = "parquet"
    CSV = "csv"


_WORKDIR_HELP = "Workdir of a run (holds samples/predictions/annotations/runs .parquet)."


@app.command()
@handle_errors
def report(
    workdir: Path = typer.Option(Config().workdir, "--workdir", envvar="ANNOTATOR_WORKDIR", help=_WORKDIR_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help=f"Where to write the HTML page (default: WORKDIR/{REPORT_NAME})."
    ),
) -> None:
    """Write the self-contained HTML review page for curators (opens offline; safe to e-mail)."""
    from annotator.report.html import render_report

    config = Config(workdir=_existing_workdir(workdir))
    if out is not None and out.is_dir():
        raise InputError(f"--out {out} is a folder: give the HTML file to write, e.g. {out / REPORT_NAME}")
    path = render_report(config.workdir, out)
    print_path(path)


@app.command()
@handle_errors
def export(
    workdir: Path = typer.Option(Config().workdir, "--workdir", envvar="ANNOTATOR_WORKDIR", help=_WORKDIR_HELP),
    to: Path = typer.Option(..., "--to", help="Folder to write the exported tables into (created if needed)."),
    fmt: ExportFormat = typer.Option(
        ExportFormat.PARQUET, "--format", help="parquet keeps types and schema version; csv flattens nested columns."
    ),
) -> None:
    """Export the run's tables (samples, predictions, annotations, runs) for loading into a database."""
    from annotator.report.export import export_tables

    config = Config(workdir=_existing_workdir(workdir))
    if to.exists() and not to.is_dir():
        raise InputError(f"--to {to} is a file: give a folder to export the tables into (created if needed)")
    for path in export_tables(config.workdir, to, fmt.value):
        print_path(path)


def _existing_workdir(workdir: Path) -> Path:
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir {workdir} is a file, not the folder of a run")
    return workdir
