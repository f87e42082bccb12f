"""The shared target vocabulary (targets.tsv) and the author labels read with it: TFs, assays, controls, aliases."""

import pytest
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Config
from annotator.flags import Flag
from annotator.labels import extract_labels, kind_of, parse_antibody, parse_cell_type, symbols, targets, text_labels
from annotator.labels.vocabulary import parse_targets
from annotator.model.format import load_model
from annotator.reconcile import Ranking, decide

#: The targets of the four corpora in the shared data (their samples.csv `antibody`/`assay` columns, as of 2026-11).
_CORPUS_TARGET_NAMES = """
H2A.Z H3K27ac H3K27me3 H3K36me3 H3K4me1 H3K4me2 H3K4me3 H3K79me2 H3K9ac H3K9me3 H4K20me1
ATF2 ATF3 BATF BCL11A BCL3 BCLAF1 BHLHE40 BRCA1 CEBPB CHD1 CHD2 CTCF E2F4 EBF1 EGR1 ELF1 ELK1 EP300 ETS1 EZH2
FOS FOXM1 GABPA IKZF1 IRF4 JUND MAX MAZ MEF2A MEF2C MTA3 MXI1 MYC NFATC1 NFE2 NFIC NFYA NFYB NR2C2 NRF1 PAX5
PBX3 PML POLR2A POLR3A POU2F2 RAD21 RCOR1 RELA REST RFX5 RUNX3 RXRA SIN3A SIX5 SMC3 SP1 SPI1 SRF STAT1 STAT3
STAT5A TAF1 TBL1XR1 TBP TCF12 TCF3 USF1 USF2 WRNIP1 YY1 ZBTB33 ZEB1 ZNF143 ZNF274 ZZZ3
ARID3A ATF7 CREB1 E2F1 E2F6 FOXA1 FOXA2 GATA3 HNF4A MAFK NANOG TCF7L2 TEAD4
DNase-seq
"""  # histone marks; encode-uniform-tfbs-gm12878; encode-dream-tf (new ones); encode-uniform-dnase
CORPUS_TARGETS = _CORPUS_TARGET_NAMES.split()
CORPUS_CELL_TYPES = (
    "A549", "CD14+ monocytes", "CD20+", "DND-41", "GM12878", "H1-hESC", "HCT116", "HeLa-S3", "HepG2", "HMEC", "HSMM",
    "HSMMtube", "HUVEC", "IMR-90", "K562", "MCF-7", "NH-A", "NHDF-Ad", "NHEK", "NHLF", "Osteoblast", "Panc1",
)  # fmt: skip


def test_the_vocabulary_covers_every_corpus_target_with_its_kind() -> None:
    known = set(symbols())
    assert set(CORPUS_TARGETS) <= known, sorted(set(CORPUS_TARGETS) - known)
    assert kind_of("CTCF") == "tf" and kind_of("POLR2A") == "chromatin-protein" and kind_of("H3K4me3") == "histone"
    assert kind_of("DNase-seq") == kind_of("ATAC-seq") == "assay"
    assert kind_of("input") == kind_of("IgG") == "control"
    assert kind_of("Pol II") is None  # aliases are not labels
    assert len(symbols("tf", "chromatin-protein")) >= 100


def test_every_symbol_and_alias_is_read_as_its_symbol() -> None:
    for target in targets():
        for name in (target.symbol, *target.aliases):
            label = parse_antibody(f"GSM1 {name} rep1")
            assert label is not None and label.canonical == target.symbol, (name, label)


