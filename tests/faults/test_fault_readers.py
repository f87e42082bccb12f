"""Third-party readers on hostile files: a bigBed that makes pybigtools panic (a `BaseException`) or abort the
process, a reader that hangs or allocates without bound, a download thread hit by a `BaseException`. Each costs one
file — a failed row with its reason — the night always ends, and no reader's text reaches stderr or the JSON log.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pybigtools
import pytest
from geo_fault_servers import PEAKS, write_series

from annotator.errors import BedFormatError
from annotator.geo.bigbed import bigbed_to_bed_gz
from annotator.geo.pool import DownloadPool
from annotator.tables import read_table

MiB = 1 << 20
_ROWS = [("chr1", 1000 * i, 1000 * i + 300, f"p{i}\t{i}\t.") for i in range(1, 200)]
_MAIN = "from annotator.cli import main; main()"


def _bigbed(path: Path) -> bytes:
    writer = pybigtools.open(str(path), "w")
    writer.write({"chr1": 249_250_621, "chr2": 243_199_373}, iter(_ROWS))
    return path.read_bytes()


def _with_field(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _chrom_tree(data: bytes) -> int:
    """Offset of the chromosome B+ tree (header field `chromosomeTreeOffset`)."""
    return int(struct.unpack_from("<Q", data, 8)[0])


def panicking(data: bytes) -> bytes:
    """A bigBed whose chromosome tree declares 4 GiB values: pybigtools panics (`assertion left == right`)."""
    return _with_field(data, _chrom_tree(data) + 12, "<I", 0xFFFF_FFF0)


def huge(data: bytes) -> bytes:
    """A bigBed whose chromosome tree declares ~86 G items: pybigtools allocates that much and aborts the process."""
    return _with_field(data, _chrom_tree(data) + 16, "<Q", 85_899_346_060)


def test_random_byte_flips_in_a_bigbed_cost_one_file_each(tmp_path: Path, tally, capfd) -> None:
    data = _bigbed(tmp_path / "good.bb")
    assert bigbed_to_bed_gz(tmp_path / "good.bb", tmp_path / "good.bed.gz") == len(_ROWS)
    rng = random.Random(20261202)
    failed = 0
    for i in range(10):
        flipped = bytearray(data)
        at = rng.randrange(4, len(data))  # the signature stays: the file still claims to be a bigBed
        flipped[at] ^= 1 << rng.randrange(8)
        src = tmp_path / f"flip{i}.bb"
        src.write_bytes(bytes(flipped))
        tally.cases += 1
        try:
            n = bigbed_to_bed_gz(src, tmp_path / f"flip{i}.bed.gz")
        except BedFormatError as exc:
            assert str(exc).startswith(f"flip{i}.bb: unreadable bigBed"), exc
            assert "\n" not in str(exc) and len(str(exc)) < 400
            assert not (tmp_path / f"flip{i}.bed.gz").exists()
            failed += 1
            tally.refused += 1
        else:
            assert 0 <= n <= len(_ROWS) + 1  # a flip in a record's text can leave the file readable
    assert failed >= 3, "most flips damage the structure pybigtools reads"
    err = capfd.readouterr().err
    assert "panicked" not in err and "PanicException" not in err, err[-2000:]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "a half-written conversion was left"


def test_a_reader_that_aborts_hangs_or_allocates_costs_one_file(tmp_path: Path, tally, capfd) -> None:
    from annotator.readers import isolated

    cases = {
        "SIGABRT": ("os:abort", [], 10.0, 512 * MiB),
        "more than 1 s": ("time:sleep", [30], 1.0, 512 * MiB),
        "ran out of memory": ("builtins:bytearray", [4 * 1024 * MiB], 10.0, 256 * MiB),
        "ValueError": ("builtins:int", ["not a number"], 10.0, 512 * MiB),
    }
    for why, (call, args, timeout_s, memory) in cases.items():
        tally.cases += 1
        with pytest.raises(BedFormatError, match=rf"^x\.bb: unreadable bigBed \(.*{why}"):
            isolated(call, args, name="x.bb", what="unreadable bigBed", memory_bytes=memory, timeout_s=timeout_s)
        tally.refused += 1
    assert isolated("builtins:len", ["abc"], name="x", what="y", memory_bytes=512 * MiB, timeout_s=30) == 3
    assert capfd.readouterr().err == ""


class _Panic(BaseException):
    """Stands for pyo3's PanicException: a BaseException that `except Exception` misses."""


