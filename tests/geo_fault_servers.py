"""Hostile routes for the 127.0.0.1 test server of `test_geo_download` (drip, changing objects, redirects,
rate limits, error pages), and a one-series SOFT writer pointing at it. Used by tests/faults/test_geo_faults_*.py.

Kept at the top of tests/ (on pytest's path through tests/conftest.py) so the fault tests import it the same way
whether or not tests/faults/ is a package.
"""

from __future__ import annotations

import gzip
import re
import socket
import time
from pathlib import Path

from test_geo_download import GeoServer, Route, _Handler, etag

PEAKS = b"".join(b"chr1\t%d\t%d\tpeak%d\t100\n" % (i * 1000, i * 1000 + 500, i) for i in range(300))
PEAKS_GZ = gzip.compress(PEAKS, mtime=0)


def versioned(body: bytes, *, validators: bool = True, last_modified: str | None = None) -> Route:
    """A well-behaved server for one version of an object: ranges honoured, `If-Range` checked against its ETag
    (or Last-Modified); without `If-Range` a range is served from whatever the object is now, as real servers do."""

    def route(h: _Handler, n: int) -> None:
        m = re.match(r"bytes=(\d+)-$", h.headers.get("Range") or "")
        if_range = h.headers.get("If-Range")
        same = if_range is None or if_range in (etag(body), last_modified)
        if m and same and int(m.group(1)) < len(body):
            start = int(m.group(1))
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            start = 0
            h.send_response(200)
        if validators:
            h.send_header("ETag", etag(body))
        if last_modified:
            h.send_header("Last-Modified", last_modified)
        h.send_header("Content-Length", str(len(body) - start))
        h.end_headers()
        h.wfile.write(body[start:])

    return route


def cut_after(body: bytes, cut: int, *, validators: bool = True, announce: bool = True) -> Route:
    """Send the first `cut` bytes of `body` and hang up (announcing the full length unless `announce` is off)."""

    def route(h: _Handler, n: int) -> None:
        h.send_response(200)
        if validators:
            h.send_header("ETag", etag(body))
        if announce:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:cut])
        h.wfile.flush()
        h.close_connection = True

    return route


def drip(body: bytes, every_s: float, *, in_headers: bool = False) -> Route:
    """One byte every `every_s` seconds: of the body, or (`in_headers`) of a never-ending header block."""

    def route(h: _Handler, n: int) -> None:
        try:
            if in_headers:
                h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(10_000):
                    h.wfile.write(b"a")
                    h.wfile.flush()
                    time.sleep(every_s)
                return
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            for i in range(len(body)):
                h.wfile.write(body[i : i + 1])
                h.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass  # the client hung up: that is what the test wants

    return route


def redirect(location: str, code: int = 302) -> Route:
    def route(h: _Handler, n: int) -> None:
        h.send_response(code)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def limited(times: int, code: int, retry_after: str | None, then: Route) -> Route:
    """`code` (429/503) with `Retry-After`, `times` times; then behave as `then`."""

    def route(h: _Handler, n: int) -> None:
        if n >= times:
            then(h, n)
            return
        h.send_response(code)
        if retry_after is not None:
            h.send_header("Retry-After", retry_after)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def html_page() -> Route:
    page = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>busy</body></html>\n"

    def route(h: _Handler, n: int) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(page)))
        h.end_headers()
        h.wfile.write(page)

    return route


def refused_url() -> str:
    """An http URL on 127.0.0.1 whose port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/GSM1_peaks.bed"


def write_series(soft_dir: Path, samples: list[tuple[str, str]], gse: str = "GSE1") -> None:
    """A family SOFT file of ChIP-seq hg19 human samples, one supplementary URL each: (accession, url)."""
    lines = [f"^SERIES = {gse}", "!Series_title = served"] + [f"!Series_sample_id = {g}" for g, _ in samples]
    for gsm, url in samples:
        lines += [
            f"^SAMPLE = {gsm}",
            "!Sample_title = a sample",
            "!Sample_organism_ch1 = Homo sapiens",
            "!Sample_library_strategy = ChIP-Seq",
            "!Sample_data_processing = Genome_build: hg19",
            f"!Sample_supplementary_file_1 = {url}",
        ]
    soft_dir.mkdir(parents=True, exist_ok=True)
    (soft_dir / f"{gse}_family.soft").write_text("\n".join(lines) + "\n")


__all__ = ["GeoServer"]
