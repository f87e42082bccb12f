"""`annotator harvest`: GEO series -> WORKDIR/samples.parquet and the selected peak files in WORKDIR/beds/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from annotator.cli.app import (
    EXIT_FAILED_SAMPLES,
    FORMAT_HELP,
    app,
    handle_errors,
    print_table,
    progress,
    say,
    set_table_format,
)
from annotator.config import Config

if TYPE_CHECKING:
    from annotator.geo.harvest import HarvestResult

_DEFAULTS = Config()
#: Above this many selected files the per-file table is left out of the summary (the Parquet file has them all).
_MAX_LISTED = 50


@app.command("harvest")
@handle_errors
def harvest_command(
    accessions: list[str] | None = typer.Argument(None, help="GEO series accessions (GSE…)."),
    gse_file: Path | None = typer.Option(
        None, "--gse-file", help="Text file of GSE accessions (whitespace/comma separated, # comments)."
    ),
    since_days: int | None = typer.Option(
        None, "--since-days", min=1, help="Also harvest the series GEO published in the last N days."
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", "-w", help=f"Where samples.parquet and beds/ go (default: {_DEFAULTS.workdir})."
    ),
    genome: str | None = typer.Option(
        None, "--genome", help=f"Genome build to select, UCSC name (default: {_DEFAULTS.genome})."
    ),
    strategy: list[str] | None = typer.Option(
        None,
        "--strategy",
        help=f"Library strategy to select; repeat for several (default: {', '.join(_DEFAULTS.strategies)}).",
    ),
    allow_local_urls: bool | None = typer.Option(
        None, "--allow-local-urls", help="Also fetch file: URLs named in SOFT (a local mirror); off by default."
    ),
    metadata_only: bool | None = typer.Option(
        None, "--metadata-only/--download", help="Only write samples.parquet; download nothing."
    ),
    soft_dir: Path | None = typer.Option(
        None, "--soft-dir", help="Read saved SOFT files (<GSE>/<GSE>_GSE.soft, _GSM.soft) instead of GEO."
    ),
    download_workers: int | None = typer.Option(
        None, "--download-workers", min=1, help="Files downloaded at once (4; at most download_per_host per host)."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", dir_okay=False, envvar="ANNOTATOR_CONFIG", help="TOML file with settings."
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Harvest sample metadata and BED-like peak files of GEO series, recording why each file is taken or not.

    Exit code 0: all good; 1: finished, but a series could not be read or a file not fetched; 2: could not run.
    """
    flags = {
        "workdir": workdir,
        "soft_dir": soft_dir,
        "genome": genome,
        "strategies": tuple(strategy) if strategy else None,
        "since_days": since_days,
        "metadata_only": metadata_only,
        "allow_local_urls": allow_local_urls,
        "download_workers": download_workers,
    }
    set_table_format(fmt)
    from annotator.geo.harvest import harvest
    from annotator.lock import workdir_lock
    from annotator.settings import resolve_config
    from annotator.tables import remove_stale_temporaries

    config = resolve_config(flags, config_file)
    # the nightly `run` holds this lock around its own harvest; a standalone harvest must not write beside it
    with workdir_lock(Path(config.workdir)):
        remove_stale_temporaries(config.workdir)
        result = harvest(config, accessions or [], progress=progress(), gse_file=gse_file)
    _print_summary(result)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED_SAMPLES)


def _print_summary(result: HarvestResult) -> None:
    from rich.table import Table

    per_series = Table(
        "series",
        "samples",
        "files",
        "selected",
        "failed",
        "shared",
        title="Harvest",
        caption="shared: rows already harvested through an earlier series (SuperSeries/SubSeries)",
    )
    for s in result.series:
        per_series.add_row(s.gse, str(s.samples), str(s.files), str(s.selected), str(s.failed), str(s.shared))
    for gse in result.failed_series:
        per_series.add_row(gse, "-", "-", "-", "[red]unreadable[/]", "-")
    print_table(per_series)

    if result.skipped_by_reason:
        skipped = Table("skip reason", "rows", title="Not selected")
        for reason, n in result.skipped_by_reason.items():
            skipped.add_row(reason, str(n))
        print_table(skipped)

    rows = result.samples.select(["sample_id", "library_strategy", "genome_build", "selected", "download_status",
                                  "download_error"]).to_pylist()  # fmt: skip
    chosen = [r for r in rows if r["selected"]]
    if chosen and len(chosen) <= _MAX_LISTED:
        files = Table(title="Selected")
        files.add_column("sample_id", overflow="fold")
        for name in ("strategy", "build", "download"):
            files.add_column(name)
        for r in chosen:
            files.add_row(r["sample_id"], r["library_strategy"], r["genome_build"], r["download_status"])
        print_table(files)
    for r in rows:
        if r["download_status"] == "failed":
            say(f"failed {r['sample_id']}: {r['download_error']}", style="red", sample_id=r["sample_id"])
    for gse, reason in result.failed_series.items():
        say(f"failed {gse}: {reason}", style="red", series=gse)

    c = result.counts
    say(
        f"{c['series']} series, {c['samples']} samples, {c['files']} files: {c['selected']} selected "
        f"({c['downloaded']} downloaded, {c['cached']} cached, {c['failed']} failed), {c['skipped']} skipped "
        f"-> {result.path}",
        counts=c,
    )
