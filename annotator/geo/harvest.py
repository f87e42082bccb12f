"""The harvest stage: GEO series -> `WORKDIR/samples.parquet` and the selected peak files under `WORKDIR/beds/`.

Every sample and supplementary file of every series becomes a row that says whether it was selected and why not
(see `annotator.geo.select`). Selected files are downloaded once: the ledger (`annotator.geo.ledger`) remembers
what is on disk, so a re-run re-uses intact files, retries failed ones and writes the same rows again. A series
that cannot be read, or a file that cannot be fetched, is reported and the harvest goes on.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from annotator.config import Config
from annotator.errors import AnnotatorError, BedFormatError, InputError
from annotator.geo.backlog import Backlog
from annotator.geo.bigbed import bigbed_to_bed_gz
from annotator.geo.build import organism_of_build
from annotator.geo.download import Downloaded, download, sha256_of
from annotator.geo.endpoint import SEARCH_URL, SOFT_URL, check_base_url, geofetch_at, probe, rebase
from annotator.geo.fetch import find_recent_series, load_series
from annotator.geo.files import local_file_name
from annotator.geo.ledger import DOWNLOADED, FAILED, NOT_BED_LIKE, Ledger, LedgerEntry
from annotator.geo.pool import DownloadPool, Outcome, read_ahead
from annotator.geo.select import CONTENT_NOT_BED_LIKE, NO_FILE, NOT_ATTEMPTED, missing_sample_row, sample_rows
from annotator.geo.series_files import series_file_rows
from annotator.geo.soft import Series, is_series_accession
from annotator.progress import NULL_PROGRESS, Progress
from annotator.regions.bed import sniff_bed
from annotator.tables import TableWriter, read_table, to_table

_LOG = logging.getLogger(__name__)

BEDS_DIR = "beds"
SOFT_CACHE_DIR = "soft"
SAMPLES_FILE = "samples.parquet"


@dataclass(frozen=True)
class SeriesCounts:
    """How one series fared; `shared` rows were already harvested through an earlier series of the run."""

    gse: str
    samples: int
    files: int
    selected: int
    failed: int
    shared: int


@dataclass(frozen=True)
class HarvestResult:
    """What a harvest produced: the samples table (also written to `path`) and its counts."""

    path: Path
    #: series, series_failed, samples, files, selected, skipped, downloaded, cached, not_bed_like, failed
    counts: dict[str, int]
    skipped_by_reason: dict[str, int]
    series: tuple[SeriesCounts, ...] = ()  # per series read, in the order given
    failed_series: dict[str, str] = field(default_factory=dict)  # accession -> why it could not be read
    deferred_series: tuple[str, ...] = ()  # not read: the time budget ran out (the next night reads them)

    @property
    def samples(self) -> pa.Table:
        """The samples table, read from `path` (a night's table is not kept in memory)."""
        return read_table("samples", self.path)

    @property
    def ok(self) -> bool:
        """True when every series was read and no selected file failed to download."""
        return not self.failed_series and not self.counts.get("failed", 0) and not self.counts.get("deferred", 0)


def harvest(
    config: Config,
    accessions: Sequence[str],
    *,
    progress: Progress = NULL_PROGRESS,
    gse_file: Path | None = None,
    stream: FileSink | None = None,
    deadline: float | None = None,
) -> HarvestResult:
    """Harvest GEO series into `config.workdir`: the samples table and the selected BED-like files.

    Parameters
    ----------
    config
        Uses workdir, soft_dir, genome, strategies, since_days, metadata_only, download_*, max_file_bytes and
        geo_base_url.
    accessions
        GSE accessions; more come from `gse_file`, from `config.since_days` (a GEO search) and from the backlog of
        series an earlier night could not finish (`WORKDIR/backlog.json`).
    progress
        Progress reporter for reading series and downloading files.
    gse_file
        Text file of GSE accessions (whitespace- or comma-separated; `#` starts a comment).
    stream
        Told, on this thread, of each selected file when it is queued and as soon as it is settled (on disk, failed
        or not BED-like), so projection can start while later files download (`annotator.batch.StreamingProjector`).
    deadline
        `time.monotonic()` after which no series is read and no download starts; what is left is deferred to the
        next night through the backlog.

    Returns
    -------
    HarvestResult
        `samples` has one row per sample and supplementary file, deduplicated on `sample_id` (a sample reached
        through a SuperSeries and its SubSeries is kept once, under the first series given).

    Raises
    ------
    InputError
        A malformed accession, an unreadable `gse_file`, or no series to harvest at all.
    DownloadError
        GEO cannot be reached at all, or the `--since-days` search failed.
    """
    workdir = Path(config.workdir)
    base = check_base_url(config.geo_base_url)
    backlog = Backlog(workdir)
    with geofetch_at(base, timeout_s=config.download_timeout_s):
        reach = None
        if config.soft_dir is None:
            reach = functools.partial(probe, [SOFT_URL] + ([SEARCH_URL] if config.since_days else []), base)
        gses = resolve_accessions(accessions, gse_file=gse_file, since_days=config.since_days, genome=config.genome,
                                  also=backlog.series(), before_search=reach)  # fmt: skip
        with TableWriter("samples", workdir / SAMPLES_FILE) as writer:
            night = _Night(config, workdir, progress, stream, deadline, writer)
            night.run(gses)
    counts = {
        "series": len(night.series_counts),
        "series_failed": len(night.failed_series),
        "series_deferred": len(night.deferred_series),
        "samples": len(night.gsms),
        "files": night.files,
        "selected": night.selected,
        "skipped": sum(night.skipped.values()),
        "downloaded": night.status[DOWNLOADED],
        "cached": night.reused,  # reused from an earlier run; their rows read "downloaded" as on the first run
        "not_bed_like": night.status[NOT_BED_LIKE],
        "failed": night.status[FAILED],
        "deferred": night.deferred_files,
    }
    unfinished = {**night.failed_series, **dict.fromkeys(night.deferred_series, "deferred")}
    unfinished.update(dict.fromkeys(night.unfinished, "files left"))  # dict.fromkeys: each series once
    backlog.save(list(unfinished), done=[c.gse for c in night.series_counts if c.gse not in unfinished])
    return HarvestResult(
        workdir / SAMPLES_FILE, counts, dict(night.skipped.most_common()), night.final_series_counts(),
        night.failed_series, tuple(night.deferred_series),
    )  # fmt: skip


def resolve_accessions(
    accessions: Sequence[str],
    *,
    gse_file: Path | None = None,
    since_days: int | None = None,
    genome: str = "hg19",
    also: Sequence[str] = (),
    before_search: Callable[[], None] | None = None,
) -> list[str]:
    """The series to harvest, in the order given, each once: arguments, `gse_file`, the GEO search, then `also`
    (the backlog of earlier nights). `before_search` runs once what was given is checked (the reachability
    probe), so a typo is reported as such even without a network."""
    given = [a.strip().upper() for a in accessions if a.strip()]
    if gse_file is not None:
        given += read_gse_file(gse_file)
    bad = [a for a in given if not is_series_accession(a)]
    if bad:
        raise InputError(f"not GEO series accessions: {', '.join(bad)} (expected GSE followed by digits)")
    if before_search is not None:
        before_search()
    if since_days is not None:
        if since_days < 1:
            raise InputError(f"--since-days must be at least 1, got {since_days}")
        given += find_recent_series(since_days, organism_of_build(genome))
    given += also
    if not given:
        raise InputError("nothing to harvest: give GSE accessions, --gse-file or --since-days")
    return list(dict.fromkeys(given))


def read_gse_file(path: Path) -> list[str]:
    """GSE accessions listed in a text file: separated by whitespace or commas, `#` to end of line is a comment."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the accession file {path}: {exc}") from exc
    return [t.upper() for line in text.splitlines() for t in re.split(r"[\s,]+", line.split("#", 1)[0]) if t]


class FileSink(Protocol):
    """What the harvest tells a streamed projection (see `harvest`'s `stream`)."""

    def expect(self, sample_id: str) -> None: ...

    def arrived(self, sample_id: str, path: Path | None, sha256: str | None) -> None: ...


class _Series:
    """One series' rows while some of its files are still being fetched (rows leave memory once it is written)."""

    def __init__(self, gse: str, rows: list[dict[str, Any]], counts: SeriesCounts, shared: list[str]) -> None:
        self.gse, self.rows, self.counts, self.shared = gse, rows, counts, shared
        self.pending = 0


class _Night:
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
        self.seen: set[str] = set()  # sample ids already given a row tonight
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
        self.ledger = Ledger(workdir)
        self.pool: DownloadPool[tuple[Downloaded, bool, str]] = DownloadPool(
            workers=config.download_workers,
            per_host=config.download_per_host,
            deadline=deadline,
            is_reachable=_reachable,
        )

    def over_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def run(self, gses: list[str]) -> None:
        with self.pool, self.progress.task("Reading GEO series and downloading peak files", total=len(gses)) as task:
            for gse, series, error in read_ahead(gses, self._load, stop=self.over_time):
                if series is None and error is None:
                    _LOG.warning("series %s deferred to the next night: the time budget ran out", gse)
                    self.deferred_series.append(gse)
                elif error is not None:
                    if not isinstance(error, AnnotatorError):
                        raise error
                    _LOG.error("series %s skipped: %s", gse, error)
                    self.failed_series[gse] = str(error)
                else:
                    assert series is not None
                    self._add_series(gse, series)
                task.advance()
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
        _LOG.info("%s: %d sample(s), %d row(s)", gse, len(series.samples), len(new))
        # a SuperSeries repeats its SubSeries' samples: keep the first series that brought each file
        mine = [r for r in new if r["sample_id"] not in self.seen]
        shared = [r["sample_id"] for r in new if r["sample_id"] in self.seen]
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
        self.open.append(entry)
        fetch = [r for r in mine if r["selected"] and not config.metadata_only]
        entry.pending = len(fetch)  # all counted before any settles, so the series is not written half-way
        for row in mine:
            self.seen.add(row["sample_id"])
            if row["gsm"] != gse:
                self.gsms.add(row["gsm"])
        for row in fetch:
            self._handle(self._start(row, entry))
        self._write()

    def _start(self, row: dict[str, Any], series: _Series) -> Iterator[Outcome[tuple[Downloaded, bool, str]]]:
        url = row["file_url"]
        if self.stream is not None:
            self.stream.expect(row["sample_id"])
        entry = self.ledger.get(url)
        if entry is not None and self.ledger.intact(entry):
            _fill(row, entry)
            self.reused += 1
            self._settled(row, series)
            return iter(())
        local = f"{BEDS_DIR}/{local_file_name(row['gsm'], row['file_name'])}"
        config, workdir = self.config, self.workdir
        bigbed = row["file_kind"] == "bigbed"
        if bigbed:  # fetched beside the partial files, converted to BED text under beds/
            raw, local = f"{BEDS_DIR}/.partial/{Path(local).name}.raw", f"{local}.bed.gz"

        def fetch() -> tuple[Downloaded, bool, str]:
            got = download(
                rebase(url, self.base),
                workdir / (raw if bigbed else local),
                timeout_s=config.download_timeout_s,
                retries=config.download_retries,
                backoff_s=config.download_backoff_s,
                max_bytes=config.max_file_bytes,
                partial_dir=workdir / BEDS_DIR / ".partial",
            )
            if bigbed:
                try:
                    bigbed_to_bed_gz(got.path, workdir / local)
                except BedFormatError as exc:
                    return got, False, str(exc)
                finally:
                    got.path.unlink(missing_ok=True)
                path = workdir / local
                got = replace(got, path=path, size=path.stat().st_size, sha256=sha256_of(path))
            is_bed, detail = sniff_bed(got.path)
            return got, is_bed, detail

        return self.pool.submit((row, local, series), rebase(url, self.base), fetch)

    def _handle(self, outcomes: Iterable[Outcome[tuple[Downloaded, bool, str]]]) -> None:
        for outcome in outcomes:
            row, local, series = outcome.tag
            url = row["file_url"]
            if outcome.deferred:
                self.deferred_files += 1
                row.update(download_error=f"deferred to the next night: {outcome.error}")
            elif outcome.error is not None or outcome.value is None:
                _LOG.warning("download failed for %s: %s", row["sample_id"], outcome.error)
                self.ledger.record(LedgerEntry(url, FAILED, detail=outcome.error))
                row.update(download_status=FAILED, download_error=outcome.error)
            else:
                got, is_bed, detail = outcome.value
                status = DOWNLOADED if is_bed else NOT_BED_LIKE
                kept = local if got.path.exists() else None  # a bigBed that could not be read leaves no file
                entry = LedgerEntry(url, status, kept, got.size if kept else None, got.sha256 if kept else None, detail)
                _fill(row, self.ledger.record(entry))
            self._settled(row, series)
        self._write()

    def _settled(self, row: dict[str, Any], series: _Series) -> None:
        if row["download_status"] == FAILED:
            self.failed_ids.add(row["sample_id"])
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
