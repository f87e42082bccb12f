"""Hostile servers on 127.0.0.1, round 2: SOFT text and search answers that drip, redirects to internal services,
hosts that keep answering 429/503 and servers that ignore `If-Range` (a disk that fills mid-download:
test_geo_faults_disk_download.py).

Each case adds to the fault suite's tally: `refused` when it ends in a clear failure reason (a failed row, a
deferred series, one `error:` line), `recovered` when the right bytes arrived after all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from geo_fault_servers import PEAKS, cut_after, limited, redirect, write_series
from test_geo_download import GeoServer, Route, _Handler, etag, ok, serving

from annotator.config import Config
from annotator.errors import DownloadError
from annotator.geo.download import download
from annotator.geo.endpoint import geofetch_at
from annotator.geo.fetch import find_recent_series, load_series
from annotator.geo.harvest import harvest
from annotator.geo.transport import names_local_host, redirect_refusal

V1 = PEAKS
V2 = PEAKS.replace(b"peak", b"PEAK")  # same length, other content: a new version of the same URL
SOFT_GSE = "^SERIES = GSE1\n!Series_title = dripped\n!Series_sample_id = GSM1\n"


class _ByPath(dict):  # type: ignore[type-arg]
    """Routes looked up without the query string (geofetch's SOFT and search URLs carry long ones)."""

    def get(self, path: str, default: Any = None) -> Any:
        return super().get(path.split("?", 1)[0], default)


@pytest.fixture(autouse=True)
def _geofetch_imported() -> None:
    """geofetch (and pandas) take seconds to import: imported before any test starts its clock."""
    import geofetch.finder
    import geofetch.utils  # noqa: F401


@pytest.fixture
def server() -> Iterator[GeoServer]:
    with serving() as srv:
        srv.routes = _ByPath()
        yield srv


@pytest.fixture
def other() -> Iterator[GeoServer]:
    """A second server: an internal service on another port of 127.0.0.1."""
    with serving() as srv:
        srv.routes = _ByPath()
        yield srv


def _base(srv: GeoServer) -> str:
    return srv.url("")


def _dripping_text(text: str, every_s: float, padding: int = 100) -> Route:
    """A SOFT-like answer that arrives one byte every `every_s` s: `padding` bytes of a comment line, then `text`."""
    body = ("#" * padding + "\n" + text).encode()

    def route(h: _Handler, n: int) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            for i in range(len(body)):
                h.wfile.write(body[i : i + 1])
                h.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass  # the client hung up: what the test wants

    return route


def _counted(tally: Any, *, refused: bool = True) -> None:
    tally.cases += 1
    if refused:
        tally.refused += 1
    else:
        tally.recovered += 1


# --- SOFT text and search answers under the per-request and the night's deadline -----------------------------------


def test_a_dripping_soft_answer_is_cut_off_at_the_per_request_deadline(server: GeoServer, tmp_path: Path,
                                                                     tally: Any) -> None:  # fmt: skip
    """One byte every 0.1 s never trips the 1 s read timeout; the 1 s request deadline ends it, and is not retried."""
    server.routes["/geo/query/acc.cgi"] = _dripping_text(SOFT_GSE, 0.1)
    config = Config(workdir=tmp_path / "work", geo_base_url=_base(server), download_timeout_s=1.0,
                    download_deadline_s=1.0, download_retries=2, download_backoff_s=0.0)  # fmt: skip
    started = time.monotonic()
    result = harvest(config, ["GSE1"])
    assert time.monotonic() - started < 5  # the drip alone takes 10 s per attempt
    assert "per-request deadline of 1 s" in result.failed_series["GSE1"]
    assert len(server.hits("/geo/query/acc.cgi?targ=gse&acc=GSE1&form=text&view=full")) == 1
    _counted(tally)


def test_a_dripping_soft_answer_ends_at_the_nights_deadline_and_the_series_is_deferred(
    server: GeoServer, tmp_path: Path, tally: Any
) -> None:
    server.routes["/geo/query/acc.cgi"] = _dripping_text(SOFT_GSE, 0.1)
    config = Config(workdir=tmp_path / "work", geo_base_url=_base(server), download_timeout_s=1.0,
                    download_deadline_s=600.0, download_retries=2)  # fmt: skip
    started = time.monotonic()
    result = harvest(config, ["GSE1"], deadline=started + 1.0)
    assert time.monotonic() - started < 5
    assert result.deferred_series == ("GSE1",) and not result.failed_series
    assert "GSE1" in (tmp_path / "work" / "backlog.json").read_text()  # the next night reads it
    _counted(tally)


@pytest.mark.slow
def test_a_nightly_run_with_a_dripping_soft_answer_ends_at_max_hours(server: GeoServer, tmp_path: Path,
                                                                     tally: Any) -> None:  # fmt: skip
    """The reported case: `annotator run --max-hours` did not end while GEO's SOFT answer dripped."""
    from modelkit import labelled_model
    from typer.testing import CliRunner

    from annotator.cli import app
    from annotator.tables import read_table

    model = labelled_model(tmp_path / "model")
    server.routes["/geo/query/acc.cgi"] = _dripping_text(SOFT_GSE, 0.1, padding=400)  # 40 s of drip
    work = tmp_path / "work"
    args = ["run", "GSE1", "--model", str(model.path), "--workdir", str(work), "-j", "1", "--max-hours", "0.0005"]
    started = time.monotonic()
    result = CliRunner().invoke(app, args, env={"ANNOTATOR_GEO_BASE_URL": _base(server)})
    assert time.monotonic() - started < 20, "the night outlived --max-hours (1.8 s) by far"
    assert result.exit_code == 1, result.output  # finished; the series is left for the next night
    counts = json.loads(read_table("runs", work / "runs.parquet").to_pylist()[-1]["counts"])
    assert counts["harvest_series_deferred"] == 1 and counts["harvest_series_failed"] == 0
    assert "GSE1" in (work / "backlog.json").read_text()
    _counted(tally)


def test_a_dripping_search_answer_is_cut_off(server: GeoServer, tally: Any) -> None:
    server.routes["/entrez/eutils/esearch.fcgi"] = _dripping_text("<eSearchResult/>", 0.1)
    started = time.monotonic()
    refused = pytest.raises(DownloadError, match=r"last 2 day.*per-request deadline of 1 s")
    with geofetch_at(_base(server), timeout_s=1.0, request_deadline_s=1.0), refused:
        find_recent_series(2, "Homo sapiens")
    assert time.monotonic() - started < 5
    _counted(tally)


def test_no_soft_request_starts_after_the_nights_deadline(server: GeoServer, tmp_path: Path, tally: Any) -> None:
    server.routes["/geo/query/acc.cgi"] = _dripping_text(SOFT_GSE, 0.0, padding=0)
    refused = pytest.raises(DownloadError, match="night's deadline")
    with geofetch_at(_base(server), timeout_s=1.0, until=time.monotonic() - 1), refused:
        load_series("GSE1", soft_dir=None, cache_dir=tmp_path, retries=3, backoff_s=0.0)
    assert server.requests == []
    _counted(tally)


# --- redirects ----------------------------------------------------------------------------------------------------


def test_a_redirect_to_another_local_port_is_not_followed(server: GeoServer, other: GeoServer, tmp_path: Path,
                                                          tally: Any) -> None:  # fmt: skip
    """A SOFT file's URL on a public-looking server redirects to an internal service: its answer must not become
    a sample's peak file."""
    other.routes["/internal"] = ok(b"chr1\t1\t2\tsecret\n")
    server.routes["/GSM1_peaks.bed"] = redirect(other.url("/internal"))
    write_series(tmp_path / "soft", [("GSM1", server.url("/GSM1_peaks.bed"))])
    config = Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_retries=2,
                    geo_base_url=_base(server))  # the server stands for GEO; `other` is the internal service
    row = harvest(config, ["GSE1"]).samples.to_pylist()[0]
    assert row["download_status"] == "failed" and "redirected (302)" in row["download_error"]
    assert "allow_local_urls" in row["download_error"] and "(1 attempt)" in row["download_error"]
    assert other.requests == [] and not list((tmp_path / "work" / "beds").glob("GSM1*"))
    _counted(tally)


