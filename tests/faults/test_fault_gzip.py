"""Multi-member gzip (concatenated members, and the BGZF layout `bgzip` writes) with long lines: the file reads to
exactly its text, and the memory of projecting it stays that of a plain gzip of the same text, whatever the layout.
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from modelkit import planted_model

MiB = 1 << 20
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _lines(n: int, width: int, first: int = 0) -> bytes:
    """`n` valid BED lines of `width` bytes each (a long name field pads them)."""
    out = []
    for i in range(first, first + n):
        head = b"chr1\t%d\t%d\t" % (10_000 + 1000 * i, 10_500 + 1000 * i)
        out.append(head + b"n" * (width - len(head) - 1) + b"\n")
    return b"".join(out)


def _bgzf(data: bytes, block: int = 65_280) -> bytes:
    """`data` in the BGZF layout: gzip members of at most 64 KiB, each with a 'BC' extra field, then an EOF block."""
    out = []
    for at in range(0, len(data), block):
        chunk = data[at : at + block]
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = deflate.compress(chunk) + deflate.flush()
        header = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + struct.pack("<H", 25 + len(body))
        out.append(header + body + struct.pack("<II", zlib.crc32(chunk), len(chunk)))
    return b"".join(out) + _BGZF_EOF


# members whose text passes 1 MiB (the reader's inflate step) by a little: the member ends in the call after one
# cut short, the case that re-inflated the following members again and again
_MEMBERS = {
    "two 1 MiB+7 one-line members": [_lines(1, MiB + 7), _lines(1, MiB + 7, 1)],
    "three members of 1,049 1 KB lines": [_lines(1049, 1000, 1049 * k) for k in range(3)],
    "short and long members with NUL padding": [_lines(5, 20), _lines(1, 3 * MiB, 5), _lines(2000, 40, 6)],
}


# Each file is read in a child under an address-space limit: a reader whose memory runs away fails there, not here.
_READER = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # far below the 18 GB a re-inflating reader took
from annotator.regions.bed import BedLimits, read_bed
out = []
for path in sys.argv[1:]:
    try:
        regions = read_bed(path, limits=BedLimits(max_bytes=64 << 20))  # 16x the text: room, yet a small bound
        out.append({"n": len(regions), "skipped": regions.n_skipped, "last": int(regions.start[-1])})
    except BaseException as exc:
        out.append({"error": repr(exc)[:300]})
print(json.dumps(out))
"""


def test_every_multi_member_layout_reads_to_its_text(tmp_path: Path, tally) -> None:
    paths, want = [], []
    for i, (layout, members) in enumerate(_MEMBERS.items()):
        text = b"".join(members)
        padding = b"\x00" * 7 if "NUL" in layout else b""
        files = {
            "members": b"".join(gzip.compress(m, compresslevel=9) + padding for m in members),
            "bgzf": _bgzf(text),
            "plain": gzip.compress(text),
        }
        for name, data in files.items():
            path = tmp_path / f"{i}.{name}.bed.gz"
            path.write_bytes(data)
            paths.append(str(path))
            n = text.count(b"\n")
            want.append({"n": n, "skipped": 0, "last": 10_000 + 1000 * (n - 1)})
    child = subprocess.run([sys.executable, "-c", _READER, *paths], capture_output=True, text=True, timeout=120,
                           check=False)  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    got = json.loads(child.stdout)
    tally.cases += len(paths)
    assert dict(zip(paths, got, strict=True)) == dict(zip(paths, want, strict=True))


# Peak RSS from VmHWM: unlike getrusage's ru_maxrss, it restarts at exec and so is not the parent's (pytest's) size.
_CHILD = """
import json, re, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from annotator.model.format import load_model
from annotator.project import project_file
from annotator.regions.bed import BedLimits
p = project_file(load_model(sys.argv[2]), sys.argv[1], limits=BedLimits(max_bytes=int(sys.argv[3])))
hwm = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"status": p.status, "reason": p.reason, "n_regions": p.n_regions, "rss_mb": hwm / 1024}))
"""


def _project(path: Path, model: Path, cap: int) -> dict[str, object]:
    child = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(model), str(cap)], capture_output=True,
                           text=True, timeout=120, check=False)  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout)  # type: ignore[no-any-return]


def test_projecting_a_multi_member_long_line_gzip_takes_the_memory_of_a_plain_one(tmp_path: Path, tally) -> None:
    model = planted_model(tmp_path).path
    members = _MEMBERS["three members of 1,049 1 KB lines"]
    hostile, plain = tmp_path / "members.bed.gz", tmp_path / "plain.bed.gz"
    hostile.write_bytes(b"".join(gzip.compress(m) for m in members))
    plain.write_bytes(gzip.compress(b"".join(members)))
    assert hostile.stat().st_size < 50_000  # 3 MB of text
    cap = 64 * MiB  # far above the 3 MB of text: a reader that inflates members again runs into it
    base, got = _project(plain, model, cap), _project(hostile, model, cap)
    tally.cases += 1
    assert got["status"] == base["status"] and got["n_regions"] == base["n_regions"] == 3 * 1049, (base, got)
    assert got["rss_mb"] < base["rss_mb"] + 16, (base, got)  # type: ignore[operator]
