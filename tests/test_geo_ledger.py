"""The download ledger: durable, last entry wins, survives a torn last line, detects changed files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from annotator.geo.ledger import DOWNLOADED, FAILED, Ledger, LedgerEntry


def _file(workdir: Path, name: str, data: bytes) -> LedgerEntry:
    path = workdir / "beds" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return LedgerEntry(f"https://h/{name}", DOWNLOADED, f"beds/{name}", len(data), hashlib.sha256(data).hexdigest())


def test_entries_survive_a_reload_and_the_last_one_wins(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(LedgerEntry("https://h/a.bed", FAILED, detail="HTTP 500"))
    ledger.record(_file(tmp_path, "a.bed", b"chr1\t0\t10\n"))
    again = Ledger(tmp_path)
    entry = again.get("https://h/a.bed")
    assert entry is not None and entry.status == DOWNLOADED and entry.at
    assert len(again) == 1


def test_a_torn_last_line_is_ignored_and_does_not_spoil_the_next_entry(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record(_file(tmp_path, "a.bed", b"a"))
    with ledger.path.open("a") as fh:
        fh.write('{"url": "https://h/b.bed", "sta')  # killed mid-write
    reopened = Ledger(tmp_path)
    assert reopened.get("https://h/b.bed") is None
    reopened.record(_file(tmp_path, "c.bed", b"c"))
    assert {e for e in ("https://h/a.bed", "https://h/c.bed") if Ledger(tmp_path).get(e)} == {
        "https://h/a.bed",
        "https://h/c.bed",
    }


def test_intact_checks_presence_size_and_content(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    entry = ledger.record(_file(tmp_path, "a.bed", b"chr1\t0\t10\n"))
    assert ledger.intact(entry)
    (tmp_path / "beds" / "a.bed").write_bytes(b"chr1\t0\t11\n")  # same size, other content
    assert not ledger.intact(entry)
    (tmp_path / "beds" / "a.bed").unlink()
    assert not ledger.intact(entry)
    assert not ledger.intact(LedgerEntry("https://h/x", FAILED))


def test_compact_keeps_one_line_per_url(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    for status in (FAILED, FAILED):
        ledger.record(LedgerEntry("https://h/a.bed", status, detail="HTTP 500"))
    ledger.record(_file(tmp_path, "a.bed", b"a"))
    ledger.compact()
    assert len(ledger.path.read_text().splitlines()) == 1
    entry = Ledger(tmp_path).get("https://h/a.bed")
    assert entry is not None and entry.status == DOWNLOADED
