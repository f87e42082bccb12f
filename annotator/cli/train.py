"""`annotator train` and `annotator evaluate`: fit a BEDspace model on labelled BED files, and score one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from annotator.cli.app import app, handle_errors, print_table, progress, say
from annotator.errors import InputError
from annotator.model.params import DEFAULT_TEST_FRACTION, LOSSES, WEIGHTINGS, TrainParams

if TYPE_CHECKING:
    from rich.table import Table

    from annotator.regions.universe import Universe

_DEFAULTS = TrainParams()
#: Rows of the metrics table: key in the metrics dict -> what the paper calls it.
_METRIC_ROWS = {
    "n_test": "held-out sets",
    "mrr": "MRR (set -> labels)",
    "top1": "top-1 accuracy",
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "r_precision": "R-precision (label -> sets)",
    "neighbour_agreement": "top-10 neighbours sharing label (set -> sets)",
    "neighbour_agreement_in_group": "same, neighbours in the group's label space",
    "mean_margin": "mean margin (top-1 - top-2)",
    "confident_share": "share with margin >= 0.1",
}


@app.command()
@handle_errors
def train(
    beds: Path = typer.Option(..., "--beds", help="Folder holding the BED files named in the metadata."),
    metadata: Path = typer.Option(..., "--metadata", help="CSV: file_name + one column per label group."),
    label: list[str] = typer.Option(..., "--label", "-l", help="Label column to learn (repeat for each group)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Model directory: new, empty, or a model (replaced; its README.md card kept)."
    ),
    name: str | None = typer.Option(None, help="Model name (default: the --out folder name)."),
    tile_width: int = typer.Option(5000, min=1, help="Universe of fixed tiles of this many bp (5 kb: see card)."),
    universe: Path | None = typer.Option(None, help="BED file of universe intervals instead of tiles."),
    test_fraction: float = typer.Option(DEFAULT_TEST_FRACTION, help="Held-out share for evaluation (0: none)."),
    stratify: str | None = typer.Option(None, help="Label column the split is stratified on (default: first)."),
    seed: int = typer.Option(_DEFAULTS.seed, help="Seed of split, label frames and optimiser."),
    loss: str = typer.Option(_DEFAULTS.loss, help=f"One of {', '.join(LOSSES)}."),
    dim: int | None = typer.Option(None, min=2, help="Dimensions (default: one per label)."),
    tokens_per_group: int = typer.Option(
        _DEFAULTS.tokens_per_group or 0, min=0, help="Tokens kept per label group (0: all passing --min-df)."
    ),
    min_df: int = typer.Option(_DEFAULTS.min_df, min=1, help="Drop tokens hit by fewer training files."),
    weighting: str = typer.Option(_DEFAULTS.weighting, help=f"Token weights: {', '.join(WEIGHTINGS)}."),
    weight_power: float = typer.Option(_DEFAULTS.weight_power, help="Exponent applied to the token weights."),
    ridge: float = typer.Option(_DEFAULTS.ridge, min=0.0, help="L2 penalty (relative to the unit kernel)."),
    epochs: int = typer.Option(_DEFAULTS.epochs, min=1, help="Epochs of the softmax and hinge losses."),
    lr: float = typer.Option(_DEFAULTS.lr, help="Adam learning rate (softmax, hinge), decays linearly to 0."),
    validation_fraction: float = typer.Option(
        0.0, help="Share of training files for early stopping on validation MRR (or choosing the ridge)."
    ),
    patience: int = typer.Option(_DEFAULTS.patience, min=1, help="Epochs without validation gain before stopping."),
    augment: int = typer.Option(0, min=0, help="Extra training rows per file from random peak subsets."),
    augment_min: float = typer.Option(0.05, help="Smallest share of peaks an augmented row keeps."),
    augment_max: float = typer.Option(0.5, help="Largest share of peaks an augmented row keeps."),
    dtype: str = typer.Option(_DEFAULTS.dtype, help="Storage type of token vectors: float16 or float32."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Processes reading files."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the held-out metrics to this JSON file."),
) -> None:
    """Train a BEDspace model on a folder of BED files and a metadata CSV, evaluate it on a held-out split."""
    from annotator.model.format import check_model_destination
    from annotator.model.run import train_and_evaluate

    check_model_destination(out)  # refuse before minutes of training, not after
    params = TrainParams(
        loss=loss,
        dim=dim,
        tokens_per_group=tokens_per_group or None,
        min_df=min_df,
        weighting=weighting,
        weight_power=weight_power,
        ridge=ridge,
        epochs=epochs,
        lr=lr,
        validation_fraction=validation_fraction,
        patience=patience,
        seed=seed,
        dtype=dtype,
    )
    run = train_and_evaluate(
        beds,
        metadata,
        label,
        out,
        params,
        name=name,
        universe=_universe(tile_width, universe),
        test_fraction=test_fraction,
        stratify=stratify,
        augment=augment,
        augment_fraction=(augment_min, augment_max),
        workers=workers,
        progress=progress(),
    )
    model = run.model
    say(
        f"trained {model.name}: {model.token_ids.shape[0]:,} tokens x {model.dim} dims on "
        f"{run.train_rows.size} files in {model.training['seconds']:.1f} s -> {model.path}"
    )
    if run.metrics:
        print_table(metrics_table(run.metrics["groups"], f"{model.name}: {run.test_rows.size} held-out files"))
    else:
        say("no held-out split (--test-fraction 0): no metrics")
    if json_out is not None:
        _write_json(json_out, {"model": model.name, "digest": model.digest, **run.metrics})


@app.command()
@handle_errors
def evaluate(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory."),
    beds: Path = typer.Option(..., "--beds", help="Folder holding the BED files named in the metadata."),
    metadata: Path = typer.Option(..., "--metadata", help="CSV: file_name + one column per label group."),
    all_files: bool = typer.Option(False, "--all", help="Score every listed file, training files included."),
    store: bool = typer.Option(False, "--store", help="Store the metrics in the model's model.json."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the metrics to this JSON file."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Processes reading files."),
    conditions: bool = typer.Option(
        False, "--conditions", help="Score every listed file under GEO-like conditions (strongest N, random N, "
        "summit windows) with calibrated confidence, instead of the paper's scenarios."
    ),
) -> None:
    """Score a model on labelled files it was not trained on: the BEDspace paper's three scenarios."""
    import numpy as np

    from annotator.model.condeval import evaluate_conditions
    from annotator.model.corpus import metadata_columns, read_corpus
    from annotator.model.evaluate import evaluate_model
    from annotator.model.format import load_model, save_model

    loaded = load_model(model)
    if conditions:
        rows = evaluate_conditions(loaded, beds, metadata, workers=workers)
        print_table(conditions_table(rows, f"{loaded.name}: GEO-like conditions"))
        if json_out is not None:
            _write_json(json_out, {"model": loaded.name, "digest": loaded.digest, "conditions": rows})
        return
    columns = [g for g in loaded.groups if g in metadata_columns(metadata)]
    if not columns:
        raise InputError(f"{metadata}: no column for any label group of the model ({', '.join(loaded.groups)})")
    corpus = read_corpus(beds, metadata, columns, loaded.universe, workers=workers, progress=progress())
    groups = evaluate_model(loaded, corpus, np.arange(len(corpus)) if all_files else None)
    n_test = next(iter(groups.values()))["n_test"] if groups else 0
    print_table(metrics_table(groups, f"{loaded.name}: {n_test} {'files' if all_files else 'held-out files'}"))
    result = {"split": {"kind": "all" if all_files else "held-out", "metadata": str(metadata)}, "groups": groups}
    if json_out is not None:
        _write_json(json_out, {"model": loaded.name, "digest": loaded.digest, **result})
    if store and loaded.path is not None:
        dtype = json.loads((loaded.path / "model.json").read_text()).get("token_dtype", "float16")
        save_model(dataclasses.replace(loaded, metrics=result), loaded.path, dtype=dtype)
        say(f"metrics stored in {loaded.path / 'model.json'}")


def conditions_table(rows: list[dict[str, Any]], title: str) -> Table:
    """Rich table: one row per condition x group."""
    from rich.table import Table

    keys = ("condition", "group", "n", "top1", "mrr", "confident_share", "confident_precision", "n_oov",
            "oov_confident_rate")  # fmt: skip
    table = Table(*keys, title=title)
    for r in rows:
        table.add_row(*("-" if r[k] is None else f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys))
    return table


def metrics_table(groups: dict[str, dict[str, Any]], title: str) -> Table:
    """Rich table: one row per metric, one column per label group."""
    from rich.table import Table

    table = Table("metric", *groups, title=title)
    for key, caption in _METRIC_ROWS.items():
        cells = [groups[g].get(key) for g in groups]
        table.add_row(caption, *("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v) for v in cells))
    return table


def _universe(tile_width: int, bed: Path | None) -> Universe:
    from annotator.regions.universe import BedUniverse, TileUniverse

    return BedUniverse.from_bed(bed) if bed is not None else TileUniverse(tile_width)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    say(f"metrics written to {path}")
