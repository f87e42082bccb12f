"""Fetching one remote file intact: http(s) and ftp, timeouts, a per-file deadline, retries, resume, size cap.

geofetch shells out to wget and only logs a failed download, so we keep our own: a file either lands complete at
its destination (streamed to a `.part` file, checked against the announced length — or, when no length was
announced, a gzip checked to decompress whole — and renamed atomically) or the call raises `DownloadError` saying
why: `HostUnreachableError` when the host could not be reached at all (name not resolved, connection refused or
timed out), so a night can stop early when nothing is reachable.

Attempts: `retries` counts every attempt after the first, whatever URL it uses, so a file costs at most
`retries + 1` requests. A GEO `ftp://ftp.ncbi.nlm.nih.gov/...` URL is fetched over https; only the last attempt
falls back to ftp, and only when https failed in a way another try could change (not a 404 or an over-size file).

Waits: `backoff_s * 2**k` before retry k+1; a 429 or 503 answer with `Retry-After` (seconds or an HTTP date) waits
that long instead, capped by `max_retry_after_s`. Every wait and transfer counts against `deadline_s`, the most a
single file may take; a wait that would pass it ends the download at once. Within a night a 429/503 slows the
whole host instead (`annotator.geo.throttle`): the file tells the night's `HostThrottle`, and every attempt on the
host waits for it.

Resume: a `.part` file left by a failure or a killed run is continued with a range request only when its sidecar
holds a validator (ETag or Last-Modified) from the server that started it, sent back as `If-Range`; a server whose
object changed answers 200 and the file restarts from zero, as it does when no validator was saved, or when a 206
answer names another object (its ETag or Last-Modified differs from the saved one: a server that ignores
`If-Range`) or another total length. A `.part` written when our own disk failed is removed: its bytes cannot be
trusted for a resume.
"""

from __future__ import annotations

import errno
import http.client
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from annotator import __version__
from annotator.errors import DownloadError
from annotator.geo.files import https_url
from annotator.geo.integrity import gzip_problem
from annotator.geo.throttle import HostThrottle
from annotator.geo.transport import (
    RefusedURL,
    Validators,
    Watchdog,
    check_url,
    drop_validators,
    opener,
    read_validators,
    retry_after_s,
    url_scheme,
    write_validators,
)
from annotator.hashing import sha256_of

__all__ = ["DEFAULT_DEADLINE_S", "Downloaded", "HostUnreachableError", "download", "sha256_of"]

_LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MAX_BACKOFF_S = 120.0
#: The default per-file deadline: 2 GiB (the default size cap) at ~2.5 MB/s; raise it for slower links.
DEFAULT_DEADLINE_S = 900.0
DEFAULT_MAX_RETRY_AFTER_S = 300.0
_USER_AGENT = f"annotator/{__version__} (GEO peak-file harvest)"
#: HTTP answers that another try cannot change; 408 (timeout), 425 and 429 (rate limit) are worth retrying.
_PERMANENT_HTTP = frozenset(range(400, 500)) - {408, 425, 429}
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN})


class HostUnreachableError(DownloadError):
    """The file's host could not be reached at all: its name did not resolve or it refused the connection."""


@dataclass(frozen=True)
class Downloaded:
    """A file fetched intact."""

    path: Path
    size: int
    sha256: str
    url: str  # the URL that finally served it (https rewrite or ftp fallback)
    attempts: int


