"""The network edge under `annotator.geo.download`: which URLs may be opened, a per-file deadline that even a
dripping server cannot outlast, `Retry-After`, and the validators that make a `.part` file resumable.

* Schemes: http, https and ftp are fetched; `file:` only when the user allows local URLs (the offline demo, a
  local mirror); `data:` and every other scheme never. A redirect may only lead to http, https or ftp — never to
  `file:`, whatever the setting — since a SOFT file must not be able to copy a local file into the workdir.
* Redirect hosts: a redirect may lead to GEO's hosts, to the configured `geo_base_url`'s host and port, or back to
  the host and port that answered; anywhere else (another port of 127.0.0.1, an address of the private network, a
  cloud metadata address) only when local URLs are allowed. A GEO text could otherwise point at a public server
  whose redirect makes an internal service's answer a sample's peak file.
* Deadline: the socket timeout bounds each wait for data, not a whole transfer, so a server sending one byte every
  few seconds would hold a file for hours. The opener arms a watchdog that shuts the connection's socket when the
  file's deadline passes, wherever the transfer is (connecting, reading headers or the body).
* Resume validators: a `.part` file may only be continued when the server proves the object is the same one, so
  its ETag / Last-Modified and total length are kept beside it (`<name>.part.meta`) and sent back as `If-Range`.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import http.client
import ipaddress
import json
import os
import socket
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from annotator.geo.endpoint import GEO_HOSTS

REMOTE_SCHEMES = frozenset({"http", "https", "ftp"})
LOCAL_SCHEMES = frozenset({"file"})


class RefusedURL(Exception):
    """A URL (or a redirect target) whose scheme may not be fetched; the message says why."""


def url_scheme(url: str) -> str:
    """Lower-cased scheme of `url` ('' when it has none)."""
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


def check_url(url: str, *, allow_local_urls: bool = False) -> None:
    """Raise `RefusedURL` unless `url` may be fetched under the local-URL setting."""
    scheme = url_scheme(url)
    if scheme in REMOTE_SCHEMES or (allow_local_urls and scheme in LOCAL_SCHEMES):
        return
    if scheme in LOCAL_SCHEMES:
        raise RefusedURL(f"{scheme}: URLs are local files and are fetched only when allow_local_urls is on")
    raise RefusedURL(f"URL scheme {scheme or '(none)'!r} is never fetched (only http, https and ftp)")


# --- deadline watchdog -------------------------------------------------------------------------------------------


class Watchdog:
    """Shuts the sockets of one attempt when the file's deadline passes (a `threading.Timer`)."""

    def __init__(self, deadline: float, clock: Any = time.monotonic) -> None:
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        delay = max(0.0, deadline - clock())
        # no deadline (infinite) arms no timer: a Timer cannot wait longer than threading.TIMEOUT_MAX
        self._timer = threading.Timer(delay, self._expire) if delay < threading.TIMEOUT_MAX else None
        if self._timer is not None:
            self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for an SSL socket: it wakes a blocked recv in the reading thread with EOF
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.register(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.register(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPConnection, watchdog=self._watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_WatchedHTTPSConnection, watchdog=self._watchdog), req)


def redirect_refusal(source: str, target: str, *, base_url: str | None, allow_local_urls: bool) -> str | None:
    """Why a redirect from `source` to `target` may not be followed, or None when it may (see the module docstring).

    `target` is already absolute (urllib joins a relative `Location` with `source`).
    """
    scheme = url_scheme(target)
    if scheme and scheme not in REMOTE_SCHEMES:
        return f"a {scheme}: URL, which is never followed"
    if allow_local_urls:
        return None
    to = _origin(target)
    if to is None:
        return "a URL without a host"
    if to[0] in GEO_HOSTS or to == _origin(source) or (base_url and to == _origin(base_url)):
        return None
    what = "a local or private address" if _is_local(to[0]) else "a host that is not GEO's"
    shown = f"{to[0]}:{to[1]}" if to[1] is not None else to[0]
    return f"{shown}, {what}, which is followed only when allow_local_urls is on"


