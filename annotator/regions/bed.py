"""Reading BED-like region files into validated, vectorised region sets.

Facts this module relies on (stated once here):

* BED coordinates are 0-based, half-open: a region covers bases `start .. end-1`; `end > start >= 0`.
* BED3…BED12, narrowPeak (BED6+4), broadPeak (BED6+3) and bedGraph (BED3+1) all begin with chrom, start, end.
* MACS peak tables (`*_peaks.xls`, often renamed `*_peaks.txt`) are tab-separated text with `#` comment lines, a
  header row (`chr start end length abs_summit pileup …`) and **1-based** starts; they are shifted to 0-based here.
* `track`, `browser` and `#` lines may precede the data; fields are tab- or whitespace-separated.

Untrusted files are read within limits (`BedLimits`): a gzip is decompressed in bounded chunks and abandoned as
soon as it passes the decompressed-size or line cap, so a gzip bomb (megabytes that inflate to gigabytes) costs at
most the cap in memory and ends as a `BedFormatError`, i.e. a `failed` row with its reason.

The parse is done by pyarrow's CSV reader on the decompressed bytes; only the handful of distinct chromosome names
pass through Python. Lines that cannot be used are skipped and counted by reason, never silently dropped; a file
with no usable line at all raises `BedFormatError` naming the file and the reason.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from annotator.config import DEFAULT_MAX_BED_BYTES, DEFAULT_MAX_BED_LINES
from annotator.errors import BedFormatError
from annotator.readers import reading
from annotator.regions.genome import HG19, Genome, is_unplaced_contig, normalise_chrom

#: Skip reasons, in the order they are tested (a line is counted under the first that applies).
SKIP_REASONS = (
    "too_few_columns",
    "unplaced_contig",
    "unknown_chromosome",
    "non_integer_coordinate",
    "negative_coordinate",
    "end_not_after_start",
    "past_chromosome_end",
)

_GZIP_MAGIC = b"\x1f\x8b"
_BINARY_MAGIC = {
    b"\x26\xfc\x8f\x88": "a bigWig file",
    b"\x88\x8f\xfc\x26": "a bigWig file",
    b"\xeb\xf2\x89\x87": "a bigBed file",
    b"\x87\x89\xf2\xeb": "a bigBed file",
    b"BAM\x01": "a BAM file",
    b"PK\x03\x04": "a zip archive",
    b"\xd0\xcf\x11\xe0": "a binary Excel/OLE file",
}
_PREAMBLE = re.compile(rb"^\s*(#|track\b|browser\b|$)")
_INT = re.compile(rb"^[+-]?\d+$")
_MACS_HEADER_WORDS = (b"abs_summit", b"pileup", b"fold_enrichment")
_SNIFF_BYTES = 256 * 1024
_MAX_PREAMBLE_LINES = 10_000
_MAX_HEADER_LINES, _MAX_HEADER_CHARS, _MAX_CONTIG_NAMES = 20, 200, 32
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BedLimits:
    """How much of one (decompressed) file annotator reads before calling it too large."""

    max_bytes: int = DEFAULT_MAX_BED_BYTES
    max_lines: int = DEFAULT_MAX_BED_LINES


DEFAULT_LIMITS = BedLimits()


@dataclass(frozen=True)
class RegionSet:
    """Valid regions of one file, as parallel numpy arrays, plus what was skipped and why."""

    path: str
    chrom: np.ndarray  # int16 code into genome.chroms
    start: np.ndarray  # int64, 0-based
    end: np.ndarray  # int64, half-open
    n_lines: int
    skipped: dict[str, int] = field(default_factory=dict)
    file_format: str = "bed"
    genome: Genome = HG19
    # evidence of the file's genome build (`annotator.regions.build_check`), all bounded in size:
    header: tuple[str, ...] = ()  # comment, track and browser lines before the data (first few, truncated)
    contigs: dict[str, int] = field(default_factory=dict)  # skipped non-primary sequence names -> lines
    past_end: dict[str, tuple[int, int]] = field(default_factory=dict)  # chrom -> (lines past its end, largest end)

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def read_bed(path: str | os.PathLike[str], genome: Genome = HG19, limits: BedLimits = DEFAULT_LIMITS) -> RegionSet:
    """Read a BED-like file (plain or gzip) into a `RegionSet`.

    Parameters
    ----------
    path
        BED3-12, narrowPeak, broadPeak, bedGraph or MACS peak table, optionally gzip-compressed.
    genome
        Chromosome names and sizes the coordinates are checked against.
    limits
        Decompressed size and line caps; reading stops as soon as one is passed.

    Raises
    ------
    BedFormatError
        The file is missing, empty, binary, truncated gzip, over a limit, or has no BED-like line.
    """
    path = Path(path)
    with reading(str(path), "unreadable peak file"):  # zlib and pyarrow are third-party readers of hostile bytes
        try:
            data = _read_capped(path, limits)
        except OSError as exc:
            raise BedFormatError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
        return parse_bed_bytes(data, str(path), genome)


def sniff_bed(path: str | os.PathLike[str], genome: Genome = HG19) -> tuple[bool, str]:
    """Cheap check of a file's first lines: `(True, format)` when BED-like, else `(False, reason)`."""
    path = Path(path)
    try:
        with path.open("rb") as fh, reading(str(path), "unreadable"):
            head = fh.read(2)
            fh.seek(0)
            if head == _GZIP_MAGIC:
                with gzip.open(fh) as gz:
                    data = gz.read(_SNIFF_BYTES)
            else:
                data = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        return False, f"unreadable: {exc}"
    except BedFormatError as exc:
        return False, str(exc).removeprefix(f"{path}: ")
    if len(data) == _SNIFF_BYTES and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]  # only whole lines
    try:
        with reading(str(path), "unreadable"):
            regions = parse_bed_bytes(data, str(path), genome)
    except BedFormatError as exc:
        return False, str(exc).removeprefix(f"{path}: ")
    if len(regions) < regions.n_skipped:
        return False, f"most lines are not valid regions ({_describe(regions.skipped)})"
    return True, regions.file_format


