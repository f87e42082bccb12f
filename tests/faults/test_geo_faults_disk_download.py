"""A disk that fills up in the middle of a download: the download's `.part` is removed (bytes written to a failing
disk cannot be trusted for a resume), and the night ends with one `error:` line, no traceback from any thread, and
a re-run that gives the clean run's tables."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from geo_fault_servers import PEAKS
from test_geo_download import GeoServer, ok, serving

from annotator.geo.download import download


@pytest.fixture
def server() -> Iterator[GeoServer]:
    with serving() as srv:
        yield srv


class _FillingFile:
    """A `.part` file on a disk that fills up: the first write keeps half its bytes, then raises ENOSPC."""

    def __init__(self, fh: Any, path: Path) -> None:
        self._fh, self._path = fh, path

    def write(self, data: bytes) -> int:
        self._fh.write(bytes(data[: len(data) // 2]))
        self._fh.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self._path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def _fill_the_disk_under_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.open

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real(self, mode, *args, **kwargs)
        return _FillingFile(fh, self) if self.name.endswith(".part") and "b" in mode and mode != "rb" else fh

    monkeypatch.setattr(Path, "open", open_)


def test_a_full_disk_mid_download_removes_the_part_and_raises(server: GeoServer, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    server.routes["/a.bed"] = ok(PEAKS)
    _fill_the_disk_under_downloads(monkeypatch)
    with pytest.raises(OSError) as info:
        download(server.url("/a.bed"), tmp_path / "a.bed", timeout_s=2.0, retries=3)
    assert info.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .part, no sidecar: nothing to resume from
    assert len(server.requests) == 1


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"], ids=["after-harvest", "streamed"])
def test_a_full_disk_mid_download_ends_the_night_with_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tally: Any, jobs: str
) -> None:
    from faultkit import compare, leftovers, snapshot
    from modelkit import labelled_model
    from typer.testing import CliRunner

    from annotator.cli import app
    from annotator.demo import DEMO_GSE, build_demo

    model = labelled_model(tmp_path / "model")
    demo = build_demo(tmp_path / "in", model)

    def night(work: Path) -> Any:
        args = ["run", DEMO_GSE, "--soft-dir", str(demo.soft_dir), "--model", str(model.path), "--workdir",
                str(work), "-j", jobs, "--allow-local-urls"]  # fmt: skip
        return CliRunner().invoke(app, args)

    clean = tmp_path / "clean"
    assert night(clean).exit_code == 0
    work = tmp_path / "work"
    with monkeypatch.context() as m:
        _fill_the_disk_under_downloads(m)
        result = night(work)
        _wait_for_download_threads()
    tally.cases += 1
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left on device" in errors[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not [r for r in caplog.records if r.exc_info], "a thread logged a traceback"
    kept = [p for p in (work / "beds").rglob("*") if p.is_file() and p.name.endswith((".part", ".meta", ".tmp"))]
    assert kept == [] and leftovers(work) == []  # as the message says: nothing half-written was kept
    tally.refused += 1

    assert night(work).exit_code == 0  # the disk has room again
    diff = compare(snapshot(clean), snapshot(work, clean))
    tally.lost, tally.duplicated, tally.wrong = (tally.lost + diff.lost, tally.duplicated + diff.duplicated,
                                                 tally.wrong + diff.wrong)  # fmt: skip
    assert diff.clean, diff
    tally.recovered += 1


def _wait_for_download_threads(timeout_s: float = 10.0) -> None:
    """Files still in flight when the night stopped finish on their threads; the next night must not race them."""
    import threading

    stop = time.monotonic() + timeout_s
    while any(t.name.startswith("download-") for t in threading.enumerate()) and time.monotonic() < stop:
        time.sleep(0.05)
