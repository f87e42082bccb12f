"""What GEO holds beyond per-sample BED text: series-level files and bigBed peak files."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

import pybigtools
import pytest
from test_geo_harvest import _config

from annotator.errors import BedFormatError
from annotator.geo.bigbed import bigbed_to_bed_gz
from annotator.geo.harvest import harvest
from annotator.geo.series_files import series_file_rows
from annotator.geo.soft import parse_soft, to_series
from annotator.regions.bed import read_bed
from annotator.testing.localgeo import GeoSample, LocalGeo

SERIES = """^SERIES = GSE77
!Series_title = two marks in K562
!Series_sample_id = GSM7701
!Series_sample_id = GSM7702
!Series_sample_id = GSM7703
!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE77nnn/GSE77/suppl/GSE77_GSM7701_peaks.bed.gz
!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE77nnn/GSE77/suppl/GSE77_K562_H3K27ac_rep1.narrowPeak.gz
!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE77nnn/GSE77/suppl/GSE77_consensus_peaks.bed.gz
!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE77nnn/GSE77/suppl/GSE77_all_peaks.tar.gz
!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE77nnn/GSE77/suppl/GSE77_RAW.tar
!Series_supplementary_file = NONE
"""


def _sample(gsm: str, title: str) -> str:
    return (f"^SAMPLE = {gsm}\n!Sample_title = {title}\n!Sample_organism_ch1 = Homo sapiens\n"
            "!Sample_library_strategy = ChIP-Seq\n!Sample_data_processing = Genome_build: hg19\n"
            "!Sample_supplementary_file_1 = NONE\n")  # fmt: skip


def test_series_files_attach_to_the_sample_they_name_or_stay_series_rows_with_a_reason() -> None:
    text = SERIES + _sample("GSM7701", "K562 H3K4me3 rep1") + _sample("GSM7702", "K562_H3K27ac_rep1")
    text += _sample("GSM7703", "WT")  # too short a title to be matched in a file name
    series = to_series("GSE77", parse_soft(text.splitlines()))
    assert len(series.supplementary_files) == 5  # NONE left out
    rows = {r["sample_id"]: r for r in series_file_rows(series, "GSE77", "hg19", ["ChIP-Seq"])}
    assert rows["GSM7701/GSE77_GSM7701_peaks.bed.gz"]["selected"]  # named by its GSM
    by_title = rows["GSM7702/GSE77_K562_H3K27ac_rep1.narrowPeak.gz"]
    assert by_title["selected"] and by_title["title"] == "K562_H3K27ac_rep1"  # named by its title
    consensus = rows["GSE77/GSE77_consensus_peaks.bed.gz"]
    assert (consensus["gsm"], consensus["selected"], consensus["skip_reason"]) == (
        "GSE77",
        False,
        "series_file_names_no_sample",
    )
    archive = rows["GSE77/GSE77_all_peaks.tar.gz"]  # GSM7703 lists no file and no series file names it: may hold it
    assert archive["selected"] and archive["skip_reason"] is None and archive["file_kind"] == "tar"
    raw = rows["GSE77/GSE77_RAW.tar"]  # GEO bundles the listed files only: nothing in it for GSM7703
    assert not raw["selected"] and raw["skip_reason"] == "series_archive_of_listed_files"


@pytest.mark.parametrize("lists", ["every sample lists its files", "no sample lists a file"])
def test_geo_raw_bundle_is_never_selected(lists: str) -> None:
    own = "ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM7nnn/{0}/suppl/{0}_peaks.bed.gz"
    text = ("^SERIES = GSE80\n!Series_title = t\n!Series_sample_id = GSM8001\n!Series_sample_id = GSM8002\n"
            "!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE80nnn/GSE80/suppl/gse80_raw.TAR\n"
            "!Series_supplementary_file = ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE80nnn/GSE80/suppl/GSE80_RAW.tar\n")
    for gsm in ("GSM8001", "GSM8002"):
        sample = _sample(gsm, f"K562 H3K27ac {gsm}")
        if lists == "every sample lists its files":
            sample = sample.replace("NONE", own.format(gsm))
        text += sample
    rows = series_file_rows(to_series("GSE80", parse_soft(text.splitlines())), "GSE80", "hg19", ["ChIP-Seq"])
    assert {r["file_name"]: (r["selected"], r["skip_reason"]) for r in rows} == {
        name: (False, "series_archive_of_listed_files") for name in ("gse80_raw.TAR", "GSE80_RAW.tar")
    }


def test_a_gsm_inside_a_longer_number_does_not_match() -> None:
    text = SERIES.replace("GSE77_GSM7701_peaks", "GSE77_GSM77012_peaks") + _sample("GSM7701", "x")
    rows = series_file_rows(to_series("GSE77", parse_soft(text.splitlines())), "GSE77", "hg19", ["ChIP-Seq"])
    assert "GSE77/GSE77_GSM77012_peaks.bed.gz" in {r["sample_id"] for r in rows}


def _bigbed(path: Path, rows: list[tuple[str, int, int, str]]) -> bytes:
    writer = pybigtools.open(str(path), "w")
    writer.write({"chr1": 249_250_621, "chr2": 243_199_373}, iter(rows))
    return path.read_bytes()


def test_bigbed_becomes_bed_text_and_a_damaged_one_is_a_clear_error(tmp_path: Path) -> None:
    rows = [("chr1", 1000 * i, 1000 * i + 300, f"p{i}\t{i}\t.") for i in range(1, 50)] + [("chr2", 5, 90, "q\t1\t+")]
    src = tmp_path / "x.bb"
    _bigbed(src, rows)
    n = bigbed_to_bed_gz(src, tmp_path / "x.bed.gz")
    assert n == 50
    lines = gzip.decompress((tmp_path / "x.bed.gz").read_bytes()).decode().splitlines()
    assert lines[0] == "chr1\t1000\t1300\tp1\t1\t." and lines[-1] == "chr2\t5\t90\tq\t1\t+"
    assert len(read_bed(tmp_path / "x.bed.gz")) == 50
    (tmp_path / "cut.bb").write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(BedFormatError, match="unreadable bigBed"):
        bigbed_to_bed_gz(tmp_path / "cut.bb", tmp_path / "cut.bed.gz")
    with pytest.raises(BedFormatError, match="not a bigBed"):
        bigbed_to_bed_gz(tmp_path / "x.bed.gz", tmp_path / "y.bed.gz")
    assert not (tmp_path / "cut.bed.gz").exists()
    with pytest.raises(BedFormatError, match="more than 10 regions"):
        bigbed_to_bed_gz(src, tmp_path / "z.bed.gz", max_regions=10)


def test_a_bigbed_peak_file_is_downloaded_converted_and_selected(tmp_path: Path) -> None:
    data = _bigbed(tmp_path / "src.bb", [("chr1", 1000 * i, 1000 * i + 300, f"p{i}") for i in range(1, 80)])
    sample = GeoSample("GSM7801", "K562 CTCF", ("cell line: K562",), {"GSM7801_CTCF_peaks.bb": data})
    with LocalGeo() as geo:
        geo.add_series("GSE78", [sample])
        result = harvest(_config(tmp_path, soft_dir=None, metadata_only=False, geo_base_url=geo.url), ["GSE78"])
    (row,) = result.samples.to_pylist()
    assert row["selected"] and row["file_kind"] == "bigbed" and row["download_status"] == "downloaded"
    assert re.fullmatch(r"beds/GSM7801/[0-9a-f]{12}_GSM7801_CTCF_peaks\.bb\.bed\.gz", row["local_path"])
    assert len(read_bed(tmp_path / "work" / row["local_path"])) == 79
    assert not list((tmp_path / "work" / "beds" / ".partial").glob("*"))  # the raw bigBed is not kept


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:  # a symbolic link pointing out of any workdir
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
                continue
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_series_archive_is_read_member_by_member_for_samples_without_files(tmp_path: Path) -> None:
    peaks = gzip.compress(b"".join(b"chr1\t%d\t%d\n" % (1000 * i, 1000 * i + 200) for i in range(1, 40)))
    archive = _tar([
        ("GSE79_peaks/GSM7902_H3K4me3_peaks.bed.gz", peaks),  # the sample that lists no file: read
        ("../../../GSM7902_escape.narrowPeak", b"chr2\t10\t500\n"),  # a path out of the archive: base name only
        ("GSM7902_link.bed", None),  # a link: skipped
        ("GSM7901_peaks.bed.gz", peaks),  # a sample with its own file: not served from the archive
        ("GSM7902_signal.bw", b"\x00" * 10),  # not BED-like
        ("GSM7902_big.bed", b"chr1\t1\t2\n" * 5000),  # over the size cap
    ])  # fmt: skip
    own = GeoSample("GSM7901", "K562 CTCF", ("cell line: K562",), {"GSM7901_CTCF.bed.gz": peaks})
    bare = GeoSample("GSM7902", "K562 H3K4me3", ("cell line: K562",), {})
    url = "ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE79nnn/GSE79/suppl/GSE79_peaks.tar.gz"
    with LocalGeo() as geo:
        geo.add_series("GSE79", [own, bare], extra=[f"!Series_supplementary_file = {url}"])
        geo.add_file("/geo/series/GSE79nnn/GSE79/suppl/GSE79_peaks.tar.gz", archive)
        config = _config(tmp_path, soft_dir=None, metadata_only=False, geo_base_url=geo.url, max_file_bytes=20_000)
        result = harvest(config, ["GSE79"])
        again = harvest(config, ["GSE79"])  # the archive is not fetched again: read from the copy kept
        assert geo.requests["/geo/series/GSE79nnn/GSE79/suppl/GSE79_peaks.tar.gz"] == 1
    rows = {r["sample_id"]: r for r in result.samples.to_pylist()}
    member = rows["GSM7902/GSM7902_H3K4me3_peaks.bed.gz"]
    assert member["selected"] and member["download_status"] == "downloaded" and member["gse"] == "GSE79"
    assert member["file_url"] == f"{url}/GSM7902_H3K4me3_peaks.bed.gz"
    assert len(read_bed(tmp_path / "work" / member["local_path"])) == 39
    escaped = rows["GSM7902/GSM7902_escape.narrowPeak"]
    assert re.fullmatch(r"beds/GSM7902/[0-9a-f]{12}_GSM7902_escape\.narrowPeak", escaped["local_path"])
    assert rows["GSE79/GSE79_peaks.tar.gz"]["skip_reason"] == "archive_read_member_by_member"
    assert not rows["GSE79/GSE79_peaks.tar.gz"]["selected"]  # the archive itself is never projected
    assert {s for s in rows if "link" in s or "signal" in s or "big" in s or "GSM7901_peaks" in s} == set()
    assert not (tmp_path / "GSM7902_escape.narrowPeak").exists() and not (tmp_path.parent / "etc").exists()
    kept = (tmp_path / "work" / "beds").glob("GSM*/*")  # each sample's files in its own folder, name after a digest
    assert sorted(f"{p.parent.name}/{p.name.split('_', 1)[1]}" for p in kept) == [
        "GSM7901/GSM7901_CTCF.bed.gz", "GSM7902/GSM7902_H3K4me3_peaks.bed.gz",
        "GSM7902/GSM7902_escape.narrowPeak"]  # fmt: skip
    assert again.samples.equals(result.samples) and again.counts["cached"] == 2
