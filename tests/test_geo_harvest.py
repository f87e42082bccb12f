"""The harvest stage end to end: selection decisions on hand-made SOFT fixtures, downloads from a local server,
incremental re-runs."""

from __future__ import annotations

import dataclasses
import gzip
import re
from pathlib import Path
from typing import Any

import pytest
from test_geo_download import GeoServer, ok, serving

from annotator.config import Config
from annotator.errors import InputError
from annotator.geo.harvest import harvest, read_gse_file, resolve_accessions
from annotator.schema import SAMPLES
from annotator.tables import read_table

SOFT = Path(__file__).parent / "data" / "soft"


def _config(tmp_path: Path, **kwargs: Any) -> Config:
    base = Config(
        workdir=tmp_path / "work", soft_dir=SOFT, metadata_only=True, download_retries=1, download_backoff_s=0.0
    )
    return dataclasses.replace(base, **kwargs)


def _rows(result: Any) -> dict[str, dict[str, Any]]:
    return {r["sample_id"]: r for r in result.samples.to_pylist()}


def test_every_sample_and_file_gets_a_row_with_its_decision(tmp_path: Path) -> None:
    result = harvest(_config(tmp_path), ["GSE900001"])
    rows = _rows(result)
    reasons = {sid: r["skip_reason"] for sid, r in rows.items()}
    assert reasons == {
        "GSM9000001/GSM9000001_H3K4me3_K562_peaks.narrowPeak.gz": None,
        "GSM9000001/GSM9000001_H3K4me3_K562.bw": "bigwig_file",
        "GSM9000002/GSM9000002_H3K27ac_K562_peaks.bed.gz": "genome_build_unknown",
        "GSM9000003/GSM9000003_H3K27me3_K562_hg38.broadPeak.gz": "genome_build_ambiguous",
        "GSM9000004/GSM9000004_H3K4me1_MEL_peaks.narrowPeak.gz": "organism_mismatch",
        "GSM9000005": "no_supplementary_file",
        "GSM9000006/GSM9000006_K562-FPKM.txt.gz": "library_strategy_not_selected",
        "GSM9000007/GSM9000007_K562_peaks.narrowPeak.gz": "library_strategy_not_selected",
        "GSM9000008/GSM9000008_CTCF_K562_peaks.xls.gz": None,
        "GSM9000008/GSM9000008_CTCF_K562_RAW.tar": "tar_archive",
        "GSM9000009/GSM9000009_H3K36me3_K562_peaks.narrowPeak.gz": None,
        "GSM9000010/GSM9000010_H3K9me3_K562_hg19_peaks.bed.gz": None,
        "GSM9000010/GSM9000010_H3K9me3_K562_hg38_peaks.bed.gz": "other_genome_build",
        "GSM9000011": "no_sample_record",  # listed by the series, absent from the sample SOFT: reported
        # GEO's bundle of the samples' listed files: it holds nothing for GSM9000005, which lists none
        "GSE900001/GSE900001_RAW.tar": "series_archive_of_listed_files",
    }
    assert all(r["selected"] == (r["skip_reason"] is None) for r in rows.values())
    assert all(r["download_status"] == "not_attempted" and r["local_path"] is None for r in rows.values())
    assert result.counts["selected"] == 4 and result.counts["samples"] == 11
    assert result.skipped_by_reason["library_strategy_not_selected"] == 2


def test_rows_carry_full_metadata_and_build_evidence(tmp_path: Path) -> None:
    rows = _rows(harvest(_config(tmp_path), ["GSE900001"]))
    first = rows["GSM9000001/GSM9000001_H3K4me3_K562_peaks.narrowPeak.gz"]
    assert first["characteristics"][3] == {"key": "treatment", "value": "DMSO: 0.1% for 24h"}
    assert len(first["characteristics"]) == 5
    assert (first["gse"], first["title"], first["organism"]) == ("GSE900001", "H3K4me3_K562", "Homo sapiens")
    assert first["file_url"].startswith("ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM9000nnn/GSM9000001/suppl/")
    assert first["file_kind"] == "narrowPeak" and "Genome_build: hg19" in first["build_evidence"]
    free_text = rows["GSM9000009/GSM9000009_H3K36me3_K562_peaks.narrowPeak.gz"]
    assert free_text["genome_build"] == "hg19" and "hg19 genome assembly" in free_text["build_evidence"]
    mouse = rows["GSM9000004/GSM9000004_H3K4me1_MEL_peaks.narrowPeak.gz"]
    assert mouse["genome_build"] == "mm10"