def parse_bed_bytes(data: bytes, name: str = "<bytes>", genome: Genome = HG19) -> RegionSet:
    """Parse decompressed BED-like text; `name` is used in error messages."""
    if not data.strip():
        raise BedFormatError(f"{name}: file is empty")
    _reject_binary(data, name)
    offset, header = _skip_preamble(data)
    body = data[offset:]
    if not body.strip():
        raise BedFormatError(f"{name}: no data lines (only comments, track or header lines)")
    first = body.split(b"\n", 1)[0]
    if b"\t" not in first.strip():
        body = re.sub(rb"[ \t]+", b"\t", body)  # whitespace-separated: one tab between fields
        first = body.split(b"\n", 1)[0]
    n_fields = len(first.rstrip(b"\r\t").split(b"\t"))
    if n_fields < 3:
        raise BedFormatError(f"{name}: not BED-like: first data line has {n_fields} field(s), BED needs 3")
    chrom_arr, start_arr, end_arr, n_bad_rows = _parse_columns(body, n_fields, name)
    one_based = header is not None and any(w in header.lower() for w in _MACS_HEADER_WORDS)
    codes, starts, ends, n_lines, skipped, contigs, past_end = _validate(
        chrom_arr, start_arr, end_arr, n_bad_rows, genome, one_based, name
    )
    fmt = "macs_xls" if one_based else _guess_format(first, n_fields, data[:offset])
    preamble = data[:offset].decode("utf-8", "replace").splitlines()[:_MAX_HEADER_LINES]
    return RegionSet(
        name, codes, starts, ends, n_lines, skipped, fmt, genome,
        header=tuple(line[:_MAX_HEADER_CHARS] for line in preamble), contigs=contigs, past_end=past_end,
    )  # fmt: skip


def _read_capped(path: Path, limits: BedLimits) -> bytes:
    """The file's (decompressed) bytes; BedFormatError as soon as they pass `limits`, whatever the input size."""
    with path.open("rb") as fh:
        if fh.read(2) != _GZIP_MAGIC:
            fh.seek(0)
            if os.fstat(fh.fileno()).st_size > limits.max_bytes:
                raise _too_large(path, f"is larger than {limits.max_bytes:,} bytes", "max_bed_bytes")
            data = fh.read()
            _check_lines(path, data.count(b"\n"), limits)
            return data
        fh.seek(0)
        return _gunzip_capped(fh, path, limits)


