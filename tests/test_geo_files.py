"""Supplementary-file classification and URL handling."""

from __future__ import annotations

import pytest

from annotator.geo.files import classify_file, file_name_from_url, https_url, local_file_name


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("GSM1_x_peaks.narrowPeak.gz", "narrowPeak"),
        ("GSM1_x.broadPeak", "broadPeak"),
        ("GSM1_x.bed.gz", "bed"),
        ("GSM1_x.BED", "bed"),
        ("GSM1_x_peaks.txt.gz", "peaks_table"),
        ("GSM1_x_peaks.xls", "peaks_table"),
        ("GSM1_x_peakcalls.tsv.bz2", "peaks_table"),
        ("GSM1_HCT116-FPKM.txt.gz", "other"),
        ("GSM1_diffloopgene.txt.gz", "other"),
        ("GSM1_counts.xls", "other"),  # an .xls that does not say peaks is probably a real spreadsheet
        ("GSM1_x.bw", "bigwig"),
        ("GSM1_x.bigWig", "bigwig"),
        ("GSM1_x.bb", "bigbed"),
        ("GSE1_RAW.tar", "tar"),
        ("GSM1_x.bed.tar.gz", "tar"),
        ("GSM1_x.bedGraph.gz", "other"),  # a signal track, not a region set
    ],
)
def test_classify_file(name: str, kind: str) -> None:
    assert classify_file(name) == kind


def test_geo_ftp_urls_are_fetched_over_https() -> None:
    url = "ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM4115nnn/GSM4115598/suppl/GSM4115598_peaks.txt.gz"
    assert https_url(url) == url.replace("ftp://", "https://", 1)
    assert https_url("ftp://example.org/a.bed") == "ftp://example.org/a.bed"
    assert https_url("http://127.0.0.1:8000/a.bed") == "http://127.0.0.1:8000/a.bed"


def test_file_name_from_url_decodes() -> None:
    assert file_name_from_url("https://h/x/GSM1_a%20b.bed.gz") == "GSM1_a b.bed.gz"


def test_local_file_name_is_flat_safe_and_prefixed() -> None:
    assert local_file_name("GSM1", "GSM1_a b.bed") == "GSM1_a_b.bed"
    escaped = local_file_name("GSM1", "../../etc/passwd")
    assert escaped.startswith("GSM1_") and "/" not in escaped
    assert local_file_name("GSM1", "peaks.bed") == "GSM1_peaks.bed"
    assert local_file_name("GSM1", "...") == "GSM1_file"