def test_samples_parquet_round_trips_with_the_schema(tmp_path: Path) -> None:
    result = harvest(_config(tmp_path), ["GSE900001"])
    assert result.path == tmp_path / "work" / "samples.parquet"
    table = read_table("samples", result.path)
    assert table.schema.equals(SAMPLES) and table.to_pylist() == result.samples.to_pylist()


def test_strategy_option_selects_atac(tmp_path: Path) -> None:
    rows = _rows(harvest(_config(tmp_path, strategies=("ATAC-seq",)), ["GSE900001"]))
    assert rows["GSM9000007/GSM9000007_K562_peaks.narrowPeak.gz"]["selected"]
    assert rows["GSM9000001/GSM9000001_H3K4me3_K562_peaks.narrowPeak.gz"]["skip_reason"] == (
        "library_strategy_not_selected"
    )


def test_samples_shared_by_super_and_subseries_appear_once(tmp_path: Path) -> None:
    result = harvest(_config(tmp_path), ["GSE900002", "GSE900001", "GSE900002"])
    ids = result.samples.column("sample_id").to_pylist()
    assert len(ids) == len(set(ids))
    rows = _rows(result)
    assert rows["GSM9000001/GSM9000001_H3K4me3_K562_peaks.narrowPeak.gz"]["gse"] == "GSE900002"
    assert rows["GSM9000004/GSM9000004_H3K4me1_MEL_peaks.narrowPeak.gz"]["gse"] == "GSE900001"
    by_series = {s.gse: s for s in result.series}
    assert by_series["GSE900002"].shared == 0 and by_series["GSE900001"].shared == 3


def test_an_unreadable_series_is_reported_and_the_rest_harvested(tmp_path: Path) -> None:
    result = harvest(_config(tmp_path), ["GSE123", "GSE900002"])
    assert set(result.failed_series) == {"GSE123"} and "no SOFT files for GSE123" in result.failed_series["GSE123"]
    assert result.counts["series"] == 1 and result.counts["series_failed"] == 1
    assert not result.ok
    assert len(result.samples) == 3


def test_accessions_are_checked_deduplicated_and_read_from_a_file(tmp_path: Path) -> None:
    listing = tmp_path / "gses.txt"
    listing.write_text("# nightly list\nGSE3, gse1\n\nGSE2  # a comment\n")
    assert read_gse_file(listing) == ["GSE3", "GSE1", "GSE2"]
    assert resolve_accessions(["gse1", "GSE4"], gse_file=listing) == ["GSE1", "GSE4", "GSE3", "GSE2"]
    with pytest.raises(InputError, match="not GEO series accessions: GSM1"):
        resolve_accessions(["GSM1"])
    with pytest.raises(InputError, match="nothing to harvest"):
        resolve_accessions([])
    with pytest.raises(InputError, match="cannot read the accession file"):
        read_gse_file(tmp_path / "missing.txt")


# --- downloads ------------------------------------------------------------------------------------------------

PEAKS = b"".join(b"chr1\t%d\t%d\tp%d\t100\t.\t5.0\t10.0\t8.0\t250\n" % (i * 5000, i * 5000 + 400, i) for i in range(50))
FPKM = b"gene_id\tgene_name\tFPKM\n" + b"".join(b"ENSG%08d\tG%d\t%d.5\n" % (i, i, i) for i in range(50))


PEAKS_GZ = gzip.compress(PEAKS, mtime=0)
FPKM_GZ = gzip.compress(FPKM, mtime=0)


