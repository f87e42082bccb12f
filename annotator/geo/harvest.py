"""The harvest stage: GEO series -> `WORKDIR/samples.parquet` and the selected peak files under `WORKDIR/beds/`.

Every sample and supplementary file of every series becomes a row that says whether it was selected and why not
(see `annotator.geo.select`). Selected files are downloaded once: the ledger (`annotator.geo.ledger`) remembers
what is on disk, so a re-run re-uses intact files, retries failed ones and writes the same rows again. A series
that cannot be read, or a file that cannot be fetched, is reported and the harvest goes on. The loop itself —
series read ahead, files fetched concurrently, rows streamed to Parquet — is `annotator.geo.night.Night`; GEO's
address is `annotator.geo.endpoint`; unfinished series go to the backlog (`annotator.geo.backlog`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from annotator.config import Config
from annotator.errors import InputError
from annotator.geo.backlog import Backlog
from annotator.geo.build import organism_of_build
from annotator.geo.endpoint import SEARCH_URL, SOFT_URL, check_base_url, geofetch_at, probe
from annotator.geo.fetch import find_recent_series
from annotator.geo.ledger import DOWNLOADED, FAILED, NOT_BED_LIKE
from annotator.geo.night import FileSink, Night, SeriesCounts
from annotator.geo.soft import is_series_accession
from annotator.progress import NULL_PROGRESS, Progress
from annotator.tables import TableWriter, read_table

_LOG = logging.getLogger(__name__)

SAMPLES_FILE = "samples.parquet"


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
    with geofetch_at(base, timeout_s=config.download_timeout_s, request_deadline_s=config.download_deadline_s,
                     until=deadline, allow_local_urls=config.allow_local_urls):  # fmt: skip
        reach = None
        if config.soft_dir is None:
            reach = functools.partial(probe, [SOFT_URL] + ([SEARCH_URL] if config.since_days else []), base)
        gses = resolve_accessions(accessions, gse_file=gse_file, since_days=config.since_days, genome=config.genome,
                                  also=backlog.series(), before_search=reach)  # fmt: skip
        with TableWriter("samples", workdir / SAMPLES_FILE) as writer:
            night = Night(config, workdir, progress, stream, deadline, writer)
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
        found = find_recent_series(since_days, organism_of_build(genome))
        odd = [a for a in found if not is_series_accession(a)]
        if odd:  # the search answer is GEO text like any other: only well-formed accessions go on
            _LOG.warning("GEO search returned %d malformed accession(s), ignored: %s", len(odd), ascii(odd[:5]))
        given += [a for a in found if is_series_accession(a)]
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
