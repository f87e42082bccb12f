"""The geofetch edge: SOFT from a folder (both layouts) or from GEO (faked), kept copies, the --since-days search."""

from __future__ import annotations

import gzip
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest

from annotator.errors import DownloadError, InputError, SoftParseError
from annotator.geo.fetch import find_recent_series, load_series

SOFT = Path(__file__).parent / "data" / "soft"
SERIES = ["^SERIES = GSE5", "!Series_title = five", "!Series_sample_id = GSM50"]
SAMPLES = ["^SAMPLE = GSM50", "!Sample_title = fifty", "!Sample_organism_ch1 = Homo sapiens"]


def _fake_geo(answers: dict[str, list[str]], calls: list[tuple[str, str]]):
    def fetch(gse: str, kind: str) -> list[str]:
        calls.append((gse, kind))
        answer = answers[kind]
        if not answer:
            raise Exception("Error in requesting file")  # what geofetch raises on an HTTP error
        return answer

    return fetch


def test_geofetch_layout_in_soft_dir(tmp_path: Path) -> None:
    series = load_series("GSE900002", soft_dir=SOFT, cache_dir=tmp_path)
    assert [s.gsm for s in series.samples] == ["GSM9000001", "GSM9000002"]
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing cached


def test_gzipped_family_file_in_soft_dir(tmp_path: Path) -> None:
    (tmp_path / "GSE5_family.soft.gz").write_bytes(gzip.compress("\n".join(SERIES + SAMPLES).encode()))
    series = load_series("GSE5", soft_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert series.title == "five" and series.samples[0].title == "fifty"


def test_missing_series_in_soft_dir_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"GSE7/GSE7_GSE\.soft.*drop --soft-dir"):
        load_series("GSE7", soft_dir=tmp_path, cache_dir=tmp_path)


def test_fetched_soft_is_kept_in_geofetch_layout(tmp_path: Path) -> None:
    calls: list[tuple[str, str]] = []
    series = load_series(
        "GSE5", soft_dir=None, cache_dir=tmp_path, fetch_lines=_fake_geo({"GSE": SERIES, "GSM": SAMPLES}, calls)
    )
    assert calls == [("GSE5", "GSE"), ("GSE5", "GSM")]
    assert series.samples[0].gsm == "GSM50"
    assert (tmp_path / "GSE5" / "GSE5_GSM.soft").read_text().splitlines() == SAMPLES
    # the kept files are a valid --soft-dir
    assert load_series("GSE5", soft_dir=tmp_path, cache_dir=tmp_path).samples[0].title == "fifty"


def test_unreachable_geo_falls_back_to_the_kept_copy(tmp_path: Path) -> None:
    load_series("GSE5", soft_dir=None, cache_dir=tmp_path, fetch_lines=_fake_geo({"GSE": SERIES, "GSM": SAMPLES}, []))
    waits: list[float] = []
    calls: list[tuple[str, str]] = []
    down = _fake_geo({"GSE": [], "GSM": []}, calls)
    series = load_series("GSE5", soft_dir=None, cache_dir=tmp_path, fetch_lines=down, retries=2, sleep=waits.append)
    assert series.samples[0].gsm == "GSM50"
    assert len(calls) == 3 and waits == [2.0, 4.0]
    with pytest.raises(DownloadError, match=r"cannot fetch the GSE SOFT text of GSE6.*Error in requesting file"):
        load_series("GSE6", soft_dir=None, cache_dir=tmp_path, fetch_lines=down, retries=0)


def test_an_answer_that_is_not_soft_never_replaces_a_good_copy(tmp_path: Path) -> None:
    load_series("GSE5", soft_dir=None, cache_dir=tmp_path, fetch_lines=_fake_geo({"GSE": SERIES, "GSM": SAMPLES}, []))
    page = ["^SERIES = GSE999", "!Series_title = not the one asked for"]
    with pytest.raises(SoftParseError, match="does not describe GSE5"):
        load_series("GSE5", soft_dir=None, cache_dir=tmp_path, fetch_lines=_fake_geo({"GSE": page, "GSM": page}, []))
    assert (tmp_path / "GSE5" / "GSE5_GSE.soft").read_text().splitlines() == SERIES


class _FakeFinder:
    answer: ClassVar[list[str] | Exception] = []
    seen: ClassVar[list[tuple[str | None, int]]] = []

    def __init__(self, filters: str | None = None) -> None:
        self.filters = filters

    def get_gse_by_day_count(self, n_days: int = 1) -> list[str]:
        _FakeFinder.seen.append((self.filters, n_days))
        if isinstance(self.answer, Exception):
            raise self.answer
        return list(self.answer)


@pytest.fixture
def fake_geofetch(monkeypatch: pytest.MonkeyPatch) -> type[_FakeFinder]:
    # a stand-in module: importing the real geofetch installs log handlers and costs a second
    module = types.ModuleType("geofetch")
    module.Finder = _FakeFinder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "geofetch", module)
    _FakeFinder.seen = []
    return _FakeFinder


def test_since_days_asks_finder_for_the_organism_and_sorts(fake_geofetch: type[_FakeFinder]) -> None:
    fake_geofetch.answer = ["GSE200", "GSE31", "GSE200"]
    assert find_recent_series(3, "Homo sapiens") == ["GSE31", "GSE200"]
    assert fake_geofetch.seen == [("Homo sapiens[Organism]", 3)]


def test_since_days_network_error_is_a_download_error(fake_geofetch: type[_FakeFinder]) -> None:
    import requests

    fake_geofetch.answer = requests.ConnectionError("no route to eutils.ncbi.nlm.nih.gov")
    with pytest.raises(DownloadError, match="last 2 day"):
        find_recent_series(2, "Homo sapiens")


def test_the_geofetch_api_we_call_still_exists() -> None:
    import inspect

    from geofetch import Finder
    from geofetch.utils import Accession

    assert {"typename", "clean"} <= set(inspect.signature(Accession.fetch_metadata).parameters)
    assert "filters" in inspect.signature(Finder).parameters
    assert "n_days" in inspect.signature(Finder.get_gse_by_day_count).parameters
