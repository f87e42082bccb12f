"""SOFT parsing: full sample records, nothing truncated or glued together."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.errors import SoftParseError
from annotator.geo.fetch import read_soft_files, soft_files
from annotator.geo.soft import parse_characteristic, parse_soft, to_sample, to_series

SOFT = Path(__file__).parent / "data" / "soft"


def _fixture_series(gse: str = "GSE900001"):
    return to_series(gse, read_soft_files(soft_files(SOFT, gse)))


def test_repeated_characteristics_are_kept_as_ordered_key_value_pairs() -> None:
    sample = _fixture_series().samples[0]
    assert sample.gsm == "GSM9000001"
    assert sample.characteristics == (
        ("cell line", "K562"),
        ("cell type", "chronic myelogenous leukemia"),
        ("chip antibody", "H3K4me3 (Abcam, ab8580)"),
        ("treatment", "DMSO: 0.1% for 24h"),  # split at the first colon only
        ("treatment", "vehicle control"),  # the repeated key is a second pair, not glued onto the first
    )


def test_all_supplementary_files_in_order_and_none_dropped() -> None:
    by_gsm = {s.gsm: s for s in _fixture_series().samples}
    assert [f.rsplit("/", 1)[1] for f in by_gsm["GSM9000001"].supplementary_files] == [
        "GSM9000001_H3K4me3_K562_peaks.narrowPeak.gz",
        "GSM9000001_H3K4me3_K562.bw",
    ]
    assert by_gsm["GSM9000005"].supplementary_files == ()  # GEO's "NONE"


def test_long_values_and_equals_signs_survive() -> None:
    by_gsm = {s.gsm: s for s in _fixture_series().samples}
    assert by_gsm["GSM9000009"].description is not None
    assert by_gsm["GSM9000009"].description.endswith("x" * 600)
    assert by_gsm["GSM9000002"].data_processing is not None
    assert "--extsize=200" in by_gsm["GSM9000002"].data_processing


def test_series_fields_and_sample_fields() -> None:
    series = _fixture_series()
    assert series.title is not None and series.title.startswith("Histone marks")
    assert len(series.sample_ids) == 11 and len(series.samples) == 10
    mouse = next(s for s in series.samples if s.gsm == "GSM9000004")
    assert (mouse.organism, mouse.library_strategy, mouse.source_name) == ("Mus musculus", "ChIP-Seq", "MEL cells")
    assert mouse.series_ids == ("GSE900002", "GSE900001")


def test_data_tables_and_column_descriptions_are_skipped() -> None:
    text = [
        "^SAMPLE = GSM1",
        "!Sample_title = t",
        "#ID_REF = probe id",
        "!sample_table_begin",
        "ID_REF\tVALUE",
        "!Sample_title = not a field, inside the table",
        "!sample_table_end",
        "!Sample_organism_ch1 = Homo sapiens",
        "!Sample_organism_ch1 = Mus musculus",
    ]
    [record] = parse_soft(text)
    assert record.fields["Sample_title"] == ["t"]
    assert to_sample(record).organism == "Homo sapiens; Mus musculus"


def test_characteristic_without_colon_has_no_key() -> None:
    assert parse_characteristic("HeLa cells") == (None, "HeLa cells")
    assert parse_characteristic(": odd") == (None, ": odd")


def test_attribute_before_any_entity_is_an_error_naming_the_source() -> None:
    with pytest.raises(SoftParseError, match=r"page\.html:1"):
        parse_soft(["!Sample_title = x"], "page.html")


def test_text_without_the_series_record_is_rejected() -> None:
    records = parse_soft(["^SERIES = GSE2", "!Series_title = other"])
    with pytest.raises(SoftParseError, match="does not describe GSE1: it describes GSE2"):
        to_series("GSE1", records)
    with pytest.raises(SoftParseError, match="no \\^SERIES record"):
        to_series("GSE1", [])
