"""The projection journal: every projection a workdir has made with one model, in small atomic Parquet parts.

```
WORKDIR/.cache/projections/<model digest>-m<margin>/part-<time>-<pid>-<sha256 of the part>.parquet
```
Parts are written every `part_size` projections or `part_seconds`, whichever comes first, each atomically, so a run
killed half-way keeps nearly everything it finished, and the next run projects only what is missing. Each part's
name carries the SHA-256 of its bytes: a part that does not match (flipped bits, truncation, a part from an older
annotator without a digest) is deleted with a warning and its samples are projected again, so a damaged cache can
cost time but never give wrong rows: a file is reused when the same sample id with the same
file sha256 was projected by the same model at the same margin threshold and did not fail. `predictions.parquet` is
assembled from the journal by streaming one part at a time, so memory does not grow with the number of samples.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.embeddings import EmbeddingArchive
from annotator.hashing import sha256_of
from annotator.project import STATUS_FAILED, STATUS_OK, Projection, to_predictions_table
from annotator.tables import TableWriter, read_table, write_table

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (sample_id, file sha256)
_SEP = "\x1f"
_PART_NAME = re.compile(r"^part-\d+-\d+-(?P<digest>[0-9a-f]{64})\.parquet$")
#: Flush a part after this many projections or seconds: a killed run loses at most that much work.
PART_SIZE, PART_SECONDS = 64, 30.0


class ProjectionJournal:
    """Append-only store of projections made with one model digest and margin threshold."""

    def __init__(
        self,
        workdir: Path,
        model_digest: str,
        margin_threshold: float,
        part_size: int = PART_SIZE,
        part_seconds: float = PART_SECONDS,
        *,
        archive: EmbeddingArchive | None = None,
    ) -> None:
        self.model_digest = model_digest
        self.directory = workdir / ".cache" / "projections" / f"{model_digest[:20]}-m{margin_threshold:g}"
        self.part_size = part_size
        self.part_seconds = part_seconds
        self._verified: set[Path] = set()
        # every ok projection's vector, written before its journal part (see annotator.embeddings)
        self.archive = archive if archive is not None else EmbeddingArchive(workdir, model_digest)

    def parts(self) -> list[Path]:
        """The intact parts, oldest first; damaged ones are deleted (with a warning) so their samples are redone."""
        if not self.directory.is_dir():
            return []
        return [p for p in sorted(self.directory.glob("part-*.parquet")) if self._intact(p)]

    def _intact(self, part: Path) -> bool:
        if part in self._verified:
            return True
        match = _PART_NAME.match(part.name)
        if match is None:
            why = "has no digest in its name (written by an older annotator)"
        elif sha256_of(part) != match["digest"]:
            why = "does not match its digest (damaged or truncated)"
        else:
            self._verified.add(part)
            return True
        log.warning("projection journal: %s %s: deleted, its samples will be projected again", part, why)
        part.unlink(missing_ok=True)
        return False

    def latest(self) -> dict[Key, tuple[Path, str]]:
        """Key -> (part holding its latest projection, status); later parts win."""
        out: dict[Key, tuple[Path, str]] = {}
        for part in self.parts():
            keys = pq.read_table(part, columns=["sample_id", "file_sha256", "status"])
            for sid, sha, status in zip(*(keys.column(i).to_pylist() for i in range(3)), strict=True):
                out[(sid, sha or "")] = (part, status)
        return out

    def reusable(self) -> set[Key]:
        """Keys whose latest projection can be reused: it did not fail, and an ok one has its archived vector
        (projections journalled before the embeddings archive existed are projected once more to fill it)."""
        latest = self.latest()
        archived = self.archive.keys() if any(s == STATUS_OK for _, s in latest.values()) else set()
        return {k for k, (_, s) in latest.items() if s != STATUS_FAILED and (s != STATUS_OK or k in archived)}

    @contextmanager
    def writer(self) -> Iterator[_PartWriter]:
        """Buffer projections and flush them as parts; whatever was added is flushed even if the block fails."""
        w = _PartWriter(self)
        try:
            yield w
        finally:
            w.flush()

    def assemble(self, keys: Iterable[Key], out: Path, latest: dict[Key, tuple[Path, str]] | None = None) -> int:
        """Write `out` (predictions table) with the latest projection of each key; returns rows written.

        `latest` is `self.latest()` when the caller already has it.
        """
        latest = self.latest() if latest is None else latest
        wanted: dict[Path, list[str]] = {}
        for sid, sha in keys:
            hit = latest.get((sid, sha or ""))
            if hit is not None:
                wanted.setdefault(hit[0], []).append(sid + _SEP + (sha or ""))
        with TableWriter("predictions", out) as writer:
            for part in self.parts():  # part order = time order: the table lists samples as they were projected
                if part not in wanted:
                    continue
                table = read_table("predictions", part)
                key = pc.binary_join_element_wise(
                    table.column("sample_id"), pc.fill_null(table.column("file_sha256"), ""), _SEP
                )
                writer.write(table.filter(pc.is_in(key, pa.array(wanted[part], pa.string()))))
            return writer.n_rows


class _PartWriter:
    def __init__(self, journal: ProjectionJournal) -> None:
        self._journal = journal
        self._buffer: list[Projection] = []
        self._last_flush = time.monotonic()
        self.n_written = 0

    def add(self, projection: Projection) -> None:
        self._buffer.append(projection)
        if (
            len(self._buffer) >= self._journal.part_size
            or time.monotonic() - self._last_flush >= self._journal.part_seconds
        ):
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        self._journal.archive.append(self._buffer)  # first: a journalled projection always has its vector
        table = to_predictions_table(self._buffer, self._journal.model_digest, top_k=None)
        directory = self._journal.directory
        stamp = f"{time.time_ns():020d}-{os.getpid()}"
        tmp = directory / f".part-{stamp}.{secrets.token_hex(4)}.tmp"
        try:
            write_table("predictions", table, tmp)
            part = directory / f"part-{stamp}-{sha256_of(tmp)}.parquet"
            os.replace(tmp, part)  # the name (with its digest) appears only with the complete content
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._journal._verified.add(part)
        self.n_written += len(self._buffer)
        self._buffer.clear()

