"""What a supplementary URL must pass before it is fetched, and a fetched file before it counts as the file.

GEO text is untrusted: a SOFT file may name `file:` or `data:` URLs (which would copy local files into the workdir),
and a server may answer with an HTML error page instead of the file. Both are screened here, for the night's
download loop (`annotator.geo.night`).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

from annotator.geo.ledger import NOT_BED_LIKE, LedgerEntry
from annotator.geo.transport import LOCAL_SCHEMES, RefusedURL, check_url, names_local_host, url_scheme

#: Skip reasons of supplementary URLs that are never fetched (see `annotator.geo.transport`).
LOCAL_URL_NOT_ALLOWED = "local_url_not_allowed"
URL_SCHEME_NOT_ALLOWED = "url_scheme_not_allowed"
HTML_PAGE = "the server sent an HTML page instead of the file (an error page?)"


def refuse_urls(rows: list[dict[str, Any]], allow_local_urls: bool, base_url: str | None = None) -> None:
    """Unselect rows whose file URL may not be fetched: `file:` unless allowed, `data:` and other schemes, and an
    http(s)/ftp URL naming a loopback, private or link-local address (a SOFT pointing at an internal service) unless
    allowed or it is `base_url`'s own host and port (a local mirror set as `geo_base_url`)."""
    for row in rows:
        if not row["selected"]:
            continue
        try:
            check_url(row["file_url"], allow_local_urls=allow_local_urls)
        except RefusedURL:
            local = url_scheme(row["file_url"]) in LOCAL_SCHEMES
            row.update(selected=False, skip_reason=LOCAL_URL_NOT_ALLOWED if local else URL_SCHEME_NOT_ALLOWED)
            continue
        if not allow_local_urls and names_local_host(row["file_url"], base_url):
            row.update(selected=False, skip_reason=LOCAL_URL_NOT_ALLOWED)


def transient(entry: LedgerEntry, workdir: Path) -> bool:
    """A `not_bed_like` entry that an earlier version settled on a transient outcome: an HTML error page or a file
    it could not read (a truncated gzip). Those are fetched again rather than trusted forever."""
    if entry.status != NOT_BED_LIKE or entry.local_path is None:
        return False
    return (entry.detail or "").startswith("unreadable") or looks_like_html(workdir / entry.local_path)


def looks_like_html(path: Path) -> bool:
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
