"""`annotator model …`: inspect a model (`info`, with its held-out evaluation), convert it, ship its samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from annotator.cli.app import (
    FORMAT_HELP,
    MODEL_OPTION,
    emit,
    handle_errors,
    json_output,
    model_app,
    print_table,
    say,
    set_table_format,
)

if TYPE_CHECKING:
    from rich.table import Table

    from annotator.model.format import BedspaceModel


@model_app.command("info")
@handle_errors
def model_info(
    model: Path | None = MODEL_OPTION,
    all_rows: bool = typer.Option(
        False, "--all", help="Every held-out row (each fold and condition, per source) and the reliability bins."
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Print the model card: genome, universe, dimension, label groups, training samples, calibration and its
    held-out evaluation (a summary per fold family and group on whole files; --all for every row)."""
    set_table_format(fmt)
    from annotator.config import DEFAULT_MARGIN_THRESHOLD
    from annotator.model.format import load_model

    m = load_model(model)
    n_samples, samples_problem = _training_sample_count(m)
    calibration = {
        group: {"threshold": c.get("threshold"), "n_calls": c.get("n_calls")} for group, c in m.calibration.items()
    }
    if json_output():
        emit("model_info", name=m.name, path=m.path, genome=m.universe.genome.name, universe=m.universe.spec(),
             dim=m.dim, n_tokens=int(m.token_ids.shape[0]), digest=m.digest, groups=m.groups,
             training_samples=n_samples, calibration=calibration, metrics=m.metrics)  # fmt: skip
        for title, columns, rows in _metric_tables(m.metrics, all_rows):
            for row in rows:
                emit("row", table=title, **{header: row.get(key) for key, header in columns.items()})
        return
    lines = [f"{m.name}  ({m.path})",
             f"genome {m.universe.genome.name} · universe {m.universe.spec()} · dim {m.dim} · "
             f"{m.token_ids.shape[0]:,} tokens · digest {m.digest[:16]}"]  # fmt: skip
    lines += [f"{group} ({len(labels)}): {', '.join(labels)}" for group, labels in m.groups.items()]
    if samples_problem:
        lines.append(f"training samples: unusable ({samples_problem})")
    elif n_samples is None:
        lines.append("training samples: none shipped (`annotator search` and similar samples need them)")
    else:
        lines.append(f"training samples: {n_samples:,} shipped (for `annotator search` and similar samples)")
    if calibration:
        lines.append("calibrated confidence: " + " · ".join(
            f"{group} p >= {c['threshold']:.2f}" + (f" ({c['n_calls']:,} held-out calls)" if c["n_calls"] else "")
            for group, c in calibration.items()))  # fmt: skip
    else:
        lines.append(f"calibrated confidence: none (format version 1: confident means margin >= the margin "
                     f"threshold, {DEFAULT_MARGIN_THRESHOLD} by default)")  # fmt: skip
    if m.training:
        lines.append("training: " + ", ".join(f"{k}={v}" for k, v in m.training.items()
                                              if isinstance(v, str | int | float)))  # fmt: skip
    for line in lines:
        typer.echo(line)
    tables = _metric_tables(m.metrics, all_rows)
    for title, columns, rows in tables:
        print_table(_rows_table(title, columns, rows))
    if not tables:
        say("held-out metrics: none stored in this model (`annotator evaluate --store` adds them)")
    elif not all_rows and m.metrics.get("held_out"):
        say("pooled over folds, whole files; `annotator model info --all` prints every fold, condition and source, "
            "and the reliability of the calibrated probabilities")


def _metric_tables(metrics: dict[str, Any], all_rows: bool) -> list[tuple[str, dict[str, str], list[dict[str, Any]]]]:
    """(title, {key: header}, rows) of each held-out table to print."""
    from annotator.model import card

    out: list[tuple[str, dict[str, str], list[dict[str, Any]]]] = []
    if metrics.get("held_out"):
        if all_rows:
            out.append(("held-out evaluation: every fold and condition", card.COLUMNS, card.held_out_rows(metrics)))
            by_source = card.by_source_rows(metrics)
            if by_source:
                columns = {"fold": "fold", "source": "source", **{k: v for k, v in card.COLUMNS.items() if k != "fold"}}
                out.append(("held-out evaluation: per source", columns, by_source))
            reliability = card.reliability_rows(metrics)
            if reliability:
                out.append(("reliability of the calibrated probability", card.RELIABILITY_COLUMNS, reliability))
        else:
            summary = card.summary_rows(metrics)
            out.append(("held-out evaluation (pooled per fold family, whole files)", card.COLUMNS, summary))
    groups = card.group_metrics(metrics)
    if groups:
        keys = list(dict.fromkeys(k for g in groups.values() for k in g))
        rows = [{"metric": k, **{g: groups[g].get(k) for g in groups}} for k in keys]
        out.append(("held-out metrics", {"metric": "metric", **{g: g for g in groups}}, rows))
    return out


def _rows_table(title: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table

    from annotator.model.card import format_cell

    table = Table(*columns.values(), title=title)
    for row in rows:
        table.add_row(*(format_cell(row.get(key)) for key in columns))
    return table


def _training_sample_count(model: BedspaceModel) -> tuple[int | None, str | None]:
    """How many training samples the model ships (None: none), or why they cannot be used."""
    from annotator.errors import ModelError
    from annotator.model.samples import read_training_samples

    try:
        samples = read_training_samples(model)
    except ModelError as exc:
        return None, str(exc)
    return (len(samples) if samples is not None else None), None


@model_app.command("import-starspace")
@handle_errors
def model_import(
    tsv: Path = typer.Argument(..., exists=True, dir_okay=False, help="StarSpace .tsv model."),
    label_groups: Path = typer.Option(..., "--label-groups", exists=True, help="CSV with columns label,group."),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    universe: str = typer.Option("tiles:1000", help="'tiles:<width>' or a universe BED file."),
    dtype: str = typer.Option("float16", help="Storage dtype of token vectors: float16 or float32."),
) -> None:
    """Convert a StarSpace .tsv model (original BEDspace pipeline) into an annotator model directory."""
    from annotator.model.format import check_model_destination, save_model
    from annotator.model.starspace import import_starspace, read_label_groups
    from annotator.regions.universe import BedUniverse, TileUniverse, Universe

    check_model_destination(out)
    space: Universe = (TileUniverse(int(universe.removeprefix("tiles:"))) if universe.startswith("tiles:")
                       else BedUniverse.from_bed(Path(universe)))  # fmt: skip
    m = save_model(import_starspace(tsv, space, read_label_groups(label_groups)), out, dtype=dtype)
    say(f"imported {m.token_ids.shape[0]:,} tokens, {sum(map(len, m.groups.values()))} labels -> {out}")


@model_app.command("export-starspace")
@handle_errors
def model_export(
    out: Path = typer.Argument(..., help="StarSpace .tsv file to write."),
    model: Path | None = MODEL_OPTION,
) -> None:
    """Write a model as a StarSpace .tsv (tokens as chr_start_end, labels as __label__NAME)."""
    from annotator.model.format import load_model
    from annotator.model.starspace import export_starspace

    export_starspace(load_model(model), out)
    say(f"wrote {out}")


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
    from annotator.model.samples import add_training_samples

    samples = add_training_samples(model, beds, metadata, include_held_out=include_held_out)
    say(f"{len(samples)} training samples ({samples.vectors.shape[1]} dims, float16) added to the model")
