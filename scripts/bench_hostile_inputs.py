"""Hostile inputs against a baseline in the same run: a gzip bomb's peak memory, and a report of hostile text.

1. Peak RSS (VmHWM) of a process projecting one file with the bundled model: a normal 50,000-peak file (the
   baseline) against gzip bombs of 256 MiB (cap 32 MiB) and 1.1 GiB (default caps), and against multi-member gzips
   of long lines (members of 1,049 lines of 1 KB, 3 and 10 of them, and the same text in the BGZF layout).
2. A bigBed of 200,000 regions converted to BED text in a child process under the reader boundary against the same
   conversion in this process (the boundary's cost), and a bigBed declaring an 86 G-item chromosome tree.
3. The curator report of 3,000 rows built from the offline demo: short titles (baseline) against 8 KB hostile titles
   and against one 1 MB title, as HTML size, render time and (with --browser) Chromium open time.

    python scripts/bench_hostile_inputs.py [--browser]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from annotator.config import DEFAULT_MAX_BED_BYTES
from annotator.report.html import render_report
from annotator.tables import read_table, write_table

MiB = 1 << 20
HOSTILE = "K562\u202eH3K4me3<b>x</b>&amp;\U0001f600é "
_CHILD = """
import json, re, sys
from annotator.model.format import load_model
from annotator.project import project_file
from annotator.regions.bed import BedLimits
p = project_file(load_model(None), sys.argv[1], limits=BedLimits(max_bytes=int(sys.argv[2])))
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"status": p.status, "rss_mb": hwm / 1024}))
"""


def _bomb(path: Path, mib: int) -> Path:
    member = gzip.compress(b"chr1\t1000\t1500\n" * (MiB // 15), compresslevel=9)
    with path.open("wb") as fh:
        for _ in range(mib):
            fh.write(member)
    return path


def _peak(path: Path, cap: int) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(cap)], capture_output=True, text=True,
                         check=True)  # fmt: skip
    return {**json.loads(out.stdout), "seconds": round(time.perf_counter() - started, 2)}


def bench_bomb(tmp: Path) -> None:
    normal = tmp / "normal.bed.gz"
    normal.write_bytes(gzip.compress(b"".join(b"chr%d\t%d\t%d\n" % (1 + i % 22, 10_000 + i * 3000, 10_500 + i * 3000)
                                              for i in range(50_000))))  # fmt: skip
    base = _peak(normal, DEFAULT_MAX_BED_BYTES)
    print(f"baseline 50,000-peak file: {base}")
    for mib, cap in ((256, 32 * MiB), (1100, DEFAULT_MAX_BED_BYTES)):
        bomb = _bomb(tmp / f"bomb{mib}.bed.gz", mib)
        got = _peak(bomb, cap)
        print(f"{mib} MiB bomb ({bomb.stat().st_size:,} bytes gzip), cap {cap:,}: {got}, "
              f"{got['rss_mb'] / base['rss_mb']:.2f}x the baseline's peak RSS")  # fmt: skip
    for n in (3, 10):
        members = [_long_lines(1049, 1000, 1049 * k) for k in range(n)]
        for layout, data in (("members", b"".join(gzip.compress(m) for m in members)),
                             ("members, BGZF layout", _bgzf(b"".join(members)))):  # fmt: skip
            path = tmp / f"long{n}.{layout}.bed.gz"
            path.write_bytes(data)
            got = _peak(path, DEFAULT_MAX_BED_BYTES)
            print(f"{n} MiB of 1 KB lines as {n} gzip {layout} ({len(data):,} bytes gzip), default caps: {got}, "
                  f"{got['rss_mb'] / base['rss_mb']:.2f}x the baseline's peak RSS")  # fmt: skip


def _long_lines(n: int, width: int, first: int) -> bytes:
    out = []
    for i in range(first, first + n):
        head = b"chr1\t%d\t%d\t" % (10_000 + 1000 * i, 10_500 + 1000 * i)
        out.append(head + b"n" * (width - len(head) - 1) + b"\n")
    return b"".join(out)


def _bgzf(data: bytes, block: int = 65_280) -> bytes:
    """`data` as bgzip writes it: gzip members of at most 64 KiB with a 'BC' extra field, then the EOF block."""
    import struct
    import zlib

    out = []
    for at in range(0, len(data), block):
        chunk = data[at : at + block]
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflate.compress(chunk) + deflate.flush()
        header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + struct.pack("<H", 25 + len(body))
        out.append(header + body + struct.pack("<II", zlib.crc32(chunk), len(chunk)))
    return b"".join(out) + bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def bench_bigbed(tmp: Path) -> None:
    import struct

    import pybigtools

    from annotator.errors import BedFormatError
    from annotator.geo.bigbed import bigbed_to_bed_gz, write_bed_gz

    src = tmp / "peaks.bb"
    rows = ((f"chr{1 + i // 10_000}", 1000 * (i % 10_000), 1000 * (i % 10_000) + 300, f"p{i}") for i in range(200_000))
    pybigtools.open(str(src), "w").write({f"chr{c}": 200_000_000 for c in range(1, 21)}, rows)
    started = time.perf_counter()
    write_bed_gz(str(src), str(tmp / "inline.bed.gz"), 5_000_000)
    inline = time.perf_counter() - started
    started = time.perf_counter()
    n = bigbed_to_bed_gz(src, tmp / "child.bed.gz")
    child = time.perf_counter() - started
    print(f"bigBed of {n:,} regions: {inline:.2f} s in this process, {child:.2f} s in a child under the reader "
          f"boundary ({child / inline:.2f}x)")  # fmt: skip
    data = bytearray(src.read_bytes())
    struct.pack_into("<Q", data, struct.unpack_from("<Q", data, 8)[0] + 16, 85_899_346_060)
    (tmp / "huge.bb").write_bytes(bytes(data))
    started = time.perf_counter()
    try:
        bigbed_to_bed_gz(tmp / "huge.bb", tmp / "huge.bed.gz")
    except BedFormatError as exc:
        print(f"bigBed declaring 86 G chromosomes: failed file in {time.perf_counter() - started:.2f} s: {exc}")


def _with_titles(work: Path, out: Path, titles: list[str], n_rows: int = 3000) -> Path:
    """`work`'s tables with the annotations repeated to `n_rows` rows; copy i has title `titles[i]` (or the last)."""
    ann = read_table("annotations", work / "annotations.parquet")
    copies = []
    for i in range(n_rows // ann.num_rows + 1):
        copy = ann.set_column(ann.schema.get_field_index("title"), "title",
                              pa.array([titles[min(i, len(titles) - 1)]] * ann.num_rows))  # fmt: skip
        sid = pc.binary_join_element_wise(copy.column("sample_id"), pa.scalar(f"#{i}"), "")
        copies.append(copy.set_column(copy.schema.get_field_index("sample_id"), "sample_id", sid))
    out.mkdir(parents=True)
    for name in ("samples", "predictions", "runs"):
        write_table(name, read_table(name, work / f"{name}.parquet"), out / f"{name}.parquet")
    write_table("annotations", pa.concat_tables(copies).slice(0, n_rows), out / "annotations.parquet")
    return out


def bench_report(tmp: Path, browser: bool) -> None:
    work = tmp / "demo"
    subprocess.run([sys.executable, "-c", "from annotator.cli import main; main()", "run", "--demo", "--workdir",
                    str(work), "-j", "1"], check=True, capture_output=True)  # fmt: skip
    variants = {
        "short titles": ["K562 H3K4me3 ChIP-seq rep1"],
        "8 KB hostile titles": [HOSTILE * 400],
        "1 MB titles on the first sample": [(HOSTILE * 60_000)[:1_000_000], "K562 H3K4me3 ChIP-seq rep1"],
        "1 MB titles on every second sample": [(HOSTILE * 60_000)[:1_000_000], "K562 H3K4me3 ChIP-seq rep1"] * 200,
    }
    base = None
    for label, titles in variants.items():
        workdir = _with_titles(work, tmp / label.replace(" ", "_"), titles)
        started = time.perf_counter()
        page = render_report(workdir, max_rows=None)
        seconds, size = time.perf_counter() - started, page.stat().st_size
        base = base or (size, seconds)
        line = f"{label}: {size / 1e6:.1f} MB ({size / base[0]:.2f}x), rendered in {seconds:.2f} s"
        if browser:
            line += f", Chromium opens it in {_open_seconds(page):.2f} s"
        print(line)


def _open_seconds(page: Path) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        tab = chromium.new_page()
        started = time.perf_counter()
        tab.goto(page.as_uri(), timeout=600_000)
        tab.fill("#filter-text", "gsm")
        seconds = time.perf_counter() - started
        chromium.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browser", action="store_true", help="Also time opening each report in Chromium.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_bomb(Path(tmp))
        bench_bigbed(Path(tmp))
        bench_report(Path(tmp), args.browser)


if __name__ == "__main__":
    main()
