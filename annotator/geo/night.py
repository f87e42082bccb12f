"""One night's harvest loop: series read a few ahead, their selected files fetched concurrently, rows streamed out.

`Night` is driven by `annotator.geo.harvest.harvest`; it owns the ledger, the `DownloadPool` and the samples rows
while their files are in flight, and tells a `FileSink` (the streamed projection) about each file.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from annotator.config import Config
from annotator.errors import AnnotatorError, BedFormatError, DownloadError
from annotator.geo.archive import (
    ARCHIVE_READ,
    ArchiveCaps,
    Sniffed,
    archive_plans,
    failed_read,
    member_row,
    read_archive,
)
from annotator.geo.bigbed import bigbed_to_bed_gz
from annotator.geo.download import Downloaded, download
from annotator.geo.endpoint import FILES_URL, check_base_url, probe, rebase, unreachable
from annotator.geo.fetch import load_series
from annotator.geo.files import sample_file_path
from annotator.geo.ledger import DOWNLOADED, FAILED, NOT_BED_LIKE, Ledger, LedgerEntry
from annotator.geo.pool import DownloadPool, Outcome, read_ahead
from annotator.geo.screen import HTML_PAGE, looks_like_html, refuse_urls, transient
from annotator.geo.select import (
    CONTENT_NOT_BED_LIKE,
    NO_FILE,
    NOT_ATTEMPTED,
    missing_sample_row,
    sample_rows,
    unique_rows,
)
from annotator.geo.series_files import series_file_rows
from annotator.geo.soft import Sample, Series
from annotator.geo.throttle import HostThrottle
from annotator.hashing import sha256_of
from annotator.night_problem import without_url
from annotator.paths import inside, inside_relative
from annotator.progress import NULL_TASK, Progress, Task
from annotator.regions.bed import sniff_bed
from annotator.tables import TableWriter, to_table

_LOG = logging.getLogger("annotator.geo.harvest")

BEDS_DIR = "beds"
#: What a download thread hands back: the file, BED-like?, why (or the format), the members read from an archive.
Fetched = tuple[Downloaded, bool, str, list[Sniffed]]
SOFT_CACHE_DIR = "soft"


@dataclass(frozen=True)
class SeriesCounts:
    """How one series fared; `shared` rows were already harvested through an earlier series of the run."""

    gse: str
    samples: int
    files: int
    selected: int
    failed: int
    shared: int


class FileSink(Protocol):
    """What the harvest tells a streamed projection (see `harvest`'s `stream`)."""

    def expect(self, sample_id: str) -> None: ...

    def arrived(self, sample_id: str, path: Path | None, sha256: str | None) -> None: ...


class _Series:
    """One series' rows while some of its files are still being fetched (rows leave memory once it is written)."""

    def __init__(self, gse: str, rows: list[dict[str, Any]], counts: SeriesCounts, shared: list[str]) -> None:
        self.gse, self.rows, self.counts, self.shared = gse, rows, counts, shared
        self.pending = 0
        self.archives: dict[str, dict[str, bool]] = {}  # archive row's sample id -> samples it may serve
        self.samples: dict[str, Sample] = {}  # the samples an archive may serve


class Night:
    """Reads series (a few ahead, on threads) and fetches their selected files (a `DownloadPool`) at once.

    Rows, the ledger and `stream` are only touched on the calling thread. A series' rows are Python dicts only
    until its files are settled; then, in series order, they go to the samples Parquet file in batches, so the
    parent's memory does not grow with the night (what stays per file: its sample id and accession, for
    de-duplication across SuperSeries and for the counts).
    """

    _BATCH = 1024  # rows per Parquet write

    def __init__(self, config: Config, workdir: Path, progress: Progress, stream: FileSink | None,
                 deadline: float | None, writer: TableWriter) -> None:  # fmt: skip
        self.config, self.workdir, self.progress, self.stream = config, workdir, progress, stream
        self.base = check_base_url(config.geo_base_url)
        self.deadline, self.writer = deadline, writer
        self.seen: dict[str, str] = {}  # sample ids already given a row tonight -> digest of (sample, URL)
        self.gsms: set[str] = set()
        self.failed_ids: set[str] = set()
        self.open: deque[_Series] = deque()
        self.ready: list[dict[str, Any]] = []
        self.series_counts: list[SeriesCounts] = []
        self.shared_of: dict[str, list[str]] = {}
        self.failed_series: dict[str, str] = {}
        self.deferred_series: list[str] = []
        self.unfinished: list[str] = []
        self.status: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.files = self.selected = self.reused = self.deferred_files = 0
        self.download_errors: Counter[str] = Counter()  # why downloads failed, each URL left out
        self._files_host = urlsplit(rebase(FILES_URL, self.base)).netloc.lower()
        self._files_host_down: str | None = None
        self._probed = False
        self._task: Task = NULL_TASK  # the bar of `run`
        self._n_series = self._series_read = self._queued = self._settled_n = 0
        self.ledger = Ledger(workdir)
        self.pool: DownloadPool[Fetched] = DownloadPool(
            workers=config.download_workers,
            per_host=config.download_per_host,
            deadline=deadline,
            is_reachable=_reachable,
            throttle=HostThrottle(config.host_throttle_budget_s, deadline),
        )

    def over_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def run(self, gses: list[str]) -> None:
        self._n_series = len(gses)
        # one bar over series read and files settled: it grows as each series' files are queued, so it moves
        # while files download instead of sitting on "3/3 series"
        with self.pool, self.progress.task("GEO series and peak files", total=len(gses)) as task:
            self._task = task
            for gse, series, error in read_ahead(gses, self._load, stop=self.over_time):
                if series is None and error is None:
                    _LOG.warning("series %s deferred to the next night: the time budget ran out", gse)
                    self.deferred_series.append(gse)
                elif isinstance(error, DownloadError) and self.over_time():  # its SOFT text was cut off at the end
                    _LOG.warning("series %s deferred to the next night: %s", gse, error)
                    self.deferred_series.append(gse)
                elif error is not None:
                    if not isinstance(error, AnnotatorError):
                        raise error
                    _LOG.error("series %s skipped: %s", gse, error)
                    self.failed_series[gse] = str(error)
                else:
                    assert series is not None
                    self._add_series(gse, series)
                self._series_read += 1
                self._tick()
                self._handle(self.pool.poll())
            self._handle(self.pool.drain())
        self._write(final=True)
        self.ledger.compact()

    def final_series_counts(self) -> tuple[SeriesCounts, ...]:
        """Per series; a shared row's failure counts for every series that lists it."""
        return tuple(
            replace(c, failed=c.failed + sum(i in self.failed_ids for i in self.shared_of.get(c.gse, ())))
            for c in self.series_counts
        )

    def _load(self, gse: str) -> Series:
        return load_series(
            gse,
            soft_dir=self.config.soft_dir,
            cache_dir=self.workdir / SOFT_CACHE_DIR,
            retries=self.config.download_retries,
            backoff_s=self.config.download_backoff_s,
            deadline=self.deadline,
        )

    def _add_series(self, gse: str, series: Series) -> None:
        config = self.config
        new = [r for sample in series.samples for r in sample_rows(sample, gse, config.genome, config.strategies)]
        listed = {s.gsm for s in series.samples}
        new += [missing_sample_row(gsm, gse) for gsm in series.sample_ids if gsm not in listed]
        extra = series_file_rows(series, gse, config.genome, config.strategies)
        attached = {r["gsm"] for r in extra if r["gsm"] != gse}
        # a sample given a series-level file no longer needs its "no file of its own" row
        new = [r for r in new if not (r["gsm"] in attached and r["skip_reason"] == NO_FILE)] + extra
        for why in series.rejected:
            _LOG.warning("%s: sample left out: %s", gse, why)
        refuse_urls(new, config.allow_local_urls, config.geo_base_url)
        _LOG.info("%s: %d sample(s), %d row(s)", gse, len(series.samples), len(new))
        # one row per (sample, URL); a SuperSeries repeats its SubSeries' samples: keep the first series that
        # brought each file
        mine, given = unique_rows(new, self.seen)
        shared = [r["sample_id"] for r in given]
        new = mine + given
        counts = SeriesCounts(
            gse=gse,
            samples=len({r["gsm"] for r in new if r["gsm"] != gse}),  # series-level files have no sample
            files=sum(r.get("file_url") is not None for r in new),
            selected=sum(bool(r["selected"]) for r in new),
            failed=0,
            shared=len(shared),
        )
        if shared:
            self.shared_of[gse] = shared
        entry = _Series(gse, mine, counts, shared)
        entry.archives = archive_plans(mine, series.samples, gse)
        served = {g for plan in entry.archives.values() for g in plan}
        entry.samples = {s.gsm: s for s in series.samples if s.gsm in served}
        self.open.append(entry)
        fetch = [r for r in mine if r["selected"] and not config.metadata_only]
        entry.pending = len(fetch)  # all counted before any settles, so the series is not written half-way
        self._queued += len(fetch)
        self._task.grow(len(fetch))
        for row in mine:
            if row["gsm"] != gse:
                self.gsms.add(row["gsm"])
        for row in fetch:
            self._handle(self._start(row, entry))
        self._write()

    def _start(self, row: dict[str, Any], series: _Series) -> Iterator[Outcome[Fetched]]:
        url = row["file_url"]
        if self.stream is not None:
            self.stream.expect(row["sample_id"])
        plan = series.archives.get(row["sample_id"])
        # one local file per (sample, URL), whatever the file is called (see `sample_file_path`)
        local = "/".join((BEDS_DIR, *sample_file_path(row["gsm"], url, row["file_name"])))
        bigbed = row["file_kind"] == "bigbed"
        if bigbed:  # fetched beside the partial files, converted to BED text under beds/
            raw, local = f"{BEDS_DIR}/.partial/{Path(local).name}.raw", f"{local}.bed.gz"
        if plan is not None:  # kept (so a re-run reads it again without fetching), away from the peak files
            local = f"{BEDS_DIR}/.archives/{Path(local).name}"
        entry = self.ledger.get(url)
        if entry is not None and self.ledger.intact(entry) and not transient(entry, self.workdir):
            if plan is None:  # a file an older annotator kept flat under beds/ moves to its own path
                entry = self.ledger.relocate(entry, local)
            _fill(row, entry)
            self.reused += 1
            if plan is not None and entry.local_path:
                members: list[Sniffed] = []
                if not self._caps(time.monotonic()).refused(entry.detail):  # refused for these caps: not again
                    members, detail = self._members(self.workdir / entry.local_path, url, plan, time.monotonic())
                    if detail != entry.detail:
                        entry = self.ledger.record(replace(entry, detail=detail, at=""))
                self._archive_read(row, series, members, entry.detail)
            self._settled(row, series)
            return iter(())
        config, workdir = self.config, self.workdir
        if entry is not None and entry.status == FAILED and entry.tries >= config.download_max_runs:
            reason = f"gave up after {entry.tries} run(s): {entry.detail}; raise download_max_runs to try it again"
            row.update(download_status=FAILED, download_error=reason)
            self._settled(row, series)
            return iter(())
        down = self._host_down(url)
        if down is not None:  # not attempted, so not counted against the file in the ledger
            row.update(download_status=FAILED, download_error=f"{down}: not attempted tonight")
            self._settled(row, series)
            return iter(())
        tries = entry.tries + 1 if entry is not None and entry.status == FAILED else 1

        def fetch() -> Fetched:
            start = time.monotonic()
            got = download(
                rebase(url, self.base),
                inside_relative(workdir, raw if bigbed else local),  # every path from GEO text stays inside
                timeout_s=config.download_timeout_s,
                retries=config.download_retries,
                backoff_s=config.download_backoff_s,
                max_bytes=config.max_file_bytes,
                partial_dir=inside(workdir, BEDS_DIR, ".partial"),
                deadline_s=config.download_deadline_s,
                allow_local_urls=config.allow_local_urls,
                throttle=self.pool.throttle,
                base_url=self.base,
            )
            if looks_like_html(got.path):
                got.path.unlink()  # ours: written by this download a moment ago
                raise DownloadError(f"{url[:200]}: {HTML_PAGE}")
            if bigbed:
                try:
                    bigbed_to_bed_gz(got.path, workdir / local, memory_bytes=config.reader_memory_bytes,
                                     timeout_s=config.reader_timeout_s)  # fmt: skip
                except BedFormatError as exc:
                    return got, False, str(exc), []
                finally:
                    got.path.unlink(missing_ok=True)
                path = workdir / local
                got = replace(got, path=path, size=path.stat().st_size, sha256=sha256_of(path))
            if plan is not None:  # the archive is read within the file's deadline
                members, detail = self._members(got.path, url, plan, start)
                return got, True, detail, members
            is_bed, detail = sniff_bed(got.path)
            return got, is_bed, detail, []

        return self.pool.submit((row, local, series, tries), rebase(url, self.base), fetch)

    def _handle(self, outcomes: Iterable[Outcome[Fetched]]) -> None:
        for outcome in outcomes:
            row, local, series, tries = outcome.tag
            url = row["file_url"]
            if outcome.deferred:
                self.deferred_files += 1
                row.update(download_error=f"deferred to the next night: {outcome.error}")
            elif outcome.error is not None or outcome.value is None:
                _LOG.warning("download failed for %s: %s", row["sample_id"], outcome.error)
                self.ledger.record(LedgerEntry(url, FAILED, detail=outcome.error, tries=tries))
                row.update(download_status=FAILED, download_error=outcome.error)
            else:
                got, is_bed, detail, members = outcome.value
                status = DOWNLOADED if is_bed else NOT_BED_LIKE
                kept = local if got.path.exists() else None  # a bigBed that could not be read leaves no file
                entry = LedgerEntry(url, status, kept, got.size if kept else None, got.sha256 if kept else None, detail)
                _fill(row, self.ledger.record(entry))
                if row["sample_id"] in series.archives:
                    self._archive_read(row, series, members, detail)
            self._settled(row, series)
        self._write()

    def _caps(self, start: float) -> ArchiveCaps:
        config = self.config
        return ArchiveCaps(config.max_file_bytes, config.max_file_bytes, config.archive_max_members,
                           config.archive_max_entries, config.archive_max_ratio, config.download_deadline_s,
                           start + config.download_deadline_s)  # fmt: skip

    def _members(self, archive: Path, url: str, plan: dict[str, bool], start: float) -> tuple[list[Sniffed], str]:
        """Read an archive's BED-like members into beds/ (any thread): (members, what the ledger says of it)."""
        return read_archive(archive, url, plan, self.workdir / BEDS_DIR, self._caps(start))

    def _archive_read(
        self, row: dict[str, Any], series: _Series, members: list[Sniffed], detail: str | None
    ) -> None:
        """The archive row is settled as read; each member becomes a row of its sample, projected like any file.

        An archive over a cap is a failed row saying which (kept so, without reading it again, until a cap changes);
        one not read within the file's deadline too, read again the next night.
        """
        if failed_read(detail):
            _LOG.warning("%s: %s", row["sample_id"], detail)
            row.update(download_status=FAILED, download_error=detail)
            return
        row.update(selected=False, skip_reason=ARCHIVE_READ)
        config = self.config
        for member, is_bed, detail in members:
            new = member_row(row, member, series.samples.get(member.gsm), series.gse, config.genome,
                             config.strategies)  # fmt: skip
            unique, _ = unique_rows([new], self.seen)
            if not unique:
                continue  # this member was already given (a re-listed archive)
            new = unique[0]
            local = member.local_path.relative_to(self.workdir).as_posix()
            status = DOWNLOADED if is_bed else NOT_BED_LIKE
            _fill(new, LedgerEntry(new["file_url"], status, local, member.size, member.sha256, detail))
            series.rows.append(new)
            if self.stream is not None and new["selected"]:
                self.stream.expect(new["sample_id"])
                series.pending += 1
                self._queued += 1
                self._task.grow(1)
                self._settled(new, series)

    def _host_down(self, url: str) -> str | None:
        """Why GEO's file host cannot be reached (probed once, before its first download), or None."""
        if urlsplit(rebase(url, self.base)).netloc.lower() != self._files_host:
            return None
        if not self._probed:
            self._probed = True
            self._files_host_down = unreachable([FILES_URL], self.base, timeout_s=10.0, attempts=1)
            if self._files_host_down:
                _LOG.error("%s: no file is downloaded tonight", self._files_host_down)
        return self._files_host_down

    def _tick(self) -> None:
        self._task.advance(1, series=f"{self._series_read}/{self._n_series}", files=f"{self._settled_n}/{self._queued}")

    def _settled(self, row: dict[str, Any], series: _Series) -> None:
        if row["download_status"] == FAILED:
            self.failed_ids.add(row["sample_id"])
            self.download_errors[without_url(row.get("download_error") or "no reason given")] += 1
        self._settled_n += 1
        self._tick()
        if self.stream is not None:
            ok = row["download_status"] == DOWNLOADED and row["selected"] and row.get("local_path")
            self.stream.arrived(row["sample_id"], self.workdir / row["local_path"] if ok else None, row.get("sha256"))
        series.pending -= 1

    def _write(self, final: bool = False) -> None:
        """Move the rows of settled series, in series order, to the samples file (in batches)."""
        while self.open and self.open[0].pending <= 0:
            done = self.open.popleft()
            own_failed = 0
            for row in done.rows:
                status = row.get("download_status") or NOT_ATTEMPTED
                self.status[status] += 1
                own_failed += status == FAILED
                self.files += row.get("file_url") is not None
                self.selected += bool(row["selected"])
                if not row["selected"]:
                    self.skipped[row["skip_reason"]] += 1
                elif status not in (DOWNLOADED, NOT_BED_LIKE) and not self.config.metadata_only:
                    self.unfinished.append(done.gse)
            self.series_counts.append(replace(done.counts, failed=own_failed))
            self.ready += done.rows
        if self.ready and (final or len(self.ready) >= self._BATCH):
            self.writer.write(to_table("samples", self.ready))
            self.ready = []


def _reachable(host_url: str) -> bool:
    try:
        probe([host_url], None, timeout_s=10.0, attempts=1)
    except AnnotatorError:
        return False
    return True


def _fill(row: dict[str, Any], entry: LedgerEntry) -> None:
    row.update(local_path=entry.local_path, file_size=entry.size, sha256=entry.sha256, download_status=entry.status)
    if entry.status == NOT_BED_LIKE:
        # the name promised a peak file, the content is something else (an expression table, a bigWig …)
        row.update(selected=False, skip_reason=CONTENT_NOT_BED_LIKE, download_error=entry.detail)
