"""A local GEO on 127.0.0.1 for tests and benchmarks: SOFT text, supplementary files and the GEO DataSets search.

It answers the requests annotator and geofetch make once `geo_base_url` points at it (see
`annotator.geo.endpoint`), on the same paths as the real hosts:

- `GET /geo/query/acc.cgi?acc=GSE…&targ=gse|gsm&form=text&view=full`: the series record, or all its sample records;
- `HEAD /geo/series/GSEnnn/GSE…/soft/GSE…_family.soft.gz`: the size check geofetch makes before a GSM fetch;
- `GET|HEAD /geo/samples/…` (any path added with `add_file`): supplementary files, with HTTP range requests;
- `GET /entrez/eutils/esearch.fcgi?db=gds&term=…`: eSearch XML listing the series registered as recent.

Faults are drawn per request from a seeded generator (`Faults`): latency before each answer, a per-connection
bandwidth cap, 404, 500, 429 with `Retry-After`, a connection reset half-way through a body, and a slow drip.
`force(path, [...])` queues exact faults for one path (tests), consumed one per request.

    with LocalGeo(Faults(latency_s=0.1, bandwidth_bps=2e6)) as geo:
        geo.add_series("GSE1", samples)   # SOFT built from `GeoSample`s; files registered under ftp-style URLs
        ... ANNOTATOR_GEO_BASE_URL=geo.url annotator run GSE1 ...
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from annotator.model.format import BedspaceModel

GEO_FTP = "ftp://ftp.ncbi.nlm.nih.gov"
FAULTS = ("404", "500", "429", "reset", "drip")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Faults:
    """What goes wrong, per request; rates are probabilities in 0..1 applied to supplementary files only."""

    latency_s: float = 0.0  # before every answer
    bandwidth_bps: float | None = None  # per connection, bytes per second
    p404: float = 0.0
    p500: float = 0.0
    p429: float = 0.0
    retry_after_s: int = 1
    p_reset: float = 0.0  # send half the body, then reset the connection
    p_drip: float = 0.0  # send the body at `drip_bps`
    drip_bps: float = 2048.0
    seed: int = 0


@dataclass(frozen=True)
class GeoSample:
    """One sample to serve: its SOFT fields and its supplementary files (name -> bytes)."""

    gsm: str
    title: str
    characteristics: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    strategy: str = "ChIP-Seq"
    organism: str = "Homo sapiens"
    build: str = "hg19"


def sample_dir(gsm: str) -> str:
    """GEO's folder of a sample's supplementary files: /geo/samples/GSM123nnn/GSM123456/suppl."""
    return f"/geo/samples/{gsm[:-3]}nnn/{gsm}/suppl"


def series_dir(gse: str) -> str:
    return f"/geo/series/{gse[:-3]}nnn/{gse}"


def gsm_soft(sample: GeoSample, gse: str) -> str:
    """A sample record in GEO's SOFT text form, its files listed under GEO's ftp URLs."""
    urls = [f"{GEO_FTP}{sample_dir(sample.gsm)}/{name}" for name in sample.files]
    lines = [
        f"^SAMPLE = {sample.gsm}",
        f"!Sample_title = {sample.title}",
        f"!Sample_geo_accession = {sample.gsm}",
        f"!Sample_source_name_ch1 = {sample.title}",
        f"!Sample_organism_ch1 = {sample.organism}",
        *(f"!Sample_characteristics_ch1 = {c}" for c in sample.characteristics),
        f"!Sample_data_processing = Genome_build: {sample.build}",
        f"!Sample_library_strategy = {sample.strategy}",
        *(f"!Sample_supplementary_file_{i + 1} = {u}" for i, u in enumerate(urls)),
        *([] if urls else ["!Sample_supplementary_file_1 = NONE"]),
        f"!Sample_series_id = {gse}",
    ]
    return "\n".join(lines) + "\n"


def gse_soft(gse: str, gsms: Sequence[str], extra: Sequence[str] = ()) -> str:
    lines = [f"^SERIES = {gse}", f"!Series_title = local GEO series {gse}", f"!Series_geo_accession = {gse}"]
    return "\n".join([*lines, *(f"!Series_sample_id = {g}" for g in gsms), *extra]) + "\n"


class LocalGeo:
    """The server; a context manager that starts it on a free port of 127.0.0.1 and stops it."""

    def __init__(self, faults: Faults = Faults()) -> None:
        self.faults = faults
        self.files: dict[str, bytes] = {}
        self.soft: dict[tuple[str, str], str] = {}  # (GSE, "gse" | "gsm") -> text
        self.recent: list[str] = []  # what the eSearch answers
        self.requests: Counter[str] = Counter()  # path -> requests served (tests read it)
        self.max_parallel = 0  # most supplementary-file bodies in flight at once
        self._forced: dict[str, deque[str]] = {}
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content ---------------------------------------------------------------------------------------------------
    def add_series(self, gse: str, samples: Sequence[GeoSample], *, recent: bool = True,
                   extra: Sequence[str] = ()) -> None:  # fmt: skip
        """Serve `gse`: its SOFT records and every sample file; `recent` lists it in the `--since-days` search."""
        self.soft[(gse, "gse")] = gse_soft(gse, [s.gsm for s in samples], extra)
        self.soft[(gse, "gsm")] = "".join(gsm_soft(s, gse) for s in samples)
        for s in samples:
            for name, data in s.files.items():
                self.add_file(f"{sample_dir(s.gsm)}/{name}", data)
        if recent:
            self.recent.append(gse)

    def add_file(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def force(self, path: str, faults: Sequence[str]) -> None:
        """The next requests of `path` fail in this order (one fault per request; "ok" serves it normally)."""
        self._forced.setdefault(path, deque()).extend(faults)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalGeo:
        handler = type("Handler", (_Handler,), {"geo": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="localgeo", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalGeo:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- per request -----------------------------------------------------------------------------------------------
    def _fault_for(self, path: str) -> str:
        with self._lock:
            forced = self._forced.get(path)
            if forced:
                return forced.popleft()
            f, r = self.faults, self._rng.random()
        for name, p in (("404", f.p404), ("500", f.p500), ("429", f.p429), ("reset", f.p_reset),
                        ("drip", f.p_drip)):  # fmt: skip
            if r < p:
                return name
            r -= p
        return "ok"

    def _enter_body(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_parallel = max(self.max_parallel, self._in_flight)

    def _leave_body(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    geo: LocalGeo
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read no access log
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        geo = self.geo
        parts = urlsplit(self.path)
        with geo._lock:
            geo.requests[parts.path] += 1
        if geo.faults.latency_s:
            time.sleep(geo.faults.latency_s)
        if parts.path == "/geo/query/acc.cgi":
            return self._soft(parse_qs(parts.query))
        if parts.path == "/entrez/eutils/esearch.fcgi":
            return self._search()
        if parts.path.endswith("_family.soft.gz") and parts.path.startswith("/geo/series/"):
            return self._send(200, b"", "application/gzip", length=4096, head=True)
        if parts.path in geo.files:
            return self._file(parts.path, head)
        self._send(404, b"not found\n", "text/plain", head=head)

    def _soft(self, query: dict[str, list[str]]) -> None:
        acc = query.get("acc", [""])[0].upper()
        targ = query.get("targ", ["gse"])[0].lower()
        text = self.geo.soft.get((acc, targ))
        if text is None:  # GEO answers an unknown accession with a page that is not SOFT
            return self._send(200, b"<html>Could not find a public or private accession</html>\n", "text/html")
        self._send(200, text.encode(), "text/plain; charset=utf-8")

    def _search(self) -> None:
        ids = "".join(f"<Id>{200_000_000 + int(g[3:])}</Id>" for g in self.geo.recent)
        n = len(self.geo.recent)
        body = (
            '<?xml version="1.0" encoding="UTF-8" ?>\n'
            f"<eSearchResult><Count>{n}</Count><RetMax>{n}</RetMax><IdList>{ids}</IdList>"
            "<TranslationSet/></eSearchResult>\n"
        )
        self._send(200, body.encode(), "text/xml")

    def _file(self, path: str, head: bool) -> None:
        geo = self.geo
        data = geo.files[path]
        fault = "ok" if head else geo._fault_for(path)
        if fault == "404":
            return self._send(404, b"not found\n", "text/plain")
        if fault == "500":
            return self._send(500, b"internal error\n", "text/plain")
        if fault == "429":
            return self._send(429, b"slow down\n", "text/plain", extra={"Retry-After": str(geo.faults.retry_after_s)})
        start, status, extra = 0, 200, {"Accept-Ranges": "bytes"}
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng[6:].endswith("-") and rng[6:-1].isdigit():
            start = int(rng[6:-1])
            if start >= len(data):
                return self._send(416, b"", "text/plain", extra={"Content-Range": f"bytes */{len(data)}"})
            status, extra["Content-Range"] = 206, f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        self._headers(status, "application/octet-stream", len(body), extra)
        if head:
            return
        rate = geo.faults.drip_bps if fault == "drip" else geo.faults.bandwidth_bps
        stop_at = len(body) // 2 if fault == "reset" else len(body)
        geo._enter_body()
        try:
            self._stream(body[:stop_at], rate)
            if fault == "reset":
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                self.connection.close()
        except OSError:
            self.close_connection = True  # the client went away
        finally:
            geo._leave_body()

    def _stream(self, body: bytes, rate: float | None) -> None:
        # small chunks under a bandwidth cap, each sent no earlier than its share allows: ~len(body)/rate in all
        step = _CHUNK if not rate else max(64, min(_CHUNK, int(rate / 50)))
        began = time.monotonic()
        for i in range(0, len(body), step):
            if rate:
                ahead = i / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            self.wfile.write(body[i : i + step])
        self.wfile.flush()

    def _headers(self, status: int, ctype: str, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str, *, length: int | None = None, head: bool = False,
              extra: dict[str, str] | None = None) -> None:  # fmt: skip
        self._headers(status, ctype, len(body) if length is None else length, extra)
        if not head and body:
            self.wfile.write(body)


def demo_samples(model: BedspaceModel, directory: Path) -> tuple[str, list[GeoSample]]:
    """The offline demo's series (annotator.demo) as samples to serve: its accession and its samples with files."""
    from annotator.demo import DEMO_GSE, SAMPLES, build_demo

    build_demo(directory, model)
    out = []
    for s in SAMPLES:
        name = f"{s.gsm}_{s.file_name}"
        files = {name: (directory / "files" / name).read_bytes()} if s.file_name else {}
        out.append(GeoSample(s.gsm, s.title, s.characteristics, files, s.strategy, s.organism, s.build))
    return DEMO_GSE, out
