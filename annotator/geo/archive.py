"""Peak files inside `.tar` / `.tar.gz` archives, read member by member (nothing from the archive names a path).

Only regular members whose base name is BED-like (by `classify_file`) are read, each streamed into the workdir
under a name annotator builds (`beds/<GSM>/<digest of sample and member URL>_<sanitised base name>`, see
`sample_file_path`), hashed as it is written; directories, links, devices, nested archives and other members are
skipped. Which sample a member belongs to: the one sample of a sample-level archive, or, for a series archive, the
sample lacking files of its own whose GSM accession the member's base name contains.

Caps (`ArchiveCaps`): peak files read, entries listed, bytes written, the archive's uncompressed content per byte
of archive (a small archive that unpacks to gigabytes is a bomb, refused before it is read through) and a
deadline (the file's download deadline). Entries are listed one at a time and forgotten (`tarfile` would keep
every one it saw). An archive over a cap raises `ArchiveOverCap`, one read past the deadline `ArchiveTimedOut`;
neither leaves any of its members behind.
"""

from __future__ import annotations

import hashlib
import logging
import lzma
import os
import posixpath
import re
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from annotator.errors import BedFormatError
from annotator.geo.files import BED_LIKE_KINDS, SKIP_REASON_OF_KIND, classify_file, sample_file_path
from annotator.geo.select import sample_rows
from annotator.geo.soft import Sample
from annotator.paths import UnsafePathError, inside
from annotator.readers import WorkdirWriteError, reading
from annotator.regions.bed import sniff_bed

_LOG = logging.getLogger("annotator.geo.harvest")
_CHUNK = 1 << 20
_SLACK = 1 << 20  # content any archive may have, whatever its size (headers, padding)


#: How the ledger detail of an archive refused for its size starts (settled: not read again under the same caps).
OVER_CAP = "archive over a cap"
#: How the ledger detail of an archive not read within the file's deadline starts (read again the next night).
TIMED_OUT = "archive not read in time"


class ArchiveOverCap(BedFormatError):
    """An archive passed one of its caps (too many members, too much content): none of it is kept."""


class ArchiveTimedOut(BedFormatError):
    """Reading an archive passed the file's deadline: none of it is kept."""


def failed_read(detail: str | None) -> bool:
    """True when a ledger detail says the archive's members were not read (over a cap, or out of time)."""
    return detail is not None and detail.startswith((OVER_CAP, TIMED_OUT))


@dataclass(frozen=True)
class ArchiveCaps:
    """Bounds on reading one archive."""

    max_member: int  # bytes of one peak file
    max_total: int  # bytes written from the archive in all
    max_members: int = 2_000  # peak files read
    max_entries: int = 100_000  # entries listed, of any kind
    max_ratio: float = 50.0  # uncompressed content per byte of archive
    deadline_s: float | None = None  # the file's deadline in seconds, as configured (for `describe`)
    deadline: float = float("inf")  # clock() at which the file's deadline passes: download and reading together
    clock: Callable[[], float] = time.monotonic

    def describe(self) -> str:
        """The caps in words: stored with an over-cap archive, so raising a cap gets it read again."""
        return (
            f"caps: {self.max_members} peak files, {self.max_entries} entries, {self.max_total} bytes, "
            f"{self.max_ratio:g}x its size, {self.deadline_s} s"
        )

    def refused(self, detail: str | None) -> bool:
        """True when `detail` (a ledger entry's) says the archive went over these very caps."""
        return detail is not None and detail.startswith(OVER_CAP) and detail.endswith(self.describe())


@dataclass(frozen=True)
class Member:
    """One BED-like member written into the workdir."""

    gsm: str
    name: str  # the member's base name
    local_path: Path
    size: int
    sha256: str


#: A member read, with what sniffing it said: BED-like?, and the format or why not.
Sniffed = tuple[Member, bool, str]


