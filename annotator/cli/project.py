"""`annotator project`: projection of BED files (or a workdir's harvested files) into a model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from annotator.cli.app import (
    EXIT_FAILED_SAMPLES,
    FORMAT_HELP,
    MODEL_OPTION,
    app,
    handle_errors,
    print_table,
    progress,
    say,
    set_table_format,
)
from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from annotator.batch import Job
    from annotator.regions.bed import BedLimits

_BED_GLOBS = ("*.bed", "*.bed.gz", "*Peak", "*Peak.gz", "*peaks*.txt", "*peaks*.txt.gz", "*peaks*.xls",
              "*.bedGraph", "*.bedGraph.gz", "*.bedgraph", "*.bedgraph.gz")  # fmt: skip


def collect_jobs(paths: list[Path], limits: BedLimits | None = None) -> list[Job]:
    """Files as given, and BED-like files found in given directories (sorted); sample ids made unique."""
    from annotator.batch import Job
    from annotator.project import sample_id_for
    from annotator.regions.bed import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
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
    from rich.table import Table

    from annotator.batch import project_many
    from annotator.model.format import load_model
    from annotator.project import STATUS_OK, to_predictions_table
    from annotator.regions.bed import BedLimits
    from annotator.settings import resolve_config

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
        from annotator.tables import atomic_path

        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._writer: Any = None  # a pyarrow.csv.CSVWriter, made with the first table

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pacsv

        from annotator.report.csvsafe import escape_table
        from annotator.tables import conform

        table = escape_table(conform("predictions", table))
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._tmp, table.schema)
        self._writer.write_table(table)

    def __enter__(self) -> _CsvWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._writer is None:
            import pyarrow.csv as pacsv

            from annotator.schema import TABLES

            self._writer = pacsv.CSVWriter(self._tmp, TABLES["predictions"])
        self._writer.close()
        self._atomic.__exit__(exc_type, exc, tb)  # type: ignore[arg-type]


def _predictions_writer(out: Path, as_csv: bool) -> Any:
    from annotator.tables import TableWriter

    return _CsvWriter(out) if as_csv else TableWriter("predictions", out)


def _project_workdir(workdir: Path, model: Path | None, margin_threshold: float, workers: int | None) -> None:
    from annotator.lock import workdir_lock
    from annotator.model.format import load_model
    from annotator.pipeline import project_workdir
    from annotator.settings import resolve_config
    from annotator.tables import remove_stale_temporaries

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