def _served_series(server: GeoServer, soft_dir: Path) -> None:
    """A series whose three ChIP-seq samples point at the local server: a peak file, an expression table named
    like a peak table, and a file the server does not have (yet)."""
    samples = [("GSM1", "GSM1_H3K4me3_peaks.narrowPeak.gz"), ("GSM2", "GSM2_peaks.txt.gz"), ("GSM3", "GSM3.bed.gz")]
    lines = ["^SERIES = GSE1", "!Series_title = served"] + [f"!Series_sample_id = {g}" for g, _ in samples]
    for gsm, name in samples:
        lines += [
            f"^SAMPLE = {gsm}",
            f"!Sample_title = {gsm}",
            "!Sample_organism_ch1 = Homo sapiens",
            "!Sample_library_strategy = ChIP-Seq",
            "!Sample_data_processing = Genome_build: hg19",
            f"!Sample_supplementary_file_1 = {server.url('/' + name)}",
        ]
    (soft_dir / "GSE1_family.soft").write_text("\n".join(lines) + "\n")
    server.routes["/GSM1_H3K4me3_peaks.narrowPeak.gz"] = ok(PEAKS_GZ)
    server.routes["/GSM2_peaks.txt.gz"] = ok(FPKM_GZ)


def test_download_confirm_and_incremental_rerun(tmp_path: Path) -> None:
    soft_dir = tmp_path / "soft"
    soft_dir.mkdir()
    with serving() as server:
        _served_series(server, soft_dir)
        config = _config(tmp_path, soft_dir=soft_dir, metadata_only=False, allow_local_urls=True)
        first = harvest(config, ["GSE1"])
        rows = {r["gsm"]: r for r in first.samples.to_pylist()}
        assert rows["GSM1"]["download_status"] == "downloaded" and rows["GSM1"]["selected"]
        assert re.fullmatch(r"beds/GSM1/[0-9a-f]{12}_GSM1_H3K4me3_peaks\.narrowPeak\.gz", rows["GSM1"]["local_path"])
        assert (config.workdir / rows["GSM1"]["local_path"]).read_bytes() == PEAKS_GZ
        assert rows["GSM2"]["download_status"] == "not_bed_like" and not rows["GSM2"]["selected"]
        assert (
            rows["GSM2"]["skip_reason"] == "content_not_bed_like" and "not BED-like" in rows["GSM2"]["download_error"]
        )
        assert rows["GSM3"]["download_status"] == "failed" and "HTTP 404" in rows["GSM3"]["download_error"]
        assert rows["GSM3"]["selected"] and rows["GSM3"]["local_path"] is None
        assert not first.ok
        assert (first.counts["downloaded"], first.counts["not_bed_like"], first.counts["failed"]) == (1, 1, 1)

        # the missing file appears; a re-run fetches only it
        server.routes["/GSM3.bed.gz"] = ok(PEAKS_GZ)
        before = len(server.requests)
        second = harvest(config, ["GSE1"])
        assert [p for p, _ in server.requests[before:]] == ["/GSM3.bed.gz"]
        again = {r["gsm"]: r for r in second.samples.to_pylist()}
        assert [again[g]["download_status"] for g in ("GSM1", "GSM2", "GSM3")] == [
            "downloaded",  # reused: the row reads as on the first run, so re-runs write the same table
            "not_bed_like",
            "downloaded",
        ]
        assert again["GSM1"] == rows["GSM1"]
        assert (second.counts["cached"], second.counts["downloaded"]) == (2, 2)
        assert len(second.samples) == len(first.samples) == 3 and second.ok

        # a file damaged on disk is fetched again rather than trusted
        (config.workdir / "beds" / "GSM1_H3K4me3_peaks.narrowPeak.gz").write_bytes(b"garbage")
        third = {r["gsm"]: r for r in harvest(config, ["GSE1"]).samples.to_pylist()}
        assert third["GSM1"]["download_status"] == "downloaded"


def test_metadata_only_downloads_nothing(tmp_path: Path) -> None:
    soft_dir = tmp_path / "soft"
    soft_dir.mkdir()
    with serving() as server:
        _served_series(server, soft_dir)
        result = harvest(_config(tmp_path, soft_dir=soft_dir, allow_local_urls=True), ["GSE1"])
        assert server.requests == []
    assert result.counts["selected"] == 3 and not (tmp_path / "work" / "beds").exists()