@pytest.mark.parametrize("how", ["refused", "allow_local_urls", "geo_base_url"])
def test_a_soft_listing_an_internal_address_is_not_fetched_unless_allowed(other: GeoServer, tmp_path: Path,
                                                                          tally: Any, how: str) -> None:  # fmt: skip
    """A SOFT whose supplementary file names 127.0.0.1 (an internal service) directly, with no redirect: the file is
    left out (`local_url_not_allowed`) and the service never asked, unless local URLs are allowed or it is the
    configured mirror."""
    other.routes["/GSM1_peaks.bed"] = ok(V1)
    write_series(tmp_path / "soft", [("GSM1", other.url("/GSM1_peaks.bed"))])
    settings: dict[str, Any] = {"allow_local_urls": True} if how == "allow_local_urls" else \
        {"geo_base_url": _base(other)} if how == "geo_base_url" else {}  # fmt: skip
    config = Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_retries=0, **settings)
    row = harvest(config, ["GSE1"]).samples.to_pylist()[0]
    if how == "refused":
        assert not row["selected"] and row["skip_reason"] == "local_url_not_allowed", row
        assert other.requests == [] and not list((tmp_path / "work").rglob("*GSM1_peaks*"))
        _counted(tally)
    else:
        assert row["download_status"] == "downloaded", row


