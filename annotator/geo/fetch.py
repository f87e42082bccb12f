"""The geofetch edge: series SOFT text from GEO (or from a folder of saved SOFT files) and `--since-days` searches.

geofetch is used for what it does well — building GEO's query URLs and fetching the text — and nothing else: its
`discard_soft` default deletes the SOFT files (we keep ours under `WORKDIR/soft/`, in geofetch's own layout, so a
later run can read them with `--soft-dir`), and it raises a bare `Exception` on an HTTP error, which we turn into
`DownloadError`. geofetch configures logging when imported, so it is imported only when the network is needed.
Inside `annotator.geo.endpoint.geofetch_at` each of its requests has a deadline (`annotator.geo.textfetch`); a
request cut off there, or refused, is a `DownloadError` that is not retried, and no retry waits past the night's
deadline.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from annotator.errors import DownloadError, InputError
from annotator.geo.soft import Series, SoftRecord, is_series_accession, parse_soft, to_series
from annotator.paths import inside

_LOG = logging.getLogger(__name__)

#: (accession, "GSE" | "GSM") -> SOFT lines: the series record, or every sample record of the series.
FetchLines = Callable[[str, str], list[str]]


def soft_files(soft_dir: Path, gse: str) -> list[Path]:
    """The saved SOFT files of `gse` in `soft_dir`, in the first layout found; [] when there are none.

    Layouts: geofetch's `<GSE>/<GSE>_GSE.soft` + `<GSE>/<GSE>_GSM.soft` (also flat in `soft_dir`), or GEO's
    family file `<GSE>_family.soft[.gz]` (flat or in `<GSE>/`).
    """
    for folder in (soft_dir / gse, soft_dir):
        pair = [folder / f"{gse}_GSE.soft", folder / f"{gse}_GSM.soft"]
        if all(p.is_file() for p in pair):
            return pair
        for name in (f"{gse}_family.soft", f"{gse}_family.soft.gz"):
            if (folder / name).is_file():
                return [folder / name]
    return []


def read_soft_files(paths: Sequence[Path]) -> list[SoftRecord]:
    """Parse SOFT files (plain or gzip) into records, in order."""
    records: list[SoftRecord] = []
    for path in paths:
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                records += parse_soft(fh, str(path))
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read SOFT file {path}: {exc}") from exc
    return records


def load_series(
    gse: str,
    *,
    soft_dir: Path | None,
    cache_dir: Path,
    retries: int = 4,
    backoff_s: float = 2.0,
    fetch_lines: FetchLines | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> Series:
    """Series `gse` with all its samples: from `soft_dir` when given, else fetched from GEO into `cache_dir`.

    Parameters
    ----------
    gse
        Series accession (GSE…).
    soft_dir
        Folder of pre-downloaded SOFT files (offline runs); nothing is fetched when given.
    cache_dir
        Where fetched SOFT text is kept (`<cache_dir>/<GSE>/<GSE>_GSE.soft` and `_GSM.soft`). When GEO cannot be
        reached, a copy kept by an earlier run is used, with a warning.
    retries, backoff_s, sleep
        Retry policy of the fetch.
    fetch_lines
        SOFT fetcher (default: geofetch's `Accession.fetch_metadata`); tests pass a fake.
    deadline
        `time.monotonic()` of the night's end (None: none): a retry that would wait past it is not made.

    Raises
    ------
    InputError
        `gse` is not a series accession, or `soft_dir` holds no SOFT files for it.
    DownloadError
        GEO could not be reached and no earlier copy exists.
    SoftParseError
        The text is not SOFT for `gse` (e.g. the accession does not exist).
    """
    if not is_series_accession(gse):  # it names files below: only GSE followed by digits
        raise InputError(f"not a GEO series accession: {gse[:40]!r} (expected GSE followed by digits)")
    if soft_dir is not None:
        paths = soft_files(soft_dir, gse)
        if not paths:
            raise InputError(
                f"no SOFT files for {gse} in {soft_dir}: expected {gse}/{gse}_GSE.soft and {gse}/{gse}_GSM.soft "
                f"(geofetch's layout) or {gse}_family.soft[.gz]; drop --soft-dir to fetch from GEO"
            )
        return to_series(gse, read_soft_files(paths), str(paths[0]))
    saved = [inside(cache_dir, gse, f"{gse}_GSE.soft"), inside(cache_dir, gse, f"{gse}_GSM.soft")]
    try:
        texts = [
            _fetch_with_retries(gse, kind, fetch_lines or _geofetch_lines, retries, backoff_s, sleep, deadline)
            for kind in ("GSE", "GSM")
        ]
    except DownloadError as exc:
        if all(p.is_file() for p in saved):
            _LOG.warning("%s; using the copy saved by an earlier run in %s", exc, saved[0].parent)
            return to_series(gse, read_soft_files(saved), str(saved[0]))
        raise
    # parse before saving, so a page that is not SOFT never replaces a good earlier copy
    records = [r for text in texts for r in parse_soft(text.splitlines(), f"GEO's answer for {gse}")]
    series = to_series(gse, records, f"GEO's answer for {gse}")
    for path, text in zip(saved, texts, strict=True):
        _write_atomic(path, text)
    return series


def find_recent_series(days: int, organism: str | None = None) -> list[str]:
    """GSE accessions published in the last `days` days (GEO DataSets search via geofetch's `Finder`).

    Raises
    ------
    DownloadError
        When NCBI's search cannot be reached. (Finder itself answers an HTTP error with an empty list; an empty
        result is therefore logged as a warning.)
    """
    import requests
    from geofetch import Finder

    filters = f"{organism}[Organism]" if organism else None  # the filter syntax of geofetch's own Finder docs
    try:
        found = Finder(filters=filters).get_gse_by_day_count(days)
    except (requests.RequestException, AttributeError, DownloadError) as exc:
        raise DownloadError(f"GEO search for series of the last {days} day(s) failed: {exc}") from exc
    if not found:
        _LOG.warning("GEO search found no series of the last %d day(s) (or the search failed quietly)", days)
    return sorted(set(found), key=lambda a: int(a[3:]))


def _fetch_with_retries(
    gse: str,
    kind: str,
    fetch_lines: FetchLines,
    retries: int,
    backoff_s: float,
    sleep: Callable[[float], None],
    deadline: float | None,
) -> str:
    reason, made = "", 0
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff_s * 2 ** (attempt - 1)
            if deadline is not None and time.monotonic() + wait >= deadline:
                reason += "; no further attempt: the night's deadline (--max-hours) comes first"
                break
            sleep(wait)
        made += 1
        try:
            lines = fetch_lines(gse, kind)
        except DownloadError as exc:  # cut off at a deadline, or refused: another try cannot change it
            raise DownloadError(f"cannot fetch the {kind} SOFT text of {gse} from GEO: {exc}") from exc
        except Exception as exc:  # geofetch raises bare Exception on HTTP errors, requests' own on network ones
            reason = f"{type(exc).__name__}: {exc}"
            continue
        if lines:
            return "\n".join(lines) + "\n"
        reason = "empty answer (geofetch returns nothing for a SOFT file over its size limit)"
    raise DownloadError(
        f"cannot fetch the {kind} SOFT text of {gse} from GEO after {made} attempt(s): {reason}; "
        "check the network, or pass --soft-dir with saved SOFT files"
    )


def _geofetch_lines(gse: str, kind: str) -> list[str]:
    from geofetch.utils import Accession

    return list(Accession(gse).fetch_metadata(typename=kind, clean=True))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
