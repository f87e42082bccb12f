"""The antibody grammar: histone marks in every spelling, non-histone targets, controls, and what is not a mark."""

import pytest

from annotator.labels import parse_antibody

# The real GEO titles the BEDspace paper discusses, with the paper's reading.
PAPER_TITLES = [
    ("H3K4me1 1TF4", "H3K4me1", "histone_mark", "exact"),
    ("K562 H3K4me2 dm60 fragments", "H3K4me2", "histone_mark", "exact"),
    ("Primary AFH1 H3K27ac peaks", "H3K27ac", "histone_mark", "exact"),
    ("VCap shCt AR peaks", "AR", "non_histone", "exact"),
    ("IgE H3K3me3 peaks", "H3K4me3", "histone_mark", "fuzzy"),  # misspelt: H3K3me3 does not exist
    ("Lane1 2D H3K27ace BMI1 macs2 peaks", "H3K27ac", "histone_mark", "fuzzy"),  # misspelt; BMI1 is not the target
]


@pytest.mark.parametrize(("title", "canonical", "kind", "method"), PAPER_TITLES)
def test_paper_titles_read_as_the_paper_reads_them(title: str, canonical: str, kind: str, method: str) -> None:
    label = parse_antibody(title)
    assert label is not None
    assert (label.canonical, label.kind, label.method) == (canonical, kind, method)


@pytest.mark.parametrize(
    ("text", "canonical", "method"),
    [
        ("H3K4me3", "H3K4me3", "exact"),
        ("h3k4me3", "H3K4me3", "normalised"),
        ("H3K4ME3", "H3K4me3", "normalised"),
        ("H3K4Me3", "H3K4me3", "normalised"),
        ("H3K4-me3", "H3K4me3", "normalised"),
        ("H3_K4me3", "H3K4me3", "normalised"),
        ("H3 K4 me3", "H3K4me3", "normalised"),
        ("h3k4m3", "H3K4me3", "normalised"),  # m3 for me3
        ("K4me3", "H3K4me3", "normalised"),  # no histone
        ("k27ac", "H3K27ac", "normalised"),
        ("k9ac", "H3K9ac", "normalised"),
        ("K4ME1", "H3K4me1", "normalised"),
        ("K4me1", "H3K4me1", "normalised"),
        ("K20me1", "H4K20me1", "normalised"),  # the only histone carrying K20me1 is H4
        ("H3K4 tri", "H3K4me3", "normalised"),
        ("H3K4 mono", "H3K4me1", "normalised"),
        ("H3K4 di-methyl", "H3K4me2", "normalised"),
        ("histone H3 lysine 4 trimethylation", "H3K4me3", "normalised"),
        ("H3 lysine 27 acetylation", "H3K27ac", "normalised"),
        ("Tri-Methyl-Histone H3 (Lys4) (C42D8) Rabbit mAb #9751", "H3K4me3", "normalised"),
        ("Anti-Histone H3 (acetyl K27) antibody - ChIP Grade (ab4729)", "H3K27ac", "normalised"),
        ("anti-H3K27ac (Abcam ab4729)", "H3K27ac", "exact"),
        ("H2A.Z", "H2A.Z", "exact"),
        ("H2AZ", "H2A.Z", "normalised"),
        ("H2A.z", "H2A.Z", "normalised"),
        ("H3K18ac", "H3K18ac", "exact"),  # valid even if a model does not know it
        ("H3K27ace", "H3K27ac", "fuzzy"),
        ("H3K3me3", "H3K4me3", "fuzzy"),
        ("H4K4me3", "H3K4me3", "fuzzy"),
    ],
)
def test_histone_mark_spellings(text: str, canonical: str, method: str) -> None:
    label = parse_antibody(text)
    assert label is not None and label.kind == "histone_mark"
    assert (label.canonical, label.method) == (canonical, method)


def test_raw_span_is_what_the_author_wrote() -> None:
    assert parse_antibody("GSM1_h3k4-Me3_rep1.bed").raw == "h3k4-Me3"
    assert parse_antibody("Anti-Histone H3 (acetyl K27) antibody").raw == "Histone H3 (acetyl K27)"
    assert parse_antibody("K562 H3K27 rep1").raw == "H3K27"  # the failed K562 match must not hide H3K27


def test_typo_correction_prefers_the_keyboard_neighbour_and_lists_alternatives() -> None:
    label = parse_antibody("H3K3me3")
    assert label.canonical == "H3K4me3"  # 3 is next to 4; H3K36me3 is one inserted digit away
    assert {"H3K4me3", "H3K36me3", "H3K9me3"} <= set(label.candidates)
    assert 80 <= label.score < 100


def test_fuzzy_threshold_is_honoured() -> None:
    assert parse_antibody("H3K3me3", fuzzy_threshold=90) is None  # ratio 85.7
    assert parse_antibody("H3K27ace", fuzzy_threshold=90).canonical == "H3K27ac"  # ratio 93.3


