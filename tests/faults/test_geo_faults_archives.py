"""Archive amplification: a small `.tar.gz` must not turn into thousands of rows, gigabytes under beds/, an
unbounded list of entries in memory or a read past the file's deadline; an archive over a cap is one failed row
with its reason, and it is not read again every night."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import pytest

import annotator.geo.night as night_module
from annotator.config import Config
from annotator.geo.archive import ArchiveCaps, ArchiveOverCap, ArchiveTimedOut, read_members
from annotator.geo.harvest import harvest

BED = b"".join(b"chr1\t%d\t%d\n" % (i * 1000, i * 1000 + 500) for i in range(20))


def _bed(seed: int) -> bytes:
    """A small BED of its own (random positions: it compresses as real peak files do, not as a bomb)."""
    rng = random.Random(seed)
    starts = sorted(rng.randrange(10**8) for _ in range(20))
    return b"".join(b"chr%d\t%d\t%d\n" % (rng.randint(1, 22), s, s + rng.randint(200, 2000)) for s in starts)


def _tar_gz(path: Path, members: list[tuple[str, bytes | int]]) -> Path:
    """A .tar.gz of (name, content) members; an int content is that many bytes of repeated BED lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, int):
                line = b"chr1\t1000\t2000\n"
                info.size = content
                body = io.BytesIO(line * (content // len(line)) + b"\n" * (content % len(line)))
            else:
                info.size = len(content)
                body = io.BytesIO(content)
            tar.addfile(info, body)
    return path


def _soft(soft_dir: Path, url: str) -> None:
    lines = ["^SERIES = GSE1", "!Series_title = archives", "!Series_sample_id = GSM5", "^SAMPLE = GSM5",
             "!Sample_title = s", "!Sample_organism_ch1 = Homo sapiens", "!Sample_library_strategy = ChIP-Seq",
             "!Sample_data_processing = Genome_build: hg19", f"!Sample_supplementary_file_1 = {url}"]  # fmt: skip
    soft_dir.mkdir(parents=True, exist_ok=True)
    (soft_dir / "GSE1_family.soft").write_text("\n".join(lines) + "\n")


def _night(tmp_path: Path, archive: Path, **kw) -> list[dict]:
    _soft(tmp_path / "soft", archive.as_uri())
    config = Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", allow_local_urls=True, download_retries=0,
                    download_backoff_s=0.0, **kw)  # fmt: skip
    return harvest(config, ["GSE1"]).samples.to_pylist()


def _peak_files(work: Path) -> list[Path]:
    return [p for p in (work / "beds").rglob("*") if p.is_file() and ".archives" not in p.parts]


@pytest.mark.parametrize(
    ("case", "members", "settings", "why"),
    [
        ("many members", [(f"GSM5_{i}_peaks.bed", _bed(i)) for i in range(2_001)], {}, "more than 2000 peak files"),
        ("bomb", [("GSM5_peaks.bed", 40 * 1024**2)], {}, "times the archive's size"),
        ("many entries", [(f"readme_{i}.txt", b"x") for i in range(300)] + [("GSM5_peaks.bed", BED)],
         {"archive_max_entries": 200}, "more than 200 entries"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_archive_over_a_cap_is_one_failed_row_and_is_not_read_again(
    tmp_path: Path, case: str, members: list, settings: dict, why: str, tally, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tar_gz(tmp_path / "files" / "GSM5_peaks.tar.gz", members)
    rows = _night(tmp_path, archive, **settings)
    tally.cases += 1
    assert len(rows) == 1, f"{case}: {len(rows)} rows"
    tally.duplicated += len(rows) - 1
    (row,) = rows
    assert row["download_status"] == "failed" and why in row["download_error"], row
    assert _peak_files(tmp_path / "work") == []  # nothing it extracted is left under beds/
    calls: list[Path] = []
    monkeypatch.setattr(night_module, "read_archive", lambda archive, *a, **k: calls.append(archive) or ([], ""))
    again = _night(tmp_path, archive, **settings)
    assert calls == [] and again[0]["download_status"] == "failed" and why in again[0]["download_error"]
    tally.refused += 1


def test_raising_the_cap_reads_the_archive(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "files" / "GSM5_peaks.tar.gz", [(f"GSM5_{i}_peaks.bed", BED) for i in range(3)])
    assert _night(tmp_path, archive, archive_max_members=2)[0]["download_status"] == "failed"
    rows = _night(tmp_path, archive, archive_max_members=3)
    assert sorted(r["download_status"] for r in rows) == ["downloaded"] * 4 and len(_peak_files(tmp_path / "work")) == 3


def test_entries_are_not_kept_in_memory_while_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _tar_gz(tmp_path / "a.tar.gz", [(f"other_{i}.txt", b"x") for i in range(500)] + [("GSM5_peaks.bed", BED)])
    opened: list[tarfile.TarFile] = []
    real_open = tarfile.open

    def spy(*args, **kwargs):
        tar = real_open(*args, **kwargs)
        opened.append(tar)
        return tar

    monkeypatch.setattr(tarfile, "open", spy)
    caps = ArchiveCaps(max_member=1 << 20, max_total=1 << 20)
    (member,) = read_members(archive, "file:///a.tar.gz", {"GSM5": True}, tmp_path / "beds", caps)
    assert member.local_path.read_bytes() == BED and len(opened[0].members) <= 1


def test_reading_stops_at_the_files_deadline(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "a.tar.gz", [(f"GSM5_{i}_peaks.bed", BED) for i in range(5)])
    ticks = iter(range(100))
    caps = ArchiveCaps(max_member=1 << 20, max_total=1 << 20, deadline_s=3.0, deadline=3.0,
                       clock=lambda: float(next(ticks)))  # fmt: skip
    with pytest.raises(ArchiveTimedOut, match="deadline"):  # not a cap: the next night reads it again
        read_members(archive, "file:///a.tar.gz", {"GSM5": True}, tmp_path / "beds", caps)
    assert not [p for p in (tmp_path / "beds").rglob("*") if p.is_file()]


def test_the_bomb_is_refused_before_it_is_read_through(tmp_path: Path) -> None:
    archive = _tar_gz(tmp_path / "a.tar.gz", [("GSM5_peaks.bed", 40 * 1024**2)])
    assert archive.stat().st_size < 1024**2
    caps = ArchiveCaps(max_member=1 << 30, max_total=1 << 30)
    with pytest.raises(ArchiveOverCap, match="times the archive's size"):
        read_members(archive, "file:///a.tar.gz", {"GSM5": True}, tmp_path / "beds", caps)
    with gzip.open(archive) as whole:
        assert whole.read(10)  # the archive itself is fine: only its ratio is refused


def test_the_caps_are_settings_and_nonsense_is_refused() -> None:
    from annotator.errors import ConfigError
    from annotator.settings import resolve_config

    assert resolve_config(environ={"ANNOTATOR_ARCHIVE_MAX_MEMBERS": "50"}).archive_max_members == 50
    for name, value in (("ARCHIVE_MAX_MEMBERS", "0"), ("ARCHIVE_MAX_ENTRIES", "-1"), ("ARCHIVE_MAX_RATIO", "0.5")):
        with pytest.raises(ConfigError, match="archive_max"):
            resolve_config(environ={f"ANNOTATOR_{name}": value})


def test_a_full_disk_while_extracting_stops_the_night_not_the_archive(tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    import annotator.geo.archive as archive_module
    from annotator.geo.archive import read_archive
    from annotator.readers import WorkdirWriteError

    archive = _tar_gz(tmp_path / "GSM5_peaks.tar.gz", [("a.bed", _bed(1)), ("b.bed", _bed(2))])
    caps = ArchiveCaps(max_member=10**6, max_total=10**7)
    dest = tmp_path / "beds"
    calls = {"n": 0}
    real = os.replace

    def fills_up(src, dst):  # the second member finds the disk full
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(archive_module.os, "replace", fills_up)
    with pytest.raises(WorkdirWriteError) as raised:
        read_archive(archive, archive.as_uri(), {"GSM5": True}, dest, caps)
    assert raised.value.errno == errno.ENOSPC
    assert not [p for p in dest.rglob("*") if p.is_file()]  # nothing half-read is kept
    # a damaged archive is still the archive's fault: no member, a reason, the night goes on
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(gzip.compress(b"not a tar" * 100))
    members, detail = read_archive(broken, broken.as_uri(), {"GSM5": True}, dest, caps)
    assert members == [] and detail.startswith("archive: unreadable")