@pytest.mark.parametrize(
    ("title", "antibody", "cell_type"),
    [
        ("GM12878 EBF1 (sc-137065)", "EBF1", "GM12878"),
        ("K562_MAFK_peaks", "MAFK", "K562"),
        ("GM12878-JunD", "JUND", "GM12878"),
        ("GM12878 NFkB TNFa", "RELA", "GM12878"),
        ("HeLa-S3 E2F6 ChIP-seq", "E2F6", "HeLa-S3"),
        ("HepG2_FOXA1_rep1.narrowPeak.gz", "FOXA1", "HepG2"),
        ("Panc1 TCF7L2 ChIP", "TCF7L2", "Panc1"),
        ("IMR90 CEBPB (sc-150)", "CEBPB", "IMR-90"),
        ("MCF7 ERα ChIP-seq", "ESR1", "MCF-7"),
    ],
)
def test_titles_from_the_issue_name_their_target(title: str, antibody: str, cell_type: str) -> None:
    record = text_labels(title)
    assert (record["antibody"], record["cell_type"]) == (antibody, cell_type)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("p300", "EP300"), ("Pol II", "POLR2A"), ("RNAPII", "POLR2A"), ("Pol2", "POLR2A"),
        ("POLR2AphosphoS5", "POLR2A"), ("RNA polymerase II", "POLR2A"), ("NRSF", "REST"), ("PU.1", "SPI1"),
        ("Dex 1h GR", "NR3C1"), ("ERα", "ESR1"), ("ERalpha", "ESR1"), ("ESR1", "ESR1"), ("NFkB", "RELA"),
        ("NF-kB", "RELA"), ("NF-κB p65", "RELA"), ("JunD", "JUND"), ("c-Myc", "MYC"), ("CTCFL", "CTCFL"),
        ("BORIS", "CTCFL"), ("Pol III", "POLR3A"), ("CoREST", "RCOR1"), ("C/EBPβ", "CEBPB"), ("HNF4α", "HNF4A"),
        ("Nrsf", "REST"), ("TR4", "NR2C2"), ("Ikaros", "IKZF1"),
    ],
)  # fmt: skip
def test_geo_aliases(text: str, canonical: str) -> None:
    label = parse_antibody(text)
    assert label is not None and (label.canonical, label.kind) == (canonical, "non_histone")
    assert label.raw == text.removeprefix("Dex 1h ")  # the span as written, Greek letters included


@pytest.mark.parametrize(
    "text",
    [
        "cells at rest", "Rest of the samples", "max peaks", "MAXIMUM", "Max Planck Institute", "E2F", "E2F family",
        "GRAPH", "GRO-seq", "AGR", "harvested 12 Jun 2015", "treated with TNFa", "Mycoplasma-free",
        "DNase-free water", "DNase I treatment", "ar er gr", "passage p65", "Forest", "restriction digest",
    ],
)  # fmt: skip
def test_short_aliases_inside_words_and_ordinary_words_are_not_targets(text: str) -> None:
    assert parse_antibody(text) is None


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("K562 DNase-seq", "DNase-seq"), ("UW DNaseI HS GM12878", "DNase-seq"), ("HepG2_DNase_rep1", "DNase-seq"),
        ("DNase I hypersensitive sites", "DNase-seq"), ("HCT116 ATAC-seq rep2", "ATAC-seq"),
        ("Omni-ATAC K562", "ATAC-seq"), ("ATAC_peaks.narrowPeak", "ATAC-seq"),
    ],
)  # fmt: skip
def test_assays_are_read_as_assays_not_antibodies(text: str, canonical: str) -> None:
    label = parse_antibody(text)
    assert label is not None and (label.canonical, label.kind) == (canonical, "assay")


def test_a_target_or_control_beats_an_assay_in_the_same_text() -> None:
    assert parse_antibody("CTCF ChIP-seq at DNase-seq sites").canonical == "CTCF"
    assert parse_antibody("H3K27ac in ATAC-seq peaks").canonical == "H3K27ac"
    assert parse_antibody("ATAC-seq input").kind == "control"
    assert parse_antibody("K562 DNase-seq", assays=False) is None


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("input DNA", "input"), ("WCE", "input"), ("whole cell extract", "input"), ("no antibody", "input"),
     ("rabbit IgG", "IgG"), ("normal IgG", "IgG"), ("GM12878 Input", "input")],
)  # fmt: skip
def test_controls_stay_controls(text: str, canonical: str) -> None:
    label = parse_antibody(text)
    assert label is not None and (label.canonical, label.kind) == (canonical, "control")


