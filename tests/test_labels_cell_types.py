"""Cell types: synonyms, normalisation, the model's spelling and the documented fuzzy threshold."""

import pytest

from annotator.labels import extract_labels, normalise_cell_type, parse_cell_type


@pytest.mark.parametrize(
    ("text", "canonical", "method"),
    [
        ("K562", "K562", "exact"),
        ("K-562 cells", "K562", "normalised"),
        ("GM12878", "GM12878", "exact"),
        ("HepG2", "HepG2", "exact"),
        ("Hep G2", "HepG2", "normalised"),
        ("HEPG2 cell line", "HepG2", "normalised"),
        ("HeLa-S3", "HeLa-S3", "exact"),
        ("HeLa", "HeLa-S3", "normalised"),
        ("MCF7", "MCF-7", "normalised"),
        ("MCF-7 cells", "MCF-7", "normalised"),
        ("H1-hESC", "H1-hESC", "exact"),
        ("H1", "H1-hESC", "normalised"),
        ("A549", "A549", "exact"),
        ("IMR90", "IMR-90", "normalised"),
        ("HCT-116", "HCT116", "normalised"),
        ("LNCaP", "LNCaP", "exact"),
        ("VCap", "VCaP", "normalised"),
        ("22RV1", "22Rv1", "normalised"),
        ("CD14+ monocytes", "CD14+ monocytes", "exact"),
        ("GM1287", "GM12878", "fuzzy"),  # one dropped character
    ],
)
def test_cell_type_spellings(text: str, canonical: str, method: str) -> None:
    label = parse_cell_type(text)
    assert label is not None and (label.canonical, label.method) == (canonical, method)


@pytest.mark.parametrize(
    ("title", "canonical", "raw"),
    [
        ("K562 H3K4me2 dm60 fragments", "K562", "K562"),
        ("VCap shCt AR peaks", "VCaP", "VCap"),
        ("ChIP-seq of HeLa-S3 H3K27ac", "HeLa-S3", "HeLa-S3"),  # the longer name wins over HeLa
        ("H3K4me3_Hep_G2_rep1", "HepG2", "Hep_G2"),
    ],
)
def test_cell_type_is_found_inside_a_title(title: str, canonical: str, raw: str) -> None:
    label = parse_cell_type(title)
    assert (label.canonical, label.raw) == (canonical, raw)


@pytest.mark.parametrize(
    "text", ["Primary AFH1 H3K27ac peaks", "IgE H3K3me3 peaks", "H3K4me3", "GSM1234567", "input", "rep1", ""]
)
def test_texts_naming_no_cell_type(text: str) -> None:
    assert parse_cell_type(text) is None


def test_fuzzy_threshold_keeps_sibling_lines_apart() -> None:
    # one substitution in a 7-character name scores 85.7 < 88: GM1287B is not read as a typo of GM12878
    assert parse_cell_type("GM1287B", ontologies=False) is None
    assert parse_cell_type("GM1287B", fuzzy_threshold=85, ontologies=False).canonical == "GM12878"
    # nor does a name cut at its hyphen: "Kasumi" of Kasumi-3 is one character from Kasumi-1
    assert parse_cell_type("Kasumi-3 cells", ontologies=False) is None


def test_a_line_the_vocabulary_knows_is_never_corrected_to_a_table_name_when_reading_a_sample() -> None:
    # reading a sample (`extract_labels`, ontologies off in the first pass): NCI-H60 is not a typo of NCI-H460
    # nor MCF 10.2A of MCF 10A; each is read as itself, with its own identifier
    for written, accession in (("NCIH60", "CVCL_A592"), ("MCF102A", "CVCL_3743"), ("GM12872", "CVCL_9626")):
        assert parse_cell_type(written, fuzzy_threshold=85, ontologies=False) is None
        label = extract_labels({"title": f"{written} H3K4me3 ChIP-seq"}, {})["cell_type"]
        assert (label.method, label.ontology_id) == ("exact", accession), written


def test_a_line_the_vocabulary_knows_beats_a_near_match_of_the_table() -> None:
    # GM12872 and Kasumi-3 are real lines: read as themselves, never corrected to GM12878 or Kasumi-1
    gm = parse_cell_type("GM12872", fuzzy_threshold=85)
    assert gm is not None and (gm.canonical, gm.ontology_id) == ("GM12872", "CVCL_9626")
    kasumi = parse_cell_type("Kasumi-3 cells")
    assert kasumi is not None and (kasumi.canonical, kasumi.ontology_id) == ("Kasumi-3", "CVCL_0612")


def test_vocabulary_spelling_wins_and_adds_labels() -> None:
    assert parse_cell_type("MCF-7", vocabulary=["MCF7", "K562"]).canonical == "MCF7"
    assert parse_cell_type("HeLa S3", vocabulary=["HeLa", "K562"]).canonical == "HeLa"
    assert parse_cell_type("liver tissue", ontologies=False) is None
    assert parse_cell_type("adult liver", vocabulary=["liver"]).canonical == "liver"


def test_normalisation() -> None:
    assert normalise_cell_type("Hep G2 cells") == normalise_cell_type("HEPG2") == "hepg2"
    assert normalise_cell_type("K562 cell line") == "k562"
    assert normalise_cell_type("cells") == "cells"  # nothing left to strip down to
