"""Hostile servers on 127.0.0.1 against the per-file downloader: local and odd URL schemes, redirects to file:,
objects that change under a `.part`, drip feeds, rate limits, unreachable hosts, and how many attempts a file costs.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from geo_fault_servers import PEAKS, PEAKS_GZ, cut_after, drip, limited, redirect, refused_url, versioned, write_series
from test_geo_download import GeoServer, etag, failing, ok, serving, slow

from annotator.config import Config
from annotator.errors import DownloadError
from annotator.geo.download import HostUnreachableError, download
from annotator.geo.harvest import harvest
from annotator.geo.transport import retry_after_s

V1 = PEAKS
V2 = PEAKS.replace(b"peak", b"PEAK")  # same length, other content: a new version of the same URL


@pytest.fixture
def server() -> GeoServer:
    with serving() as srv:
        yield srv  # type: ignore[misc]


def _get(url: str, dest: Path, **kwargs: object) -> object:
    return download(url, dest, **{"timeout_s": 2.0, "retries": 0, "backoff_s": 0.0, **kwargs})  # type: ignore[arg-type]


# --- item 4: local and odd URLs ---------------------------------------------------------------------------------


def test_file_and_data_urls_in_soft_are_skipped_with_a_reason_unless_allowed(tmp_path: Path) -> None:
    secret = tmp_path / "home" / "secret_peaks.bed"
    secret.parent.mkdir()
    secret.write_bytes(PEAKS)
    data_url = "data:text/plain,chr1%091%092%0A/GSM2_peaks.bed"  # named like a peak file
    write_series(tmp_path / "soft", [("GSM1", secret.as_uri()), ("GSM2", data_url), ("GSM3", "gopher://x/y.bed")])
    config = Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_retries=0)
    rows = {r["gsm"]: r for r in harvest(config, ["GSE1"]).samples.to_pylist()}
    assert rows["GSM1"]["skip_reason"] == "local_url_not_allowed" and not rows["GSM1"]["selected"]
    assert rows["GSM2"]["skip_reason"] == "url_scheme_not_allowed"
    assert rows["GSM3"]["skip_reason"] == "url_scheme_not_allowed"
    assert all(r["download_status"] == "not_attempted" for r in rows.values())
    assert not (tmp_path / "work" / "beds").exists()

    # the demo and local mirrors turn the setting on: file: URLs are then fetched (data: never)
    allowed = Config(workdir=tmp_path / "work2", soft_dir=tmp_path / "soft", download_retries=0, allow_local_urls=True)
    rows = {r["gsm"]: r for r in harvest(allowed, ["GSE1"]).samples.to_pylist()}
    assert rows["GSM1"]["download_status"] == "downloaded"
    assert rows["GSM2"]["skip_reason"] == "url_scheme_not_allowed"


def test_download_itself_refuses_local_urls_by_default(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bed"
    secret.write_bytes(PEAKS)
    for url in (secret.as_uri(), "data:,chr1%091%092", "FILE:///etc/passwd", "/etc/passwd"):
        with pytest.raises(DownloadError, match=r"\(0 attempts\)"):
            _get(url, tmp_path / "out" / "a.bed")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    assert _get(secret.as_uri(), tmp_path / "out" / "a.bed", allow_local_urls=True).path.read_bytes() == PEAKS  # type: ignore[attr-defined]


@pytest.mark.parametrize("allow_local_urls", [False, True])
def test_a_redirect_to_a_file_url_is_refused_at_once(server: GeoServer, tmp_path: Path, allow_local_urls: bool) -> None:
    secret = tmp_path / "secret.bed"
    secret.write_bytes(PEAKS)
    server.routes["/GSM1_peaks.bed"] = redirect(secret.as_uri())
    with pytest.raises(DownloadError, match=r"(?i)redirect.*\(1 attempt\)"):
        _get(server.url("/GSM1_peaks.bed"), tmp_path / "beds" / "a.bed", retries=3, allow_local_urls=allow_local_urls)
    assert len(server.hits("/GSM1_peaks.bed")) == 1  # not retried: another try cannot change a refusal
    assert not (tmp_path / "beds" / "a.bed").exists()


def test_a_redirect_to_http_is_followed(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/old.bed"] = redirect(server.url("/new.bed"), code=301)
    server.routes["/new.bed"] = ok(PEAKS)
    assert _get(server.url("/old.bed"), tmp_path / "a.bed").path.read_bytes() == PEAKS  # type: ignore[attr-defined]


# --- item 6: resume only the same object ----------------------------------------------------------------------------


def test_a_partial_of_an_older_version_is_not_spliced_onto_the_new_one(server: GeoServer, tmp_path: Path) -> None:
    """Issue 10 item 6: night 1 got 40 % of v1 and died; by night 2 the URL serves v2. The file must be v2 whole."""
    url, part_dir = server.url("/GSM1_peaks.bed"), tmp_path / "partial"
    server.routes["/GSM1_peaks.bed"] = cut_after(V1, len(V1) * 2 // 5)
    with pytest.raises(DownloadError, match="truncated"):
        _get(url, tmp_path / "a.bed", partial_dir=part_dir)
    assert (part_dir / "a.bed.part").stat().st_size == len(V1) * 2 // 5
    server.routes["/GSM1_peaks.bed"] = versioned(V2)
    got = _get(url, tmp_path / "a.bed", partial_dir=part_dir)
    assert got.path.read_bytes() == V2  # type: ignore[attr-defined]
    asked = server.requests[-1]
    assert asked[1] == f"bytes={len(V1) * 2 // 5}-"  # it did try to resume, with If-Range, and the server said no
    assert not any(part_dir.iterdir())  # no .part and no sidecar left


def test_a_partial_of_the_same_version_is_resumed(server: GeoServer, tmp_path: Path) -> None:
    url = server.url("/GSM1_peaks.bed")
    server.routes["/GSM1_peaks.bed"] = cut_after(V1, 1000)
    with pytest.raises(DownloadError):
        _get(url, tmp_path / "a.bed")
    meta = json.loads((tmp_path / "a.bed.part.meta").read_text())
    assert meta["etag"] == etag(V1) and meta["total"] == len(V1)
    server.routes["/GSM1_peaks.bed"] = versioned(V1)
    assert _get(url, tmp_path / "a.bed").path.read_bytes() == V1  # type: ignore[attr-defined]
    assert server.hits("/GSM1_peaks.bed")[-1] == "bytes=1000-"


def test_a_last_modified_date_also_validates_a_resume(server: GeoServer, tmp_path: Path) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    url = server.url("/GSM1_peaks.bed")
    server.routes["/GSM1_peaks.bed"] = cut_after(V1, 1000, validators=False)
    server.routes["/GSM1_peaks.bed"] = _with_header(server.routes["/GSM1_peaks.bed"], "Last-Modified", stamp)
    with pytest.raises(DownloadError):
        _get(url, tmp_path / "a.bed")
    server.routes["/GSM1_peaks.bed"] = versioned(V1, validators=False, last_modified=stamp)
    assert _get(url, tmp_path / "a.bed").path.read_bytes() == V1  # type: ignore[attr-defined]
    assert server.hits("/GSM1_peaks.bed")[-1] == "bytes=1000-"


def test_without_a_saved_validator_the_file_restarts_from_zero(server: GeoServer, tmp_path: Path) -> None:
    url = server.url("/GSM1_peaks.bed")
    server.routes["/GSM1_peaks.bed"] = cut_after(V1, 1000, validators=False)
    with pytest.raises(DownloadError):
        _get(url, tmp_path / "a.bed")
    server.routes["/GSM1_peaks.bed"] = versioned(V2, validators=False)  # a server that honours any range
    assert _get(url, tmp_path / "a.bed").path.read_bytes() == V2  # type: ignore[attr-defined]
    assert server.hits("/GSM1_peaks.bed")[-1] is None  # no range asked: nothing proves the partial is of this file


def test_a_resume_whose_total_length_changed_restarts(server: GeoServer, tmp_path: Path) -> None:
    url = server.url("/GSM1_peaks.bed")
    server.routes["/GSM1_peaks.bed"] = cut_after(V1, 1000)
    with pytest.raises(DownloadError):
        _get(url, tmp_path / "a.bed")
    longer = V1 + b"chr2\t1\t2\tx\t0\n"

    def same_etag_other_length(h, n):  # type: ignore[no-untyped-def]
        # a broken server: the old ETag on a longer object
        start = 1000 if h.headers.get("Range") else 0
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(longer) - 1}/{len(longer)}")
        h.send_header("ETag", etag(V1))
        h.send_header("Content-Length", str(len(longer) - start))
        h.end_headers()
        h.wfile.write(longer[start:])

    server.routes["/GSM1_peaks.bed"] = same_etag_other_length
    got = _get(url, tmp_path / "a.bed", retries=1)
    assert got.path.read_bytes() == longer  # type: ignore[attr-defined]
    assert server.hits("/GSM1_peaks.bed")[-2:] == ["bytes=1000-", None]


def _with_header(route, name: str, value: str):  # type: ignore[no-untyped-def]
    def wrapped(h, n):  # type: ignore[no-untyped-def]
        real_end = h.end_headers

        def end_headers() -> None:
            h.send_header(name, value)
            real_end()

        h.end_headers = end_headers
        route(h, n)

    return wrapped


# --- item 11: a per-file deadline -----------------------------------------------------------------------------------


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_dripping_server_is_cut_off_at_the_deadline(server: GeoServer, tmp_path: Path, in_headers: bool) -> None:
    """One byte every 0.2 s never trips a 1 s read timeout; the 1 s per-file deadline ends it anyway."""
    server.routes["/GSM1_peaks.bed"] = drip(V1, 0.2, in_headers=in_headers)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="deadline of 1 s"):
        _get(server.url("/GSM1_peaks.bed"), tmp_path / "a.bed", timeout_s=1.0, deadline_s=1.0, retries=3)
    assert time.monotonic() - started < 5  # the drip alone would take 20 minutes
    assert len(server.hits("/GSM1_peaks.bed")) == 1  # the deadline covers every attempt, not each one
    assert not (tmp_path / "a.bed").exists()


def test_the_deadline_covers_the_waits_between_attempts(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/GSM1_peaks.bed"] = failing(99, 500, ok(V1))
    waits: list[float] = []
    with pytest.raises(DownloadError, match=r"deadline.*\(2 attempts\)"):
        _get(server.url("/GSM1_peaks.bed"), tmp_path / "a.bed", retries=9, backoff_s=4.0, deadline_s=10.0,
             sleep=waits.append, clock=_fake_clock(waits))  # fmt: skip
    assert waits == [4.0]  # 4 s waited; the next 8 s wait would pass the 10 s deadline


def _fake_clock(waits: list[float]):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    return lambda: start + sum(waits)


def test_default_deadline_is_a_setting() -> None:
    assert 60 <= Config().download_deadline_s <= 3600


# --- issue 12 item 1: attempts as set, Retry-After, unreachable hosts -----------------------------------------------


def test_retries_match_the_setting_exactly_including_the_ftp_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 12: 10 attempts were seen with download_retries=4 (5 over https, then 5 more over ftp)."""
    import annotator.geo.download as dl

    tried: list[str] = []

    def always_failing(url: str, part: Path, **kwargs: object) -> int:
        tried.append(url.split(":", 1)[0])
        raise dl._Failure("connection failed: reset")

    monkeypatch.setattr(dl, "_fetch_to", always_failing)
    url = "ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM1/suppl/GSM1_peaks.bed.gz"
    with pytest.raises(DownloadError, match=r"\(5 attempts\)"):
        download(url, tmp_path / "a.bed", retries=4, backoff_s=0, sleep=lambda s: None)
    assert tried == ["https"] * 4 + ["ftp"]