def test_control_aliases_of_the_vocabulary_are_read_as_controls() -> None:
    for target in targets():
        if target.kind == "control":
            for name in (target.symbol, *target.aliases):
                label = parse_antibody(name)
                assert label is not None and (label.canonical, label.kind) == (target.symbol, "control"), name


@pytest.mark.parametrize("cell_type", CORPUS_CELL_TYPES)
def test_corpus_cell_types_are_read_as_written_in_the_corpora(cell_type: str) -> None:
    label = parse_cell_type(f"{cell_type} ChIP-seq rep1")
    assert label is not None and label.canonical == cell_type


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("PANC-1 cells", "Panc1"), ("IMR90", "IMR-90"), ("MCF7", "MCF-7"), ("Hela S3", "HeLa-S3"), ("HeLa", "HeLa-S3"),
     ("H1 hESC", "H1-hESC"), ("Hep G2", "HepG2"), ("HCT-116", "HCT116"), ("K-562", "K562"), ("A-549", "A549"),
     ("HSMM tube", "HSMMtube"), ("NHDF", "NHDF-Ad"), ("NHA", "NH-A"), ("osteoblasts", "Osteoblast"),
     ("DND41", "DND-41"), ("CD20+ B cells", "CD20+"), ("Monocytes-CD14+ RO01746", "CD14+ monocytes"),
     ("gm12878", "GM12878")],
)  # fmt: skip
def test_common_cell_type_spellings(text: str, canonical: str) -> None:
    label = parse_cell_type(text)
    assert label is not None and label.canonical == canonical


def test_bundled_model_labels_are_all_known_to_the_extractor() -> None:
    """Whatever model is bundled, the extractor reads each of its labels, unaided, as that label."""
    model = load_model()
    for group, labels in model.groups.items():
        for label in labels:
            if group == "assay" and label == "ChIP-seq":
                continue  # the assay group's "not DNase" class: reconcile compares no author label with it
            if group == "cell_type":
                reading = parse_cell_type(label)
                assert reading is not None and reading.canonical == label, (group, label, reading)
            else:  # antibody targets, assays (whether in the antibody group or a group of their own)
                reading = parse_antibody(label)
                assert reading is not None and reading.canonical == label, (group, label, reading)
                assert kind_of(label) is not None, f"{label} is missing from annotator/labels/targets.tsv"


def test_an_assay_sample_is_compared_whichever_group_the_model_keeps_the_assay_in() -> None:
    sample = {"title": "K562 DNase-seq rep1", "description": "compared with H3K27ac ChIP-seq"}
    authors = extract_labels(sample, {"antibody": ["CTCF", "DNase-seq"], "cell_type": ["K562"]})
    assert authors["antibody"].canonical == authors["assay"].canonical == "DNase-seq"
    assert authors["antibody"].kind == "assay" and authors["assay"].group == "assay"
    top_dnase = Ranking(("DNase-seq", "CTCF"), (0.9, 0.5), 0.4)
    config = Config()
    # a model with DNase-seq among its antibody labels, or with an `assay` group: a match either way
    assert decide(authors["antibody"], top_dnase, ("CTCF", "DNase-seq"), config).flag is Flag.MATCH
    assert decide(authors["assay"], top_dnase, ("DNase-seq", "ATAC-seq"), config).flag is Flag.MATCH
    # a model that knows no assay says so instead of calling it a mismatch
    verdict = decide(authors["antibody"], Ranking(("CTCF", "REST"), (0.9, 0.5), 0.4), ("CTCF", "REST"), config)
    assert verdict.flag is Flag.OUT_OF_VOCABULARY and "an assay" in verdict.reason


def test_antibody_none_on_an_assay_sample_is_the_assay_not_an_input() -> None:
    atac = extract_labels(
        {"characteristics": [{"key": "chip antibody", "value": "none"}], "title": "HCT116 ATAC-seq"}, {}
    )
    assert (atac["antibody"].canonical, atac["antibody"].source, atac["assay"].kind) == ("ATAC-seq", "title", "assay")
    chip = extract_labels({"characteristics": [{"key": "chip antibody", "value": "none"}], "title": "K562 CTCF"}, {})
    assert chip["antibody"].canonical == "input"  # an input titled after its ChIP stays an input


