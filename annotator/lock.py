"""A lock on a workdir so two runs never write the same tables at once.

The lock is `WORKDIR/.annotator.lock`, held with `fcntl.flock` for the whole run, and holding host, pid and start
time for messages. The kernel arbitrates: of any number of runs starting together exactly one gets the flock, and
a killed run's flock dies with it — so a lock file is never judged by its content while someone may still be
writing it (an empty or half-written file is simply "held" when its flock is held). Once the flock is ours, the
content still counts: a lock written by a live run that does not use flock (an older annotator, or a run on
another host over a file system whose locks do not reach us) is respected. Such a lock is stale when its host is
this host and its pid is no longer alive (or is alive but started after the lock was taken, i.e. the pid was
reused); a stale lock is taken over, with a warning. A lock from another host is never broken automatically: the
message says how to remove it. Forked children (projection workers) close their copy of the lock's descriptor, so
the flock dies with the run's own process even when its workers outlive it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from annotator.errors import WorkdirLockedError

log = logging.getLogger(__name__)
LOCK_NAME = ".annotator.lock"
#: Descriptors of the locks this process holds. A flock belongs to the open file description, which a forked child
#: shares: a projection worker that outlives a kill -9 of its parent would keep the workdir locked. So every fork
#: child closes these at once (`os.register_at_fork`); the parent's flock is untouched by a child closing its copy.
_HELD: set[int] = set()


def _close_held_in_child() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


@contextmanager
def workdir_lock(workdir: Path) -> Iterator[Path]:
    """Hold the workdir's lock for the duration of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / LOCK_NAME
    fd = _acquire(path)
    _HELD.add(fd)
    try:
        yield path
    finally:
        # unlink while still holding the flock, so a run that opened this file meanwhile sees it was replaced; and
        # only our own file (someone may have deleted ours by hand and another run taken the workdir since)
        try:
            if _same_file(fd, path):
                path.unlink(missing_ok=True)
        finally:
            _HELD.discard(fd)
            os.close(fd)


def _acquire(path: Path) -> int:
    """Take the flock on `path` and write our holder record; return the open descriptor that holds it."""
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    for _ in range(10):  # another run may remove the file between our open and our flock: open it again
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _locked(path, _read(path)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            if not _same_file(fd, path):
                os.close(fd)
                continue
            holder = _read(path)
            if holder is not None and not _is_stale(holder):
                raise _locked(path, holder)
            if holder is not None or os.fstat(fd).st_size:
                log.warning("removing stale lock %s left by %s", path, holder or "an unreadable lock file")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd
    raise WorkdirLockedError(f"could not take the lock {path}: other runs keep replacing it; try again")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _locked(path: Path, holder: dict[str, Any] | None) -> WorkdirLockedError:
    if holder is None:
        return WorkdirLockedError(
            f"{path.parent} is in use by another run (its lock is being written); if no run is going, delete {path}"
        )
    started = holder.get("started")
    try:
        since = time.ctime(started) if isinstance(started, int | float) else "an unknown time"
    except (OverflowError, ValueError, OSError):
        since = "an unknown time"
    return WorkdirLockedError(
        f"{path.parent} is in use by run pid {str(holder.get('pid'))[:20]} on {str(holder.get('host'))[:80]} "
        f"since {since}; if that run is gone, delete {path}"
    )


def _read(path: Path) -> dict[str, Any] | None:
    """The holder record, or None when the file is missing, empty, unreadable or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return False
    pid, started = holder.get("pid"), holder.get("started", 0)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(started, int | float):
        return True  # a record of the wrong shape names no live run; our flock says nobody holds the lock
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
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