class _Failure(Exception):
    """One failed attempt; `permanent` ones are not retried, `restart` ones discard the partial file."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        restart: bool = False,
        unreachable: bool = False,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.restart = reason, permanent, restart
        self.unreachable, self.retry_after, self.throttled = unreachable, retry_after, throttled


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
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    allow_local_urls: bool = False,
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S,
    retry_unreachable: bool = True,
    clock: Callable[[], float] = time.monotonic,
    throttle: HostThrottle | None = None,
    base_url: str | None = None,
) -> Downloaded:
    """Download `url` to `dest` atomically and return its size and SHA-256.

    Parameters
    ----------
    url
        http(s) or ftp URL (`file:` too when `allow_local_urls`). A GEO ftp URL is fetched over https first (see
        the module docstring for how the ftp fallback counts).
    dest
        Final path; its folder is created. Nothing is written there unless the whole file arrived.
    timeout_s
        Socket timeout of each connect and read.
    retries
        Further attempts after the first, across https and the ftp fallback: at most `retries + 1` requests.
    backoff_s
        Base wait between attempts (`backoff_s * 2**k`, at most 120 s).
    max_bytes
        Size cap: a larger file is refused (announced size) or abandoned (streamed size).
    partial_dir
        Where the `.part` file and its validator sidecar live (default: next to `dest`); keep it on `dest`'s file
        system.
    sleep
        Waiting function (tests pass a no-op).
    deadline_s
        The most this file may take, waits included (None: no deadline). A server that drips bytes is cut off
        when it passes; the `.part` file is kept for a later resume.
    allow_local_urls
        Fetch `file:` URLs (the offline demo, a local mirror). Off: such a URL fails at once, unfetched.
    max_retry_after_s
        Cap on a server's `Retry-After`.
    retry_unreachable
        Retry when the host cannot be reached (off: the first such failure raises `HostUnreachableError`).
    clock
        Monotonic clock for the deadline (tests may pass a fake with `sleep`).
    throttle
        The night's host-level back-off: a 429/503 slows every file of the host, and each attempt waits for the
        host first (None: this file waits on its own).
    base_url
        The configured GEO address (`geo_base_url`): a redirect may go to its host as to GEO's own.

    Returns
    -------
    Downloaded

    Raises
    ------
    HostUnreachableError
        The last attempt could not reach the host (DNS failure, connection refused, no route).
    DownloadError
        When no URL delivered the file intact; the message gives the last reason and the number of attempts.
    OSError
        When the local disk refuses to store the file (full, read-only): raised at once, as it is, not retried;
        the file's `.part` is removed.
    """
    dest = Path(dest)
    part = (partial_dir or dest.parent) / (dest.name + ".part")
    deadline = clock() + deadline_s if deadline_s is not None else float("inf")
    try:
        check_url(url, allow_local_urls=allow_local_urls)
    except RefusedURL as exc:
        raise DownloadError(f"{url[:200]}: {exc} (0 attempts)") from None
    part.parent.mkdir(parents=True, exist_ok=True)
    attempts = 0
    failure = _Failure("no attempt made")
    for candidate in _attempt_urls(url, retries):
        if attempts:
            # a throttled host's wait is the throttle's, shared by all its files; otherwise this file's own
            wait = 0.0 if throttle and failure.throttled else _wait_before(attempts, failure, backoff_s,
                                                                            max_retry_after_s)  # fmt: skip
            if clock() + wait >= deadline:
                failure = _Failure(_deadline_reason(deadline_s, waiting=wait))
                break
            sleep(wait)
        if throttle and (why := throttle.wait(candidate, deadline)):
            failure = _Failure(why)
            break
        attempts += 1
        try:
            size, announced = _fetch_to(
                candidate, part, timeout_s=timeout_s, max_bytes=max_bytes, deadline=deadline, clock=clock,
                allow_local_urls=allow_local_urls, deadline_s=deadline_s, base_url=base_url,
            )  # fmt: skip
            problem = None if announced else gzip_problem(part)  # unannounced length: a whole gzip proves it
            if problem:
                raise _Failure(problem, restart=True)
        except _Failure as exc:
            failure = exc
            _LOG.debug("attempt %d for %s failed: %s", attempts, candidate, exc.reason)
            if throttle and exc.throttled:
                asked = exc.retry_after
                throttle.slowed(candidate, _backoff(attempts, backoff_s) if asked is None else asked)
            if exc.restart:
                part.unlink(missing_ok=True)
                drop_validators(part)
            if exc.permanent or (exc.unreachable and not retry_unreachable):
                break
            continue
        digest = sha256_of(part)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        drop_validators(part)
        if throttle:
            throttle.delivered(candidate)
        return Downloaded(dest, size, digest, candidate, attempts)
    error = HostUnreachableError if failure.unreachable else DownloadError
    raise error(f"{url[:200]}: {failure.reason} ({attempts} attempt{'s' if attempts != 1 else ''})")


def _attempt_urls(url: str, retries: int) -> list[str]:
    """The URL of each attempt: https for a GEO ftp URL, its last attempt over ftp (when there are two or more)."""
    first = https_url(url)
    plan = [first] * (max(0, retries) + 1)
    if first != url and len(plan) > 1:
        plan[-1] = url
    return plan


def _backoff(attempts: int, backoff_s: float) -> float:
    return min(backoff_s * 2 ** (attempts - 1), _MAX_BACKOFF_S)


def _wait_before(attempts: int, failure: _Failure, backoff_s: float, max_retry_after_s: float) -> float:
    """The wait before the next attempt: the server's Retry-After when it gave one, else exponential back-off."""
    backoff = _backoff(attempts, backoff_s)
    if failure.retry_after is not None:
        return min(max(failure.retry_after, backoff), max_retry_after_s)
    return backoff