def test_persistent_500_costs_exactly_retries_plus_one_requests(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/down.bed"] = failing(99, 500, ok(V1))
    with pytest.raises(DownloadError, match=r"\(5 attempts\)"):
        _get(server.url("/down.bed"), tmp_path / "a.bed", retries=4)
    assert len(server.hits("/down.bed")) == 5


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_seconds_is_honoured_and_capped(server: GeoServer, tmp_path: Path, code: int) -> None:
    server.routes["/busy.bed"] = limited(1, code, "7", ok(V1))
    waits: list[float] = []
    got = _get(server.url("/busy.bed"), tmp_path / "a.bed", retries=2, backoff_s=0.5, sleep=waits.append)
    assert got.attempts == 2 and waits == [7.0]  # type: ignore[attr-defined]

    server.routes["/busier.bed"] = limited(1, code, "86400", ok(V1))
    waits.clear()
    _get(server.url("/busier.bed"), tmp_path / "b.bed", retries=2, sleep=waits.append, max_retry_after_s=30.0)
    assert waits == [30.0]


def test_retry_after_as_an_http_date(server: GeoServer, tmp_path: Path) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    server.routes["/busy.bed"] = limited(1, 429, when, ok(V1))
    waits: list[float] = []
    _get(server.url("/busy.bed"), tmp_path / "a.bed", retries=1, sleep=waits.append)
    assert len(waits) == 1 and 15 <= waits[0] <= 20


def test_retry_after_parsing_is_safe_on_garbage() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s("120") == 120.0
    assert retry_after_s("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60.0
    assert retry_after_s("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0  # in the past: no wait
    for junk in (None, "", "soon", "-5", "1e9", "１２", "Thu, 99 Foo 2026"):
        assert retry_after_s(junk, now) is None


def test_a_retry_after_beyond_the_deadline_gives_up_at_once(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/busy.bed"] = limited(99, 503, "120", ok(V1))
    waits: list[float] = []
    with pytest.raises(DownloadError, match=r"deadline of 60 s.*\(1 attempt\)"):
        _get(server.url("/busy.bed"), tmp_path / "a.bed", retries=4, deadline_s=60.0, sleep=waits.append)
    assert waits == []


def test_a_refused_connection_is_a_distinct_unreachable_error(tmp_path: Path) -> None:
    url = refused_url()
    waits: list[float] = []
    with pytest.raises(HostUnreachableError, match=r"\(3 attempts\)"):
        _get(url, tmp_path / "a.bed", retries=2, sleep=waits.append)
    with pytest.raises(HostUnreachableError, match=r"\(1 attempt\)"):
        _get(url, tmp_path / "a.bed", retries=2, retry_unreachable=False)
    assert issubclass(HostUnreachableError, DownloadError)  # callers that catch DownloadError keep working


def test_a_connection_that_never_opens_is_unreachable_but_a_stalled_body_is_not(
    server: GeoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/slow.bed"] = slow(1.5, V1)
    with pytest.raises(DownloadError, match="timed out") as stalled:  # the server answered, the body stalled
        _get(server.url("/slow.bed"), tmp_path / "a.bed", timeout_s=0.2)
    assert not isinstance(stalled.value, HostUnreachableError)

    def blackholed(*args: object, **kwargs: object) -> socket.socket:
        raise TimeoutError("timed out")  # what connect() raises when a host drops the packets

    monkeypatch.setattr(socket, "create_connection", blackholed)
    with pytest.raises(HostUnreachableError, match=r"timed out.*\(1 attempt\)"):
        _get(server.url("/slow.bed"), tmp_path / "a.bed", retries=2, retry_unreachable=False)


def test_a_server_error_is_not_called_unreachable(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/down.bed"] = failing(99, 500, ok(V1))
    with pytest.raises(DownloadError) as info:
        _get(server.url("/down.bed"), tmp_path / "a.bed")
    assert not isinstance(info.value, HostUnreachableError)


# --- item 7 (download side): a gzip must decompress whole -----------------------------------------------------------


def test_a_gzip_cut_without_content_length_is_a_failed_download(server: GeoServer, tmp_path: Path) -> None:
    server.routes["/GSM1_peaks.bed.gz"] = cut_after(PEAKS_GZ, len(PEAKS_GZ) // 2, announce=False, validators=False)
    with pytest.raises(DownloadError, match=r"truncated gzip.*\(2 attempts\)"):
        _get(server.url("/GSM1_peaks.bed.gz"), tmp_path / "a.bed.gz", retries=1)
    assert not (tmp_path / "a.bed.gz").exists() and not (tmp_path / "a.bed.gz.part").exists()


@pytest.mark.parametrize("deadline_s", [None, 1e12])
def test_no_deadline_or_a_huge_one_is_accepted(server: GeoServer, tmp_path: Path, deadline_s: float | None) -> None:
    server.routes["/a.bed"] = ok(V1)
    assert _get(server.url("/a.bed"), tmp_path / "a.bed", deadline_s=deadline_s).path.read_bytes() == V1  # type: ignore[attr-defined]


def test_a_full_disk_is_raised_at_once_not_retried_as_a_network_failure(
    server: GeoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    import annotator.geo.download as dl

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    server.routes["/a.bed"] = ok(V1)
    monkeypatch.setattr(dl.os, "fsync", full)
    with pytest.raises(OSError) as info:
        _get(server.url("/a.bed"), tmp_path / "a.bed", retries=3)
    assert info.value.errno == errno.ENOSPC and not isinstance(info.value, DownloadError)
    assert len(server.hits("/a.bed")) == 1