@pytest.mark.parametrize("how", ["allow_local_urls", "geo_base_url"])
def test_a_redirect_to_an_allowed_host_is_followed(server: GeoServer, other: GeoServer, tmp_path: Path,
                                                   how: str) -> None:  # fmt: skip
    other.routes["/GSM1_peaks.bed"] = ok(V1)
    server.routes["/GSM1_peaks.bed"] = redirect(other.url("/GSM1_peaks.bed"))
    kwargs: dict[str, Any] = {"allow_local_urls": True} if how == "allow_local_urls" else {"base_url": _base(other)}
    got = download(server.url("/GSM1_peaks.bed"), tmp_path / "a.bed", timeout_s=2.0, retries=0, **kwargs)
    assert got.path.read_bytes() == V1


def test_a_soft_answer_redirected_to_an_internal_service_is_refused(server: GeoServer, other: GeoServer,
                                                                   tmp_path: Path, tally: Any) -> None:  # fmt: skip
    other.routes["/geo/query/acc.cgi"] = _dripping_text(SOFT_GSE, 0.0, padding=0)
    server.routes["/geo/query/acc.cgi"] = redirect(other.url("/geo/query/acc.cgi?targ=gse&acc=GSE1"))
    refused = pytest.raises(DownloadError, match=r"redirected \(302\) to 127\.0\.0\.1:\d+, a local or private")
    with geofetch_at(_base(server), timeout_s=1.0, request_deadline_s=5.0), refused:
        load_series("GSE1", soft_dir=None, cache_dir=tmp_path, retries=3, backoff_s=0.0)
    assert other.requests == [] and len(server.requests) == 1  # refused at once, not retried
    _counted(tally)