def _deadline_reason(deadline_s: float | None, waiting: float | None = None) -> str:
    why = f"the server asked to wait {waiting:g} s more" if waiting else "the server is too slow"
    return f"gave up at the per-file deadline of {deadline_s:g} s ({why}; raise download_deadline_s to allow more)"


def _fetch_to(
    url: str,
    part: Path,
    *,
    timeout_s: float,
    max_bytes: int,
    deadline: float,
    clock: Callable[[], float],
    allow_local_urls: bool,
    deadline_s: float | None,
    base_url: str | None,
) -> tuple[int, bool]:
    """One attempt: stream `url` into `part` (resuming what is there when the server proves it is the same
    object); return the complete size and whether the server announced it (so it was checked)."""
    resumable = url_scheme(url) in ("http", "https")
    saved = read_validators(part) if resumable else None
    have = part.stat().st_size if part.exists() else 0
    if have and (saved is None or not saved.usable or saved.url != url):
        have = 0  # no proof the partial file belongs to this object: start again
    headers = {"User-Agent": _USER_AGENT}
    if have and saved is not None and saved.if_range:
        headers["Range"] = f"bytes={have}-"
        headers["If-Range"] = saved.if_range
    request = urllib.request.Request(url, headers=headers)
    remaining = max(0.01, deadline - clock())
    with Watchdog(deadline, clock) as watchdog:
        try:
            with opener(watchdog, allow_local_urls=allow_local_urls, base_url=base_url).open(
                request, timeout=min(timeout_s, remaining)
            ) as response:
                offset, total = _start_of(response, have, saved)
                if total is not None and total > max_bytes:
                    raise _Failure(_too_large(total, max_bytes), permanent=True, restart=True)
                if resumable:
                    with _local_io():
                        _remember(part, url, response, total)
                received = _stream(response, part, offset, max_bytes, deadline, clock)
        except _Failure:
            raise
        except _LocalIOError as exc:  # the disk, not the server: retrying cannot help, the caller must know
            # and what the failing disk took of this file cannot be trusted for a resume
            with suppress(OSError):
                part.unlink(missing_ok=True)
                drop_validators(part)
            raise exc.error from None
        except RefusedURL as exc:
            raise _Failure(str(exc), permanent=True, restart=True) from exc
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc) from exc
        except urllib.error.URLError as exc:
            reason = str(exc.reason)
            # ftp answers 550 for a missing file: as final as an HTTP 404
            raise _Failure(
                f"cannot fetch: {reason}", permanent=" 550 " in f" {reason} ", unreachable=_unreachable(exc.reason)
            ) from exc
        except TimeoutError as exc:
            raise _Failure(f"timed out (no data for {timeout_s:g} s)") from exc
        except (OSError, http.client.HTTPException) as exc:
            if watchdog.expired:
                raise _Failure(_deadline_reason(deadline_s), permanent=True) from exc
            raise _Failure(f"connection failed: {exc!r}", unreachable=_unreachable(exc)) from exc
        if watchdog.expired or clock() >= deadline:
            raise _Failure(_deadline_reason(deadline_s), permanent=True)
    if total is not None and received != total:
        raise _Failure(f"truncated: got {received} of {total} bytes")
    return received, total is not None