def test_chip_samples_have_no_assay_label_and_prose_names_no_assay() -> None:
    chip = extract_labels({"title": "GM12878 EBF1 (sc-137065)"}, {})
    assert chip["antibody"].canonical == "EBF1" and "assay" not in chip
    prose = extract_labels({"title": "rep1", "description": "peaks overlap DNase-seq hypersensitive sites"}, {})
    assert prose == {}


def test_vocabulary_file_errors_name_the_line() -> None:
    with pytest.raises(ValueError, match=r"targets.tsv:2: unknown kind 'protein'"):
        parse_targets("# comment\nCTCF\tprotein\t\n")
    with pytest.raises(ValueError, match=r"targets.tsv:2: 'Pol-II' already names POLR2A"):
        parse_targets("POLR2A\tchromatin-protein\tPol II\nPOLR3A\tchromatin-protein\tPol-II\n")
    with pytest.raises(ValueError, match=r"targets.tsv:1: expected"):
        parse_targets("CTCF tf\n")


def test_labels_command_shows_the_kind() -> None:
    result = CliRunner().invoke(app, ["labels", "--format", "table", "K562 DNase-seq", "GM12878-JunD"])
    assert result.exit_code == 0, result.output
    assert "assay" in result.stdout and "non_histone" in result.stdout and "JUND" in result.stdout


@pytest.mark.parametrize(
    ("name", "antibody", "cell_type"),
    [
        ("GSM1_hg19_wgEncodeAwgTfbsHaibGm12878Ebf1sc137065Pcr1xUniPk.narrowPeak.gz", "EBF1", "GM12878"),
        ("wgEncodeAwgTfbsBroadGm12878Ezh239875UniPk.narrowPeak.gz", "EZH2", "GM12878"),
        ("wgEncodeAwgTfbsHaibGm12878Stat5asc74442V0422111UniPk", "STAT5A", "GM12878"),
        ("wgEncodeAwgTfbsSydhGm12878NfkbTnfaIggrabUniPk", "RELA", "GM12878"),
        ("wgEncodeAwgTfbsUtaGm12878Pol2UniPk", "POLR2A", "GM12878"),
        ("wgEncodeAwgTfbsSydhGm12878MaxIggmusUniPk", "MAX", "GM12878"),
        ("wgEncodeAwgTfbsHaibGm12878Sin3anb6001263IggmusUniPk", "SIN3A", "GM12878"),
        ("wgEncodeBroadHistoneHelas3H3k4me2StdPk.broadPeak.gz", "H3K4me2", "HeLa-S3"),
        ("wgEncodeBroadHistoneA549H3k04me3Dex100nmPk", "H3K4me3", "A549"),
        ("wgEncodeBroadHistoneH1hescH3k27acStdPk", "H3K27ac", "H1-hESC"),
        ("wgEncodeBroadHistoneCd20ro01794H3k27acPk", "H3K27ac", "CD20+"),
        ("wgEncodeBroadHistoneDnd41H2azPk", "H2A.Z", "DND-41"),
        ("wgEncodeBroadHistoneOsteoH3k27me3Pk", "H3K27me3", "Osteoblast"),
        ("wgEncodeAwgDnaseUwdukeK562UniPk.narrowPeak.gz", "DNase-seq", "K562"),
        ("wgEncodeAwgDnaseUwMonocytescd14ro01746UniPk", "DNase-seq", "CD14+ monocytes"),
        ("wgEncodeSydhTfbsK562InputIggrabPk", "input", "K562"),
    ],
)
def test_ucsc_encode_file_names_are_read(name: str, antibody: str, cell_type: str) -> None:
    record = text_labels(name)
    assert (record["antibody"], record["cell_type"]) == (antibody, cell_type)


@pytest.mark.parametrize("text", ["McGill ChIPseq", "Maxwell", "Sp100", "Arid", "StatOil"])
def test_camel_case_outside_ucsc_identifiers_is_not_split_or_prefix_matched(text: str) -> None:
    assert parse_antibody(text) is None
