"""A full (ENOSPC) or read-only (EROFS) disk at every write of a night: one clear line, exit 2, nothing torn,
and the next night on a healthy disk gives the clean run's tables.

The fault is injected where annotator writes: `atomic_path` (every table, journal part and the report) and the
ledger's appends. Each write fails half-way: the bytes already written stay in the temporary file or the ledger, as
on a real full disk, so the test sees whether they are cleaned up.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from faultkit import compare, leftovers, snapshot
from modelkit import labelled_model
from typer.testing import CliRunner

import annotator.report.html
import annotator.tables
from annotator.cli import app
from annotator.demo import DEMO_GSE, build_demo
from annotator.tables import read_table

#: Writes through atomic_path in one night of the demo: samples, journal part, predictions, annotations, runs, report.
N_ATOMIC_WRITES = 6


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("disk")
    model = labelled_model(root / "model")
    demo = build_demo(root / "in", model)
    work = root / "clean"
    assert CliRunner().invoke(app, _args(model.path, demo.soft_dir, work)).exit_code == 0
    return {"model": model.path, "soft": demo.soft_dir, "work": work, "tables": snapshot(work)}


def _args(model: Path, soft: Path, work: Path) -> list[str]:
    return ["run", DEMO_GSE, "--soft-dir", str(soft), "--model", str(model), "--workdir", str(work), "-j", "1",
            "--allow-local-urls"]  # the demo series serves its files as file: URLs


class _Fault:
    def __init__(self, at: int, err: int) -> None:
        self.at, self.err, self.calls = at, err, 0

    def due(self) -> bool:
        self.calls += 1
        return self.calls == self.at

    def error(self, where: object) -> OSError:
        return OSError(self.err, os.strerror(self.err), str(where))


def _inject_atomic(fault: _Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    real = annotator.tables.atomic_path

    @contextmanager
    def failing(path: str | os.PathLike[str]) -> Iterator[Path]:
        with real(path) as tmp:
            yield tmp
            if fault.due():
                if tmp.exists():  # the disk filled up half-way through this file
                    tmp.write_bytes(tmp.read_bytes()[: tmp.stat().st_size // 2])
                raise fault.error(tmp)

    monkeypatch.setattr(annotator.tables, "atomic_path", failing)
    monkeypatch.setattr(annotator.report.html, "atomic_path", failing)


def _inject_ledger(fault: _Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write

    def write(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("ledger.jsonl") and fault.due():
            real(fd, bytes(data[: len(data) // 2]))
            raise fault.error("ledger.jsonl")
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


CASES = [("atomic", at, errno.ENOSPC) for at in range(1, N_ATOMIC_WRITES + 1)]
CASES += [("ledger", 1, errno.ENOSPC), ("ledger", 6, errno.ENOSPC)]
CASES += [("atomic", 1, errno.EROFS), ("atomic", N_ATOMIC_WRITES, errno.EROFS)]


@pytest.mark.slow
def test_every_write_of_a_night_on_a_full_or_read_only_disk(
    reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tally
) -> None:
    for where, at, err in CASES:
        case = f"{os.strerror(err)} at {where} write {at}"
        work = tmp_path / f"{where}-{at}-{err}"
        with monkeypatch.context() as m:
            fault = _Fault(at, err)
            (_inject_atomic if where == "atomic" else _inject_ledger)(fault, m)
            result = CliRunner().invoke(app, _args(reference["model"], reference["soft"], work))
        tally.cases += 1
        assert fault.calls >= at, f"{case}: the night has fewer writes than the suite expects"
        assert result.exit_code == 2, (case, result.output, result.exception)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and os.strerror(err) in errors[0], (case, result.stderr)
        assert leftovers(work) == [], case
        ledger = work / "ledger.jsonl"
        assert not ledger.exists() or ledger.read_bytes()[-1:] in (b"", b"\n"), f"{case}: torn ledger line"
        runs = work / "runs.parquet"
        if runs.exists():
            assert read_table("runs", runs).to_pylist()[-1]["status"] == "failed", case
        tally.refused += 1

        again = CliRunner().invoke(app, _args(reference["model"], reference["soft"], work))
        assert again.exit_code == 0, (case, again.output)
        diff = compare(reference["tables"], snapshot(work, reference["work"]))
        tally.lost, tally.duplicated, tally.wrong = (tally.lost + diff.lost, tally.duplicated + diff.duplicated,
                                                     tally.wrong + diff.wrong)  # fmt: skip
        assert diff.clean, (case, diff)
        tally.recovered += 1
