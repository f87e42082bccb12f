"""A whole night against the local GEO (annotator.testing.localgeo): through geofetch, concurrent downloads
streamed into projection, outages, a time budget, a killed run. No --soft-dir: SOFT text comes over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.config import Config
from annotator.geo.backlog import BACKLOG_FILE
from annotator.geo.harvest import harvest
from annotator.tables import read_table
from annotator.testing.localgeo import Faults, GeoSample, LocalGeo, demo_samples, sample_dir

TABLES = ("samples", "predictions", "annotations")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def demo(model, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[GeoSample]]:
    return demo_samples(model, tmp_path_factory.mktemp("demo"))


def _config(work: Path, model, url: str, **kw) -> Config:
    base = Config(workdir=work, model=model.path, geo_base_url=url, download_retries=3, download_backoff_s=0.0)
    return replace(base, **kw)


def _file_path(gsm: str, samples: list[GeoSample]) -> str:
    sample = next(s for s in samples if s.gsm == gsm)
    return f"{sample_dir(gsm)}/{next(iter(sample.files))}"


def _n_peak_files(samples: list[GeoSample]) -> int:
    """The demo series' files a night selects: its hg19 ChIP-seq samples' peak files (not the bigWig)."""
    return sum(1 for s in samples if s.files and s.strategy == "ChIP-Seq" and s.build == "hg19"
               and not s.files.keys() & {f"{s.gsm}_signal.bw"})  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_annotator_run_against_the_local_geo_through_geofetch(model, demo, tmp_path: Path, monkeypatch) -> None:
    gse, samples = demo
    n_files = _n_peak_files(samples)
    work = tmp_path / "work"
    with LocalGeo(Faults(latency_s=0.01)) as geo:
        geo.add_series(gse, samples)
        url = geo.url
        monkeypatch.setenv("ANNOTATOR_GEO_BASE_URL", url)
        result = CliRunner().invoke(app, ["run", gse, "--model", str(model.path), "--workdir", str(work),
                                          "--workers", "2", "--download-workers", "3"])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert geo.requests["/geo/query/acc.cgi"] == 2  # the GSE and GSM SOFT text, fetched by geofetch
        assert all(geo.requests[_file_path(s.gsm, samples)] == 1 for s in samples if s.files and s.strategy ==
                   "ChIP-Seq" and s.build == "hg19" and not s.files.keys() & {f"{s.gsm}_signal.bw"})  # fmt: skip
    rows = read_table("samples", work / "samples.parquet").to_pylist()
    chosen = [r for r in rows if r["selected"]]
    assert len(chosen) == n_files and all(r["download_status"] == "downloaded" and r["sha256"] for r in chosen)
    assert all(r["file_url"].startswith("ftp://ftp.ncbi.nlm.nih.gov/geo/samples/") for r in chosen)  # GEO's URL kept
    flags = {(r["gsm"], r["group"]): r["flag"] for r in read_table("annotations", work / "annotations.parquet")
             .to_pylist()}  # fmt: skip
    assert flags[("GSM9990001", "antibody")] == "match"
    assert flags[("GSM9990008", "antibody")] == "confident_mismatch"
    assert flags[("GSM9990003", "antibody")] == "misspelling"
    runs = read_table("runs", work / "runs.parquet").to_pylist()
    counts = json.loads(runs[-1]["counts"])
    assert runs[-1]["status"] == "ok" and counts["project_projected"] == counts["harvest_downloaded"] == n_files
    assert json.loads(runs[-1]["config"])["geo_base_url"] == url
    assert (work / "soft" / gse / f"{gse}_GSM.soft").is_file()  # kept for a later --soft-dir run


@pytest.mark.slow
def test_streamed_concurrent_night_writes_the_same_tables_as_the_sequential_one(model, demo, tmp_path: Path) -> None:
    gse, samples = demo
    n_files = _n_peak_files(samples)
    size = min(len(b) for s in samples for b in s.files.values() if len(b) > 200)  # the peak files
    with LocalGeo(Faults(latency_s=0.005, bandwidth_bps=size / 0.2)) as geo:  # ~0.2 s per file
        geo.add_series(gse, samples)
        fast = pipeline.run(_config(tmp_path / "fast", model, geo.url, workers=2, download_workers=4), [gse])
        assert geo.max_parallel > 1  # files really were in flight together
        geo.max_parallel = 0
        slow = pipeline.run(_config(tmp_path / "slow", model, geo.url, workers=1, download_workers=1), [gse])
        assert geo.max_parallel == 1
    assert fast.exit_code == slow.exit_code == 0
    for name in TABLES:
        a, b = read_table(name, fast.tables[name]), read_table(name, slow.tables[name])
        if "file" in a.column_names:  # the projected file's absolute path: the same file in another workdir
            files = [f.replace(str(tmp_path / "fast"), "W") for f in a.column("file").to_pylist()]
            assert files == [f.replace(str(tmp_path / "slow"), "W") for f in b.column("file").to_pylist()]
            a, b = a.drop_columns(["file"]), b.drop_columns(["file"])
        assert a.num_rows > 0 and a.equals(b), name
    assert fast.counts["project_projected"] == slow.counts["project_projected"] == n_files
    assert fast.counts["project_status_ok"] == slow.counts["project_status_ok"]


@pytest.mark.slow
def test_partial_outage_failed_files_are_rows_and_the_next_night_retries_them(model, demo, tmp_path: Path) -> None:
    gse, samples = demo
    work = tmp_path / "work"
    gone, flaky = _file_path("GSM9990002", samples), _file_path("GSM9990003", samples)
    other = GeoSample("GSM5100001", "HepG2 H3K4me1", ("cell line: HepG2",), {})
    with LocalGeo() as geo:
        geo.add_series(gse, samples)
        geo.add_series("GSE5100", [other])
        geo.force(gone, ["404"])
        geo.force(flaky, ["500", "reset", "429"])  # then served: recovered by retries within the night
        first = pipeline.run(_config(work, model, geo.url, workers=2), [gse])
        rows = {r["gsm"]: r for r in read_table("samples", first.tables["samples"]).to_pylist()}
        assert first.exit_code == 1 and first.counts["harvest_failed"] == 1
        assert rows["GSM9990002"]["download_status"] == "failed" and "404" in rows["GSM9990002"]["download_error"]
        assert rows["GSM9990003"]["download_status"] == "downloaded" and geo.requests[flaky] == 4
        assert json.loads((work / BACKLOG_FILE).read_text()) == {gse: 1}
        # the next night is asked for another series only: the backlog brings the unfinished one back
        second = pipeline.run(_config(work, model, geo.url, workers=2), ["GSE5100"])
    rows = {r["gsm"]: r for r in read_table("samples", second.tables["samples"]).to_pylist()}
    assert second.exit_code == 0 and rows["GSM9990002"]["download_status"] == "downloaded"
    assert geo.requests[flaky] == 4 and geo.requests[gone] == 2  # only the failed file was fetched again
    assert second.counts["harvest_cached"] == _n_peak_files(samples) - 1 and "GSM5100001" in rows
    assert json.loads((work / BACKLOG_FILE).read_text()) == {}


def test_no_network_fails_fast_with_one_message_and_exit_2(model, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ANNOTATOR_GEO_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    work = tmp_path / "work"
    began = time.monotonic()
    result = CliRunner().invoke(app, ["run", "GSE1", "GSE2", "GSE3", "--model", str(model.path), "--workdir",
                                      str(work)])  # fmt: skip
    assert time.monotonic() - began < 10
    assert result.exit_code == 2
    message = [line for line in result.output.splitlines() if line.strip()]
    assert message[0].startswith("error: cannot reach GEO (127.0.0.1:") and "refused" in result.output
    runs = read_table("runs", work / "runs.parquet").to_pylist()
    assert runs[-1]["status"] == "failed" and "cannot reach GEO" in json.loads(runs[-1]["counts"])["error"]


@pytest.mark.slow
def test_max_hours_stops_cleanly_records_the_night_and_the_next_night_continues(model, demo, tmp_path: Path) -> None:
    gse, samples = demo
    n_files = _n_peak_files(samples)
    work = tmp_path / "work"
    size = min(len(b) for s in samples for b in s.files.values() if len(b) > 200)  # the peak files
    with LocalGeo(Faults(bandwidth_bps=size / 0.4)) as geo:  # ~0.4 s per file, one at a time
        geo.add_series(gse, samples)
        config = _config(work, model, geo.url, workers=2, download_workers=1)
        first = pipeline.run(replace(config, max_hours=1.5 / 3600), [gse])
        deferred = first.counts["harvest_deferred"] + first.counts["harvest_series_deferred"]
        assert first.exit_code == 1 and deferred >= 1
        runs = read_table("runs", first.tables["runs"]).to_pylist()
        assert runs[-1]["status"] == "finished_with_failures"
        assert json.loads(runs[-1]["counts"])["harvest_deferred"] == first.counts["harvest_deferred"]
        rows = read_table("samples", first.tables["samples"]).to_pylist()
        late = [r for r in rows if r["selected"] and r["download_status"] == "not_attempted"]
        assert all("deferred to the next night" in r["download_error"] for r in late)
        assert json.loads((work / BACKLOG_FILE).read_text()) == {gse: 1}
        fetched = {p for p, n in geo.requests.items() if p.startswith("/geo/samples/")}
        second = pipeline.run(config, [])  # nothing asked: the backlog alone brings the series back
        assert all(geo.requests[p] == 1 for p in fetched)  # what the first night finished is not fetched again
    assert second.exit_code == 0 and second.counts["harvest_downloaded"] == n_files
    assert second.counts["project_status_ok"] + first.counts.get("project_status_ok", 0) >= n_files
    assert json.loads((work / BACKLOG_FILE).read_text()) == {}


@pytest.mark.slow
def test_a_harvest_killed_mid_download_loses_and_duplicates_nothing(model, demo, tmp_path: Path) -> None:
    gse, samples = demo
    n_files = _n_peak_files(samples)
    size = min(len(b) for s in samples for b in s.files.values() if len(b) > 200)  # the peak files
    with LocalGeo(Faults(bandwidth_bps=size / 0.3)) as geo:
        geo.add_series(gse, samples)
        env = {**os.environ, "ANNOTATOR_GEO_BASE_URL": geo.url}
        killed = tmp_path / "killed"
        cmd = [sys.executable, "-m", "annotator", "harvest", gse, "--download-workers", "2"]
        proc = subprocess.Popen([*cmd, "--workdir", str(killed)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        ledger = killed / "ledger.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not ledger.exists() or ledger.read_text().count("\n") < 3):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 3 <= ledger.read_text().count("\n") < 10  # killed half-way, files in flight
        rerun = subprocess.run([*cmd, "--workdir", str(killed)], env=env, capture_output=True, text=True)
        clean = harvest(_config(tmp_path / "clean", model, geo.url), [gse])
    assert rerun.returncode == 0 and clean.ok, rerun.stderr
    a = read_table("samples", killed / "samples.parquet")
    assert a.equals(read_table("samples", tmp_path / "clean" / "samples.parquet"))
    lines = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert len(lines) == len({x["url"] for x in lines}) == n_files  # compacted: one line per file
    assert sorted(p.name for p in (killed / "beds").glob("*.gz")) == sorted(
        p.name for p in (tmp_path / "clean" / "beds").glob("*.gz")
    )
