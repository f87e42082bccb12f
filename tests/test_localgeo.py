"""The local GEO itself answers like GEO and misbehaves as configured (the night tests and the benchmark rely on it)."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request

import pytest

from annotator.testing.localgeo import Faults, GeoSample, LocalGeo, sample_dir

DATA = bytes(range(256)) * 40  # 10,240 bytes
PATH = f"{sample_dir('GSM6000001')}/GSM6000001_peaks.bed"


def _geo(faults: Faults = Faults()) -> LocalGeo:
    geo = LocalGeo(faults)
    geo.add_series("GSE6000", [GeoSample("GSM6000001", "K562 CTCF", files={"GSM6000001_peaks.bed": DATA})])
    return geo


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, http.client.HTTPMessage]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(), exc.headers


def test_forced_faults_in_order_then_the_file() -> None:
    with _geo() as geo:
        geo.force(PATH, ["404", "500", "429", "reset", "ok"])
        assert _get(geo.url + PATH)[0] == 404
        assert _get(geo.url + PATH)[0] == 500
        status, _, headers = _get(geo.url + PATH)
        assert status == 429 and headers["Retry-After"] == "1"
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            _get(geo.url + PATH)  # half the body, then a reset
        assert _get(geo.url + PATH)[:2] == (200, DATA)
        assert geo.requests[PATH] == 5


def test_ranges_resume_and_drip_and_bandwidth_slow_the_body() -> None:
    with _geo(Faults(p_drip=1.0, drip_bps=20_000)) as geo:
        status, body, headers = _get(geo.url + PATH, {"Range": "bytes=8192-"})
        assert (status, body, headers["Content-Range"]) == (206, DATA[8192:], f"bytes 8192-10239/{len(DATA)}")
        assert _get(geo.url + PATH, {"Range": f"bytes={len(DATA)}-"})[0] == 416
        began = time.monotonic()
        assert _get(geo.url + PATH)[1] == DATA
        assert time.monotonic() - began >= 0.4  # 10 KB at 20 KB/s
    with _geo(Faults(latency_s=0.2, p500=1.0)) as geo:
        began = time.monotonic()
        assert _get(geo.url + PATH)[0] == 500 and time.monotonic() - began >= 0.2


def test_soft_text_search_and_unknown_accessions() -> None:
    with _geo() as geo:
        status, text, _ = _get(geo.url + "/geo/query/acc.cgi?targ=gsm&acc=GSE6000&form=text&view=full")
        assert status == 200 and b"^SAMPLE = GSM6000001" in text
        assert b"ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM6000nnn/GSM6000001/suppl/" in text
        assert b"^SERIES" not in _get(geo.url + "/geo/query/acc.cgi?targ=gse&acc=GSE1&form=text")[1]
        assert b"<Id>200006000</Id>" in _get(geo.url + "/entrez/eutils/esearch.fcgi?db=gds&term=x")[1]
