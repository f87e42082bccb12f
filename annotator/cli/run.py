"""`annotator run`: the nightly job (harvest -> project -> reconcile -> report), and its offline demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from annotator.cli.app import (
    FORMAT_HELP,
    OUTPUT,
    app,
    emit,
    handle_errors,
    json_output,
    print_table,
    progress,
    say,
    set_table_format,
    setup_logging,
)
from annotator.errors import ConfigError

if TYPE_CHECKING:
    from annotator.pipeline import RunResult


@app.command()
@handle_errors
def run(
    accessions: list[str] = typer.Argument(None, help="GEO series accessions (GSE…)."),
    gse_file: Path | None = typer.Option(
        None, "--gse-file", exists=True, dir_okay=False, help="File of GSE accessions (one per line, # comments)."
    ),
    since_days: int | None = typer.Option(None, "--since-days", min=1, help="Series published in the last N days."),
    workdir: Path | None = typer.Option(None, "--workdir", "-w", help="Where tables, files and the report go."),
    model: Path | None = typer.Option(None, "--model", "-m", help="Model directory (default: bundled)."),
    soft_dir: Path | None = typer.Option(None, "--soft-dir", help="Read saved SOFT files instead of GEO."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Projection processes (default: cores)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:port)."),
    margin_threshold: float | None = typer.Option(None, help="Top-1 minus top-2 score to be confident (0.1)."),
    allow_local_urls: bool | None = typer.Option(
        None, "--allow-local-urls", help="Also fetch file: URLs named in SOFT (a local mirror); off by default."
    ),
    metadata_only: bool | None = typer.Option(None, "--metadata-only/--download", help="Skip file downloads."),
    download_workers: int | None = typer.Option(
        None, "--download-workers", min=1, help="Files downloaded at once (4; at most download_per_host per host)."
    ),
    max_hours: float | None = typer.Option(
        None, "--max-hours", min=0.0, help="Start no download after this many hours; the next night continues."
    ),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        exists=True,
        dir_okay=False,
        envvar="ANNOTATOR_CONFIG",
        help="TOML file with settings (flags and ANNOTATOR_* win over it).",
    ),
    demo: bool = typer.Option(False, "--demo", help="Run offline on a bundled synthetic series."),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
) -> None:
    """Run the nightly job: harvest GEO, project peak files, reconcile author labels, write tables and report.

    Exit code 0: all good; 1: finished, but some samples failed (see the report); 2: could not run.
    """
    from annotator.model.format import load_model
    from annotator.pipeline import run as run_pipeline
    from annotator.settings import resolve_config

    # `--log-format` anywhere on the line is the root option's (see annotator.cli.app); the config records it
    log_format = "json" if OUTPUT.log_format == "json" else None
    flags = {
        "workdir": workdir,
        "model": model,
        "soft_dir": soft_dir,
        "workers": workers,
        "scheduler": scheduler,
        "margin_threshold": margin_threshold,
        "metadata_only": metadata_only,
        "allow_local_urls": allow_local_urls,
        "since_days": since_days,
        "log_format": log_format,
        "download_workers": download_workers,
        "max_hours": max_hours,
    }
    set_table_format(fmt)
    config = resolve_config(flags, config_file)
    if log_format or config.log_format != "text":
        setup_logging(config.log_format)
    accessions = list(accessions or [])
    label = None
    if demo:
        if accessions or gse_file or config.since_days:
            raise ConfigError("--demo runs the bundled series: give no accessions, --gse-file or --since-days")
        from dataclasses import replace

        from annotator.demo import build_demo

        loaded = load_model(config.model)
        built = build_demo(Path(config.workdir) / "demo-input", loaded)
        config = replace(config, soft_dir=built.soft_dir, allow_local_urls=True)  # its files are file: URLs
        accessions, label = [built.accession], ["demo"]
        say(f"demo: synthetic series {built.accession} ({built.n_samples} samples) — region sets are generated "
            "from the model, author labels are realistic but invented")  # fmt: skip
    elif not (accessions or gse_file or config.since_days):
        raise ConfigError("nothing to harvest: give GSE accessions, --gse-file, --since-days, or --demo")
    result = run_pipeline(config, accessions, gse_file=gse_file, progress=progress(), inputs_label=label)
    _print_summary(result)
    raise typer.Exit(result.exit_code)


def _print_summary(result: RunResult) -> None:
    from rich.table import Table

    if json_output():
        emit("run_finished", run_id=result.run_id, exit_code=result.exit_code, counts=result.counts,
             flags=result.flags, report=result.report, tables=result.tables, problem=result.problem)  # fmt: skip
        return
    c = result.counts
    table = Table(title=f"run {result.run_id}", show_header=False)
    table.add_row("series read", str(c.get("harvest_series", 0)))
    table.add_row("samples", str(c.get("harvest_samples", 0)))
    table.add_row("files selected", str(c.get("harvest_selected", 0)))
    table.add_row("projected (new / reused)", f"{c.get('project_projected', 0)} / {c.get('project_reused', 0)}")
    table.add_row("no overlap with model", str(c.get("project_no_overlap", 0)))
    table.add_row("failed", f"[red]{c['failed']}[/]" if c.get("failed") else "0")
    for flag, n in result.flags.items():
        table.add_row(f"flag {flag}", str(n))
    if c.get("swap_pairs"):
        table.add_row("label swaps (pairs)", str(c["swap_pairs"]))
    print_table(table)
    typer.echo(f"{'report:':<13}{result.report}")
    for name, path in result.tables.items():
        typer.echo(f"{name + ':':<13}{path}")
    if result.problem:  # last, where an operator (or cron mail) looks first
        typer.echo(f"night failed: {result.problem}", err=True)
