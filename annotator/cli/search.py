"""`annotator search`: region sets nearest a label or a file, one row per region set."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from annotator.cli.app import (
    MODEL_OPTION,
    app,
    handle_errors,
    json_output,
    print_table,
    say,
    set_table_format,
    table_mode,
)
from annotator.config import Config

if TYPE_CHECKING:
    from rich.table import Table

    from annotator.model.format import BedspaceModel
    from annotator.search import Hit


class SearchFormat(StrEnum):
    """Output formats of `annotator search`."""

    TABLE = "table"
    TEXT = "text"
    JSON = "json"
    CSV = "csv"


_HELP = """Find region sets (the workdir's archive and the model's training samples) nearest a label or a file.

One row per region set: a training file that a night also harvested (the same bytes, by sha256) is one row that
names both copies (source "archive+training").

What the cosine means. With --label it is the model's score for that label: the cosine between the region set's
vector and the label's vector, the number `annotator project` ranks labels by. A file's vector spreads over every
label of every group, so scores are small: with the bundled model a training file scores 0.03-0.18 for its own
antibody (median 0.06) and about zero for every other one (nine in ten under 0.002). So 0.06 is a clear hit;
compare the rows of one search rather than a fixed cut.

With --bed it is the cosine between the two files' vectors within the antibody dimensions (or --group's): two
files with the same antibody score 0.9-1.0, with different ones about 0 (nine in ten below 0.12). Over the whole
vector (--group all) any two ChIP-seq files score 0.89-0.99 whatever their antibodies: the shared assay and
cell-type signal drowns the antibody, which is why its block is the default.
"""


@app.command("search", help=_HELP)
@handle_errors
def search_command(
    label: str | None = typer.Option(
        None, "--label", "-l", help="Region sets nearest this label (e.g. H3K27ac), ranked by the model's score."
    ),
    bed: Path | None = typer.Option(None, "--bed", "-b", help="Region sets nearest this BED-like file."),
    group: str | None = typer.Option(
        None,
        "--group",
        "-g",
        help="Label group of --label. With --bed: compare within this group's dimensions (default: antibody, "
        "the mark or factor a peak file's shape is made of; 'all': the whole vector).",
    ),
    n: int = typer.Option(20, "-n", help="How many region sets to return."),
    workdir: Path = typer.Option(
        Config().workdir, "--workdir", envvar="ANNOTATOR_WORKDIR", help="Workdir whose archive is searched."
    ),
    model: Path | None = MODEL_OPTION,
    fmt: SearchFormat | None = typer.Option(
        None,
        "--format",
        help="table, text (tab-separated), json (one object per line, best first) or csv; default: a table on a "
        "terminal, else text (json with --log-format json).",
    ),
) -> None:
    from annotator.model.format import load_model
    from annotator.search import bed_group, hit_columns, search

    loaded = load_model(model)
    hits = search(loaded, workdir, label=label, bed=bed, group=group, n=n)
    space = None if bed is None else bed_group(loaded, group)
    query = f"label {label}" if label is not None else f"file {bed}"
    compared = _compared_in(loaded, label, space)
    if fmt is SearchFormat.JSON or json_output():  # --log-format json wins over any --format
        for h in hits:
            typer.echo(json.dumps({**h.to_dict(), "compared_in": compared}, ensure_ascii=False))
        return
    if fmt is SearchFormat.CSV:
        rows = hit_columns(hits, loaded.groups)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["rank"], lineterminator="\n")
        writer.writeheader()
        from annotator.report.csvsafe import escape_cell

        writer.writerows({k: escape_cell(v) for k, v in row.items()} for row in rows)
        typer.echo(buffer.getvalue(), nl=False)
        return
    if fmt is not None:
        set_table_format(fmt.value)
    if bed is not None:
        say(f"compared in {compared}" + ("" if group else " (the default for --bed; --group chooses another)"))
    print_table(_hits_table(hits, loaded, query, compared))


def _compared_in(model: BedspaceModel, label: str | None, space: str | None) -> str:
    """Which part of the vectors the cosine was taken over, in words."""
    if label is not None:
        return "the model's score for the label"
    if space is None:
        return "the whole vector (every label group's dimensions)"
    return f"the {space} dimensions"


def _hits_table(hits: list[Hit], model: BedspaceModel, query: str, compared: str) -> Table:
    from rich.table import Table
    from rich.text import Text

    groups = list(model.groups)
    table = Table("#", "cosine", "sample", "source", "author labels", "predicted", title=f"nearest {query}",
                  caption=f"model {model.name}; cosine: {compared}; labels in group order: "
                          f"{', '.join(groups)}")  # fmt: skip
    table.columns[2].overflow = "fold"  # ids are what a curator copies: never cut with an ellipsis
    text = table_mode() == "text"
    for rank, h in enumerate(hits, start=1):
        authors = " · ".join(h.author_labels.get(g) or "—" for g in groups)
        predicted = " · ".join(h.predicted_labels.get(g) or "—" for g in groups)
        ids = [sid for _, sid in h.copies] or [h.sample_id]
        sample = (" " if text else "\n").join(dict.fromkeys(ids))
        table.add_row(str(rank), f"{h.cosine:.4f}", Text(sample), "+".join(h.sources), Text(authors), Text(predicted))
    return table
