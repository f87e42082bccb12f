"""The downloader against a local HTTP server: success, errors, retries, resume, timeouts, size cap."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from annotator.errors import DownloadError
from annotator.geo.download import Downloaded, download

Route = Callable[["_Handler", int], None]  # (handler, how many earlier requests hit this path)


class _Handler(BaseHTTPRequestHandler):
    server: GeoServer

    def do_GET(self) -> None:
        with self.server.lock:
            n = sum(path == self.path for path, _ in self.server.requests)
            self.server.requests.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        route(self, n)

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


class GeoServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 whose paths behave as `routes` say; it records every request."""

    daemon_threads = True
    block_on_close = False  # a handler still sleeping for the timeout test must not hold up shutdown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def hits(self, path: str) -> list[str | None]:
        """Range headers of the requests made to `path` (None when no range was asked)."""
        return [rng for p, rng in self.requests if p == path]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that time out leave broken pipes behind; that is the point of those tests


def etag(body: bytes) -> str:
    """The strong ETag the test routes give a body."""
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def ok(body: bytes) -> Route:
    """200 with the whole body, or 206 with the rest when a range is asked (and `If-Range`, if sent, matches)."""

    def route(h: _Handler, n: int) -> None:
        start = 0
        m = re.match(r"bytes=(\d+)-$", h.headers.get("Range") or "")
        same = h.headers.get("If-Range") in (None, etag(body))
        if m and same and int(m.group(1)) < len(body):
            start = int(m.group(1))
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            h.send_response(200)
        h.send_header("ETag", etag(body))
        h.send_header("Content-Length", str(len(body) - start))
        h.end_headers()
        h.wfile.write(body[start:])

    return route


def failing(times: int, code: int, then: Route) -> Route:
    def route(h: _Handler, n: int) -> None:
        if n < times:
            h.send_error(code)
        else:
            then(h, n)

    return route


def truncated(body: bytes, cut: int, times: int, then: Route) -> Route:
    """Announce the full length, send `cut` bytes and hang up, `times` times; then behave as `then`."""

    def route(h: _Handler, n: int) -> None:
        if n >= times:
            then(h, n)
            return
        h.send_response(200)
        h.send_header("ETag", etag(body))
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:cut])
        h.wfile.flush()
        h.close_connection = True

    return route


def slow(delay_s: float, body: bytes) -> Route:
    def route(h: _Handler, n: int) -> None:
        time.sleep(delay_s)
        ok(body)(h, n)

    return route


def endless(chunk: bytes, n_chunks: int) -> Route:
    """No Content-Length: the body ends when the connection closes."""

    def route(h: _Handler, n: int) -> None:
        h.send_response(200)
        h.end_headers()
        for _ in range(n_chunks):
            h.wfile.write(chunk)

    return route


def big(declared: int) -> Route:
    def route(h: _Handler, n: int) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(declared))
        h.end_headers()
        h.wfile.write(b"x" * 10)

    return route


@contextmanager
def serving() -> Iterator[GeoServer]:
    """A running `GeoServer`, shut down on exit (also used by test_geo_harvest)."""
    srv = GeoServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[GeoServer]:
    with serving() as srv:
        yield srv


BODY = b"".join(
    b"chr1\t%d\t%d\tpeak%d\t100\t.\t5.0\t10.0\t8.0\t250\n" % (i * 1000, i * 1000 + 500, i) for i in range(400)
)


def _get(
    server: GeoServer,
    path: str,
    dest: Path,
    *,
    timeout_s: float = 2.0,
    retries: int = 2,
    max_bytes: int = 1 << 20,
    partial_dir: Path | None = None,
) -> Downloaded:
    return download(
        server.url(path),
        dest,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=0.0,
        max_bytes=max_bytes,
        partial_dir=partial_dir,
    )