def _http_failure(exc: urllib.error.HTTPError) -> _Failure:
    exc.close()  # an HTTPError holds the open response; unclosed, every failed attempt leaks a socket
    if exc.code == 416:  # our range is past the end: the partial file is not a prefix of this file
        return _Failure("HTTP 416 range not satisfiable; restarting", restart=True)
    if 300 <= exc.code < 400:  # urllib refuses a redirect to a scheme other than http, https or ftp
        return _Failure(f"HTTP {exc.code}: {str(exc.reason)[:200]}", permanent=True, restart=True)
    throttled = exc.code in (429, 503)
    wait = retry_after_s(exc.headers.get("Retry-After")) if throttled and exc.headers else None
    return _Failure(f"HTTP {exc.code} {exc.reason}", permanent=exc.code in _PERMANENT_HTTP, retry_after=wait,
                    throttled=throttled)  # fmt: skip


def _unreachable(reason: object) -> bool:
    """True for failures that say the host cannot be reached at all, as opposed to a failing transfer.

    urllib wraps only errors of connecting and sending the request in URLError, so a `TimeoutError` reason is a
    connection that never opened (a host that drops packets), not a stalled transfer.
    """
    if isinstance(reason, socket.gaierror | ConnectionRefusedError | TimeoutError):
        return True
    return isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS


def _start_of(response: http.client.HTTPResponse, have: int, saved: Validators | None) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None when the server does not say)."""
    status = getattr(response, "status", None)
    length = response.headers.get("Content-Length")
    if status == 206:
        m = _CONTENT_RANGE.match(response.headers.get("Content-Range", "").strip())
        total = int(m.group(3)) if m and m.group(3) != "*" else None
        same_total = saved is None or saved.total is None or total == saved.total
        # a server that ignores If-Range answers 206 for whatever the URL serves now: its validators must be ours
        same_object = saved is not None and saved.same_object(Validators.from_headers(saved.url, response.headers,
                                                                                       total))  # fmt: skip
        if m and int(m.group(1)) == have and have and same_total and same_object:
            return have, total
        raise _Failure(
            "server answered a range request with another object, range or length; restarting", restart=True
        )
    return 0, int(length) if length and length.isdigit() else None


def _remember(part: Path, url: str, response: http.client.HTTPResponse, total: int | None) -> None:
    """Save the object's validators before its bytes, so a `.part` never outlives the proof of what it is."""
    found = Validators.from_headers(url, response.headers, total)
    if found.usable:
        write_validators(part, found)
    else:
        drop_validators(part)


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    offset: int,
    max_bytes: int,
    deadline: float,
    clock: Callable[[], float],
) -> int:
    """Copy the body into `part` from `offset` as it arrives; return the file size reached.

    `read1` returns whatever has arrived (a plain `read(n)` would wait for all n bytes, past any deadline), and
    the deadline is checked after every piece.
    """
    size = offset
    read = getattr(response, "read1", response.read)
    with _local_io():
        out = part.open("r+b" if offset else "wb")
    with out:
        with _local_io():
            out.seek(offset)
            out.truncate()
        while chunk := read(_CHUNK):  # network errors leave here as OSError: a failed attempt
            size += len(chunk)
            if size > max_bytes:
                raise _Failure(_too_large(size, max_bytes, streamed=True), permanent=True, restart=True)
            with _local_io():
                out.write(chunk)
            if clock() >= deadline:
                break
        with _local_io():
            out.flush()
            os.fsync(out.fileno())
    return size


class _LocalIOError(Exception):
    """Our own disk refused a write (full, read-only): not a failed attempt but a reason to stop."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def _local_io() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _LocalIOError(exc) from exc


def _too_large(size: int, max_bytes: int, streamed: bool = False) -> str:
    what = "passed" if streamed else "is"
    return (
        f"file {what} {size} bytes, over the size cap of {max_bytes} bytes; "
        "raise max_file_bytes in the configuration to fetch it"
    )
