"""kill -9 of the main process alone (what the OOM killer does), while its projection workers run.

The workers are forked: they share the run's open lock file, whose flock lives as long as any process holds it.
They must neither keep the workdir locked nor live on under pid 1: a re-run right after the kill takes the workdir
and its tables equal a clean run's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from faultkit import compare, leftovers, snapshot
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.demo import DEMO_GSE, build_demo

_MAIN = "from annotator.cli import main; main()"


def _args(model: Path, soft: Path, work: Path, workers: int) -> list[str]:
    return ["run", DEMO_GSE, "--soft-dir", str(soft), "--model", str(model), "--workdir", str(work),
            "-j", str(workers), "--allow-local-urls"]  # fmt: skip


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ANNOTATOR_LOG_FORMAT": "json"}
    return subprocess.Popen([sys.executable, "-c", _MAIN, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _forked_children(pid: int) -> list[int]:
    """Children of `pid` that run its own command line (forked workers, not exec'd helpers)."""
    try:
        own = Path(f"/proc/{pid}/cmdline").read_bytes()
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    out = []
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                if Path(f"/proc/{child}/cmdline").read_bytes() == own:
                    out.append(child)
            except OSError:
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_kill_9_of_the_parent_alone_leaves_no_worker_and_no_lock(tmp_path: Path, tally) -> None:
    model = labelled_model(tmp_path / "model")
    soft = build_demo(tmp_path / "in", model).soft_dir
    clean = tmp_path / "clean"
    assert CliRunner().invoke(app, _args(model.path, soft, clean, 1)).exit_code == 0
    reference = snapshot(clean)

    work = tmp_path / "killed"
    proc = _start(_args(model.path, soft, work, 2))
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        workers = _forked_children(proc.pid)
        time.sleep(0.005)
    assert len(workers) == 2, "the run must be killed while its two projection workers are alive"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    tally.cases += 1
    try:
        killed_at = time.monotonic()
        again = CliRunner().invoke(app, _args(model.path, soft, work, 1))
        assert again.exit_code == 0, again.output
        assert time.monotonic() - killed_at < 60
        while any(_alive(w) for w in workers) and time.monotonic() - killed_at < 10:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "projection workers outlived their parent"
    finally:
        for pid in workers:  # only on failure: the workers this test's run forked
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    diff = compare(reference, snapshot(work, clean))
    tally.lost, tally.duplicated, tally.wrong = (tally.lost + diff.lost, tally.duplicated + diff.duplicated,
                                                 tally.wrong + diff.wrong)  # fmt: skip
    assert diff.clean, diff
    assert leftovers(work) == []
    tally.recovered += 1
