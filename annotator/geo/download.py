"""Fetching one remote file intact: http(s) and ftp, timeouts, retries with back-off, resume, size cap.

geofetch shells out to wget and only logs a failed download, so we keep our own: a file either lands complete at
its destination (streamed to a `.part` file, checked against the announced length, renamed atomically) or the call
raises `DownloadError` saying why. A `.part` file left by a failure or a killed run is resumed with an HTTP range
request on the next attempt; a server that ignores the range restarts it from zero.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from annotator import __version__
from annotator.errors import DownloadError
from annotator.geo.files import https_url

_LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MAX_BACKOFF_S = 120.0
_USER_AGENT = f"annotator/{__version__} (GEO peak-file harvest)"
#: HTTP answers that another try cannot change; 408 (timeout), 425 and 429 (rate limit) are worth retrying.
_PERMANENT_HTTP = frozenset(range(400, 500)) - {408, 425, 429}
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class Downloaded:
    """A file fetched intact."""

    path: Path
    size: int
    sha256: str
    url: str  # the URL that finally served it (https rewrite or ftp fallback)
    attempts: int


class _Failure(Exception):
    """One failed attempt; `permanent` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool = False, restart: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.restart = reason, permanent, restart


def download(
    url: str,
    dest: Path,
    *,
    timeout_s: float = 60.0,
    retries: int = 4,
    backoff_s: float = 2.0,
    max_bytes: int = 2 * 1024**3,
    partial_dir: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Downloaded:
    """Download `url` to `dest` atomically and return its size and SHA-256.

    Parameters
    ----------
    url
        http(s) or ftp URL. `ftp://ftp.ncbi.nlm.nih.gov/...` is fetched over https first, then over ftp when https
        could not deliver it (connection or server errors; not a 404 or an over-size file).
    dest
        Final path; its folder is created. Nothing is written there unless the whole file arrived.
    timeout_s
        Socket timeout of each connect and read.
    retries
        Further attempts per URL after the first; waits `backoff_s * 2**k` seconds before retry k+1.
    backoff_s
        Base wait between attempts.
    max_bytes
        Size cap: a larger file is refused (announced size) or abandoned (streamed size).
    partial_dir
        Where the `.part` file lives (default: next to `dest`); keep it on `dest`'s file system.
    sleep
        Waiting function (tests pass a no-op).

    Returns
    -------
    Downloaded

    Raises
    ------
    DownloadError
        When no URL delivered the file intact; the message gives the last reason and the number of attempts.
    """
    dest = Path(dest)
    part = (partial_dir or dest.parent) / (dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    candidates = [https_url(url)] + ([url] if https_url(url) != url else [])
    attempts = 0
    failure = _Failure("no attempt made")
    for candidate in candidates:
        for attempt in range(retries + 1):
            if attempt:
                sleep(min(backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))
            attempts += 1
            try:
                size = _fetch_to(candidate, part, timeout_s=timeout_s, max_bytes=max_bytes)
            except _Failure as exc:
                failure = exc
                _LOG.debug("attempt %d for %s failed: %s", attempts, candidate, exc.reason)
                if exc.restart:
                    part.unlink(missing_ok=True)
                if exc.permanent:
                    break
                continue
            digest = sha256_of(part)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
            return Downloaded(dest, size, digest, candidate, attempts)
        if failure.permanent:
            break
    raise DownloadError(f"{url}: {failure.reason} ({attempts} attempt{'s' if attempts != 1 else ''})")


def _fetch_to(url: str, part: Path, *, timeout_s: float, max_bytes: int) -> int:
    """One attempt: stream `url` into `part` (resuming what is there); return the complete size."""
    have = part.stat().st_size if part.exists() else 0
    resumable = url.lower().startswith(("http://", "https://"))
    headers = {"User-Agent": _USER_AGENT}
    if have and resumable:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            offset, total = _start_of(response, have if resumable else 0)
            if total is not None and total > max_bytes:
                raise _Failure(_too_large(total, max_bytes), permanent=True, restart=True)
            received = _stream(response, part, offset, max_bytes)
    except _Failure:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the open response; unclosed, every failed attempt leaks a socket
        if exc.code == 416:  # our range is past the end: the partial file is not a prefix of this file
            raise _Failure("HTTP 416 range not satisfiable; restarting", restart=True) from exc
        raise _Failure(f"HTTP {exc.code} {exc.reason}", permanent=exc.code in _PERMANENT_HTTP) from exc
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
        # ftp answers 550 for a missing file: as final as an HTTP 404
        raise _Failure(f"cannot fetch: {reason}", permanent=" 550 " in f" {reason} ") from exc
    except TimeoutError as exc:
        raise _Failure(f"timed out (no data for {timeout_s:g} s)") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Failure(f"connection failed: {exc!r}") from exc
    if total is not None and received != total:
        raise _Failure(f"truncated: got {received} of {total} bytes")
    return received


def _start_of(response: http.client.HTTPResponse, have: int) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None when the server does not say)."""
    status = getattr(response, "status", None)
    length = response.headers.get("Content-Length")
    if status == 206:
        m = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
        if m and int(m.group(1)) == have:
            return have, int(m.group(3)) if m.group(3) != "*" else None
        raise _Failure("server answered a range request with an unexpected range; restarting", restart=True)
    return 0, int(length) if length and length.isdigit() else None


def _stream(response: http.client.HTTPResponse, part: Path, offset: int, max_bytes: int) -> int:
    """Copy the body into `part` from `offset` in chunks; return the file size reached."""
    size = offset
    with part.open("r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _Failure(_too_large(size, max_bytes, streamed=True), permanent=True, restart=True)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


def _too_large(size: int, max_bytes: int, streamed: bool = False) -> str:
    what = "passed" if streamed else "is"
    return (
        f"file {what} {size} bytes, over the size cap of {max_bytes} bytes; "
        "raise max_file_bytes in the configuration to fetch it"
    )


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