def read_archive(
    archive: Path, url: str, wanted: Mapping[str, bool], dest_dir: Path, caps: ArchiveCaps
) -> tuple[list[Sniffed], str]:
    """`read_members`, each member sniffed, and what the ledger says of the archive (its detail).

    An unreadable archive yields no member (a warning says why); one over a cap or out of time none either, and a
    detail starting with `OVER_CAP` or `TIMED_OUT` (see `failed_read`).
    """
    try:
        with reading(archive.name, "unreadable archive"):  # tarfile and gzip read hostile bytes
            members = read_members(archive, url, wanted, dest_dir, caps)
    except (ArchiveOverCap, ArchiveTimedOut) as exc:
        return [], str(exc)
    except BedFormatError as exc:
        _LOG.warning("%s", exc)
        return [], f"archive: unreadable ({exc})"
    return [(m, *sniff_bed(m.local_path)) for m in members], f"archive: {len(members)} BED-like member(s) read"


def member_url(archive_url: str, name: str) -> str:
    """The URL a member is known by (its archive's URL, then its base name)."""
    return f"{archive_url}/{name}"


def read_members(
    archive: Path, url: str, wanted: Mapping[str, bool], dest_dir: Path, caps: ArchiveCaps
) -> list[Member]:
    """Write the BED-like members of `archive` (fetched from `url`) for the samples in `wanted` into `dest_dir`.

    `wanted` maps GSM -> True when every BED-like member belongs to it (a sample's own archive; one entry), False
    when a member must name the GSM. Returns the members in archive order. Raises `ArchiveOverCap` when a cap is
    passed, `ArchiveTimedOut` when the deadline is (the members written so far are removed either way), and
    BedFormatError when the archive cannot be read at all.
    """
    out: list[Member] = []
    try:
        _read(archive, url, wanted, dest_dir, caps, out)
    except BaseException as exc:  # whatever stopped the reading, no member of a half-read archive is kept
        for member in out:
            member.local_path.unlink(missing_ok=True)
        if isinstance(exc, WorkdirWriteError):
            raise  # our disk, not the archive: the night stops
        if isinstance(exc, ArchiveOverCap | ArchiveTimedOut):
            prefix = OVER_CAP if isinstance(exc, ArchiveOverCap) else TIMED_OUT
            raise type(exc)(f"{prefix}: {archive.name}: {exc}; {caps.describe()}") from None
        if isinstance(exc, tarfile.TarError | EOFError | OSError | zlib.error | lzma.LZMAError | ValueError
                      | UnsafePathError):  # fmt: skip
            raise BedFormatError(f"{archive.name}: unreadable archive ({str(exc)[:200]})") from exc
        raise  # the reader boundary (`annotator.readers.reading`) names anything else
    return out


def _read(
    archive: Path, url: str, wanted: Mapping[str, bool], dest_dir: Path, caps: ArchiveCaps, out: list[Member]
) -> None:
    budget = caps.max_ratio * archive.stat().st_size + _SLACK
    total = entries = 0
    taken: set[str] = set()
    with tarfile.open(archive, "r:*") as tar:
        while (info := tar.next()) is not None:
            tar.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every entry it listed: millions
            entries += 1
            if entries > caps.max_entries:
                raise ArchiveOverCap(f"more than {caps.max_entries} entries")
            if tar.offset > budget:  # where this entry's content ends: checked before it is read or skipped
                raise ArchiveOverCap(f"its content passes {caps.max_ratio:g} times the archive's size (a bomb?)")
            if caps.clock() >= caps.deadline:
                raise ArchiveTimedOut("reading it passed the per-file deadline (download_deadline_s)")
            if not info.isreg() or info.size > caps.max_member:
                continue
            name = posixpath.basename(info.name.replace("\\", "/"))
            kind = classify_file(name)
            if kind not in BED_LIKE_KINDS or kind == "bigbed":
                continue
            gsm = _owner(name, wanted)
            if gsm is None:
                continue
            folder, local = sample_file_path(gsm, member_url(url, name), name)
            if f"{folder}/{local}" in taken:
                continue  # the same base name in another folder of the archive: the first one is the file
            if len(out) >= caps.max_members:
                raise ArchiveOverCap(f"more than {caps.max_members} peak files")
            if total + info.size > caps.max_total:
                raise ArchiveOverCap(f"its peak files pass {caps.max_total} bytes")
            source = tar.extractfile(info)
            if source is None:
                continue
            path = inside(dest_dir, folder, local)  # built by annotator, and still checked to stay in beds/
            size, digest = _copy(source, path, caps)
            taken.add(f"{folder}/{local}")
            total += size
            out.append(Member(gsm, name, path, size, digest))


