"""The projection journal: every projection a workdir has made with one model, in small atomic Parquet parts.

```
WORKDIR/.cache/projections/<model digest>-m<margin>/part-<time>-<pid>-<sha256 of the part>.parquet
```
Parts are written every `part_size` projections or `part_seconds`, whichever comes first, each atomically, so a run
killed half-way keeps nearly everything it finished, and the next run projects only what is missing. Each part's
name carries the SHA-256 of its bytes: a part that does not match (flipped bits, truncation, a part from an older
annotator without a digest) is deleted with a warning and its samples are projected again, so a damaged cache can
cost time but never give wrong rows: a file is reused when the same sample id with the same
file sha256 was projected by the same model at the same margin threshold. A failed projection is reused too (the
file is reported failed again, not re-read every night) when its reason is about the bytes (not BED-like, a corrupt
gzip); one that failed for another reason (a worker killed, a size cap) is tried again on at most three runs in
all. Either way a file whose bytes change has a new sha256, so it is projected afresh. `predictions.parquet` is
assembled from the journal by streaming one part at a time, so memory does not grow with the number of samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.embeddings import EmbeddingArchive
from annotator.parts import intact_parts, write_part
from annotator.project import STATUS_FAILED, STATUS_OK, Projection, to_predictions_table
from annotator.regions.bed import DEFAULT_LIMITS, BedLimits
from annotator.tables import TableWriter, read_table, write_table

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (sample_id, file sha256)
_SEP = "\x1f"
#: Flush a part after this many projections or seconds: a killed run loses at most that much work.
PART_SIZE, PART_SECONDS = 64, 30.0
#: Failures that say nothing about the file's bytes (a worker killed under memory pressure, a bug, an unreadable
#: disk): projected again, on at most `MAX_FAILED_TRIES` tries in all.
RETRIED_FAILURES = ("worker failed", "internal error", "cannot read file", "ran out of memory")
MAX_FAILED_TRIES = 3
#: A file over a size cap (`annotator.regions.bed`): final while the caps stay, projected again once one is raised.
OVER_CAP = "setting to read it"
#: A file path directly under `beds/` (the layout before every sample file had its own path).
_FLAT = r"^(.*[/\\])?beds[/\\][^/\\]+$"


def is_final_failure(reason: str | None, limits: BedLimits = DEFAULT_LIMITS) -> bool:
    """True when a failed projection's reason is about the bytes themselves (another try would fail alike): for a
    file over a size cap, while the cap it was over is still the one set (its reason quotes it)."""
    if reason is None:
        return False
    if OVER_CAP in reason:
        return f"{limits.max_bytes:,} bytes" in reason or f"{limits.max_lines:,} lines" in reason
    return not any(marker in reason for marker in RETRIED_FAILURES)


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
        limits: BedLimits = DEFAULT_LIMITS,
    ) -> None:
        self.model_digest = model_digest
        self.limits = limits  # the size caps of this run: a file over other caps is projected again
        self.directory = workdir / ".cache" / "projections" / f"{model_digest[:20]}-m{margin_threshold:g}"
        self.part_size = part_size
        self.part_seconds = part_seconds
        self._verified: set[Path] = set()
        # every ok projection's vector, written before its journal part (see annotator.embeddings)
        self.archive = archive if archive is not None else EmbeddingArchive(workdir, model_digest)

    def parts(self) -> list[Path]:
        """The intact parts, oldest first; damaged ones are deleted (with a warning) so their samples are redone."""
        return intact_parts(self.directory, "projection journal", legacy=False, verified=self._verified,
                            then="its samples will be projected again")  # fmt: skip

    def latest(self) -> dict[Key, tuple[Path, str]]:
        """Key -> (part holding its latest projection, status); later parts win."""
        return {key: (part, status) for key, (part, status, _) in self._latest().items()}

    def _latest(self) -> dict[Key, tuple[Path, str, bool]]:
        """Key -> (part, status, whether the file projected lay flat in beds/ as an older annotator kept it)."""
        out: dict[Key, tuple[Path, str, bool]] = {}
        for part in self.parts():
            keys = pq.read_table(part, columns=["sample_id", "file_sha256", "status", "file"])
            flat = pc.match_substring_regex(keys.column("file"), _FLAT).to_pylist()
            for sid, sha, status, was_flat in zip(*(keys.column(i).to_pylist() for i in range(3)), flat, strict=True):
                out[(sid, sha or "")] = (part, status, bool(was_flat))
        return out

    def reusable(self) -> set[Key]:
        """Keys whose latest projection can be reused.

        An ok one when it has its archived vector (projections journalled before the embeddings archive existed,
        or whose archive part was damaged, are projected once more to fill it). A failed one when another try of
        the same bytes would fail the same way (`is_final_failure`), or when it has failed `MAX_FAILED_TRIES`
        times: a file that failed is not projected again every night, only when its bytes change. None made from a
        file kept flat in `beds/` by an older annotator, where another sample's file could have overwritten it
        under this one's sha256: those are projected once more (and their vectors archived again).
        """
        latest = self._latest()
        stale = {key for key, (_, _, flat) in latest.items() if flat}
        if stale:
            log.info("projection journal: %d projection(s) of files in the old flat layout are made again", len(stale))
            self.archive.forget(stale)
        archived = self.archive.keys() if any(s == STATUS_OK for _, s, _ in latest.values()) else set()
        failures = self.failures() if any(s == STATUS_FAILED for _, s, _ in latest.values()) else {}
        out = set()
        for key, (_, status, flat) in latest.items():
            if flat:
                continue
            if status == STATUS_FAILED:
                tries, reason = failures.get(key, (1, None))
                over_cap = reason is not None and OVER_CAP in reason
                if is_final_failure(reason, self.limits) or (tries >= MAX_FAILED_TRIES and not over_cap):
                    out.add(key)
            elif status != STATUS_OK or key in archived:
                out.add(key)
        return out

    def failures(self) -> dict[Key, tuple[int, str | None]]:
        """Key -> (how many failed projections the journal holds for it, the latest one's reason)."""
        out: dict[Key, tuple[int, str | None]] = {}
        for part in self.parts():
            table = pq.read_table(part, columns=["sample_id", "file_sha256", "status", "reason"])
            table = table.filter(pc.equal(table.column("status"), STATUS_FAILED))
            for sid, sha, reason in zip(*(table.column(c).to_pylist() for c in ("sample_id", "file_sha256", "reason")),
                                        strict=True):  # fmt: skip
                key = (sid, sha or "")
                out[key] = (out.get(key, (0, None))[0] + 1, reason)
        return out

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
        part = write_part(self._journal.directory, lambda tmp: write_table("predictions", table, tmp))
        self._journal._verified.add(part)
        self.n_written += len(self._buffer)
        self._buffer.clear()