def test_reading_turns_any_reader_failure_into_a_failed_file() -> None:
    from annotator.readers import reading

    with pytest.raises(BedFormatError, match=r"^f\.bb: unreadable \(_Panic: boom\)$"), reading("f.bb", "unreadable"):
        raise _Panic("boom")
    with pytest.raises(BedFormatError, match="ran out of memory"), reading("f.bb", "unreadable"):
        raise MemoryError
    with pytest.raises(KeyboardInterrupt), reading("f.bb", "unreadable"):
        raise KeyboardInterrupt


def test_a_download_thread_hit_by_a_base_exception_still_hands_back_its_file(tally) -> None:
    def fetch() -> int:
        raise _Panic("called `Option::unwrap()` on a `None` value\x1b[31m")

    outcomes: list[object] = []

    def night() -> None:
        with DownloadPool[int](workers=2) as pool:
            outcomes.extend(pool.submit("bad", "http://127.0.0.1/GSM1.bb", fetch))
            outcomes.extend(pool.submit("good", "http://127.0.0.1/GSM2.bed", lambda: 7))
            outcomes.extend(pool.drain())

    thread = threading.Thread(target=night, daemon=True)
    thread.start()
    thread.join(timeout=30)
    tally.cases += 1
    assert not thread.is_alive(), "the night never ended: a download thread died without an outcome"
    by_tag = {o.tag: o for o in outcomes}  # type: ignore[attr-defined]
    assert by_tag["good"].value == 7
    assert by_tag["bad"].error.startswith("internal error: _Panic: called `Option::unwrap()`")
    assert "\x1b" not in by_tag["bad"].error
    tally.refused += 1


def test_a_night_with_damaged_bigbeds_ends_with_failed_rows_and_only_json_on_stderr(tmp_path: Path, tally) -> None:
    """A real `annotator harvest` process: one bigBed panics the reader, one aborts it, a BED file is fine."""
    data = _bigbed(tmp_path / "good.bb")
    files = tmp_path / "files"
    files.mkdir()
    (files / "GSM1_peaks.bb").write_bytes(panicking(data))
    (files / "GSM2_peaks.bb").write_bytes(huge(data))
    (files / "GSM3_peaks.bed").write_bytes(PEAKS)
    names = ["GSM1_peaks.bb", "GSM2_peaks.bb", "GSM3_peaks.bed"]
    write_series(tmp_path / "soft", [(name.split("_")[0], (files / name).as_uri()) for name in names])
    work = tmp_path / "work"
    env = {**os.environ, "ANNOTATOR_LOG_FORMAT": "json"}
    args = ["harvest", "GSE1", "--soft-dir", str(tmp_path / "soft"), "--workdir", str(work), "--allow-local-urls"]
    done = subprocess.run([sys.executable, "-c", _MAIN, *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    tally.cases += 2
    assert done.returncode in (0, 1), (done.returncode, done.stderr[-3000:])
    for line in done.stderr.splitlines():
        json.loads(line)  # every line a JSON log record: no Rust panic text, no traceback
    rows = {r["gsm"]: r for r in read_table("samples", work / "samples.parquet").to_pylist()}
    assert rows["GSM3"]["download_status"] == "downloaded" and rows["GSM3"]["selected"]
    assert "unreadable bigBed (PanicException" in rows["GSM1"]["download_error"]
    assert "unreadable bigBed (the reader crashed: SIGABRT; memory allocation of" in rows["GSM2"]["download_error"]
    for gsm in ("GSM1", "GSM2"):
        assert not rows[gsm]["selected"] and rows[gsm]["local_path"] is None, rows[gsm]
    assert not list((work / "beds").rglob("*.tmp")) and not list((work / "beds").rglob("*.raw"))
    tally.refused += 2


def test_the_reader_limits_are_settings_checked_on_start(tmp_path: Path) -> None:
    from annotator.errors import ConfigError
    from annotator.settings import resolve_config

    env = {"ANNOTATOR_READER_MEMORY_BYTES": str(256 * MiB), "ANNOTATOR_READER_TIMEOUT_S": "30"}
    config = resolve_config({"workdir": tmp_path}, environ=env)
    assert (config.reader_memory_bytes, config.reader_timeout_s) == (256 * MiB, 30.0)
    for bad in ({"ANNOTATOR_READER_MEMORY_BYTES": "1000"}, {"ANNOTATOR_READER_TIMEOUT_S": "0"}):
        with pytest.raises(ConfigError, match="reader_memory_bytes"):
            resolve_config({"workdir": tmp_path}, environ=bad)
