"""A lock on a workdir so two runs never write the same tables at once.

The lock is a file created with O_EXCL holding host, pid and start time. A lock left by a killed run is stale
when its host is this host and its pid is no longer alive (or is alive but started after the lock was taken, i.e.
the pid was reused); a stale lock is taken over, with a warning. A lock from another host is never broken
automatically: the message says how to remove it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from annotator.errors import WorkdirLockedError

log = logging.getLogger(__name__)
LOCK_NAME = ".annotator.lock"


@contextmanager
def workdir_lock(workdir: Path) -> Iterator[Path]:
    """Hold the workdir's lock for the duration of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_NAME
    _acquire(path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _acquire(path: Path) -> None:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    for _ in range(2):  # second try after removing a stale lock
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is not None and not _is_stale(holder):
                raise WorkdirLockedError(
                    f"{path.parent} is in use by run pid {holder.get('pid')} on {holder.get('host')} "
                    f"since {time.ctime(holder.get('started', 0))}; if that run is gone, delete {path}"
                ) from None
            log.warning("removing stale lock %s left by %s", path, holder or "an unreadable lock file")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return
    raise WorkdirLockedError(f"could not take the lock {path}: another run took it at the same moment")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _is_stale(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return False
    pid = int(holder.get("pid", -1))
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    started = _process_start_time(pid)
    return started is not None and started > float(holder.get("started", 0)) + 1


def _process_start_time(pid: int) -> float | None:
    """Start time of `pid` (Linux /proc), to detect a pid reused by an unrelated process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))  # fmt: skip
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
