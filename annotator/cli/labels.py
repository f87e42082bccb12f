"""`annotator labels` (what the extractor reads in a text) and `annotator reconcile` (author labels vs model)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from annotator.cli.app import (
    FORMAT_HELP,
    app,
    handle_errors,
    json_output,
    print_path,
    print_table,
    progress,
    set_table_format,
)
from annotator.config import Config
from annotator.errors import InputError


class LabelsFormat(StrEnum):
    """Output formats of `annotator labels`."""

    JSON = "json"
    TABLE = "table"


_MODEL_HELP = "Model directory (default: the bundled hg19 model)."


@app.command()
@handle_errors
def labels(
    texts: list[str] | None = typer.Argument(
        None, metavar="TEXT", help="Texts to read: titles, characteristic values, file names.", show_default=False
    ),
    file: Path | None = typer.Option(None, "--file", "-f", help="Also read one text per line from FILE ('-': stdin)."),
    fmt: LabelsFormat = typer.Option(LabelsFormat.JSON, "--format", help="json (one object per line) or table."),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Also know this model's labels and spell them its way (default: built-in tables)."
    ),
) -> None:
    """Print the antibody target and cell type read from each TEXT, to check how a string will be understood."""
    lines = list(texts or []) + (_read_lines(file) if file else [])
    if not lines:
        raise typer.BadParameter("give at least one TEXT or --file", param_hint="TEXT")
    from annotator.labels import text_labels  # imported here: `annotator --help` need not compile the tables

    vocabularies = None
    if model is not None:
        from annotator.model.format import load_model  # only needed here: keep `annotator labels` fast without it

        vocabularies = load_model(model).groups
    records = [text_labels(text, vocabularies) for text in lines]
    if fmt is LabelsFormat.JSON or json_output():
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("text", "antibody", "kind", "read as", "cell type", "read as")
    for record in records:
        table.add_row(
            record["text"],
            "\n".join(filter(None, (record["antibody"] or "-", record["antibody_id"]))),
            record["antibody_kind"] or "",
            _read_as(record, "antibody"),
            "\n".join(filter(None, (record["cell_type"] or "-", _cell_type_id(record)))),
            _read_as(record, "cell_type"),
        )
    set_table_format("table")  # asked for by name: drawn even in a pipe
    print_table(table)


def _cell_type_id(record: dict[str, Any]) -> str | None:
    """``CVCL_0004 (K-562)``, or ``ambiguous: CVCL_1240 CVCL_9773`` for a name that stays ambiguous."""
    if record["cell_type_id"]:
        return f"{record['cell_type_id']} ({record['cell_type_label']})"
    if record["cell_type_id_candidates"]:
        return "ambiguous: " + " ".join(record["cell_type_id_candidates"])
    return None


def _read_as(record: dict[str, Any], group: str) -> str:
    """How a label was read: ``fuzzy 85.7 from 'H3K3me3'``."""
    if record[group] is None:
        return ""
    return f"{record[f'{group}_method']} {record[f'{group}_score']:g} from '{record[f'{group}_raw']}'"


@app.command()
@handle_errors
def reconcile(
    workdir: Path = typer.Option(
        Config().workdir,
        "--workdir",
        "-w",
        envvar="ANNOTATOR_WORKDIR",
        help="Workdir holding samples.parquet and predictions.parquet; annotations.parquet is written there.",
    ),
    model: Path | None = typer.Option(None, "--model", "-m", envvar="ANNOTATOR_MODEL", help=_MODEL_HELP),
    margin_threshold: float | None = typer.Option(
        None, help="Top-1 minus top-2 score at which the model counts as confident (default 0.1)."
    ),
    near_miss_top_k: int | None = typer.Option(
        None, min=2, help="Deepest rank an author label may have to be a near miss (default 3)."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", exists=True, dir_okay=False, envvar="ANNOTATOR_CONFIG", help="TOML file with settings."
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Compare the authors' labels with the model's predictions and flag every sample x label group."""
    set_table_format(fmt)
    from rich.table import Table

    from annotator.flags import Flag
    from annotator.model.format import load_model
    from annotator.reconcile import reconcile_workdir
    from annotator.settings import resolve_config

    flags = {
        "workdir": workdir,
        "model": model,
        "margin_threshold": margin_threshold,
        "near_miss_top_k": near_miss_top_k,
    }
    config = resolve_config(flags, config_file)  # same precedence as `annotator run`: flags > ANNOTATOR_* > TOML
    result = reconcile_workdir(config.workdir, load_model(config.model), config, progress=progress())
    summary = Table("flag", "rows", "meaning", title=f"{result.n_rows} annotations")
    for flag in Flag:  # most urgent first
        if result.flags.get(flag.value):
            summary.add_row(flag.value, str(result.flags[flag.value]), flag.description)
    print_table(summary)
    print_path(config.workdir / "annotations.parquet")


def _read_lines(path: Path) -> list[str]:
    """Non-blank lines of `path` ('-' reads standard input)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read texts ({exc.strerror}); give a readable file or '-' for stdin") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]