def _origin(url: str) -> tuple[str, int | None] | None:
    """(host, port) of `url`: the host lower-cased, the port None when it is its scheme's default (so an upgrade
    from http to https on the same host stays the same origin); None when the URL has no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"http": 80, "https": 443, "ftp": 21}.get(parts.scheme.lower())
    return parts.hostname.lower().rstrip("."), None if port == default else port


def names_local_host(url: str, base_url: str | None = None) -> bool:
    """True when `url` names a loopback, private or link-local host other than `base_url`'s own (host, port)."""
    to = _origin(url)
    if to is None or not _is_local(to[0]):
        return False
    return not (base_url and to == _origin(base_url))


def _is_local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the forms the socket layer also accepts: 2130706433, 127.1, 0x7f000001, 0177.0.0.1 (no DNS asked)
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects only as `redirect_refusal` allows (urllib itself also refuses odd schemes, as an
    HTTPError)."""

    def __init__(self, base_url: str | None, allow_local_urls: bool) -> None:
        super().__init__()
        self._base_url, self._allow_local_urls = base_url, allow_local_urls

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        why = redirect_refusal(req.full_url, newurl, base_url=self._base_url, allow_local_urls=self._allow_local_urls)
        if why:
            fp.close()
            raise RefusedURL(f"redirected ({code}) to {why}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener(
    watchdog: Watchdog, *, allow_local_urls: bool, base_url: str | None = None
) -> urllib.request.OpenerDirector:
    """An opener with exactly the handlers we fetch with: proxies from the environment, http(s) under the
    watchdog, ftp, checked redirects (`base_url`: the configured GEO address, a redirect target like GEO's own
    hosts), and `file:` only when local URLs are allowed (never `data:`)."""
    director = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTPHandler(watchdog),
        _HTTPSHandler(watchdog),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectHandler(base_url, allow_local_urls),
        urllib.request.FTPHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if allow_local_urls:
        handlers.append(urllib.request.FileHandler())
    for handler in handlers:
        director.add_handler(handler)
    return director


# --- Retry-After ---------------------------------------------------------------------------------------------------


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- resume validators ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Validators:
    """What identifies the object a `.part` file is a prefix of."""

    url: str
    etag: str | None = None  # strong ETags only: a weak one (W/…) cannot validate a byte range
    last_modified: str | None = None
    total: int | None = None

    @property
    def usable(self) -> bool:
        """True when the server can be asked `If-Range` with one of them."""
        return bool(self.etag or self.last_modified)

    @property
    def if_range(self) -> str | None:
        return self.etag or self.last_modified

    def same_object(self, answer: Validators) -> bool:
        """True when `answer` (a 206's validators) proves it is the object these were saved from: the saved ETag
        again (or, without one, the saved Last-Modified), and no other Last-Modified."""
        if self.last_modified and answer.last_modified and answer.last_modified != self.last_modified:
            return False
        if self.etag:
            return answer.etag == self.etag
        return self.last_modified is not None and answer.last_modified == self.last_modified

    @classmethod
    def from_headers(cls, url: str, headers: Any, total: int | None) -> Validators:
        etag = headers.get("ETag")
        etag = etag.strip() if etag and not etag.strip().startswith("W/") else None
        modified = headers.get("Last-Modified")
        return cls(url, etag or None, modified.strip() if modified else None, total)


def meta_path(part: Path) -> Path:
    """The sidecar of a `.part` file."""
    return part.with_name(part.name + ".meta")


def read_validators(part: Path) -> Validators | None:
    """The validators saved beside `part`, or None when there are none (or they are unreadable)."""
    try:
        data = json.loads(meta_path(part).read_text(encoding="utf-8"))
        found = Validators(**data)
    except (OSError, ValueError, TypeError):
        return None
    ok = isinstance(found.url, str) and all(
        v is None or isinstance(v, str) for v in (found.etag, found.last_modified)
    ) and (found.total is None or (isinstance(found.total, int) and found.total >= 0))  # fmt: skip
    return found if ok else None


def write_validators(part: Path, validators: Validators) -> None:
    """Save `validators` beside `part` atomically (a torn sidecar must never validate a resume)."""
    path = meta_path(part)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(asdict(validators)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a full disk: leave no torn sidecar behind
        tmp.unlink(missing_ok=True)
        raise


def drop_validators(part: Path) -> None:
    meta_path(part).unlink(missing_ok=True)