def test_success_records_size_and_sha256(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/GSM1_peaks.narrowPeak"] = ok(BODY)
    got = download(server.url("/GSM1_peaks.narrowPeak"), tmp_path / "beds" / "a.narrowPeak", backoff_s=0)
    assert got.path.read_bytes() == BODY
    assert (got.size, got.sha256, got.attempts) == (len(BODY), hashlib.sha256(BODY).hexdigest(), 1)
    assert list((tmp_path / "beds").iterdir()) == [got.path]  # no .part file left behind


def test_404_fails_at_once_without_retrying(server: GeoServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404.*\(1 attempt\)"):
        _get(server, "/missing.bed", tmp_path / "a.bed")
    assert len(server.hits("/missing.bed")) == 1
    assert not (tmp_path / "a.bed").exists()


def test_500_then_success_is_retried_with_backoff(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/flaky.bed"] = failing(2, 500, ok(BODY))
    waits: list[float] = []
    got = download(
        server.url("/flaky.bed"), tmp_path / "a.bed", retries=3, backoff_s=0.5, sleep=waits.append, max_bytes=1 << 20
    )
    assert got.path.read_bytes() == BODY and got.attempts == 3
    assert waits == [0.5, 1.0]  # exponential back-off between attempts


def test_persistent_500_gives_up_after_the_retries(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/down.bed"] = failing(99, 503, ok(BODY))
    with pytest.raises(DownloadError, match=r"HTTP 503.*\(3 attempts\)"):
        _get(server, "/down.bed", tmp_path / "a.bed")


def test_truncated_body_is_resumed_with_a_range_request(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/cut.bed"] = truncated(BODY, 1000, times=1, then=ok(BODY))
    got = _get(server, "/cut.bed", tmp_path / "a.bed")
    assert got.path.read_bytes() == BODY
    assert server.hits("/cut.bed") == [None, "bytes=1000-"]


def test_server_ignoring_the_range_restarts_the_file(server: GeoServer, tmp_path: Path) -> None:
    def full_only(h: _Handler, n: int) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(BODY)))
        h.end_headers()
        h.wfile.write(BODY)

    server.routes["/norange.bed"] = truncated(BODY, 1000, times=1, then=full_only)
    got = _get(server, "/norange.bed", tmp_path / "a.bed")
    assert got.path.read_bytes() == BODY


def test_always_truncated_fails_and_says_so(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/cut.bed"] = truncated(BODY, 1000, times=99, then=ok(BODY))
    with pytest.raises(DownloadError, match=f"truncated: got 1000 of {len(BODY)} bytes"):
        _get(server, "/cut.bed", tmp_path / "a.bed", retries=1)
    assert not (tmp_path / "a.bed").exists()


def test_slow_server_times_out(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/slow.bed"] = slow(1.5, BODY)
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"timed out.*\(2 attempts\)"):
        _get(server, "/slow.bed", tmp_path / "a.bed", timeout_s=0.2, retries=1)
    assert time.monotonic() - started < 1.4


def test_announced_size_over_the_cap_is_refused_without_retry(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/huge.bed"] = big(10_000_000)
    with pytest.raises(DownloadError, match="10000000 bytes, over the size cap of 1000 bytes"):
        _get(server, "/huge.bed", tmp_path / "a.bed", max_bytes=1000)
    assert len(server.hits("/huge.bed")) == 1
    assert not any(tmp_path.iterdir())


def test_streamed_size_over_the_cap_is_abandoned(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/stream.bed"] = endless(b"y" * 4096, 16)
    with pytest.raises(DownloadError, match="over the size cap of 10000 bytes"):
        _get(server, "/stream.bed", tmp_path / "a.bed", max_bytes=10_000)
    assert not any(tmp_path.iterdir())  # the partial file is removed: restarting is the only way on


def test_a_leftover_partial_file_is_resumed(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/a.bed"] = ok(BODY)
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "a.bed.part").write_bytes(BODY[:500])  # what a killed run left, with the validator it saved
    (partial / "a.bed.part.meta").write_text(
        json.dumps({"url": server.url("/a.bed"), "etag": etag(BODY), "last_modified": None, "total": len(BODY)})
    )
    got = _get(server, "/a.bed", tmp_path / "a.bed", partial_dir=partial)
    assert got.path.read_bytes() == BODY
    assert server.hits("/a.bed") == ["bytes=500-"]


def test_geo_ftp_url_falls_back_to_ftp_only_when_https_cannot_deliver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import annotator.geo.download as dl

    tried: list[str] = []

    def fake_fetch(url: str, part: Path, **kwargs: object) -> tuple[int, bool]:
        tried.append(url.split(":", 1)[0])
        if url.startswith("https"):
            raise dl._Failure("connection failed: TLS handshake")
        part.write_bytes(b"chr1\t0\t10\n")
        return 10, True

    monkeypatch.setattr(dl, "_fetch_to", fake_fetch)
    url = "ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM1/suppl/GSM1.bed"
    got = download(url, tmp_path / "a.bed", retries=2, backoff_s=0)
    assert tried == ["https", "https", "ftp"] and got.url == url  # retries=2: three attempts, the last over ftp

    tried.clear()

    def not_found(url: str, part: Path, **kwargs: object) -> int:
        tried.append(url.split(":", 1)[0])
        raise dl._Failure("HTTP 404 Not Found", permanent=True)

    monkeypatch.setattr(dl, "_fetch_to", not_found)
    with pytest.raises(DownloadError, match="404"):
        download(url, tmp_path / "b.bed", retries=1, backoff_s=0)
    assert tried == ["https"]  # GEO's ftp has the same paths: a 404 over https is final
