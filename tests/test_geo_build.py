"""Genome-build detection: explicit fields, file names, free text, conflicts and organisms."""

from __future__ import annotations

import pytest

from annotator.geo.build import builds_in_text, detect_build, normalise_build
from annotator.geo.soft import Sample, parse_soft, to_sample


def _sample(*lines: str, organism: str = "Homo sapiens") -> Sample:
    [record] = parse_soft(["^SAMPLE = GSM1", f"!Sample_organism_ch1 = {organism}", *lines])
    return to_sample(record)


@pytest.mark.parametrize(
    ("text", "build"),
    [
        ("hg19", "hg19"),
        ("GRCh37", "hg19"),
        ("GRCh37.p13", "hg19"),
        ("b37", "hg19"),
        ("hs37d5", "hg19"),
        ("HG38", "hg38"),
        ("GRCh38", "hg38"),
        ("mm10", "mm10"),
        ("GRCm38", "mm10"),
        ("NCBI36", "hg18"),
        ("danrer11", "danRer11"),
        ("human", None),
        ("hg19ToHg38", None),  # a liftover chain names no single build
    ],
)
def test_normalise_build(text: str, build: str | None) -> None:
    assert normalise_build(text) == build


def test_build_names_need_delimiters() -> None:
    assert builds_in_text("GSM1_JHRCC12_lib37_H3K4me3.bed") == []
    assert builds_in_text("GSM1_K562_hg19_peaks.bed") == ["hg19"]
    assert builds_in_text("aligned to GRCh37 (hg19) and lifted to hg38") == ["hg19", "hg38"]


def test_genome_build_line_in_data_processing() -> None:
    call = detect_build(_sample("!Sample_data_processing = Genome_build: GRCh37"))
    assert call.build == "hg19"
    assert "Genome_build: GRCh37" in call.evidence


def test_genome_build_characteristic() -> None:
    call = detect_build(_sample("!Sample_characteristics_ch1 = genome build: hg19"))
    assert call.build == "hg19" and "characteristics" in call.evidence


def test_file_name_alone() -> None:
    call = detect_build(_sample(), "GSM1_peaks_hg19.bed.gz")
    assert call.build == "hg19" and "file name" in call.evidence


def test_file_name_contradicting_the_field_is_ambiguous() -> None:
    call = detect_build(_sample("!Sample_data_processing = Genome_build: hg19"), "GSM1_hg38_peaks.bed")
    assert call.build == "ambiguous"
    assert "hg19" in call.evidence and "hg38" in call.evidence


def test_two_builds_in_the_field_are_told_apart_by_file_name() -> None:
    sample = _sample("!Sample_data_processing = Genome_build: hg19 and hg38")
    assert detect_build(sample).build == "ambiguous"
    assert detect_build(sample, "GSM1_hg38_peaks.bed").build == "hg38"
    assert detect_build(sample, "GSM1_hg19_peaks.bed").build == "hg19"
    assert detect_build(sample, "GSM1_peaks.bed").build == "ambiguous"


def test_free_text_is_a_fallback_only() -> None:
    text = "!Sample_data_processing = Reads were mapped to the hg19 genome assembly using BWA"
    assert detect_build(_sample(text)).build == "hg19"
    # an explicit field wins over a build named in passing
    explicit = _sample(text, "!Sample_data_processing = Genome_build: hg38")
    assert detect_build(explicit).build == "hg38"


def test_no_evidence_is_unknown() -> None:
    call = detect_build(_sample("!Sample_data_processing = peaks called with MACS2"), "GSM1_peaks.bed")
    assert call.build == "unknown"


def test_a_mouse_sample_is_never_hg19() -> None:
    call = detect_build(_sample("!Sample_data_processing = Genome_build: hg19", organism="Mus musculus"))
    assert call.build == "ambiguous"
    assert "Mus musculus" in call.evidence
    assert detect_build(_sample("!Sample_data_processing = Genome_build: mm10", organism="Mus musculus")).build == (
        "mm10"
    )
