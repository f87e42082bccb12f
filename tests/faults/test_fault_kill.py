"""kill -9 at seeded random moments of `annotator run`, then a re-run: its tables must equal a clean run's.

Each case starts a real `annotator run` process on a fresh workdir (the demo series read from saved SOFT files),
kills it with SIGKILL after a seeded delay spread over a clean run's duration (harvest, downloads, projection,
reconcile and report all get hit), then runs the night again in-process. No `finally` runs on SIGKILL: what is
tested is the on-disk state (atomic renames, journal parts, ledger lines, a lock left by a dead process).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultkit import compare, leftovers, snapshot
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.demo import DEMO_GSE, build_demo

N_KILLS = 8
SEED = 20261127
_MAIN = "from annotator.cli import main; main()"


def _args(model: Path, soft: Path, work: Path) -> list[str]:
    return ["run", DEMO_GSE, "--soft-dir", str(soft), "--model", str(model), "--workdir", str(work), "-j", "1",
            "--allow-local-urls"]  # the demo series serves its files as file: URLs


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ANNOTATOR_LOG_FORMAT": "json"}
    return subprocess.Popen([sys.executable, "-c", _MAIN, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.slow
def test_kill_9_at_random_moments_then_a_rerun_equals_a_clean_run(tmp_path: Path, tally) -> None:
    model = labelled_model(tmp_path / "model")
    soft = build_demo(tmp_path / "in", model).soft_dir
    clean = tmp_path / "clean"
    started = time.monotonic()
    assert _start(_args(model.path, soft, clean)).wait(timeout=120) == 0
    duration = time.monotonic() - started
    reference = snapshot(clean)
    rng = random.Random(SEED)
    killed_alive = 0
    for i in range(N_KILLS):
        work = tmp_path / f"killed-{i}"
        delay = rng.uniform(0.1, 1.0) * duration
        proc = _start(_args(model.path, soft, work))
        time.sleep(delay)
        if proc.poll() is None:
            killed_alive += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        again = CliRunner().invoke(app, _args(model.path, soft, work))
        case = f"kill -9 after {delay:.2f} s of {duration:.2f} s"
        tally.cases += 1
        assert again.exit_code == 0, (case, again.output)
        diff = compare(reference, snapshot(work, clean))
        tally.lost, tally.duplicated, tally.wrong = (tally.lost + diff.lost, tally.duplicated + diff.duplicated,
                                                     tally.wrong + diff.wrong)  # fmt: skip
        assert diff.clean, (case, diff)
        assert leftovers(work) == [], case
        tally.recovered += 1
    assert killed_alive >= N_KILLS // 2, "most kills must land while the run is still going"
