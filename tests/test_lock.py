import json
import os
import socket
import time
from pathlib import Path

import pytest

from annotator.errors import WorkdirLockedError
from annotator.lock import LOCK_NAME, workdir_lock


def _holder(tmp_path: Path, **fields: object) -> Path:
    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), **fields}))
    return lock


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    with workdir_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(WorkdirLockedError, match="in use by run"), workdir_lock(tmp_path):
            pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    _holder(tmp_path, pid=2**22 + 4321)
    with workdir_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_reused_pid_is_detected_by_its_start_time(tmp_path: Path) -> None:
    _holder(tmp_path, started=0)  # our pid, but this process started long after the lock was taken
    with workdir_lock(tmp_path):
        pass


def test_lock_from_another_host_is_never_broken(tmp_path: Path) -> None:
    lock = _holder(tmp_path, host="other-node-7", pid=2**22 + 4321)
    with pytest.raises(WorkdirLockedError, match="other-node-7") as info, workdir_lock(tmp_path):
        pass
    assert str(lock) in str(info.value) and lock.exists()


def test_unreadable_lock_file_is_treated_as_stale(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text("{half a json")
    with workdir_lock(tmp_path):
        pass
