"""The download ledger: what was fetched into the workdir, so a re-run fetches nothing twice.

One JSON object per line in `WORKDIR/ledger.jsonl`, appended (and fsync'ed) as soon as a file is settled, so a run
killed at any point keeps every file it finished. The last line for a URL wins; a half-written last line from a
killed run is ignored, and so is a line of the wrong shape (with a warning naming the line). `compact()` rewrites
the file atomically with one line per URL.

A `failed` entry counts the runs in a row that failed on its URL (`tries`); the harvest retries it on each later
run until that count reaches its cap (`download_max_runs`). Stored paths are checked to stay inside the workdir
(`annotator.paths`), so an edited ledger cannot point a run at a file elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from annotator.errors import InputError
from annotator.hashing import sha256_of
from annotator.paths import inside_relative

_LOG = logging.getLogger(__name__)

#: Settled states: the file is on disk (and BED-like or not), or the last attempt failed and will be retried.
DOWNLOADED, NOT_BED_LIKE, FAILED = "downloaded", "not_bed_like", "failed"
STATUSES = frozenset({DOWNLOADED, NOT_BED_LIKE, FAILED})


@dataclass(frozen=True)
class LedgerEntry:
    """What the last settled attempt on one URL left behind."""

    url: str
    status: str  # downloaded, not_bed_like or failed
    local_path: str | None = None  # relative to the workdir
    size: int | None = None
    sha256: str | None = None
    detail: str | None = None  # sniffed format, or why the file failed / is not BED-like
    at: str = ""
    tries: int = 1  # runs in a row that ended in this status (counts failed runs towards the retry cap)

    @property
    def has_file(self) -> bool:
        """True when the entry says a complete file is on disk."""
        return self.status in (DOWNLOADED, NOT_BED_LIKE) and self.local_path is not None


class Ledger:
    """The ledger of one workdir; reads the file once and appends as entries are recorded."""

    def __init__(self, workdir: Path, name: str = "ledger.jsonl") -> None:
        self.workdir = Path(workdir)
        self.path = self.workdir / name
        self._entries: dict[str, LedgerEntry] = {}
        self._lines = 0
        self._torn = False  # the file ends without a newline: a killed run's half line
        if self.path.exists():
            self._load()

    def get(self, url: str) -> LedgerEntry | None:
        """The latest entry for `url`, or None when it was never settled."""
        return self._entries.get(url)

    def record(self, entry: LedgerEntry) -> LedgerEntry:
        """Append `entry` durably (flush + fsync) and make it the current one for its URL."""
        if not entry.at:
            entry = LedgerEntry(**{**asdict(entry), "at": datetime.now(UTC).isoformat(timespec="seconds")})
        self.workdir.mkdir(parents=True, exist_ok=True)
        line = (("\n" if self._torn else "") + json.dumps(asdict(entry), sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError:  # disk full mid-line: take the half line back so the ledger never keeps a torn one
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)
        self._torn = False
        self._entries[entry.url] = entry
        self._lines += 1
        return entry

    def intact(self, entry: LedgerEntry) -> bool:
        """True when the entry's file is still on disk with the recorded size and SHA-256."""
        if not entry.has_file or entry.local_path is None:
            return False
        try:
            path = inside_relative(self.workdir, entry.local_path)
            if path.stat().st_size != entry.size:
                return False
        except (OSError, InputError):
            return False
        return sha256_of(path) == entry.sha256

    def relocate(self, entry: LedgerEntry, local: str) -> LedgerEntry:
        """Move an intact entry's file kept flat as `beds/<name>` (an older annotator's layout, where two samples'
        files could overwrite each other) to `local`, its own (sample, URL) path; other entries come back as given.

        The entry is intact, so the file is still what its URL served; if the move fails it stays where it is.
        """
        old = entry.local_path
        if old is None or old.count("/") != 1 or not old.startswith("beds/") or old == local:
            return entry
        try:
            target = inside_relative(self.workdir, local)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(inside_relative(self.workdir, old), target)
        except (OSError, InputError) as exc:
            _LOG.warning("could not move %s to %s: %s", old, local, exc)
            return entry
        return self.record(LedgerEntry(**{**asdict(entry), "local_path": local, "at": ""}))

    def compact(self) -> None:
        """Rewrite the ledger with one line per URL, atomically (only when it has grown stale lines)."""
        if self._lines <= len(self._entries):
            return
        fd, tmp = tempfile.mkstemp(prefix=".ledger.", suffix=".tmp", dir=self.workdir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for entry in self._entries.values():
                    fh.write(json.dumps(asdict(entry), sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._lines, self._torn = len(self._entries), False

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self) -> None:
        fields = set(LedgerEntry.__dataclass_fields__)
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, start=1):
                self._torn = not line.endswith("\n")
                if not line.strip():
                    continue
                self._lines += 1
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict):
                        raise TypeError(f"a JSON {type(data).__name__}, not an object")
                    entry = _checked(LedgerEntry(**{k: v for k, v in data.items() if k in fields}))
                except (json.JSONDecodeError, TypeError, ValueError) as exc:
                    # a run killed mid-write leaves a partial last line; the file it described is re-fetched
                    _LOG.warning("%s:%d: unreadable ledger line ignored (%s)", self.path, number, exc)
                    continue
                self._entries[entry.url] = entry


def _checked(entry: LedgerEntry) -> LedgerEntry:
    """`entry` when every field has its type and the status is known; else ValueError saying which is wrong."""
    optional = {"local_path": str, "sha256": str, "detail": str, "size": int}
    wrong = [name for name, kind in optional.items() if not isinstance(getattr(entry, name), kind | None)]
    wrong += [name for name in ("url", "at") if not isinstance(getattr(entry, name), str)]
    if not isinstance(entry.tries, int) or isinstance(entry.tries, bool) or entry.tries < 1:
        wrong.append("tries")
    if wrong:
        raise ValueError(f"field(s) of the wrong type: {', '.join(sorted(wrong))}")
    if entry.status not in STATUSES:
        raise ValueError(f"unknown status {str(entry.status)[:40]!r}")
    return entry
