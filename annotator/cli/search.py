"""`annotator search` (region sets nearest a label or a file) and `annotator model add-samples`."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from annotator.cli.app import app, console, err_console, handle_errors, model_app
from annotator.cli.project import MODEL_OPTION
from annotator.config import Config
from annotator.model.format import load_model
from annotator.model.samples import add_training_samples
from annotator.report.csvsafe import escape_cell
from annotator.search import hit_columns, search


class SearchFormat(StrEnum):
    """Output formats of `annotator search`."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


@app.command("search")
@handle_errors
def search_command(
    label: str | None = typer.Option(None, "--label", "-l", help="Region sets nearest this label (e.g. H3K27ac)."),
    bed: Path | None = typer.Option(None, "--bed", "-b", help="Region sets nearest this BED-like file."),
    group: str | None = typer.Option(
        None, "--group", "-g", help="Label group of --label; with --bed, compare within that group's dimensions."
    ),
    n: int = typer.Option(20, "-n", help="How many region sets to return."),
    workdir: Path = typer.Option(
        Config().workdir, "--workdir", envvar="ANNOTATOR_WORKDIR", help="Workdir whose archive is searched."
    ),
    model: Path | None = MODEL_OPTION,
    fmt: SearchFormat = typer.Option(
        SearchFormat.TABLE, "--format", help="table, json (one object per line, best first) or csv."
    ),
) -> None:
    """Find region sets (the workdir's archive and the model's training samples) nearest a label or a file."""
    loaded = load_model(model)
    hits = search(loaded, workdir, label=label, bed=bed, group=group, n=n)
    if fmt is SearchFormat.JSON:
        for h in hits:
            console.print(json.dumps(h.to_dict(), ensure_ascii=False), highlight=False, soft_wrap=True, markup=False)
        return
    rows = hit_columns(hits, loaded.groups)
    if fmt is SearchFormat.CSV:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["rank"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: escape_cell(v) for k, v in row.items()} for row in rows)
        console.file.write(buffer.getvalue())
        return
    query = f"label {label}" if label is not None else f"file {bed}"
    table = Table("#", "cosine", "sample", "source", "author labels", "predicted", title=f"nearest {query}",
                  caption=f"model {loaded.name}; labels in group order: {', '.join(loaded.groups)}")  # fmt: skip
    table.columns[2].overflow = "fold"  # ids are what a curator copies: never cut with an ellipsis
    for rank, h in enumerate(hits, start=1):
        authors = " · ".join(h.author_labels.get(g) or "—" for g in loaded.groups)
        predicted = " · ".join(h.predicted_labels.get(g) or "—" for g in loaded.groups)
        table.add_row(str(rank), f"{h.cosine:.4f}", h.sample_id, h.source, authors, predicted)
    console.print(table, highlight=False)


@model_app.command("add-samples")
@handle_errors
def model_add_samples(
    beds: Path = typer.Option(..., "--beds", help="Folder of the BED files the model was trained on."),
    metadata: Path = typer.Option(..., "--metadata", help="Metadata CSV (file_name + one column per label group)."),
    model: Path | None = MODEL_OPTION,
    include_held_out: bool = typer.Option(
        False, "--include-held-out", help="Also add files the model was not trained on."
    ),
) -> None:
    """Ship the training samples' vectors and labels with a model, so `annotator search` can return them."""
    samples = add_training_samples(model, beds, metadata, include_held_out=include_held_out)
    err_console.print(f"{len(samples)} training samples ({samples.vectors.shape[1]} dims, float16) added to the model")
