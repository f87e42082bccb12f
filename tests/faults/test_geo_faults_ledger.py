"""The ledger across nights: transient outcomes are retried (with a cap), a broken gzip is never `downloaded`, and a
ledger line of the wrong shape is skipped with a warning instead of a traceback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from geo_fault_servers import PEAKS_GZ, cut_after, html_page, versioned, write_series
from test_geo_download import failing, ok, serving

from annotator.config import Config
from annotator.errors import ConfigError
from annotator.geo.harvest import harvest
from annotator.geo.ledger import Ledger
from annotator.settings import resolve_config


def _config(tmp_path: Path, **kwargs: object) -> Config:
    kwargs.setdefault("allow_local_urls", True)  # the SOFT lists a server on 127.0.0.1
    return Config(
        workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_retries=0, download_backoff_s=0.0, **kwargs
    )  # type: ignore[arg-type]


def _row(result: object) -> dict:
    return result.samples.to_pylist()[0]  # type: ignore[attr-defined]


def test_an_html_error_page_is_a_failure_retried_on_the_next_night(tmp_path: Path) -> None:
    with serving() as server:
        path = "/GSM1_peaks.bed.gz"
        write_series(tmp_path / "soft", [("GSM1", server.url(path))])
        server.routes[path] = html_page()
        first = _row(harvest(_config(tmp_path), ["GSE1"]))
        assert first["download_status"] == "failed" and "HTML page" in first["download_error"]
        kept = [p for p in (tmp_path / "work" / "beds").rglob("*GSM1*") if p.is_file()]
        assert kept == []  # the page is not kept as if it were the file
        server.routes[path] = versioned(PEAKS_GZ)
        second = _row(harvest(_config(tmp_path), ["GSE1"]))
        assert second["download_status"] == "downloaded" and second["selected"]
        assert len(server.hits(path)) == 2


def test_a_truncated_gzip_is_failed_then_fetched_again(tmp_path: Path) -> None:
    with serving() as server:
        path = "/GSM1_peaks.bed.gz"
        write_series(tmp_path / "soft", [("GSM1", server.url(path))])
        server.routes[path] = cut_after(PEAKS_GZ, len(PEAKS_GZ) // 2, announce=False, validators=False)
        first = _row(harvest(_config(tmp_path), ["GSE1"]))
        assert first["download_status"] == "failed" and "truncated gzip" in first["download_error"]
        assert first["local_path"] is None
        server.routes[path] = versioned(PEAKS_GZ)
        second = _row(harvest(_config(tmp_path), ["GSE1"]))
        assert second["download_status"] == "downloaded"
        assert (tmp_path / "work" / second["local_path"]).read_bytes() == PEAKS_GZ


def test_a_failing_file_is_given_up_after_the_cap_of_runs(tmp_path: Path) -> None:
    with serving() as server:
        path = "/GSM1_peaks.bed.gz"
        write_series(tmp_path / "soft", [("GSM1", server.url(path))])
        server.routes[path] = failing(99, 500, ok(PEAKS_GZ))
        config = _config(tmp_path, download_max_runs=2)
        for night in range(3):
            row = _row(harvest(config, ["GSE1"]))
            assert row["download_status"] == "failed", night
        assert len(server.hits(path)) == 2  # nights 1 and 2 tried; night 3 did not
        assert "gave up after 2 run(s)" in row["download_error"] and "HTTP 500" in row["download_error"]
        tries = [json.loads(line)["tries"] for line in (tmp_path / "work" / "ledger.jsonl").read_text().splitlines()]
        assert tries[-1] == 2
        # raising the cap lets the next night try again, and success resets the count
        server.routes[path] = ok(PEAKS_GZ)
        assert _row(harvest(_config(tmp_path, download_max_runs=3), ["GSE1"]))["download_status"] == "downloaded"


def test_the_retry_cap_and_deadline_are_validated_settings() -> None:
    assert resolve_config({"download_max_runs": 3}).download_max_runs == 3
    with pytest.raises(ConfigError):
        resolve_config({"download_max_runs": 0})
    with pytest.raises(ConfigError):
        resolve_config({"download_deadline_s": 0})
    with pytest.raises(ConfigError):
        resolve_config({"download_retries": -1})
    assert resolve_config(environ={"ANNOTATOR_ALLOW_LOCAL_URLS": "yes"}).allow_local_urls


BAD_LINES = [
    "[1, 2]",
    '"a string"',
    "null",
    "42",
    '{"url": 5, "status": "downloaded"}',
    '{"url": "http://x/b", "status": "weird"}',
    '{"url": "http://x/c", "status": "downloaded", "size": "12"}',
    '{"url": "http://x/d", "status": "failed", "tries": -3}',
    '{"status": "downloaded"}',
    '{"url": "http://x/e", "status": ["downloaded"]}',
]


def test_ledger_lines_of_the_wrong_shape_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = {"url": "http://x/a", "status": "failed", "detail": "HTTP 500", "at": "2026-01-01T00:00:00+00:00"}
    (tmp_path / "ledger.jsonl").write_text("\n".join([json.dumps(good), *BAD_LINES]) + "\n")
    with caplog.at_level(logging.WARNING):
        ledger = Ledger(tmp_path)
    assert len(ledger) == 1 and ledger.get("http://x/a") is not None and ledger.get("http://x/a").tries == 1  # type: ignore[union-attr]
    warned = [r.getMessage() for r in caplog.records if "unreadable ledger line" in r.getMessage()]
    assert len(warned) == len(BAD_LINES)


def test_an_error_page_an_older_ledger_settled_as_not_bed_like_is_fetched_again(tmp_path: Path) -> None:
    """Ledgers written before this fix hold HTML pages and unreadable gzips as `not_bed_like`: no longer trusted."""
    import hashlib

    work = tmp_path / "work"
    page = b"<html><body>Service Unavailable</body></html>\n"
    with serving() as server:
        path = "/GSM1_peaks.bed.gz"
        write_series(tmp_path / "soft", [("GSM1", server.url(path))])
        (work / "beds").mkdir(parents=True)
        (work / "beds" / "GSM1_peaks.bed.gz").write_bytes(page)
        old = {"url": server.url(path), "status": "not_bed_like", "local_path": "beds/GSM1_peaks.bed.gz",
               "size": len(page), "sha256": hashlib.sha256(page).hexdigest(), "detail": "not BED-like"}  # fmt: skip
        (work / "ledger.jsonl").write_text(json.dumps(old) + "\n")
        server.routes[path] = versioned(PEAKS_GZ)
        row = _row(harvest(_config(tmp_path), ["GSE1"]))
        assert row["download_status"] == "downloaded" and len(server.hits(path)) == 1