def _owner(name: str, wanted: Mapping[str, bool]) -> str | None:
    whole = [g for g, every in wanted.items() if every]
    if len(whole) == 1 and len(wanted) == 1:
        return whole[0]
    named = [g for g in wanted if re.search(rf"(?<![0-9]){re.escape(g)}(?![0-9])", name, re.IGNORECASE)]
    return named[0] if len(named) == 1 else None


def _copy(source: object, dest: Path, caps: ArchiveCaps) -> tuple[int, str]:
    """Copy one member to `dest` (atomically); an error writing it is a `WorkdirWriteError`, one reading it not."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise WorkdirWriteError.of(exc) from exc
    h, size = hashlib.sha256(), 0
    try:
        fh = os.fdopen(fd, "wb")
        try:
            while chunk := source.read(_CHUNK):  # type: ignore[attr-defined]
                size += len(chunk)
                if size > caps.max_member:
                    raise ArchiveOverCap(f"a member passed {caps.max_member} bytes")
                if caps.clock() >= caps.deadline:
                    raise ArchiveTimedOut("reading it passed the per-file deadline (download_deadline_s)")
                h.update(chunk)
                _local(fh.write, chunk)
        finally:
            _local(fh.close)
        _local(os.replace, tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size, h.hexdigest()


def _local(call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)`, a write into the workdir: its OSError is a `WorkdirWriteError`."""
    try:
        return call(*args)
    except OSError as exc:
        raise WorkdirWriteError.of(exc) from exc


ARCHIVE_READ = "archive_read_member_by_member"


def archive_plans(rows: list[dict[str, Any]], samples: Sequence[Sample], gse: str) -> dict[str, dict[str, bool]]:
    """Which archive rows to read, for which samples: sample id of the archive row -> {GSM: every member is its}.

    A sample's own archive is read when none of the sample's other files is selected (its row becomes selected);
    a series archive (already selected by `series_file_rows`) serves the samples that list no file at all.
    """
    plans: dict[str, dict[str, bool]] = {}
    chosen = {r["gsm"] for r in rows if r["selected"] and r["file_kind"] != "tar"}
    lacking = {s.gsm: False for s in samples if not s.supplementary_files} if samples else {}
    for row in rows:
        if row["file_kind"] != "tar":
            continue
        if row["gsm"] == gse and row["selected"] and lacking:
            plans[row["sample_id"]] = dict(lacking)
        elif row["gsm"] != gse and row["skip_reason"] == SKIP_REASON_OF_KIND["tar"] and row["gsm"] not in chosen:
            row.update(selected=True, skip_reason=None)
            plans[row["sample_id"]] = {row["gsm"]: True}
    return plans


def member_row(
    archive_row: dict[str, Any], member: Member, sample: Sample | None, gse: str, genome: str,
    strategies: Sequence[str],
) -> dict[str, Any]:  # fmt: skip
    """The samples row of one member, judged like a file the sample listed itself (URL: archive URL/member)."""
    url = member_url(archive_row["file_url"], member.name)
    if sample is not None:
        row = sample_rows(replace(sample, supplementary_files=(url,)), gse, genome, strategies)[0]
    else:
        name = member.name
        row = {**archive_row, "file_url": url, "file_name": name, "file_kind": classify_file(name),
               "sample_id": f"{member.gsm}/{name}", "selected": True, "skip_reason": None}  # fmt: skip
    return row
