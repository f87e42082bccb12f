"""The harvest stage: GEO series -> `WORKDIR/samples.parquet` and the selected peak files under `WORKDIR/beds/`.

Every sample and supplementary file of every series becomes a row that says whether it was selected and why not
(see `annotator.geo.select`). Selected files are downloaded once: the ledger (`annotator.geo.ledger`) remembers
what is on disk, so a re-run re-uses intact files, retries failed ones and writes the same rows again. A series
that cannot be read, or a file that cannot be fetched, is reported and the harvest goes on.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from annotator.config import Config
from annotator.errors import AnnotatorError, DownloadError, InputError
from annotator.geo.build import organism_of_build
from annotator.geo.download import download
from annotator.geo.fetch import find_recent_series, load_series
from annotator.geo.files import local_file_name
from annotator.geo.ledger import DOWNLOADED, FAILED, NOT_BED_LIKE, Ledger, LedgerEntry
from annotator.geo.select import CONTENT_NOT_BED_LIKE, missing_sample_row, sample_rows
from annotator.geo.soft import is_series_accession
from annotator.geo.transport import LOCAL_SCHEMES, RefusedURL, check_url, url_scheme
from annotator.paths import inside
from annotator.progress import NULL_PROGRESS, Progress
from annotator.regions.bed import sniff_bed
from annotator.tables import to_table, write_table

_LOG = logging.getLogger(__name__)

BEDS_DIR = "beds"
SOFT_CACHE_DIR = "soft"
SAMPLES_FILE = "samples.parquet"
#: Skip reasons of supplementary URLs that are never fetched (see `annotator.geo.transport`).
LOCAL_URL_NOT_ALLOWED = "local_url_not_allowed"
URL_SCHEME_NOT_ALLOWED = "url_scheme_not_allowed"
_HTML_PAGE = "the server sent an HTML page instead of the file (an error page?)"


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

    samples: pa.Table
    path: Path
    #: series, series_failed, samples, files, selected, skipped, downloaded, cached, not_bed_like, failed
    counts: dict[str, int]
    skipped_by_reason: dict[str, int]
    series: tuple[SeriesCounts, ...] = ()  # per series read, in the order given
    failed_series: dict[str, str] = field(default_factory=dict)  # accession -> why it could not be read

    @property
    def ok(self) -> bool:
        """True when every series was read and no selected file failed to download."""
        return not self.failed_series and self.counts.get("failed", 0) == 0


def harvest(
    config: Config,
    accessions: Sequence[str],
    *,
    progress: Progress = NULL_PROGRESS,
    gse_file: Path | None = None,
) -> HarvestResult:
    """Harvest GEO series into `config.workdir`: the samples table and the selected BED-like files.

    Parameters
    ----------
    config
        Uses workdir, soft_dir, genome, strategies, since_days, metadata_only, download_* and max_file_bytes.
    accessions
        GSE accessions; more come from `gse_file` and from `config.since_days` (a GEO search).
    progress
        Progress reporter for reading series and downloading files.
    gse_file
        Text file of GSE accessions (whitespace- or comma-separated; `#` starts a comment).

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
        The `--since-days` search could not reach GEO.
    """
    workdir = Path(config.workdir)
    gses = resolve_accessions(accessions, gse_file=gse_file, since_days=config.since_days, genome=config.genome)
    by_id, members, failed_series = _read_series(config, gses, workdir, progress)
    rows = list(by_id.values())
    reused = 0 if config.metadata_only else _download_selected(config, rows, workdir, progress)
    table = to_table("samples", rows)
    path = write_table("samples", table, workdir / SAMPLES_FILE)
    skipped = Counter(r["skip_reason"] for r in rows if not r["selected"])
    status = Counter(r["download_status"] for r in rows)
    counts = {
        "series": len(gses) - len(failed_series),
        "series_failed": len(failed_series),
        "samples": len({r["gsm"] for r in rows}),
        "files": sum(r.get("file_url") is not None for r in rows),
        "selected": sum(bool(r["selected"]) for r in rows),
        "skipped": sum(skipped.values()),
        "downloaded": status[DOWNLOADED],
        "cached": reused,  # reused from an earlier run; their rows read "downloaded" as on the first run
        "not_bed_like": status[NOT_BED_LIKE],
        "failed": status[FAILED],
    }
    return HarvestResult(
        table, path, counts, dict(skipped.most_common()), _series_counts(by_id, members), failed_series
    )


def resolve_accessions(
    accessions: Sequence[str],
    *,
    gse_file: Path | None = None,
    since_days: int | None = None,
    genome: str = "hg19",
) -> list[str]:
    """The series to harvest, in the order given, each once: arguments, then `gse_file`, then the GEO search."""
    given = [a.strip().upper() for a in accessions if a.strip()]
    if gse_file is not None:
        given += read_gse_file(gse_file)
    bad = [a for a in given if not is_series_accession(a)]
    if bad:
        raise InputError(f"not GEO series accessions: {', '.join(bad)} (expected GSE followed by digits)")
    if since_days is not None:
        if since_days < 1:
            raise InputError(f"--since-days must be at least 1, got {since_days}")
        found = find_recent_series(since_days, organism_of_build(genome))
        odd = [a for a in found if not is_series_accession(a)]
        if odd:  # the search answer is GEO text like any other: only well-formed accessions go on
            _LOG.warning("GEO search returned %d malformed accession(s), ignored: %s", len(odd), ascii(odd[:5]))
        given += [a for a in found if is_series_accession(a)]
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


def _read_series(
    config: Config, gses: list[str], workdir: Path, progress: Progress
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], dict[str, str]]:
    rows: dict[str, dict[str, Any]] = {}
    members: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    with progress.task("Reading GEO series", total=len(gses)) as task:
        for gse in gses:
            try:
                series = load_series(
                    gse,
                    soft_dir=config.soft_dir,
                    cache_dir=workdir / SOFT_CACHE_DIR,
                    retries=config.download_retries,
                    backoff_s=config.download_backoff_s,
                )
            except AnnotatorError as exc:
                _LOG.error("series %s skipped: %s", gse, exc)
                failed[gse] = str(exc)
                task.advance()
                continue
            for why in series.rejected:
                _LOG.warning("%s: sample left out: %s", gse, why)
            new = [r for sample in series.samples for r in sample_rows(sample, gse, config.genome, config.strategies)]
            _refuse_urls(new, config.allow_local_urls)
            listed = {s.gsm for s in series.samples}
            new += [missing_sample_row(gsm, gse) for gsm in series.sample_ids if gsm not in listed]
            for row in new:
                # a SuperSeries repeats its SubSeries' samples: keep the first series that brought each file
                rows.setdefault(row["sample_id"], row)
            members[gse] = [row["sample_id"] for row in new]
            _LOG.info("%s: %d sample(s), %d row(s)", gse, len(series.samples), len(new))
            task.advance()
    return rows, members, failed


def _refuse_urls(rows: list[dict[str, Any]], allow_local_urls: bool) -> None:
    """Unselect rows whose file URL may not be fetched (`file:` unless allowed, `data:`, other schemes)."""
    for row in rows:
        if not row["selected"]:
            continue
        try:
            check_url(row["file_url"], allow_local_urls=allow_local_urls)
        except RefusedURL:
            local = url_scheme(row["file_url"]) in LOCAL_SCHEMES
            row.update(selected=False, skip_reason=LOCAL_URL_NOT_ALLOWED if local else URL_SCHEME_NOT_ALLOWED)


def _series_counts(rows: dict[str, dict[str, Any]], members: dict[str, list[str]]) -> tuple[SeriesCounts, ...]:
    out = []
    for gse, ids in members.items():
        mine = [rows[i] for i in ids]
        out.append(
            SeriesCounts(
                gse=gse,
                samples=len({r["gsm"] for r in mine}),
                files=sum(r.get("file_url") is not None for r in mine),
                selected=sum(bool(r["selected"]) for r in mine),
                failed=sum(r["download_status"] == FAILED for r in mine),
                shared=sum(r["gse"] != gse for r in mine),
            )
        )
    return tuple(out)


def _download_selected(config: Config, rows: list[dict[str, Any]], workdir: Path, progress: Progress) -> int:
    """Fetch (or re-use) every selected file, filling the download columns of its row in place.

    Returns how many files were reused from earlier runs. A reused file's row reads exactly as when it was first
    downloaded, so that running the same night twice writes the same samples table.
    """
    ledger = Ledger(workdir)
    selected = [r for r in rows if r["selected"]]
    reused = 0
    with progress.task("Downloading peak files", total=len(selected)) as task:
        for row in selected:
            reused += _settle(config, row, ledger, workdir)
            task.advance(file=row["file_name"])
    ledger.compact()
    return reused


def _settle(config: Config, row: dict[str, Any], ledger: Ledger, workdir: Path) -> bool:
    """Bring one selected row's file to a settled state (downloaded, not_bed_like or failed); True if reused.

    A failed entry is tried again on each later run until it has failed `download_max_runs` runs in a row.
    """
    url = row["file_url"]
    entry = ledger.get(url)
    if entry is not None and ledger.intact(entry) and not _transient(entry, workdir):
        _fill(row, entry)
        return True
    if entry is not None and entry.status == FAILED and entry.tries >= config.download_max_runs:
        reason = f"gave up after {entry.tries} run(s): {entry.detail}; raise download_max_runs to try it again"
        row.update(download_status=FAILED, download_error=reason)
        return False
    tries = entry.tries + 1 if entry is not None and entry.status == FAILED else 1
    local = f"{BEDS_DIR}/{local_file_name(row['gsm'], row['file_name'])}"
    try:
        dest = inside(workdir, *local.split("/"))
        got = download(
            url,
            dest,
            timeout_s=config.download_timeout_s,
            retries=config.download_retries,
            backoff_s=config.download_backoff_s,
            max_bytes=config.max_file_bytes,
            partial_dir=inside(workdir, BEDS_DIR, ".partial"),
            deadline_s=config.download_deadline_s,
            allow_local_urls=config.allow_local_urls,
        )
        if _looks_like_html(got.path):
            got.path.unlink()  # ours: written by this download a moment ago
            raise DownloadError(f"{url[:200]}: {_HTML_PAGE}")
    except (DownloadError, InputError) as exc:
        _LOG.warning("download failed for %s: %s", row["sample_id"], exc)
        ledger.record(LedgerEntry(url, FAILED, detail=str(exc), tries=tries))
        row.update(download_status=FAILED, download_error=str(exc))
        return False
    is_bed, detail = sniff_bed(got.path)
    entry = ledger.record(LedgerEntry(url, DOWNLOADED if is_bed else NOT_BED_LIKE, local, got.size, got.sha256, detail))
    _fill(row, entry)
    return False


def _transient(entry: LedgerEntry, workdir: Path) -> bool:
    """A `not_bed_like` entry that an earlier version settled on a transient outcome: an HTML error page or a file
    it could not read (a truncated gzip). Those are fetched again rather than trusted forever."""
    if entry.status != NOT_BED_LIKE or entry.local_path is None:
        return False
    return (entry.detail or "").startswith("unreadable") or _looks_like_html(workdir / entry.local_path)


def _looks_like_html(path: Path) -> bool:
    """True when the file (decompressed if gzip) starts as an HTML page: a server's error page, not data."""
    try:
        with path.open("rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == b"\x1f\x8b":
                with gzip.open(fh) as gz:
                    data = gz.read(1024)
            else:
                data = fh.read(1024)
    except (OSError, EOFError, zlib.error):
        return False
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in text[:512]


def _fill(row: dict[str, Any], entry: LedgerEntry) -> None:
    row.update(local_path=entry.local_path, file_size=entry.size, sha256=entry.sha256, download_status=entry.status)
    if entry.status == NOT_BED_LIKE:
        # the name promised a peak file, the content is something else (an expression table, a bigWig …)
        row.update(selected=False, skip_reason=CONTENT_NOT_BED_LIKE, download_error=entry.detail)