def test_which_redirects_may_be_followed() -> None:
    src = "https://mirror.example.org/geo/samples/GSM1_peaks.bed"

    def why(target: str, base: str | None = None, local: bool = False) -> str | None:
        return redirect_refusal(src, target, base_url=base, allow_local_urls=local)

    assert why("https://ftp.ncbi.nlm.nih.gov/geo/samples/x.bed") is None  # GEO's own hosts
    assert why("https://mirror.example.org/other/x.bed") is None  # back to the host that answered
    assert why("http://mirror.example.org/x.bed") is None  # the same host, its default port for the scheme
    assert why("http://127.0.0.1:5000/x", base="http://127.0.0.1:5000") is None  # the configured geo_base_url
    for internal in ("http://127.0.0.1:6000/x", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x",
                     "http://10.0.0.7/x", "http://localhost/x", "https://mirror.example.org:8443/x"):  # fmt: skip
        assert why(internal, base="http://127.0.0.1:5000") is not None, internal
        assert why(internal, local=True) is None  # a local mirror or the demo allows it
    assert "local or private" in (why("http://169.254.169.254/") or "")
    assert "not GEO's" in (why("https://elsewhere.example.net/x.bed") or "")
    assert "file:" in (why("file:///etc/passwd", local=True) or "")  # never, whatever the setting


# --- hosts that keep answering 429/503 -------------------------------------------------------------------------------


def _throttling_night(server: GeoServer, tmp_path: Path, files: int, route: Route, **settings: Any) -> list[dict]:
    samples = []
    for i in range(1, files + 1):
        server.routes[f"/GSM{i}_peaks.bed"] = route
        samples.append((f"GSM{i}", server.url(f"/GSM{i}_peaks.bed")))
    write_series(tmp_path / "soft", samples)
    deadline = settings.pop("night_s", None)
    config = Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_timeout_s=2.0,
                    download_backoff_s=0.1, geo_base_url=_base(server), **settings)  # fmt: skip
    until = time.monotonic() + deadline if deadline else None
    return list(harvest(config, ["GSE1"], deadline=until).samples.to_pylist())


def _far_future() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)


_ASKS = [("999999999", None, "over the budget of 600 s"), (None, None, "over the budget of 600 s"),
         ("30", 10.0, "past the night's deadline")]  # fmt: skip


@pytest.mark.parametrize(("retry_after", "night_s", "why"), _ASKS, ids=["seconds", "http-date", "night"])
def test_a_host_asking_to_wait_beyond_the_budget_is_given_up_for_the_night_at_once(
    server: GeoServer, tmp_path: Path, tally: Any, retry_after: str | None, night_s: float | None, why: str
) -> None:
    """Issue: a 4-file night of `Retry-After: 999999999` took 603 s (300 s per file, twice). The host's files now
    fail at once, "host throttling", and only the files already in flight asked at all."""
    route = limited(99, 429, retry_after or _far_future(), ok(V1))
    started = time.monotonic()
    rows = _throttling_night(server, tmp_path, 10, route, download_workers=2, download_per_host=2, night_s=night_s,
                             download_deadline_s=5.0)  # fmt: skip
    assert time.monotonic() - started < 5
    assert all(r["download_status"] == "failed" and "host throttling" in r["download_error"] for r in rows)
    assert why in rows[0]["download_error"] and "retried next night" in rows[0]["download_error"]
    assert len(server.requests) <= 2  # the two in flight; the other eight were never asked for
    _counted(tally)


def test_repeated_short_waits_add_up_to_the_hosts_budget(server: GeoServer, tmp_path: Path, tally: Any) -> None:
    """Retry-After: 1 on every answer: the host's files wait together, and fail once 2.5 s of waiting is spent."""
    started = time.monotonic()
    rows = _throttling_night(server, tmp_path, 8, limited(99, 503, "1", ok(V1)), download_retries=9,
                             download_workers=2, download_per_host=2, host_throttle_budget_s=2.5,
                             download_deadline_s=6.0)  # fmt: skip
    assert time.monotonic() - started < 8  # each file waiting on its own: 4 rounds of 6 s
    assert all(r["download_status"] == "failed" and "host throttling" in r["download_error"] for r in rows)
    assert len(server.requests) <= 8  # two files in flight, asked about three times each
    _counted(tally)