def _gunzip_capped(fh: BinaryIO, path: Path, limits: BedLimits) -> bytes:
    """Stream-decompress every gzip member of `fh`, holding at most `limits.max_bytes` of output."""
    chunks: list[bytes] = []
    n_bytes = n_lines = 0
    inflate = zlib.decompressobj(wbits=31)
    in_member = False  # the current member has consumed input but not reached its end
    pending = b""
    try:
        while True:
            if not pending:
                pending = fh.read(_CHUNK)
                if not pending:
                    break
            if not in_member and chunks:
                pending = pending.lstrip(b"\x00")  # NUL padding between or after members, as gzip(1) allows
                if not pending:
                    continue
            in_member = True
            out = inflate.decompress(pending, _CHUNK)
            if inflate.eof:  # end of one member: another may follow (concatenated gzip, BGZF)
                # the input after the member is all in unused_data; unconsumed_tail may still hold a stale copy of
                # it (CPython leaves it when the member ends in a call after one cut short by max_length), and
                # taking both would inflate the next members again and again, with memory and time without bound
                pending = inflate.unused_data
                inflate, in_member = zlib.decompressobj(wbits=31), False
            else:
                pending = inflate.unconsumed_tail
            n_bytes += len(out)
            n_lines += out.count(b"\n")
            if n_bytes > limits.max_bytes:
                raise _too_large(path, f"decompresses to more than {limits.max_bytes:,} bytes", "max_bed_bytes")
            _check_lines(path, n_lines, limits)
            chunks.append(out)
    except zlib.error as exc:
        raise BedFormatError(f"{path}: corrupt gzip file: {exc}") from exc
    if in_member:
        raise BedFormatError(f"{path}: truncated gzip file (download incomplete?)")
    return b"".join(chunks)


def _check_lines(path: Path, n_lines: int, limits: BedLimits) -> None:
    if n_lines > limits.max_lines:
        raise _too_large(path, f"has more than {limits.max_lines:,} lines", "max_bed_lines")


def _too_large(path: Path, what: str, setting: str) -> BedFormatError:
    return BedFormatError(
        f"{path}: {what}: too large for a peak file (a gzip bomb?); raise the {setting} setting to read it"
    )


def _reject_binary(data: bytes, name: str) -> None:
    what = _BINARY_MAGIC.get(data[:4])
    if what is None and b"\x00" in data[:8192]:
        what = "a binary file"
    if what:
        raise BedFormatError(f"{name}: not BED-like text: looks like {what}")


def _skip_preamble(data: bytes) -> tuple[int, bytes | None]:
    """Offset of the first data line, skipping comments/track/browser lines and one header row."""
    offset = 0
    for _ in range(_MAX_PREAMBLE_LINES):
        nl = data.find(b"\n", offset)
        line = data[offset : len(data) if nl < 0 else nl]
        if _PREAMBLE.match(line):
            if nl < 0:
                return len(data), None
            offset = nl + 1
            continue
        fields = line.split()
        if len(fields) >= 2 and not _INT.match(fields[1]) and nl >= 0 and re.search(rb"[A-Za-z]", line[:200]):
            return nl + 1, line  # a column-header row such as "chr start end length abs_summit"
        return offset, None
    return offset, None


def _parse_columns(body: bytes, n_fields: int, name: str) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray, int]:
    """chrom (dictionary), start, end (float64 with NaN for non-integers) and the count of ragged rows."""
    bad_rows = 0

    def _on_invalid(row: object) -> str:
        nonlocal bad_rows
        bad_rows += 1
        return "skip"

    names = [f"f{i}" for i in range(n_fields)]
    read_opts = pacsv.ReadOptions(column_names=names, block_size=1 << 22)
    parse_opts = pacsv.ParseOptions(delimiter="\t", quote_char=False, invalid_row_handler=_on_invalid)
    dict_type = pa.dictionary(pa.int32(), pa.string())

    def _read(coord_type: pa.DataType) -> pa.Table:
        convert = pacsv.ConvertOptions(
            include_columns=names[:3],
            column_types={"f0": dict_type, "f1": coord_type, "f2": coord_type},
            strings_can_be_null=False,
        )
        return pacsv.read_csv(pa.py_buffer(body), read_opts, parse_opts, convert)

    try:
        table = _read(pa.int64())
        start = table.column("f1").to_numpy().astype(np.float64)
        end = table.column("f2").to_numpy().astype(np.float64)
    except pa.ArrowInvalid:
        bad_rows = 0  # the second pass sees the same ragged rows again
        try:
            table = _read(pa.string())
        except pa.ArrowInvalid as exc:
            raise BedFormatError(f"{name}: not BED-like text: {exc}") from exc
        start = _to_integral(table.column("f1"))
        end = _to_integral(table.column("f2"))
    return table.column("f0"), start, end, bad_rows


