"""`annotator project` and `annotator model …`: projection of BED files and model inspection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.table import Table

from annotator.batch import Job, project_many
from annotator.cli.app import (
    EXIT_FAILED_SAMPLES,
    FORMAT_HELP,
    app,
    console,
    emit,
    handle_errors,
    json_output,
    model_app,
    print_table,
    progress,
    say,
    set_table_format,
)
from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.errors import InputError, ModelError
from annotator.model.format import BedspaceModel, check_model_destination, load_model, save_model
from annotator.model.samples import read_training_samples
from annotator.model.starspace import export_starspace, import_starspace, read_label_groups
from annotator.project import STATUS_OK, sample_id_for, to_predictions_table
from annotator.regions.bed import DEFAULT_LIMITS, BedLimits
from annotator.regions.universe import BedUniverse, TileUniverse, Universe
from annotator.schema import TABLES
from annotator.settings import resolve_config
from annotator.tables import TableWriter, atomic_path, conform, remove_stale_temporaries

_BED_GLOBS = ("*.bed", "*.bed.gz", "*Peak", "*Peak.gz", "*peaks*.txt", "*peaks*.txt.gz", "*peaks*.xls",
              "*.bedGraph", "*.bedGraph.gz", "*.bedgraph", "*.bedgraph.gz")  # fmt: skip
MODEL_OPTION = typer.Option(None, "--model", "-m", envvar="ANNOTATOR_MODEL",
                            help="Model directory (default: the bundled hg19 model).")  # fmt: skip


def collect_jobs(paths: list[Path], limits: BedLimits = DEFAULT_LIMITS) -> list[Job]:
    """Files as given, and BED-like files found in given directories (sorted); sample ids made unique."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted({f for pattern in _BED_GLOBS for f in path.rglob(pattern) if f.is_file()})
            if not found:
                raise InputError(f"{path}: directory holds no BED-like file ({', '.join(_BED_GLOBS[:4])} …)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    jobs, seen = [], set()
    for f in files:
        sid = sample_id_for(f)
        if sid in seen:
            sid = str(f)
        seen.add(sid)
        jobs.append(Job(sid, f, limits=limits))
    return jobs


@app.command()
@handle_errors
def project(
    paths: list[Path] = typer.Argument(None, help="BED-like files or directories of them."),
    workdir: Path | None = typer.Option(
        None, "--workdir", "-w", help="Project the selected samples of WORKDIR/samples.parquet instead of PATHS."
    ),
    model: Path | None = MODEL_OPTION,
    out: Path = typer.Option(
        Path("predictions.parquet"), "--out", "-o", help="Output file: .parquet (default), or .csv for a CSV table."
    ),
    top_k: int = typer.Option(5, "--top-k", min=1, help="Labels kept per sample and group."),
    margin_threshold: float = typer.Option(DEFAULT_MARGIN_THRESHOLD, help="Top-1 minus top-2 score to be confident."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Worker processes (default: cores)."),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Project region sets into a BEDspace model and rank its labels per group."""
    set_table_format(fmt)
    if workdir is not None:
        if paths:
            raise InputError("give either PATHS or --workdir, not both")
        _project_workdir(workdir, model, margin_threshold, workers)
        return
    if not paths:
        raise InputError("nothing to project: give BED files or directories, or --workdir")
    as_csv = _output_is_csv(out)
    config = resolve_config({})  # ANNOTATOR_MAX_BED_BYTES / _LINES apply here too
    jobs = collect_jobs(paths, BedLimits(config.max_bed_bytes, config.max_bed_lines))
    loaded = load_model(model)
    n_ok = n_failed = 0
    summary = Table("sample", *loaded.groups, "status", title=f"model {loaded.name}")
    with _predictions_writer(out, as_csv) as writer:
        for p in project_many(jobs, model, workers=workers, margin_threshold=margin_threshold,
                              progress=progress(), model=loaded):  # fmt: skip
            writer.write(to_predictions_table([p], loaded.digest, top_k))
            n_ok += p.status == STATUS_OK
            n_failed += p.status != STATUS_OK
            if len(jobs) <= 50:
                cells = [
                    f"{r.labels[0]} {r.scores[0]:.2f}{'' if r.confident else ' ?'}" for r in p.rankings.values()
                ] or ["-"] * len(loaded.groups)
                summary.add_row(p.sample_id, *cells, p.status if p.status == STATUS_OK else f"{p.status}: {p.reason}")
    if len(jobs) <= 50:
        print_table(summary)
    say(f"{n_ok} projected, {n_failed} not projected -> {out}  ('?' = not confident)")
    if n_failed:
        raise typer.Exit(EXIT_FAILED_SAMPLES)


def _output_is_csv(out: Path) -> bool:
    """CSV for `.csv`, Parquet for `.parquet`/`.pq` or no suffix; any other suffix is refused, not silently Parquet."""
    suffix = out.suffix.lower()
    if suffix == ".csv":
        return True
    if suffix in ("", ".parquet", ".pq"):
        return False
    raise InputError(f"--out {out}: write .parquet or .csv (annotator does not write {suffix} files)")


class _CsvWriter:
    """Predictions as CSV, written to a temporary sibling and renamed into place on success."""

    def __init__(self, path: Path) -> None:
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._writer: pacsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        from annotator.report.csvsafe import escape_table

        table = escape_table(conform("predictions", table))
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._tmp, table.schema)
        self._writer.write_table(table)

    def __enter__(self) -> _CsvWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._tmp, TABLES["predictions"])
        self._writer.close()
        self._atomic.__exit__(exc_type, exc, tb)  # type: ignore[arg-type]


def _predictions_writer(out: Path, as_csv: bool) -> Any:
    return _CsvWriter(out) if as_csv else TableWriter("predictions", out)


def _project_workdir(workdir: Path, model: Path | None, margin_threshold: float, workers: int | None) -> None:
    from annotator.lock import workdir_lock
    from annotator.pipeline import project_workdir

    config = resolve_config({"workdir": workdir, "model": model, "margin_threshold": margin_threshold,
                             "workers": workers})  # fmt: skip
    with workdir_lock(workdir):
        remove_stale_temporaries(workdir)
        result = project_workdir(config, load_model(model), progress=progress())
    c = result.counts
    if not c["selected_files"] and c.get("not_downloaded"):
        say(f"nothing to project: none of the {c['not_downloaded']} selected files was downloaded (harvested with "
            "--metadata-only?); run `annotator harvest` without --metadata-only first")  # fmt: skip
        return
    say(f"{c['projected']} projected, {c['reused']} reused, {c['failed']} failed -> {result.path}")
    if c["failed"]:
        raise typer.Exit(EXIT_FAILED_SAMPLES)


@model_app.command("info")
@handle_errors
def model_info(model: Path | None = MODEL_OPTION) -> None:
    """Print the model card: genome, universe, dimension, label groups, training samples, calibration and metrics."""
    m = load_model(model)
    n_samples, samples_problem = _training_sample_count(m)
    calibration = {
        group: {"threshold": c.get("threshold"), "n_calls": c.get("n_calls")} for group, c in m.calibration.items()
    }
    if json_output():
        card = {
            "name": m.name,
            "path": m.path,
            "genome": m.universe.genome.name,
            "universe": m.universe.spec(),
            "dim": m.dim,
            "n_tokens": int(m.token_ids.shape[0]),
            "digest": m.digest,
            "groups": m.groups,
            "training_samples": n_samples,
            "calibration": calibration,
        }
        emit("model_info", **card, metrics=m.metrics)
        return
    console.print(f"[bold]{m.name}[/]  ({m.path})")
    console.print(f"genome {m.universe.genome.name} · universe {m.universe.spec()} · dim {m.dim} · "
                  f"{m.token_ids.shape[0]:,} tokens · digest {m.digest[:16]}")  # fmt: skip
    for group, labels in m.groups.items():
        console.print(f"[bold]{group}[/] ({len(labels)}): {', '.join(labels)}", highlight=False)
    if samples_problem:
        console.print(f"training samples: unusable ({samples_problem})", highlight=False)
    elif n_samples is None:
        console.print("training samples: none shipped (`annotator search` and similar samples need them)")
    else:
        console.print(f"training samples: {n_samples:,} shipped (for `annotator search` and similar samples)")
    if calibration:
        parts = [
            f"{group} p >= {c['threshold']:.2f}" + (f" ({c['n_calls']:,} held-out calls)" if c["n_calls"] else "")
            for group, c in calibration.items()
        ]
        console.print("calibrated confidence: " + " · ".join(parts), highlight=False)
    else:
        console.print(f"calibrated confidence: none (format version 1: confident means margin >= the "
                      f"margin threshold, {DEFAULT_MARGIN_THRESHOLD} by default)")  # fmt: skip
    for group, metrics in (m.metrics.get("groups") or m.metrics).items():
        if isinstance(metrics, dict):
            table = Table("metric", "value", title=f"held-out metrics: {group}")
            for k, v in metrics.items():
                if isinstance(v, bool):
                    table.add_row(k, str(v))
                elif isinstance(v, int):
                    table.add_row(k, f"{v:,}")
                elif isinstance(v, float):
                    table.add_row(k, f"{v:.3f}")
            print_table(table)
    if m.training:
        console.print("training: " + ", ".join(f"{k}={v}" for k, v in m.training.items()
                                               if isinstance(v, str | int | float)), highlight=False)  # fmt: skip


def _training_sample_count(model: BedspaceModel) -> tuple[int | None, str | None]:
    """How many training samples the model ships (None: none), or why they cannot be used."""
    try:
        samples = read_training_samples(model)
    except ModelError as exc:
        return None, str(exc)
    return (len(samples) if samples is not None else None), None


def _universe_from_option(universe: str) -> Universe:
    if universe.startswith("tiles:"):
        return TileUniverse(int(universe.removeprefix("tiles:")))
    return BedUniverse.from_bed(Path(universe))


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
    check_model_destination(out)
    m = save_model(import_starspace(tsv, _universe_from_option(universe), read_label_groups(label_groups)), out,
                   dtype=dtype)  # fmt: skip
    say(f"imported {m.token_ids.shape[0]:,} tokens, {sum(map(len, m.groups.values()))} labels -> {out}")


@model_app.command("export-starspace")
@handle_errors
def model_export(
    out: Path = typer.Argument(..., help="StarSpace .tsv file to write."),
    model: Path | None = MODEL_OPTION,
) -> None:
    """Write a model as a StarSpace .tsv (tokens as chr_start_end, labels as __label__NAME)."""
    export_starspace(load_model(model), out)
    say(f"wrote {out}")
