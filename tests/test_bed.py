import gzip
from pathlib import Path

import numpy as np
import pytest

from annotator.errors import BedFormatError
from annotator.regions.bed import parse_bed_bytes, read_bed, sniff_bed
from annotator.regions.genome import HG19, normalise_chrom


def _codes(*names: str) -> list[int]:
    return [HG19.chroms.index(n) for n in names]


def test_bed3_plain_and_gzip_give_the_same_regions(tmp_path: Path) -> None:
    text = b"chr1\t10\t20\nchr2\t5\t50\n"
    (tmp_path / "a.bed").write_bytes(text)
    (tmp_path / "a.bed.gz").write_bytes(gzip.compress(text))
    for name in ("a.bed", "a.bed.gz"):
        r = read_bed(tmp_path / name)
        assert r.chrom.tolist() == _codes("chr1", "chr2")
        assert r.start.tolist() == [10, 5] and r.end.tolist() == [20, 50]
        assert r.n_lines == 2 and r.skipped == {}


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (b"chr1\t100\t200\tpeak1\t500\t.\t3.2\t5.1\t2.0\t50\n", "narrowPeak"),
        (b"chr1\t100\t200\tpeak1\t500\t.\t3.2\t5.1\t2.0\n", "broadPeak"),
        (b"track type=bedGraph name=x\nchr1\t100\t200\t1.5\n", "bedGraph"),
        (b"chr1\t100\t200\tn\t0\t+\t100\t200\t0\t2\t10,20,\t0,80,\n", "bed12"),
        (b"browser position chr1:1-1000\ntrack name=peaks\n# comment\nchr1\t100\t200\tx\t1\t-\n", "bed6"),
    ],
)
def test_common_formats_are_read_with_headers_skipped(text: bytes, fmt: str) -> None:
    r = parse_bed_bytes(text)
    assert r.file_format == fmt
    assert (r.start.tolist(), r.end.tolist()) == ([100], [200])


def test_macs_xls_table_is_shifted_from_one_based() -> None:
    text = (
        b"# Command line: macs2 callpeak -t x.bam\n# d = 200\n\n"
        b"chr\tstart\tend\tlength\tabs_summit\tpileup\t-log10(pvalue)\tfold_enrichment\t-log10(qvalue)\tname\n"
        b"chr1\t101\t200\t100\t150\t10\t5\t3\t4\tp1\n"
    )
    r = parse_bed_bytes(text)
    assert r.file_format == "macs_xls"
    assert (r.start.tolist(), r.end.tolist()) == ([100], [200])


def test_whitespace_separated_and_crlf_lines() -> None:
    r = parse_bed_bytes(b"chr1  100   200\r\nchr1 300 400\r\n")
    assert r.start.tolist() == [100, 300] and r.end.tolist() == [200, 400]


def test_chromosome_names_are_normalised_never_guessed() -> None:
    text = b"1\t0\t10\nMT\t0\t10\nchrMT\t0\t10\nx\t0\t10\n23\t0\t10\n24\t0\t10\nchr1_gl000191_random\t0\t10\n"
    r = parse_bed_bytes(text)
    assert r.chrom.tolist() == _codes("chr1", "chrM", "chrM", "chrX")
    assert r.skipped == {"unknown_chromosome": 2, "unplaced_contig": 1}
    assert normalise_chrom("23") == "23"


def test_bad_lines_are_skipped_and_counted_per_reason() -> None:
    text = (
        b"chr1\t100\t200\n"  # good
        b"chr1\tabc\t200\n"  # non-integer
        b"chr1\t300\t300\n"  # end == start
        b"chr1\t500\t400\n"  # end < start
        b"chr1\t-5\t10\n"  # negative
        b"chrM\t16000\t17000\n"  # past chrM end (16,571)
        b"chrFoo\t1\t2\n"  # unknown chromosome
        b"chr2\t1e+05\t100100\n"  # R's scientific notation is still an integer
        b"chr2\t10.5\t20\n"  # not an integer
        b"chr3\t10\n"  # too few columns
    )
    r = parse_bed_bytes(text)
    assert r.start.tolist() == [100, 100000]
    assert r.skipped == {
        "non_integer_coordinate": 2,
        "end_not_after_start": 2,
        "negative_coordinate": 1,
        "past_chromosome_end": 1,
        "unknown_chromosome": 1,
        "too_few_columns": 1,
    }
    assert r.n_lines == 10 and len(r) + r.n_skipped == r.n_lines


def test_region_ending_exactly_at_chromosome_end_is_valid() -> None:
    size = int(HG19.sizes[HG19.chroms.index("chrM")])
    r = parse_bed_bytes(f"chrM\t{size - 10}\t{size}\n".encode())
    assert len(r) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"track name=x\n# only comments\n", "no data lines"),
        (b"\x00\x01\x02binary" * 10, "binary"),
        (b"\x26\xfc\x8f\x88" + b"\x00" * 100, "bigWig"),
        (b"gene_id\tlength\tFPKM\nENSG0001\t1000\t3.5\nENSG0002\t200\t0.1\n", "not BED-like"),
        (b"just one column\nanother line here\n", "not BED-like"),
    ],
)
def test_unusable_files_raise_a_clear_error_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "weird.bed"
    path.write_bytes(content)
    with pytest.raises(BedFormatError, match=message) as info:
        read_bed(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_is_reported_as_such(tmp_path: Path) -> None:
    blob = gzip.compress(b"".join(b"chr1\t%d\t%d\n" % (i * 10, i * 10 + 5) for i in range(5000)))
    path = tmp_path / "cut.bed.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(BedFormatError, match="truncated gzip"):
        read_bed(path)


def test_missing_file_is_a_bed_format_error(tmp_path: Path) -> None:
    with pytest.raises(BedFormatError, match="cannot read"):
        read_bed(tmp_path / "nope.bed")


def test_sniff_tells_peak_files_from_expression_tables(tmp_path: Path) -> None:
    peaks = tmp_path / "x_peaks.narrowPeak.gz"
    peaks.write_bytes(gzip.compress(b"chr1\t1\t100\tp\t1\t.\t1\t1\t1\t5\n" * 10))
    fpkm = tmp_path / "x_FPKM.txt.gz"
    fpkm.write_bytes(gzip.compress(b"tracking_id\tFPKM\nDDX11L1\t0.5\nWASH7P\t12.1\n"))
    assert sniff_bed(peaks) == (True, "narrowPeak")
    ok, reason = sniff_bed(fpkm)
    assert not ok and "not BED-like" in reason


def test_large_file_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    chrom = rng.integers(0, 24, n)
    start = rng.integers(0, 40_000_000, n)
    end = start + rng.integers(1, 5000, n)
    names = np.asarray(HG19.chroms)[chrom]
    text = "".join(f"{c}\t{s}\t{e}\tpeak{i}\t0\t.\n" for i, (c, s, e) in enumerate(zip(names, start, end, strict=True)))
    path = tmp_path / "big.bed.gz"
    path.write_bytes(gzip.compress(text.encode()))
    r = read_bed(path)
    assert r.chrom.tolist() == chrom.tolist()
    assert r.start.tolist() == start.tolist() and r.end.tolist() == end.tolist()