def _to_integral(col: pa.ChunkedArray) -> np.ndarray:
    """Strings -> float64, NaN where the text is not an integer (R's `1e+05` is accepted as 100000)."""
    values = pc.cast(pc.if_else(pc.match_substring_regex(col, r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"),
                                col, pa.scalar(None, pa.string())), pa.float64())  # fmt: skip
    out = values.to_numpy(zero_copy_only=False).astype(np.float64)
    out[~np.isfinite(out) | (out != np.round(out))] = np.nan
    return out


def _validate(
    chrom: pa.ChunkedArray,
    start: np.ndarray,
    end: np.ndarray,
    n_bad_rows: int,
    genome: Genome,
    one_based: bool,
    name: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict[str, int], dict[str, int], dict[str, tuple[int, int]]]:
    chrom = chrom.unify_dictionaries()
    dictionary = chrom.chunk(0).dictionary.to_pylist() if chrom.num_chunks else []
    indices = (
        np.concatenate([np.asarray(c.indices) for c in chrom.chunks])  # .to_numpy() is ~1000x slower here
        if chrom.num_chunks
        else np.zeros(0, np.int32)
    )
    code_of = genome.code_of()
    # -1 unknown, -2 unplaced contig: the lookup table is tiny (one entry per distinct name)
    lut = np.array(
        [code_of.get(normalise_chrom(n), -2 if is_unplaced_contig(n) else -1) for n in dictionary] or [-1],
        dtype=np.int16,
    )
    codes = lut[indices] if indices.size else np.zeros(0, np.int16)
    if one_based:
        start = start - 1
    sizes = genome.sizes[np.clip(codes, 0, None)] if codes.size else np.zeros(0, np.int64)
    with np.errstate(invalid="ignore"):
        checks = {
            "unplaced_contig": codes == -2,
            "unknown_chromosome": codes == -1,
            "non_integer_coordinate": np.isnan(start) | np.isnan(end),
            "negative_coordinate": start < 0,
            "end_not_after_start": end <= start,
            "past_chromosome_end": end > sizes,
        }
    skipped = {"too_few_columns": n_bad_rows} if n_bad_rows else {}
    bad = np.zeros(codes.shape[0], dtype=bool)
    for reason, mask in checks.items():
        new = mask & ~bad  # the last check, past_chromosome_end, leaves the lines counted under it in `new`
        count = int(new.sum())
        if count:
            skipped[reason] = count
        bad |= mask
    good = ~bad
    n_lines = int(codes.shape[0]) + n_bad_rows
    if not good.any():
        if n_lines == 0:
            raise BedFormatError(f"{name}: no data lines")
        raise BedFormatError(f"{name}: not BED-like: none of {n_lines} lines is a valid region ({_describe(skipped)})")
    contigs, past_end = _build_evidence(dictionary, indices, lut, codes, end, new, genome)
    return codes[good], start[good].astype(np.int64), end[good].astype(np.int64), n_lines, skipped, contigs, past_end


def _build_evidence(
    dictionary: list[str],
    indices: np.ndarray,
    lut: np.ndarray,
    codes: np.ndarray,
    end: np.ndarray,
    past: np.ndarray,
    genome: Genome,
) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Names of skipped non-primary sequences with their line counts (most frequent first, bounded), and per
    chromosome the lines that lie past its end (and the largest end): what tells a file of another build."""
    contigs: dict[str, int] = {}
    if dictionary and (lut < 0).any() and indices.size:
        counts = np.bincount(indices, minlength=len(dictionary))
        other = [(int(counts[i]), name) for i, name in enumerate(dictionary) if lut[i] < 0 and counts[i]]
        contigs = {name: n for n, name in sorted(other, key=lambda item: (-item[0], item[1]))[:_MAX_CONTIG_NAMES]}
    past_end: dict[str, tuple[int, int]] = {}
    if past.any():
        for code in np.unique(codes[past]):
            ends = end[past & (codes == code)]
            past_end[genome.chroms[int(code)]] = (int(ends.shape[0]), int(ends.max()))
    return contigs, past_end


def _guess_format(first: bytes, n_fields: int, preamble: bytes) -> str:
    if b"bedgraph" in preamble.lower():
        return "bedGraph"
    if n_fields == 10:
        return "narrowPeak"
    if n_fields == 9:
        return "broadPeak"
    if n_fields == 4 and re.match(rb"^[+-]?[\d.eE+-]+$", first.split(b"\t")[3].strip()):
        return "bedGraph"
    return f"bed{n_fields}" if 3 <= n_fields <= 12 else "bed"


def _describe(skipped: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1])) or "no lines"
