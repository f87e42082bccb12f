"""The nightly job: harvest -> project -> reconcile -> report, each stage handing its table to the next.

`run(config)` holds the workdir lock, calls the stages in order and records the run in `runs.parquet`. Every stage
is also usable alone (`project_workdir` here; `harvest`, `reconcile_workdir`, `render_report` in their modules).
One bad sample never stops the night: it is a row with its reason, and the exit code says the night had failures:
0 all good, 1 finished with failed samples, 2 could not run.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from annotator import __version__
from annotator.batch import Job, StreamingProjector, project_many
from annotator.config import Config
from annotator.embeddings import EmbeddingArchive, record_author_labels
from annotator.errors import AnnotatorError
from annotator.geo.harvest import harvest
from annotator.journal import ProjectionJournal
from annotator.lock import workdir_lock
from annotator.model.format import BedspaceModel, load_model
from annotator.night_problem import night_problem
from annotator.paths import inside_relative
from annotator.progress import NULL_PROGRESS, Progress
from annotator.project import Projection
from annotator.reconcile import reconcile_workdir
from annotator.regions.bed import BedLimits
from annotator.report import REPORT_NAME
from annotator.report.html import render_report
from annotator.tables import read_columns, read_table, remove_stale_temporaries, to_table, write_table

log = logging.getLogger(__name__)

SAMPLES_FILE, PREDICTIONS_FILE, ANNOTATIONS_FILE, RUNS_FILE = (
    "samples.parquet",
    "predictions.parquet",
    "annotations.parquet",
    "runs.parquet",
)
EXIT_OK, EXIT_FAILED_SAMPLES, EXIT_CANNOT_RUN = 0, 1, 2
_PROJECTABLE = ("downloaded", "cached")
_JOB_COLUMNS = ("sample_id", "local_path", "sha256", "selected", "download_status")


@dataclass(frozen=True)
class ProjectResult:
    """What `project_workdir` did."""

    path: Path
    counts: dict[str, int]


@dataclass(frozen=True)
class RunResult:
    """What a whole run produced, for the CLI summary."""

    run_id: str
    workdir: Path
    exit_code: int
    counts: dict[str, int]
    flags: dict[str, int]
    report: Path | None
    tables: dict[str, Path] = field(default_factory=dict)
    problem: str | None = None  # what went wrong with most of the night (`annotator.night_problem`), or None


def project_workdir(
    config: Config, model: BedspaceModel, *, progress: Progress = NULL_PROGRESS, streamed: Counter[str] | None = None
) -> ProjectResult:
    """Project the selected, downloaded samples of `WORKDIR/samples.parquet` into `WORKDIR/predictions.parquet`.

    Files already projected by the same model (same sample id and sha256) are reused from the journal, so a re-run
    after a crash continues where it stopped and a re-run after success projects nothing. `streamed` counts the
    projections made during the harvest (`StreamingProjector`); they are reported as projected, not reused.
    """
    workdir = Path(config.workdir)
    samples = read_columns("samples", workdir / SAMPLES_FILE, list(_JOB_COLUMNS))  # not the author text
    mask = pc.and_(
        pc.fill_null(samples.column("selected"), False),
        pc.fill_null(pc.is_in(samples.column("download_status"), pa.array(_PROJECTABLE)), False),
    )
    chosen = samples.filter(mask)
    limits = BedLimits(config.max_bed_bytes, config.max_bed_lines)
    columns = (chosen.column(c).to_pylist() for c in ("sample_id", "local_path", "sha256"))
    jobs = [Job(sid, inside_relative(workdir, lp), sha, limits) for sid, lp, sha in zip(*columns, strict=True) if lp]
    del chosen, columns
    archive = EmbeddingArchive.for_model(workdir, model)
    journal = ProjectionJournal(workdir, model.digest, config.margin_threshold, archive=archive, limits=limits)
    done = journal.reusable()
    todo = [j for j in jobs if (j.sample_id, j.sha256 or "") not in done]
    del done  # one key set at a time: `latest` below holds the same keys again
    selected = pc.fill_null(samples.column("selected"), False)
    n_selected = int(pc.sum(selected).as_py() or 0)
    if n_selected and not jobs:
        statuses = samples.column("download_status").filter(selected)
        n_failed = int(pc.sum(pc.equal(statuses, "failed")).as_py() or 0)
        why = f"{n_failed} failed to download" if n_failed else "harvested with --metadata-only?"
        log.warning("none of the %d selected files was downloaded (%s): nothing to project", n_selected, why)
    else:
        n_streamed = sum(streamed.values()) if streamed else 0  # projected while the harvest was still downloading
        log.info("projecting %d of %d selected files (%d projected during the download, %d reused)", len(todo),
                 len(jobs), n_streamed, len(jobs) - len(todo) - n_streamed)  # fmt: skip
    counts = {"selected_files": len(jobs), "reused": len(jobs) - len(todo), "projected": 0}
    counts["not_downloaded"] = n_selected - len(jobs)
    with journal.writer() as writer:
        for p in project_many(
            todo,
            config.model,
            workers=config.workers,
            scheduler=config.scheduler,
            margin_threshold=config.margin_threshold,
            progress=progress,
            model=model,
        ):
            writer.add(p)
            counts["projected"] += 1
            counts[f"status_{p.status}"] = counts.get(f"status_{p.status}", 0) + 1
    if streamed:
        for status, n in streamed.items():
            counts[f"status_{status}"] = counts.get(f"status_{status}", 0) + n
        counts["projected"] += sum(streamed.values())
        counts["reused"] -= sum(streamed.values())
    path = workdir / PREDICTIONS_FILE
    keys = [(j.sample_id, j.sha256 or "") for j in jobs]
    del jobs, todo
    latest = journal.latest()  # key columns only: statuses without reading the whole table back
    journal.assemble(keys, path, latest)
    for name in ("ok", "no_overlap", "wrong_build", "failed"):
        counts[name] = sum(latest[k][1] == name for k in keys if k in latest)
    return ProjectResult(path, counts)


def run(
    config: Config,
    accessions: Sequence[str] = (),
    *,
    gse_file: Path | None = None,
    progress: Progress = NULL_PROGRESS,
    inputs_label: Sequence[str] | None = None,
) -> RunResult:
    """Run the whole night on `config.workdir`; see the module docstring for exit codes.

    Raises
    ------
    AnnotatorError
        When the run cannot proceed at all (locked workdir, missing model, unreadable inputs); the failure is
        recorded in `runs.parquet` first when the workdir is usable.
    """
    workdir = Path(config.workdir)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    inputs = list(inputs_label if inputs_label is not None else accessions)
    if gse_file:
        inputs.append(f"gse-file:{gse_file}")
    if config.since_days:
        inputs.append(f"since-days:{config.since_days}")
    with workdir_lock(workdir):
        remove_stale_temporaries(workdir)
        model: BedspaceModel | None = None
        try:
            model = load_model(config.model)
            deadline = time.monotonic() + config.max_hours * 3600 if config.max_hours else None
            streamed: Counter[str] = Counter()
            with _streaming(config, model, streamed) as stream:
                harvested = harvest(config, accessions, progress=progress, gse_file=gse_file, stream=stream,
                                    deadline=deadline)  # fmt: skip
            projected = project_workdir(config, model, progress=progress, streamed=streamed)
            annotations = reconcile_workdir(workdir, model, config)
            labelled = read_columns("annotations", annotations.path, ["sample_id", "gsm", "group", "author_label"])
            record_author_labels(workdir, labelled)  # search shows the archive's author labels across nights
        except Exception as exc:  # recorded, then re-raised: the CLI turns it into one line and exit 2
            _record_failure(config, run_id, started, inputs, model, exc)
            raise
        flags = annotations.flags
        failed = harvested.counts.get("failed", 0) + projected.counts.get("failed", 0)
        failed += harvested.counts.get("series_failed", 0)
        failed += harvested.counts.get("deferred", 0) + harvested.counts.get("series_deferred", 0)
        counts = {
            **{f"harvest_{k}": v for k, v in harvested.counts.items()},
            **{f"project_{k}": v for k, v in projected.counts.items()},
            "annotations": annotations.n_rows,
            "swap_pairs": annotations.swap_pairs,
            "failed": failed,
        }
        problem = night_problem(
            selected=harvested.counts.get("selected", 0),
            download_failed=harvested.counts.get("failed", 0),
            download_errors=harvested.download_errors,
            projected=sum(projected.counts.get(s, 0) for s in ("ok", "no_overlap", "wrong_build", "failed")),
            projection_failed=projected.counts.get("failed", 0),
        )
        exit_code = EXIT_FAILED_SAMPLES if failed else EXIT_OK
        recorded = {**counts, "problem": problem} if problem else counts
        _record_run(config, run_id, started, inputs, model, recorded, flags, exit_code)
        try:
            report = render_report(workdir, workdir / REPORT_NAME, model=model)
        except Exception as exc:  # the tables are written, the page is not: the run did not finish
            _record_failure(config, run_id, started, inputs, model, exc, counts)
            raise
    tables = {n: workdir / f for n, f in (("samples", SAMPLES_FILE), ("predictions", PREDICTIONS_FILE),
                                          ("annotations", ANNOTATIONS_FILE), ("runs", RUNS_FILE))}  # fmt: skip
    if problem:
        log.error("%s", problem)  # the night's last log line names the cause, not a consequence
    return RunResult(run_id, workdir, exit_code, counts, flags, report, tables, problem)


def _record_failure(
    config: Config,
    run_id: str,
    started: datetime,
    inputs: list[str],
    model: BedspaceModel | None,
    exc: Exception,
    counts: dict[str, Any] | None = None,
) -> None:
    """Record a run that could not finish; a workdir that cannot take the record (full, read-only) only logs it."""
    error = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
    try:
        _record_run(config, run_id, started, inputs, model, {**(counts or {}), "error": error}, {}, EXIT_CANNOT_RUN)
    except OSError as record_exc:
        log.warning("could not record the failed run in %s: %s", RUNS_FILE, record_exc)


@contextmanager
def _streaming(config: Config, model: BedspaceModel, streamed: Counter[str]) -> Iterator[StreamingProjector | None]:
    """A projector fed by the harvest as files arrive, writing into the journal; None when projection must wait
    (a Dask scheduler, one worker, or nothing to download)."""
    workers = config.workers if config.workers is not None else (os.cpu_count() or 1)
    if config.scheduler or config.metadata_only or workers < 2:
        yield None
        return
    workdir = Path(config.workdir)
    archive = EmbeddingArchive.for_model(workdir, model)  # streamed projections keep their vectors too
    limits = BedLimits(config.max_bed_bytes, config.max_bed_lines)
    journal = ProjectionJournal(workdir, model.digest, config.margin_threshold, archive=archive, limits=limits)
    done = journal.reusable()
    with journal.writer() as writer:

        def sink(projection: Projection) -> None:
            writer.add(projection)
            streamed[projection.status] += 1

        skip = lambda sample_id, sha256: (sample_id, sha256) in done  # noqa: E731
        with StreamingProjector(sink, config.model, workers=workers, margin_threshold=config.margin_threshold,
                                skip=skip, limits=limits) as stream:  # fmt: skip
            yield stream


def _record_run(
    config: Config,
    run_id: str,
    started: datetime,
    inputs: list[str],
    model: BedspaceModel | None,
    counts: dict[str, Any],
    flags: dict[str, int],
    exit_code: int,
) -> None:
    """Append this run to `runs.parquet` (the file is small: one row per night)."""
    path = Path(config.workdir) / RUNS_FILE
    status = {EXIT_OK: "ok", EXIT_FAILED_SAMPLES: "finished_with_failures"}.get(exit_code, "failed")
    thresholds = {
        "margin_threshold": config.margin_threshold,
        "near_miss_top_k": config.near_miss_top_k,
        "antibody_fuzzy_threshold": config.antibody_fuzzy_threshold,
        "cell_type_fuzzy_threshold": config.cell_type_fuzzy_threshold,
    }
    row = {
        "run_id": run_id,
        "started_at": started,
        "finished_at": datetime.now(UTC),
        "status": status,
        "exit_code": exit_code,
        "model_name": model.name if model else None,
        "model_digest": model.digest if model else None,
        "inputs": inputs,
        "counts": json.dumps({**counts, "flags": flags}, sort_keys=True),
        "thresholds": json.dumps(thresholds, sort_keys=True),
        "config": json.dumps(config.to_dict(), sort_keys=True, default=str),
        "software_version": __version__,
    }
    new = to_table("runs", [row])
    if path.exists():
        try:
            old = read_table("runs", path)
            old = old.filter(pc.not_equal(old.column("run_id"), run_id))  # a run recorded again replaces itself
            new = pa.concat_tables([old, new])
        except AnnotatorError as exc:  # an unreadable history must not lose tonight's record
            log.warning("starting a new runs table: %s", exc)
    write_table("runs", new, path)
