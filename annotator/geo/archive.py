"""Peak files inside `.tar` / `.tar.gz` archives, read member by member (nothing from the archive names a path).

Only regular members whose base name is BED-like (by `classify_file`) are read, each streamed into the workdir
under a name annotator builds (`<GSM>_<sanitised base name>`), hashed as it is written, with a cap per member and
for the whole archive; directories, links, devices, nested archives and other members are skipped. Which sample a
member belongs to: the one sample of a sample-level archive, or, for a series archive, the sample lacking files of
its own whose GSM accession the member's base name contains.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from annotator.errors import BedFormatError
from annotator.geo.files import BED_LIKE_KINDS, SKIP_REASON_OF_KIND, classify_file, local_file_name
from annotator.geo.select import sample_rows
from annotator.geo.soft import Sample

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One BED-like member written into the workdir."""

    gsm: str
    name: str  # the member's base name
    local_path: Path
    size: int
    sha256: str


def read_members(
    archive: Path, wanted: Mapping[str, bool], dest_dir: Path, *, max_member: int, max_total: int
) -> list[Member]:
    """Write the BED-like members of `archive` for the samples in `wanted` into `dest_dir`; return them in order.

    `wanted` maps GSM -> True when every BED-like member belongs to it (a sample's own archive; one entry), False
    when a member must name the GSM. Raises BedFormatError when the archive cannot be read at all.
    """
    out: list[Member] = []
    total = 0
    taken: set[str] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if not info.isreg() or info.size > max_member or total + info.size > max_total:
                    continue
                name = posixpath.basename(info.name.replace("\\", "/"))
                kind = classify_file(name)
                if kind not in BED_LIKE_KINDS or kind == "bigbed":
                    continue
                gsm = _owner(name, wanted)
                if gsm is None:
                    continue
                local = local_file_name(gsm, name)
                if local in taken:
                    continue
                source = tar.extractfile(info)
                if source is None:
                    continue
                size, digest = _copy(source, dest_dir / local, max_member)
                taken.add(local)
                total += size
                out.append(Member(gsm, name, dest_dir / local, size, digest))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BedFormatError(f"{archive.name}: unreadable archive ({exc})") from exc
    return out


def _owner(name: str, wanted: Mapping[str, bool]) -> str | None:
    whole = [g for g, every in wanted.items() if every]
    if len(whole) == 1 and len(wanted) == 1:
        return whole[0]
    named = [g for g in wanted if re.search(rf"(?<![0-9]){re.escape(g)}(?![0-9])", name, re.IGNORECASE)]
    return named[0] if len(named) == 1 else None


def _copy(source: object, dest: Path, cap: int) -> tuple[int, str]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    h, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as fh:
            while chunk := source.read(_CHUNK):  # type: ignore[attr-defined]
                size += len(chunk)
                if size > cap:
                    raise OSError(f"member passed {cap} bytes")
                h.update(chunk)
                fh.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size, h.hexdigest()


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
    url = f"{archive_row['file_url']}/{member.name}"
    if sample is not None:
        row = sample_rows(replace(sample, supplementary_files=(url,)), gse, genome, strategies)[0]
    else:
        name = member.name
        row = {**archive_row, "file_url": url, "file_name": name, "file_kind": classify_file(name),
               "sample_id": f"{member.gsm}/{name}", "selected": True, "skip_reason": None}  # fmt: skip
    return row
