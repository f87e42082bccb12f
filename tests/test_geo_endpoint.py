"""The geo_base_url edge: GEO's URLs rebased onto one setting, geofetch pointed at it, and the reachability probe."""

from __future__ import annotations

import socket
import time

import pytest

from annotator.errors import ConfigError, DownloadError
from annotator.geo.endpoint import check_base_url, geofetch_at, probe, rebase
from annotator.geo.fetch import find_recent_series, load_series
from annotator.settings import resolve_config
from annotator.testing.localgeo import GeoSample, LocalGeo


def test_rebase_swaps_only_geo_hosts_and_keeps_path_and_query() -> None:
    base = "http://127.0.0.1:8123/mirror"
    assert rebase("ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM1/suppl/a.bed.gz", base) == (
        "http://127.0.0.1:8123/mirror/geo/samples/GSM1nnn/GSM1/suppl/a.bed.gz"
    )
    assert rebase("https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?targ=gse&acc=GSE1", base) == (
        "http://127.0.0.1:8123/mirror/geo/query/acc.cgi?targ=gse&acc=GSE1"
    )
    assert rebase("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi?db=gds", base).endswith(
        "/mirror/entrez/eutils/esearch.fcgi?db=gds"
    )
    assert rebase("https://example.org/geo/x.bed", base) == "https://example.org/geo/x.bed"  # not GEO's
    assert rebase("file:///etc/passwd", base) == "file:///etc/passwd"
    url = "ftp://ftp.ncbi.nlm.nih.gov/geo/x"
    assert rebase(url, None) == url  # the default is the real GEO


def test_base_url_setting_is_checked_and_read_from_the_environment() -> None:
    assert check_base_url("http://127.0.0.1:9/") == "http://127.0.0.1:9"
    for bad in ("ftp://host", "127.0.0.1:80", "http://h/?q=1", "file:///tmp"):
        with pytest.raises(ConfigError):
            check_base_url(bad)
    config = resolve_config({}, environ={"ANNOTATOR_GEO_BASE_URL": "http://127.0.0.1:5000"})
    assert config.geo_base_url == "http://127.0.0.1:5000"
    assert resolve_config({}, environ={}).geo_base_url is None
    with pytest.raises(ConfigError, match="geo_base_url"):
        resolve_config({}, environ={"ANNOTATOR_GEO_BASE_URL": "gopher://x"})


def test_geofetch_fetches_soft_and_searches_at_the_base_url(tmp_path) -> None:
    sample = GeoSample("GSM5000001", "K562 H3K4me3", ("cell line: K562",), {"GSM5000001_peaks.bed": b"chr1\t1\t2\n"})
    with LocalGeo() as geo:
        geo.add_series("GSE5000", [sample])
        with geofetch_at(geo.url):
            series = load_series("GSE5000", soft_dir=None, cache_dir=tmp_path, retries=0)
            found = find_recent_series(2, "Homo sapiens")
    assert [s.gsm for s in series.samples] == ["GSM5000001"]
    assert series.samples[0].supplementary_files[0].startswith("ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM5000nnn/")
    assert found == ["GSE5000"]
    assert geo.requests["/geo/query/acc.cgi"] == 2 and geo.requests["/entrez/eutils/esearch.fcgi"] == 1
    import geofetch.utils
    import requests

    assert geofetch.utils.requests is requests  # restored after the block


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_fails_fast_with_one_message_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(DownloadError, match=r"cannot reach GEO \(127\.0\.0\.1:\d+: .*refused.*nothing was harvested"):
        probe(["https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi"], base, attempts=2)
    assert time.monotonic() - began < 5
    with LocalGeo() as geo:
        probe(["https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi"], geo.url)  # answers: no error

    def no_dns(*args: object, **kwargs: object) -> None:  # a resolver that cannot answer (no query is sent)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # with a proxy, the proxy is what is probed
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    began = time.monotonic()
    with pytest.raises(DownloadError, match=r"www\.ncbi\.nlm\.nih\.gov: name lookup failed"):
        probe(["https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi"], None, attempts=3)
    assert time.monotonic() - began < 1  # a resolver's "no" is not retried
