"""The backlog: series an earlier night could not finish, so the next night harvests them again.

A night that stopped at its time budget, or whose files or SOFT text could not all be fetched, would otherwise
never see those series again once `--since-days` has moved past them. `WORKDIR/backlog.json` maps each unfinished
series to the number of nights it has been tried; the next harvest adds them to its accessions, and a series is
dropped from the backlog once finished, or after `MAX_NIGHTS` tries (a file that is gone for good, with a warning).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from annotator.geo.soft import is_series_accession

_LOG = logging.getLogger(__name__)
BACKLOG_FILE = "backlog.json"
MAX_NIGHTS = 7


class Backlog:
    """The backlog file of one workdir (unreadable or hostile content counts as an empty backlog, with a warning)."""

    def __init__(self, workdir: Path) -> None:
        self.path = Path(workdir) / BACKLOG_FILE
        self._tries: dict[str, int] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._tries = {
                    str(k): int(v) for k, v in data.items() if is_series_accession(str(k)) and isinstance(v, int)
                }
            except (OSError, ValueError, AttributeError) as exc:
                _LOG.warning("%s unreadable, starting an empty backlog: %s", self.path, exc)

    def series(self) -> list[str]:
        """Series left unfinished by earlier nights, oldest accession first."""
        return sorted(self._tries, key=lambda a: int(a[3:]))

    def save(self, unfinished: list[str], done: list[str]) -> None:
        """Record tonight: `unfinished` series are tried again next night, `done` ones leave the backlog."""
        tries = {g: n for g, n in self._tries.items() if g not in done}
        for gse in unfinished:
            tries[gse] = tries.get(gse, 0) + 1
        for gse in [g for g, n in tries.items() if n >= MAX_NIGHTS]:
            _LOG.warning("%s left the backlog after %d nights without finishing", gse, tries.pop(gse))
        if tries == self._tries and (tries or not self.path.exists()):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".backlog.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(dict(sorted(tries.items())), fh, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._tries = tries
