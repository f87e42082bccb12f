"""Author labels over a whole sample record, and the `annotator labels` command."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Config
from annotator.labels import TEXT_LABEL_KEYS, extract_labels

VOCAB = {"antibody": ["H3K4me3", "H3K27ac", "H3K27me3", "H3K9ac"], "cell_type": ["K562", "HepG2", "MCF7"]}


def _kv(**pairs: str) -> list[dict[str, str]]:
    return [{"key": k.replace("_", " "), "value": v} for k, v in pairs.items()]


def test_characteristics_outrank_the_title_and_sources_are_recorded() -> None:
    sample = {
        "title": "K562 H3K27ac rep1",
        "characteristics": _kv(chip_antibody="H3K4me3 (Millipore 07-473)", cell_line="HepG2"),
        "source_name": "MCF-7 cells",
    }
    labels = extract_labels(sample, VOCAB)
    ab, ct = labels["antibody"], labels["cell_type"]
    assert (ab.canonical, ab.source, ab.raw) == ("H3K4me3", "characteristics:chip antibody", "H3K4me3")
    assert (ct.canonical, ct.source) == ("HepG2", "characteristics:cell line")
    # the other fields' readings are kept as evidence, most trusted first
    assert [(r.source, r.canonical) for r in ab.readings] == [
        ("characteristics:chip antibody", "H3K4me3"),
        ("title", "H3K27ac"),
    ]
    assert [r.canonical for r in ct.readings] == ["HepG2", "K562", "MCF7"]  # in the model's spelling


def test_fields_are_tried_in_order_of_trust() -> None:
    sample = {
        "title": "replicate 1",
        "characteristics": _kv(chip_antibody="Abcam ab4729", treatment="DMSO"),  # catalogue number only
        "source_name": "HepG2",
        "description": "H3K9ac ChIP-seq",
        "file_name": "GSM1_H3K27ac_peaks.bed.gz",
    }
    labels = extract_labels(sample, VOCAB)
    assert (labels["antibody"].canonical, labels["antibody"].source) == ("H3K9ac", "description")
    assert (labels["cell_type"].canonical, labels["cell_type"].source) == ("HepG2", "source_name")
    only_file = extract_labels({"title": "rep1", "file_name": "GSM1_K562_k27ac.narrowPeak.gz"}, VOCAB)
    assert only_file["antibody"].canonical == "H3K27ac" and only_file["antibody"].source == "file_name"
    assert only_file["cell_type"].canonical == "K562"


def test_provenance_keys_are_not_read_for_the_target() -> None:
    sample = {"title": "H3K27me3", "characteristics": _kv(antibody_vendor="K4 Biotech", antibody="H3K27me3")}
    assert extract_labels(sample, VOCAB)["antibody"].source == "characteristics:antibody"


def test_inferred_label_is_settled_by_a_later_field() -> None:
    sample = {"characteristics": _kv(chip_antibody="H3K27"), "title": "K562_H3K27me3_rep1"}
    ab = extract_labels(sample, VOCAB)["antibody"]
    assert (ab.canonical, ab.method, ab.source) == ("H3K27me3", "exact", "title")
    alone = extract_labels({"characteristics": _kv(chip_antibody="H3K27")}, VOCAB)["antibody"]
    assert alone.method == "inferred" and "H3K27me3" in alone.candidates


def test_missing_labels_are_absent_not_guessed() -> None:
    assert extract_labels({"title": "sample 12", "description": None, "characteristics": None}, VOCAB) == {}


def test_input_samples_and_prose() -> None:
    none_antibody = extract_labels({"characteristics": _kv(chip_antibody="none")}, VOCAB)["antibody"]
    assert (none_antibody.canonical, none_antibody.kind) == ("input", "control")
    # in a description "input" is the background the peaks were called against, not the sample
    prose = {"title": "rep 1", "description": "Peaks called with MACS2 against input"}
    assert "antibody" not in extract_labels(prose, VOCAB)


def test_unknown_cell_line_in_characteristics_is_kept_verbatim() -> None:
    sample = {"title": "H3K4me3 rep1", "characteristics": _kv(cell_line="Kasumi-3 cells")}
    ct = extract_labels(sample, VOCAB)["cell_type"]
    assert (ct.canonical, ct.raw, ct.method) == ("Kasumi-3", "Kasumi-3 cells", "normalised")
    assert "cell_type" not in extract_labels({"characteristics": _kv(cell_type="N/A")}, VOCAB)


def test_config_thresholds_are_used() -> None:
    sample = {"title": "IgE H3K3me3 peaks"}
    assert extract_labels(sample, VOCAB)["antibody"].canonical == "H3K4me3"
    assert extract_labels(sample, VOCAB, Config(antibody_fuzzy_threshold=95)) == {}


def test_labels_command_prints_json_lines(tmp_path: Path) -> None:
    texts = tmp_path / "titles.txt"
    texts.write_text("Lane1 2D H3K27ace BMI1 macs2 peaks\n\nnothing to see\n")
    result = CliRunner().invoke(app, ["labels", "VCap shCt AR peaks", "--file", str(texts)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [tuple(r) for r in records] == [TEXT_LABEL_KEYS] * 3
    assert records[0] == {
        "text": "VCap shCt AR peaks",
        "antibody": "AR",
        "antibody_raw": "AR",
        "antibody_method": "exact",
        "antibody_score": 100.0,
        "antibody_kind": "non_histone",
        "cell_type": "VCaP",
        "cell_type_raw": "VCap",
        "cell_type_method": "normalised",
        "cell_type_score": 95.0,
        "cell_type_id": "CVCL_2235",
        "cell_type_label": "VCaP",
        "cell_type_id_candidates": None,
        "antibody_id": "HGNC:644",
    }
    assert (records[1]["antibody"], records[1]["antibody_method"]) == ("H3K27ac", "fuzzy")
    assert records[2]["antibody"] is None and records[2]["cell_type"] is None


def test_labels_command_table_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["labels", "--format", "table", "IgE H3K3me3 peaks"])
    assert table.exit_code == 0 and "H3K4me3" in table.stdout and "fuzzy" in table.stdout
    assert runner.invoke(app, ["labels"]).exit_code == 2  # nothing to read
    missing = runner.invoke(app, ["labels", "--file", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "nope.txt" in missing.stderr
    assert runner.invoke(app, ["labels", "--format", "xml", "K562"]).exit_code == 2


@pytest.mark.parametrize(
    ("strategy", "assay"),
    [("ChIP-Seq", "ChIP-seq"), ("chip-seq", "ChIP-seq"), ("DNase-Hypersensitivity", "DNase-seq"),
     ("ATAC-seq", "ATAC-seq"), ("MNase-Seq", "MNase-seq"), ("OTHER", None), ("", None), (None, None),
     ("ChIP-Seq" * 20, None), ("<script>", None)],
)  # fmt: skip
def test_the_library_strategy_names_the_assay_as_models_spell_it(strategy: str | None, assay: str | None) -> None:
    label = extract_labels({"title": "K562 H3K4me3", "library_strategy": strategy}, {}).get("assay")
    assert (label.canonical if label else None) == assay
    assert label is None or (label.source, label.raw, label.kind) == ("library_strategy", strategy, "assay")
