"""A night that cannot reach GEO's file host (no DNS, a refused port) fails its files at once and says why.

No real network: the resolver is replaced in-process, and the refused port is a closed one on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from modelkit import labelled_model
from rich.console import Console
from test_geo_endpoint import _closed_port
from test_geo_harvest import SOFT, _config
from typer.testing import CliRunner

from annotator.cli import app
from annotator.geo import night
from annotator.geo.harvest import harvest
from annotator.progress import RichProgress
from annotator.tables import read_table


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolver that cannot answer (no query leaves the process), and no download ever started."""

    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    monkeypatch.setattr(night, "download", _no_download)


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("a download was attempted although GEO's file host cannot be reached")  # fails the file


class _Task:
    def __init__(self, total: float | None) -> None:
        self.total, self.done, self.info = total, 0.0, {}

    def advance(self, n: float = 1, **fields: Any) -> None:
        self.done += n
        self.info = fields

    def grow(self, n: float) -> None:
        self.total = (self.total or 0) + n


class _Recorder:
    """A Progress that records each task's total and progress."""

    def __init__(self) -> None:
        self.tasks: list[_Task] = []

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[_Task]:
        self.tasks.append(_Task(total))
        yield self.tasks[-1]


def test_without_dns_a_soft_dir_night_fails_every_file_at_once_naming_the_cause(no_dns: None, tmp_path: Path) -> None:
    bar = _Recorder()
    result = harvest(_config(tmp_path, metadata_only=False), ["GSE900001"], progress=bar)
    selected = [r for r in result.samples.to_pylist() if r["selected"]]
    assert len(selected) == 4 and {r["download_status"] for r in selected} == {"failed"}
    cause = "cannot reach GEO (ftp.ncbi.nlm.nih.gov: name lookup failed (Name or service not known))"
    assert {r["download_error"] for r in selected} == {f"{cause}: not attempted tonight"}
    assert result.download_errors == {f"{cause}: not attempted tonight": 4}
    assert (
        not (tmp_path / "work" / "ledger.jsonl").exists()
        or "failed" not in (tmp_path / "work" / "ledger.jsonl").read_text()
    )  # not attempted: an outage does not count against the files' tries
    (task,) = bar.tasks  # one bar, over the series read and the files settled, that ends full
    assert (task.total, task.done, task.info) == (1 + 4, 5, {"series": "1/1", "files": "4/4"})


def test_a_refused_port_fails_the_files_at_once_naming_host_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = _closed_port()
    monkeypatch.setattr(night, "download", _no_download)
    config = _config(tmp_path, metadata_only=False, geo_base_url=f"http://127.0.0.1:{port}")
    result = harvest(config, ["GSE900001"])
    errors = {r["download_error"] for r in result.samples.to_pylist() if r["selected"]}
    (error,) = errors
    assert error.startswith(f"cannot reach GEO (127.0.0.1:{port}: ") and "refused" in error.lower()


def test_the_run_ends_with_the_real_cause_and_records_it(no_dns: None, tmp_path: Path) -> None:
    model = labelled_model(tmp_path / "model")
    work = tmp_path / "work"
    args = ["run", "GSE900001", "--soft-dir", str(SOFT), "-w", str(work), "-m", str(model.path), "-j", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "night failed: every download failed (4 of 4 selected files): cannot reach GEO "
        "(ftp.ncbi.nlm.nih.gov: name lookup failed (Name or service not known)): not attempted tonight"
    )
    assert "metadata-only" not in result.stderr  # the consequence is not mistaken for another cause
    (run,) = read_table("runs", work / "runs.parquet").to_pylist()
    counts = json.loads(run["counts"])
    assert counts["problem"] == last.removeprefix("night failed: ")

    html = (work / "report.html").read_text()  # the report says the same, and counts as the run does
    banner = re.search(r'data-stat="problem"><b>Night failed:</b> ([^<]*)</p>', html)
    assert banner is not None and banner.group(1) == counts["problem"]
    shown = {k: int(v) for k, v in re.findall(r'data-stat="(n_gsm|n_selected)">([0-9]+)<', html)}
    assert shown == {"n_gsm": counts["harvest_samples"], "n_selected": counts["harvest_selected"]}
    mapped = re.search(r'<tr data-group="antibody">.*?data-stat="n_mappable">([0-9]+)<', html, re.S)
    assert mapped is not None and int(mapped.group(1)) > 0  # author labels map though nothing was predicted


def test_a_task_with_no_work_draws_no_bar() -> None:
    console = Console(force_terminal=True, width=80, record=True)
    with RichProgress(console).task("projecting", total=0) as task:
        task.advance()
    with RichProgress(console).task("reconcile", total=2) as task:
        task.advance(2)
    with RichProgress(console).task("series and files", total=1) as task:  # a series read, then its 2 files found
        task.advance(1)
        task.grow(2)
        task.advance(2)
    text = console.export_text()
    assert "projecting" not in text and "reconcile" in text and "2/2" in text and "3/3" in text