def test_a_host_that_throttles_briefly_delivers_every_file(server: GeoServer, tmp_path: Path, tally: Any) -> None:
    """Each file is refused once (Retry-After: 1) then served: within budget, every file arrives."""
    rows = _throttling_night(server, tmp_path, 4, limited(1, 429, "1", ok(V1)), host_throttle_budget_s=5.0)
    assert [r["download_status"] for r in rows] == ["downloaded"] * 4
    _counted(tally, refused=False)


# --- a server that ignores If-Range -----------------------------------------------------------------------------


def _ignores_if_range(body: bytes, *, etag_header: str | None, last_modified: str | None = None) -> Route:
    """Serves any range of `body` as 206, whatever `If-Range` says, with the validators given."""

    def route(h: _Handler, n: int) -> None:
        rng = h.headers.get("Range") or ""
        start = int(rng[6:-1]) if rng.startswith("bytes=") and rng.endswith("-") else 0
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if etag_header:
            h.send_header("ETag", etag_header)
        if last_modified:
            h.send_header("Last-Modified", last_modified)
        h.send_header("Content-Length", str(len(body) - start))
        h.end_headers()
        h.wfile.write(body[start:])

    return route


@pytest.mark.parametrize("answer", ["other-etag", "no-validator", "other-last-modified"])
def test_a_206_for_another_object_is_not_spliced_onto_the_partial(server: GeoServer, tmp_path: Path, tally: Any,
                                                                  answer: str) -> None:  # fmt: skip
    """Night 1 got 40 % of v1; by night 2 the URL serves v2 (same length) from a server that ignores If-Range and
    answers the range request with 206. The file must be v2 whole, not v1's head on v2's tail."""
    url, cut = server.url("/GSM1_peaks.bed"), len(V1) * 2 // 5
    old, new = "Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 22 Oct 2015 07:28:00 GMT"
    first = cut_after(V1, cut, validators=answer != "other-last-modified")
    if answer == "other-last-modified":
        first = _with_last_modified(first, old)
    server.routes["/GSM1_peaks.bed"] = first
    with pytest.raises(DownloadError, match="truncated"):
        download(url, tmp_path / "a.bed", timeout_s=2.0, retries=0)
    server.routes["/GSM1_peaks.bed"] = {
        "other-etag": _ignores_if_range(V2, etag_header=etag(V2)),
        "no-validator": _ignores_if_range(V2, etag_header=None),
        "other-last-modified": _ignores_if_range(V2, etag_header=None, last_modified=new),
    }[answer]
    got = download(url, tmp_path / "a.bed", timeout_s=2.0, retries=1, backoff_s=0.0)
    assert got.path.read_bytes() == V2
    assert server.hits("/GSM1_peaks.bed")[-2:] == [f"bytes={cut}-", None]  # asked to resume, then from zero
    _counted(tally, refused=False)


def _with_last_modified(route: Route, stamp: str) -> Route:
    def wrapped(h: _Handler, n: int) -> None:
        real_end = h.end_headers

        def end_headers() -> None:
            h.send_header("Last-Modified", stamp)
            real_end()

        h.end_headers = end_headers  # type: ignore[method-assign]
        route(h, n)

    return wrapped


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "10.0.0.5",
                                  "169.254.169.254", "localhost", "[::1]"])  # fmt: skip
def test_every_spelling_of_an_internal_address_is_caught(host: str) -> None:
    """The socket layer reads 2130706433 and 127.1 as 127.0.0.1: the check must read them the same way."""
    assert names_local_host(f"http://{host}:6379/GSM1_peaks.bed")
    assert not names_local_host(f"http://{host}:6379/x", base_url=f"http://{host}:6379")  # the configured mirror


def test_public_hosts_are_not_internal() -> None:
    assert not names_local_host("https://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM1/suppl/a.bed.gz")
    assert not names_local_host("http://8.8.8.8/a.bed")
