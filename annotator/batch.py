"""Projecting many files: in this process, on local worker processes, or on a Dask cluster.

Each file is projected independently, so the executors differ only in where `project_file` runs; results always
come back in input order, and a file that fails becomes a `failed` projection, never an exception. At most a small
window of files is in flight at once, so the parent's memory does not grow with the number of files.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.errors import ConfigError
from annotator.model.format import BedspaceModel, load_model
from annotator.progress import NULL_PROGRESS, Progress
from annotator.project import STATUS_FAILED, Projection, project_file
from annotator.regions.bed import DEFAULT_LIMITS, BedLimits

log = logging.getLogger(__name__)

_WORKER_MODEL: BedspaceModel | None = None
DASK_CONNECT_TIMEOUT = "30s"


@dataclass(frozen=True)
class Job:
    """One file to project."""

    sample_id: str
    path: Path
    sha256: str | None = None  # recorded in the projection: the key for reusing it on the next run
    limits: BedLimits = DEFAULT_LIMITS  # caps on the decompressed file (gzip bombs become failed rows)


def project_many(
    jobs: Sequence[Job],
    model_path: Path | None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    margin_threshold: float = DEFAULT_MARGIN_THRESHOLD,
    progress: Progress = NULL_PROGRESS,
    model: BedspaceModel | None = None,
) -> Iterator[Projection]:
    """Yield one `Projection` per job, in job order.

    Parameters
    ----------
    jobs
        Files to project with their sample ids.
    model_path
        Model directory each worker loads (None: the bundled model).
    workers
        Local worker processes; None = one per core, 1 = in this process.
    scheduler
        Address of a Dask distributed scheduler (`tcp://host:port`); overrides `workers`.
    model
        An already loaded model, used when projecting in this process.
    """
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {n_workers}")
    with progress.task("projecting", total=len(jobs)) as task:
        if scheduler:
            results = _on_dask(jobs, model_path, scheduler, margin_threshold)
        elif n_workers == 1 or len(jobs) <= 1:
            loaded = model or load_model(model_path)
            results = (_safe_project(loaded, job, margin_threshold) for job in jobs)
        else:
            results = _on_processes(jobs, model_path, n_workers, margin_threshold)
        for projection in results:
            task.advance(1)
            yield projection


def _safe_project(model: BedspaceModel, job: Job, margin_threshold: float) -> Projection:
    """project_file, with unexpected errors turned into a failed row (one bad file never stops the night)."""
    try:
        projection = project_file(model, job.path, job.sample_id, margin_threshold, job.limits)
    except Exception as exc:  # a bug or resource error on one file: record it, keep going
        log.exception("projecting %s failed", job.path)
        projection = Projection(job.sample_id, str(job.path), STATUS_FAILED, reason=f"internal error: {exc!r}")
    return replace(projection, file_sha256=job.sha256)


def _worker_init(model_path: Path | None, parent: int | None = None) -> None:
    global _WORKER_MODEL
    if parent is not None:
        _die_with_parent(parent)
    _WORKER_MODEL = load_model(model_path)


def _die_with_parent(parent: int) -> None:
    """Have Linux SIGKILL this worker when the process that forked it dies, even by kill -9 or the OOM killer.

    Orphaned workers would otherwise live on under pid 1, each holding a model in memory (they do not hold the
    workdir's lock: `annotator.lock` closes it in forked children). The signal follows the *thread* that forked
    the worker: pools are started from the main thread, which lives as long as the run. Elsewhere than Linux this
    does nothing.
    """
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != parent:
        os._exit(1)  # the parent died before the request took effect: nobody will collect this worker's results


_PR_SET_PDEATHSIG = 1


def _worker_project(job: Job, margin_threshold: float) -> Projection:
    assert _WORKER_MODEL is not None, "worker initialiser did not run"
    return _safe_project(_WORKER_MODEL, job, margin_threshold)


def _ordered_window(
    submit: Callable[[Job], Future[Projection]], jobs: Sequence[Job], window: int
) -> Iterator[Projection]:
    pending: deque[tuple[Job, Future[Projection]]] = deque()
    it = iter(jobs)
    for job in it:
        pending.append((job, submit(job)))
        if len(pending) >= window:
            yield _result(*pending.popleft())
    while pending:
        yield _result(*pending.popleft())


def _result(job: Job, future: Future[Projection]) -> Projection:
    try:
        return future.result()
    except Exception as exc:  # the worker process died (OOM kill, segfault): this file fails, the rest go on
        return Projection(
            job.sample_id, str(job.path), STATUS_FAILED, reason=f"worker failed: {exc!r}", file_sha256=job.sha256
        )


def _on_processes(jobs: Sequence[Job], model_path: Path | None, n: int, margin: float) -> Iterator[Projection]:
    with ProcessPoolExecutor(max_workers=n, initializer=_worker_init, initargs=(model_path, os.getpid())) as pool:
        yield from _ordered_window(lambda job: pool.submit(_worker_project, job, margin), jobs, window=4 * n)


def _dask_project(job: Job, model_path: Path | None, margin: float) -> Projection:
    """Runs on a Dask worker: the model is loaded once per worker process and cached."""
    global _WORKER_MODEL
    if _WORKER_MODEL is None or (_WORKER_MODEL.path != (model_path or _WORKER_MODEL.path)):
        _WORKER_MODEL = load_model(model_path)
    return _safe_project(_WORKER_MODEL, job, margin)


def _on_dask(jobs: Sequence[Job], model_path: Path | None, address: str, margin: float) -> Iterator[Projection]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError("--scheduler needs Dask: pip install 'annotator[dask]'") from exc
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        n = max(1, sum(client.nthreads().values()))

        def submit(job: Job) -> Any:
            return client.submit(_dask_project, job, model_path, margin, pure=False)

        yield from _ordered_window(submit, jobs, window=4 * n)


class StreamingProjector:
    """Projects files while the harvest is still downloading later ones, on local worker processes.

    The harvest calls `expect(sample_id)` for each selected file in table order when it queues it, and
    `arrived(sample_id, path, sha256)` (path None: no file to project) when the file is settled, in whatever order
    downloads finish. Projections are handed to `sink` in the order files were expected, exactly as
    `project_many` would yield them after the harvest, so the journal and the tables come out the same; the
    reordering buffer holds only the files between the oldest unsettled one and the newest.
    """

    def __init__(
        self,
        sink: Callable[[Projection], None],
        model_path: Path | None,
        *,
        workers: int,
        margin_threshold: float = DEFAULT_MARGIN_THRESHOLD,
        skip: Callable[[str, str], bool] = lambda sample_id, sha256: False,
        limits: BedLimits = DEFAULT_LIMITS,
    ) -> None:
        self._sink, self._skip, self._limits = sink, skip, limits
        self._margin = margin_threshold
        self._pool = ProcessPoolExecutor(
            max_workers=workers, initializer=_worker_init, initargs=(model_path, os.getpid())
        )
        # With the fork start method the first submit forks every worker at once: do it now, before the harvest
        # starts its download threads (forking a process while other threads hold locks can deadlock the child).
        self._pool.submit(int)
        self._queue: deque[str] = deque()
        self._state: dict[str, tuple[Job, Future[Projection]] | None] = {}  # absent key: not settled yet
        self._window = 4 * workers
        self.projected = 0

    def expect(self, sample_id: str) -> None:
        self._queue.append(sample_id)

    def arrived(self, sample_id: str, path: Path | None, sha256: str | None) -> None:
        job = Job(sample_id, path, sha256, self._limits) if path is not None else None
        if job is None or self._skip(sample_id, sha256 or ""):
            self._state[sample_id] = None
        else:
            self._state[sample_id] = (job, self._pool.submit(_worker_project, job, self._margin))
        self._emit(wait=False)
        # back-pressure: while the oldest file is being projected and too many wait behind it, wait for it (never
        # for a file still downloading: the harvest settles it on this very thread)
        while len(self._state) > self._window and self._queue and self._state.get(self._queue[0]) is not None:
            self._emit(wait=True, one=True)

    def close(self) -> None:
        """Hand over every projection still in flight, then stop the workers."""
        try:
            self._emit(wait=True)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> StreamingProjector:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _emit(self, *, wait: bool, one: bool = False) -> None:
        while self._queue:
            head = self._queue[0]
            if head not in self._state:
                if wait:  # the harvest finished without settling it (it was deferred): nothing to project
                    self._queue.popleft()
                    continue
                return
            entry = self._state[head]
            if entry is not None and not (wait or entry[1].done()):
                return
            self._queue.popleft()
            del self._state[head]
            if entry is not None:
                self._sink(_result(*entry))
                self.projected += 1
            if one:
                return
