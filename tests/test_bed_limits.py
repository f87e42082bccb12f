"""Gzip bombs and oversized files: reading stops at a cap, memory stays bounded, the file is a failed row."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from modelkit import labelled_model, planted_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.config import Config
from annotator.demo import DEMO_GSE, build_demo
from annotator.errors import BedFormatError
from annotator.regions.bed import BedLimits, read_bed
from annotator.tables import read_table

_LINE = b"chr1\t1000\t1500\n"
MiB = 1 << 20


def write_bomb(path: Path, mib: int) -> Path:
    """A gzip of `mib` MiB of valid BED lines, made of concatenated identical members (a few KB per MiB)."""
    member = gzip.compress(_LINE * (MiB // len(_LINE)), compresslevel=9)
    with path.open("wb") as fh:
        for _ in range(mib):
            fh.write(member)
    return path


def test_a_gzip_bomb_stops_at_the_byte_cap_and_names_the_setting(tmp_path: Path) -> None:
    bomb = write_bomb(tmp_path / "bomb.bed.gz", 64)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(BedFormatError, match=r"more than 8,388,608 bytes.*max_bed_bytes"):
        read_bed(bomb, limits=BedLimits(max_bytes=8 * MiB))
    with pytest.raises(BedFormatError, match=r"more than 1,000 lines.*max_bed_lines"):
        read_bed(bomb, limits=BedLimits(max_lines=1000))
    plain = tmp_path / "big.bed"
    plain.write_bytes(_LINE * 100_000)
    with pytest.raises(BedFormatError, match="larger than"):
        read_bed(plain, limits=BedLimits(max_bytes=MiB))


def test_concatenated_padded_truncated_and_corrupt_gzip(tmp_path: Path) -> None:
    two = tmp_path / "two.bed.gz"
    two.write_bytes(gzip.compress(b"chr1\t100\t200\n") + gzip.compress(b"chr2\t100\t200\n") + b"\x00" * 16)
    assert len(read_bed(two)) == 2
    whole = gzip.compress(_LINE * 5000)
    cut = tmp_path / "cut.bed.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BedFormatError, match="truncated gzip"):
        read_bed(cut)
    bad = tmp_path / "bad.bed.gz"
    bad.write_bytes(whole[:20] + bytes(b ^ 0xFF for b in whole[20:60]) + whole[60:])
    with pytest.raises(BedFormatError, match=r"corrupt gzip|truncated gzip"):
        read_bed(bad)


# Peak RSS from VmHWM: unlike getrusage's ru_maxrss, it restarts at exec and so is not the parent's (pytest's) size.
_CHILD = """
import json, re, sys
from annotator.model.format import load_model
from annotator.project import project_file
from annotator.regions.bed import BedLimits
p = project_file(load_model(sys.argv[2]), sys.argv[1], limits=BedLimits(max_bytes=int(sys.argv[3])))
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"status": p.status, "reason": p.reason, "rss_mb": hwm / 1024}))
"""


def test_projecting_a_bomb_keeps_peak_memory_bounded(tmp_path: Path) -> None:
    """256 MiB of lines inflate from ~1 MB; with a 32 MiB cap the projecting process stays far below that."""
    model = planted_model(tmp_path)
    bomb = write_bomb(tmp_path / "bomb.bed.gz", 256)
    child = subprocess.run([sys.executable, "-c", _CHILD, str(bomb), str(model.path), str(32 * MiB)],
                           capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    out = json.loads(child.stdout)
    assert out["status"] == "failed" and "max_bed_bytes" in out["reason"]
    assert out["rss_mb"] < 220, out  # the whole file decompressed would be 256 MB on its own


def test_over_the_cap_is_a_failed_row_in_project_and_in_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = labelled_model(tmp_path / "model")
    demo = build_demo(tmp_path / "in", model)
    write_bomb(tmp_path / "in" / "files" / "GSM9990002_peaks.bed.gz", 8)
    config = Config(workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1,
                    allow_local_urls=True, max_bed_bytes=4 * MiB)  # fmt: skip
    result = pipeline.run(config, [DEMO_GSE])
    assert result.exit_code == 1 and result.counts["project_failed"] == 1
    rows = read_table("predictions", result.tables["predictions"]).to_pylist()
    bomb_rows = [r for r in rows if r["sample_id"].startswith("GSM9990002")]
    assert [r["status"] for r in bomb_rows] == ["failed"] and "max_bed_bytes" in bomb_rows[0]["reason"]
    assert {r["status"] for r in rows if r not in bomb_rows} == {"ok"}

    monkeypatch.setenv("ANNOTATOR_MAX_BED_LINES", "1000")
    out = tmp_path / "preds.parquet"
    res = CliRunner().invoke(app, ["project", str(tmp_path / "in" / "files" / "GSM9990002_peaks.bed.gz"),
                                   "--model", str(model.path), "--out", str(out), "-j", "1"])  # fmt: skip
    assert res.exit_code == 1, res.output
    (row,) = read_table("predictions", out).to_pylist()
    assert row["status"] == "failed" and "max_bed_lines" in row["reason"]
