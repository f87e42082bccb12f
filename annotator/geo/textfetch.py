"""GEO's text answers (SOFT records, eSearch XML) fetched for geofetch under the rules peak files follow.

geofetch calls `requests.get` and `requests.head` with nothing but a per-read timeout, so a server that drips one
byte every few seconds holds a SOFT fetch — and the night — for hours. `TextClient` stands in for `requests` inside
geofetch (`annotator.geo.endpoint.geofetch_at` puts it there): each request goes through
`annotator.geo.transport`'s opener, whose watchdog shuts the socket at the request's deadline — `request_deadline_s`
after it starts, or the night's deadline when that comes first — and whose redirect rule is the downloads' one.

An `Answer` holds what geofetch reads of a response (`ok`, `status_code`, `headers`, `encoding`, `text`); an HTTP
error is an answer, as with `requests`. A request cut off by a deadline, refused (a redirect the rule forbids) or
over the size cap raises `DownloadError`, which no retry can change; a network failure raises
`requests.ConnectionError`, as `requests` would, so callers may retry it.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from annotator import __version__
from annotator.errors import DownloadError
from annotator.geo.endpoint import rebase
from annotator.geo.transport import RefusedURL, Watchdog, opener

#: geofetch's own cap on a SOFT file (its `max_soft_size`); an answer that passes it is refused, not kept in memory.
MAX_TEXT_BYTES = 1 << 30
_CHUNK = 1 << 20
_USER_AGENT = f"annotator/{__version__} (GEO metadata)"
_UNBOUNDED = frozenset({"request", "post", "put", "patch", "delete", "options", "Session", "session"})


@dataclass
class Answer:
    """One response, as much of `requests.Response` as geofetch uses (it sets `encoding` before reading `text`)."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive; a missing header raises KeyError, as with requests
    content: bytes
    encoding: str | None = "utf-8"

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")


class TextClient:
    """Stands in for the `requests` module inside geofetch: `get` and `head` under deadlines, GEO URLs rebased.

    Parameters
    ----------
    real
        The `requests` module (its exceptions and anything else geofetch looks up are passed through).
    base
        `geo_base_url` (None: the real GEO).
    timeout_s
        Socket timeout of each connect and read.
    request_deadline_s
        The most one request may take, however its server drips (None: no limit).
    until
        `clock()` value of the night's deadline (None: none); no request outlives it.
    allow_local_urls
        Whether a redirect may go anywhere (`transport.redirect_refusal`).
    """

    def __init__(
        self,
        real: ModuleType,
        base: str | None,
        timeout_s: float,
        *,
        request_deadline_s: float | None = None,
        until: float | None = None,
        allow_local_urls: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._real, self._base, self._timeout = real, base, timeout_s
        self._request_deadline_s, self._until, self._allow_local_urls = request_deadline_s, until, allow_local_urls
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        if name in _UNBOUNDED:  # another way to make a request would escape the rebasing and the deadlines
            raise AttributeError(f"requests.{name} is not available to geofetch here (only get and head)")
        return getattr(self._real, name)

    def get(self, url: str, timeout: float | None = None) -> Answer:
        return self._request("GET", url, timeout)

    def head(self, url: str, timeout: float | None = None) -> Answer:
        return self._request("HEAD", url, timeout)

    def _request(self, method: str, url: str, timeout: float | None) -> Answer:
        from requests.structures import CaseInsensitiveDict

        target = self._real.utils.requote_uri(rebase(url, self._base))  # as requests does: geofetch's have spaces
        shown = target[:200]
        deadline, why = self._deadline()
        if self._clock() >= deadline:
            raise DownloadError(f"{shown}: not requested: {why} has passed")
        request = urllib.request.Request(target, method=method, headers={"User-Agent": _USER_AGENT})
        with Watchdog(deadline, self._clock) as watchdog:
            try:
                with opener(watchdog, allow_local_urls=self._allow_local_urls, base_url=self._base).open(
                    request, timeout=min(timeout or self._timeout, max(0.01, deadline - self._clock()))
                ) as response:
                    status, headers = response.status, CaseInsensitiveDict(response.headers.items())
                    body = b"" if method == "HEAD" else _read(response, shown)
            except RefusedURL as exc:
                raise DownloadError(f"{shown}: {exc}") from None
            except urllib.error.HTTPError as exc:
                exc.close()  # its body is not read: an error page may drip as well as any other
                status, headers, body = exc.code, CaseInsensitiveDict((exc.headers or {}).items()), b""
            except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
                if watchdog.expired:
                    raise DownloadError(f"{shown}: gave up at {why}") from None
                raise self._real.ConnectionError(f"{shown}: {exc}") from exc
        if watchdog.expired:  # the socket was shut mid-body: what arrived is not the whole answer
            raise DownloadError(f"{shown}: gave up at {why}")
        return Answer(status, headers, body)

    def _deadline(self) -> tuple[float, str]:
        """This request's deadline and how to name it."""
        limit = self._request_deadline_s
        own = float("inf") if limit is None else self._clock() + limit
        if self._until is not None and self._until <= own:
            return self._until, "the night's deadline (--max-hours)"
        return own, f"the per-request deadline of {limit:g} s (download_deadline_s)" if limit else "no deadline"


def _read(response: http.client.HTTPResponse, shown: str) -> bytes:
    """The whole body, read as it arrives (`read1`: a plain `read` would wait past the watchdog for all of it)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > MAX_TEXT_BYTES:
            raise DownloadError(f"{shown}: answer passed {MAX_TEXT_BYTES} bytes; not read further")
        chunks.append(chunk)
    if getattr(response, "length", None):  # fewer bytes than Content-Length announced: the server hung up
        raise http.client.IncompleteRead(b"".join(chunks))
    return b"".join(chunks)
