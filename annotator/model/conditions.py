"""GEO-like conditions: what a peak file looks like after an author thresholded, subsampled or re-formatted it.

ENCODE training files are whole, scored peak calls. GEO uploads are often the N strongest peaks, a random subset,
narrow windows around summits, or BED3 without any score. Each condition here turns one scored peak file into the
region set such an upload would hold, so training can augment with it and evaluation can score under it:

| condition | region set |
|---|---|
| `whole` | every peak (also what a BED3 copy of the file gives: tokens ignore scores) |
| `top10000`, `top2000`, `top500` | the N peaks with the highest signal (column 7 of narrow/broadPeak; column 5 else) |
| `random1000`, `random300` | N peaks drawn without replacement (seeded per file name) |
| `summit` | ±100 bp around each summit (narrowPeak column 10; the peak's midpoint for broadPeak) |

A file with fewer peaks than N keeps all of them. The reader here is for the scored ENCODE corpora used in training
and evaluation (trusted, tab-separated narrowPeak/broadPeak); user files go through `annotator.regions.bed`.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from annotator.errors import BedFormatError
from annotator.regions.bed import RegionSet
from annotator.regions.genome import HG19, Genome, normalise_chrom

#: Every condition, in table order; `whole` first.
CONDITIONS = ("whole", "top10000", "top2000", "top500", "random1000", "random300", "summit")
#: Half-width of a summit window (bp): a 200 bp window, what MACS2 `--call-summits` uploads often hold.
SUMMIT_HALF_WIDTH = 100


@dataclass(frozen=True)
class Peaks:
    """Regions of one scored peak file with their signal and summit offset (-1: none)."""

    name: str
    file_format: str
    regions: RegionSet
    signal: np.ndarray  # float64, higher = stronger
    summit: np.ndarray  # int64 offset from start, -1 when the file has no summit column


def read_peaks(path: str | Path, genome: Genome = HG19) -> Peaks:
    """Read a narrowPeak/broadPeak (or BED5+) file keeping signal and summit; lines off the genome are dropped.

    Raises
    ------
    BedFormatError
        The file cannot be read or has fewer than 3 tab-separated columns.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BedFormatError(f"{path}: cannot read peak file: {exc}") from exc
    lines = [ln for ln in data.split(b"\n", 64)[:64] if ln and not ln.startswith((b"#", b"track", b"browser"))]
    if not lines:
        raise BedFormatError(f"{path}: no data lines")
    skip = data.index(lines[0])
    n_fields = len(lines[0].rstrip(b"\r").split(b"\t"))
    if n_fields < 3:
        raise BedFormatError(f"{path}: {n_fields} tab-separated columns, a peak file needs at least 3")
    names = [f"f{i}" for i in range(n_fields)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data[skip:]),
            pacsv.ReadOptions(column_names=names, block_size=1 << 22),
            pacsv.ParseOptions(delimiter="\t", quote_char=False),
            pacsv.ConvertOptions(column_types={"f0": pa.string(), "f1": pa.int64(), "f2": pa.int64()}),
        )
    except pa.ArrowInvalid as exc:
        raise BedFormatError(f"{path}: not a tab-separated peak file: {exc}") from exc
    chrom_names = table.column("f0").to_numpy(zero_copy_only=False)
    distinct, inverse = np.unique(chrom_names, return_inverse=True)
    code_of = genome.code_of()
    lut = np.array([code_of.get(normalise_chrom(str(c)), -1) for c in distinct], dtype=np.int16)
    codes = lut[inverse]
    start = table.column("f1").to_numpy().astype(np.int64)
    end = table.column("f2").to_numpy().astype(np.int64)
    ok = (codes >= 0) & (start >= 0) & (end > start)
    ok[ok] &= end[ok] <= genome.sizes[codes[ok]]
    fmt = {10: "narrowPeak", 9: "broadPeak"}.get(n_fields, f"bed{n_fields}")
    signal_col = "f6" if n_fields >= 9 else "f4" if n_fields >= 5 else None
    signal = _numeric(table, signal_col, 0.0)
    summit = _numeric(table, "f9" if n_fields == 10 else None, -1.0).astype(np.int64)
    regions = RegionSet(str(path), codes[ok], start[ok], end[ok], n_lines=int(codes.shape[0]), file_format=fmt,
                        genome=genome)  # fmt: skip
    return Peaks(path.name, fmt, regions, signal[ok], summit[ok])


def _numeric(table: pa.Table, column: str | None, default: float) -> np.ndarray:
    if column is None:
        return np.full(table.num_rows, default)
    values = table.column(column)
    if not pa.types.is_integer(values.type) and not pa.types.is_floating(values.type):
        return np.full(table.num_rows, default)
    return values.to_numpy(zero_copy_only=False).astype(np.float64)


def apply_condition(peaks: Peaks, condition: str, seed: int = 0) -> RegionSet:
    """The region set an upload under `condition` would hold (see the module table)."""
    r = peaks.regions
    n = len(r)
    if condition == "whole":
        return r
    if condition == "summit":
        centre = np.where(peaks.summit >= 0, r.start + peaks.summit, (r.start + r.end) // 2)
        centre = np.clip(centre, r.start, r.end - 1)
        sizes = r.genome.sizes[r.chrom.astype(np.int64)]
        start = np.maximum(centre - SUMMIT_HALF_WIDTH, 0)
        end = np.minimum(centre + SUMMIT_HALF_WIDTH, sizes)
        return RegionSet(r.path, r.chrom, start, end, r.n_lines, file_format="narrowPeak", genome=r.genome)
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    if condition.startswith("top"):
        keep = np.argsort(-peaks.signal, kind="stable")[: int(condition[3:])]
    elif condition.startswith("random"):
        k = min(int(condition[6:]), n)
        rng = np.random.default_rng([seed, zlib.crc32(peaks.name.encode())])
        keep = rng.choice(n, size=k, replace=False)
    keep = np.sort(keep)
    return RegionSet(r.path, r.chrom[keep], r.start[keep], r.end[keep], r.n_lines, file_format=r.file_format,
                     genome=r.genome)  # fmt: skip