@pytest.mark.parametrize(
    ("text", "readings"),
    [("K27", {"H3K27ac", "H3K27me3"}), ("K4", {"H3K4me3", "H3K4me1"}), ("H3K9", {"H3K9me3", "H3K9ac"})],
)
def test_bare_residue_is_inferred_with_all_its_readings(text: str, readings: set[str]) -> None:
    label = parse_antibody(text)
    assert label.method == "inferred" and label.score < 95
    assert readings <= set(label.candidates) and label.canonical == label.candidates[0]


@pytest.mark.parametrize(
    "text",
    ["H3", "histone H3", "K562", "GSM1234567", "SRR1234567", "2012-04-27", "20120427", "ab4729", "H3K27M",
     "H3.3K27M", "HEK293", "IgE", "K5620", "Lane1 2D macs2", "total H4"],
)  # fmt: skip
def test_strings_that_are_not_targets(text: str) -> None:
    assert parse_antibody(text) is None


@pytest.mark.parametrize("gene", ["KDM5A", "EZH2", "SETD2", "BMI1", "KMT2D"])
def test_gene_names_are_never_marks(gene: str) -> None:
    label = parse_antibody(gene)
    assert label is None or label.kind == "non_histone"


@pytest.mark.parametrize(
    ("text", "canonical", "kind"),
    [
        ("CTCF", "CTCF", "non_histone"),
        ("MCF7 ER ChIP", "ESR1", "non_histone"),
        ("RNA Pol II", "POLR2A", "non_histone"),
        ("p300_rep2", "EP300", "non_histone"),
        ("K562_input", "input", "control"),
        ("Whole cell extract", "input", "control"),
        ("rabbit IgG", "IgG", "control"),
        ("GM12878_H3K27ac_input", "input", "control"),  # an input titled after the ChIP it controls
        ("H3K4me3 (rabbit polyclonal IgG)", "H3K4me3", "histone_mark"),  # IgG describes the antibody
        ("CTCF IgG", "CTCF", "non_histone"),
    ],
)
def test_non_histone_targets_and_controls(text: str, canonical: str, kind: str) -> None:
    label = parse_antibody(text)
    assert (label.canonical, label.kind) == (canonical, kind)


def test_short_aliases_are_case_sensitive() -> None:
    assert parse_antibody("VCaP AR") is not None
    assert parse_antibody("ar er gr") is None  # lower-case two-letter words are not receptors


def test_controls_can_be_switched_off_for_prose() -> None:
    text = "sonicated chromatin, input DNA"
    assert parse_antibody(text).kind == "control"
    assert parse_antibody(text, controls=False) is None
    assert parse_antibody("peaks were called against input DNA") is None  # the background, not the target
    assert parse_antibody("H3K27ac, normalised to input", controls=False).canonical == "H3K27ac"


def test_model_vocabulary_adds_targets_and_its_spelling() -> None:
    assert parse_antibody("ZNF707 ChIP") is None
    assert parse_antibody("ZNF707 ChIP", vocabulary=["ZNF707"]).canonical == "ZNF707"
    assert parse_antibody("Pol II", vocabulary=["Pol2"]).canonical == "Pol2"  # reported in the model's spelling
    assert parse_antibody("h3k4me3", vocabulary=["H3K4ME3"]).canonical == "H3K4ME3"
    # a mark only the model knows becomes known to the grammar, typos included
    assert parse_antibody("H3K23me3").method == "fuzzy"  # read as the built-in H3K23me2
    assert parse_antibody("H3K23me3", vocabulary=["H3K23me3"]).method == "exact"


@pytest.mark.parametrize("text", ["cells at rest", "harvested 12 Jun 2015", "max peaks", "ar er"])
def test_short_target_names_in_ordinary_words_are_not_targets(text: str) -> None:
    assert parse_antibody(text) is None


def test_target_aliases_ignore_separators_and_prefer_the_longest() -> None:
    assert parse_antibody("RNA-PolII_rep1").canonical == "POLR2A"
    assert parse_antibody("Pol-II").raw == "Pol-II"
    assert parse_antibody("c-Myc ChIP").raw == "c-Myc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K562-H3K4me3-input-normalised-peaks", "H3K4me3"),
        ("H3K27ac ChIP vs input", "H3K27ac"),
        ("H3K4me3 rep1 input-subtracted", "H3K4me3"),
        ("H3K9me3 normalized to IgG", "H3K9me3"),
        ("GM12878_H3K27ac_input", "input"),  # an input titled after the ChIP it controls is still an input
        ("K562 input", "input"),
    ],
)
def test_control_named_as_background_does_not_beat_the_mark(text: str, expected: str) -> None:
    label = parse_antibody(text)
    assert label is not None and label.canonical == expected
