"""Every failure a user can meet is one line on stderr and an exit code, never a traceback (issue 10 item 9)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.geo.ledger import Ledger, LedgerEntry
from annotator.tables import read_table


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr  # log lines may precede it; the failure itself is one line
    assert "Traceback" not in result.output and result.stdout == ""
    return errors[0]


def _demo(model, work: Path, *extra: str) -> list[str]:
    return ["run", "--demo", "--model", str(model.path), "--workdir", str(work), "-j", "1", *extra]


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".tmp", ".pending"))]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("workdir_is_a_file", "is a file, not a folder"),
        ("export_to_a_file", "is a file: give a folder"),
        ("report_out_a_folder", "is a folder: give the HTML file"),
        ("report_workdir_a_file", "is a file, not the folder of a run"),
        ("scheduler_without_port", "host and port"),
        ("soft_dir_missing", "does not exist"),
    ],
)
def test_bad_paths_and_addresses_are_one_line_errors(model, tmp_path: Path, case: str, expected: str) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    work = tmp_path / "work"
    args = {
        "workdir_is_a_file": _demo(model, a_file),
        "export_to_a_file": ["export", "--workdir", str(work), "--to", str(a_file)],
        "report_out_a_folder": ["report", "--workdir", str(work), "--out", str(tmp_path)],
        "report_workdir_a_file": ["report", "--workdir", str(a_file)],
        "scheduler_without_port": _demo(model, work, "--scheduler", "localhost"),
        "soft_dir_missing": ["harvest", "GSE1", "--workdir", str(work), "--soft-dir", str(tmp_path / "nowhere")],
    }[case]
    if case in ("export_to_a_file", "report_out_a_folder"):
        assert CliRunner().invoke(app, _demo(model, work)).exit_code == 0
    line = _one_error_line(CliRunner().invoke(app, args))
    assert expected in line
    assert a_file.read_text() == "mine"


def _fail_writes_of(name: str, err: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """pq.write_table writes half of table `name`, then fails like a full (or read-only) disk."""
    real = pq.write_table

    def write(table, where, *args, **kwargs):
        real(table, where, *args, **kwargs)
        if name in Path(str(where)).name:
            Path(where).write_bytes(Path(where).read_bytes()[:100])
            raise OSError(err, os.strerror(err), str(where))

    monkeypatch.setattr(pq, "write_table", write)

    class Writer(pq.ParquetWriter):  # streamed tables (the harvest's samples) fail when their footer is written
        def close(self) -> None:
            super().close()
            if name in Path(str(self.where)).name:
                raise OSError(err, os.strerror(err), str(self.where))

    monkeypatch.setattr(pq, "ParquetWriter", Writer)


@pytest.mark.parametrize(("err", "words"), [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only file system")])
def test_full_or_read_only_disk_is_one_line_a_runs_row_and_no_half_file(
    model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, words: str
) -> None:
    work = tmp_path / "work"
    assert CliRunner().invoke(app, _demo(model, work)).exit_code == 0
    before = read_table("samples", work / "samples.parquet")
    _fail_writes_of("samples", err, monkeypatch)
    line = _one_error_line(CliRunner().invoke(app, _demo(model, work)))
    assert words in line and "samples.parquet" in line
    runs = read_table("runs", work / "runs.parquet").to_pylist()
    assert [r["status"] for r in runs] == ["ok", "failed"] and words in runs[-1]["counts"]
    assert read_table("samples", work / "samples.parquet").equals(before)  # the old table, whole
    assert _leftovers(work) == []


def test_an_unexpected_error_is_one_line_with_a_hint_and_recorded(
    model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(pipeline, "reconcile_workdir", boom)
    work = tmp_path / "work"
    line = _one_error_line(CliRunner().invoke(app, _demo(model, work)))
    assert "internal error: ValueError: boom" in line and "--debug" in line
    (run,) = read_table("runs", work / "runs.parquet").to_pylist()
    assert run["status"] == "failed" and "ValueError: boom" in run["counts"]
    debug = CliRunner().invoke(app, ["--debug", *_demo(model, work)])
    assert isinstance(debug.exception, ValueError)  # --debug keeps the traceback for the bug report


def test_a_full_disk_never_leaves_a_torn_ledger_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(LedgerEntry(url="https://x/1", status="downloaded", local_path="beds/1", size=1, sha256="a"))
    before = ledger.path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("annotator.geo.ledger.os.write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        ledger.record(LedgerEntry(url="https://x/2", status="downloaded", local_path="beds/2", size=1, sha256="b"))
    assert ledger.path.read_bytes() == before
    monkeypatch.undo()
    ledger.record(LedgerEntry(url="https://x/3", status="downloaded", local_path="beds/3", size=1, sha256="c"))
    again = Ledger(tmp_path)
    assert again.get("https://x/1") is not None and again.get("https://x/3") is not None
    assert again.get("https://x/2") is None


def test_a_closed_pipe_ends_quietly_with_one_line(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("K562 H3K4me3 ChIP-seq replicate\n" * 20_000)
    annotator = Path(sys.executable).with_name("annotator")
    proc = subprocess.run(f"'{annotator}' labels --file '{texts}' | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: output closed before annotator finished writing (broken pipe)"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_workdir_is_one_line(model, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o555)
    try:
        line = _one_error_line(CliRunner().invoke(app, _demo(model, work)))
    finally:
        work.chmod(0o755)
    assert "Permission denied" in line
