"""Standard identifiers: the matcher's traps, the JSON and Parquet columns, the report, the hierarchy in reconcile
and the shipped table's sources."""

from __future__ import annotations

import csv
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import report_tables
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Config
from annotator.flags import Flag
from annotator.geo.select import sample_rows
from annotator.geo.soft import parse_soft, to_series
from annotator.labels import extract_labels, parse_cell_type, symbols, text_labels
from annotator.labels.extract import IDENTIFIER_COLUMNS, identifier_columns
from annotator.labels.hierarchy import relate
from annotator.labels.identifiers import NOTICE_FILE, SOURCES_FILE, VOCABULARY_FILE, hgnc_id, identify
from annotator.reconcile import reconcile
from annotator.report.html import render_report
from annotator.schema import ANNOTATIONS, SAMPLES
from annotator.tables import to_table, write_table

H9_ESC, H9_T_CELL = "CVCL_9773", "CVCL_1240"


def _ids(text: str) -> tuple[str | None, list[str] | None]:
    record = text_labels(text)
    return record["cell_type_id"], record["cell_type_id_candidates"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("K562_CTCF_rep1", "CVCL_0004"),
        ("HepG-2 cells", "CVCL_0027"),  # a spelling only normalisation tells apart
        ("MCF 7 ER ChIP", "CVCL_0031"),
        ("H9 hESC H3K27me3", H9_ESC),  # context decides between namesakes
        ("H9 T-cell lymphoma line", H9_T_CELL),
        ("HeLa cells", "CVCL_0030"),  # HeLa, not the table's HeLa-S3 it is reported as
        ("HeLa-S3 POLR2A", "CVCL_0058"),
        ("Huh7_H3K27ac", "CVCL_0336"),  # lines the hand-written table lacks
        ("OVCAR-3 cells", "CVCL_0465"),
        ("cell line: Beta", "CVCL_R799"),  # a word-like name only as a whole cell-line value
        ("tissue: liver", "UBERON:0002107"),
        ("prefrontal cortex H3K27ac", "UBERON:0000451"),
        ("CD14+ monocytes", "CL:0001054"),
        ("cell type: T cells", "CL:0000084"),
        ("MCF-7/ADR CTCF", "CVCL_1452"),  # the subline the author named, not its parent
    ],
)
def test_names_get_the_identifier_of_what_the_author_wrote(text: str, expected: str) -> None:
    assert _ids(text) == (expected, None)


@pytest.mark.parametrize(
    "text",
    [
        "beta-catenin ChIP-seq",  # "Beta" is a cell line: a word that merely contains a name is not one
        "Beta cells ChIP",  # nor is the English word before "cells"
        "HCT116OxR input",  # an unknown subline gets no identifier rather than its parent's
        "tissue: breast tumor",  # the tissue of origin is not what a tumour sample is
        "cell type: N/A",  # NA is also a cell line
        "cell type: CD8+ T cells",  # not plain T cells: the marker makes it a narrower type the table lacks
        "14H007",
        "ChIP-Seq SETD2_mut_H3K27ac_rep2",
    ],
)
def test_no_identifier_rather_than_a_wrong_one(text: str) -> None:
    record = text_labels(text)
    assert record["cell_type_id"] is None, record


def test_beta_cells_are_never_the_beta_cell_line() -> None:
    assert _ids("Beta cells ChIP")[0] != "CVCL_R799"
    assert _ids("beta-catenin ChIP-seq") == (None, None)


def test_an_ambiguous_name_lists_its_candidates_and_gets_no_identifier() -> None:
    record = text_labels("H9 H3K4me3")
    assert record["cell_type"] == "H9"  # the name is still read, as today
    assert record["cell_type_id"] is None and record["cell_type_label"] is None
    assert set(record["cell_type_id_candidates"]) == {H9_ESC, H9_T_CELL}


def test_a_near_match_gets_an_identifier_only_when_one_name_is_clearly_closest() -> None:
    clear = parse_cell_type("GM1287 H3K4me3")  # one character from GM12878, far from every other name
    assert clear is not None and (clear.canonical, clear.ontology_id) == ("GM12878", "CVCL_7526")
    torn = parse_cell_type("GM1289 H3K4me3")  # as close to GM12891 as to GM12892
    assert torn is not None and torn.method == "fuzzy" and torn.ontology_id is None
    assert {"GM12891", "GM12892"} <= set(torn.candidates)


def test_today_s_names_are_kept() -> None:
    for text, name in [("HeLa", "HeLa-S3"), ("Hep G2", "HepG2"), ("H1 hESC", "H1-hESC"), ("K562", "K562")]:
        assert text_labels(text)["cell_type"] == name


def test_new_names_are_written_as_the_author_wrote_them() -> None:
    assert text_labels("cell line: Huh7 cells")["cell_type"] == "Huh7"  # a line, less "cells"
    assert text_labels("cell type: T cells")["cell_type"] == "T cells"  # a cell type keeps "cells": no "T"


@pytest.mark.parametrize(
    "text",
    ["K562 " * 50_000, "\x00\x07K562\x1b[31m\u202e", "x" * 1_000_000, "cell line: " + "H9 " * 100_000, "-_-" * 9999],
)
def test_hostile_strings_are_read_without_error(text: str) -> None:
    record = text_labels(text)
    assert set(record) >= set(IDENTIFIER_COLUMNS)
    identify(text)  # the look-up alone must not raise either


def test_labels_json_has_the_identifier_columns() -> None:
    result = CliRunner().invoke(app, ["labels", "--format", "json", "K562 CTCF", "H9 H3K27ac", "H3K4me3"])
    assert result.exit_code == 0, result.output
    k562, h9, mark = (json.loads(line) for line in result.stdout.splitlines())
    assert (k562["cell_type_id"], k562["cell_type_label"], k562["antibody_id"]) == ("CVCL_0004", "K-562", "HGNC:13723")
    assert h9["cell_type_id"] is None and sorted(h9["cell_type_id_candidates"]) == sorted([H9_T_CELL, H9_ESC])
    assert mark["antibody"] == "H3K4me3" and mark["antibody_id"] is None  # histone marks keep their name only


def test_every_protein_target_the_extractor_reads_has_its_hgnc_id() -> None:
    assert {s: hgnc_id(s) for s in ("CTCF", "POLR2A", "EP300", "REST", "SPI1")} == {
        "CTCF": "HGNC:13723", "POLR2A": "HGNC:9187", "EP300": "HGNC:3373", "REST": "HGNC:9966", "SPI1": "HGNC:11241",
    }  # fmt: skip
    assert [s for s in symbols("tf", "chromatin-protein") if hgnc_id(s) is None] == []
    assert hgnc_id("H3K4me3") is None


def test_samples_rows_carry_the_identifiers() -> None:
    soft = """^SERIES = GSE1
!Series_sample_id = GSM1
^SAMPLE = GSM1
!Sample_title = HepG2 FOXA2 ChIP-seq
!Sample_organism_ch1 = Homo sapiens
!Sample_characteristics_ch1 = cell line: HepG2
!Sample_library_strategy = ChIP-Seq
!Sample_supplementary_file_1 = ftp://x/GSM1_peaks.bed.gz
!Sample_series_id = GSE1
"""
    sample = to_series("GSE1", parse_soft(soft.splitlines())).samples[0]
    rows = sample_rows(sample, "GSE1", "hg19", ["ChIP-Seq"])
    table = to_table("samples", rows)
    assert set(IDENTIFIER_COLUMNS) <= set(SAMPLES.names)
    assert table.column("cell_type_id").to_pylist() == ["CVCL_0027"]
    assert table.column("antibody_id").to_pylist() == ["HGNC:5022"]  # FOXA2
    # a label only the file's name gives is read at the harvest as reconcile reads it
    named = soft.replace("HepG2 FOXA2 ChIP-seq", "rep1").replace("GSM1_peaks", "GSM1_K562_CTCF_peaks")
    named = named.replace("!Sample_characteristics_ch1 = cell line: HepG2\n", "")
    row = sample_rows(to_series("GSE1", parse_soft(named.splitlines())).samples[0], "GSE1", "hg19", ["ChIP-Seq"])[0]
    assert (row["antibody_id"], row["cell_type_id"]) == ("HGNC:13723", "CVCL_0004")  # CTCF, K562


def _reconcile(title: str, top: str, characteristics: list[dict[str, str]] | None = None) -> dict[str, Any]:
    groups = {"cell_type": ["K562", "HepG2", "HEK293"], "antibody": ["CTCF", "H3K4me3"]}
    sample = {"sample_id": "GSM1/a.bed", "gsm": "GSM1", "gse": "GSE1", "title": title, "selected": True,
              "characteristics": characteristics or []}  # fmt: skip
    other = next(label for label in groups["cell_type"] if label != top)
    predictions = [
        {"sample_id": "GSM1/a.bed", "group": "cell_type", "rank": rank, "label": label, "score": score,
         "margin": 0.4, "confident": True, "status": "ok", "model_digest": "d" * 64}
        for rank, (label, score) in enumerate([(top, 0.8), (other, 0.4)], start=1)
    ]  # fmt: skip
    table = reconcile(to_table("samples", [sample]), to_table("predictions", predictions), groups, Config())
    assert set(IDENTIFIER_COLUMNS) <= set(ANNOTATIONS.names) and table.schema.equals(ANNOTATIONS)
    return next(row for row in table.to_pylist() if row["group"] == "cell_type")


def test_annotations_carry_the_identifiers_and_a_subline_is_related_to_its_parent() -> None:
    row = _reconcile("HEK293T CTCF ChIP", top="HEK293")  # the model knows the parent line, not the subline
    assert (row["cell_type_id"], row["cell_type_label"], row["antibody_id"]) == ("CVCL_0063", "HEK293T", "HGNC:13723")
    assert row["flag"] == Flag.MATCH and "derived from" in row["reason"], row["reason"]
    assert _reconcile("HEK293T CTCF ChIP", top="K562")["flag"] == Flag.OUT_OF_VOCABULARY  # an unrelated line


def test_a_tissue_is_compared_with_a_cell_line_only_where_the_ontologies_relate_them() -> None:
    liver = [{"key": "tissue", "value": "liver"}]
    related = _reconcile("H3K27ac", top="HepG2", characteristics=liver)
    assert related["cell_type_id"] == "UBERON:0002107"
    assert related["flag"] == Flag.MATCH and "liver" in related["reason"]
    unrelated = _reconcile("H3K27ac", top="K562", characteristics=liver)
    assert unrelated["flag"] == Flag.OUT_OF_VOCABULARY  # not a confident mismatch: a tissue is no cell line


def test_relations_follow_the_ontologies() -> None:
    assert "derived from" in (relate("CVCL_0058", "CVCL_0030") or "")
    assert "parent line" in (relate("CVCL_0030", "CVCL_0058") or "")
    assert relate("CL:0000084", "CL:0000624") is not None  # T cell and CD4+ alpha-beta T cell
    assert relate("CVCL_0004", "CVCL_0027") is None  # K562 and HepG2
    assert relate("UBERON:0002107", "CVCL_0004") is None  # liver and a bone-marrow line


def test_the_report_shows_the_identifier_beside_the_name(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name, table in report_tables().items():
        if name in ("samples", "annotations"):
            n = table.num_rows
            groups = table.column("group").to_pylist() if name == "annotations" else ["cell_type"] * n
            ids = ["CVCL_0004" if g == "cell_type" else None for g in groups]
            table = table.set_column(table.schema.get_field_index("cell_type_id"), "cell_type_id", pa.array(ids))
            labels = ["K-562" if i else None for i in ids]
            table = table.set_column(table.schema.get_field_index("cell_type_label"), "cell_type_label",
                                     pa.array(labels))  # fmt: skip
        write_table(name, table, work / f"{name}.parquet")
    html = render_report(work).read_text(encoding="utf-8")
    assert '<small class="oid" title="K-562">CVCL_0004</small>' in html


def test_the_shipped_table_records_its_sources_and_licences() -> None:
    package = files("annotator.labels")
    assert package.joinpath(VOCABULARY_FILE).is_file()
    assert package.joinpath(VOCABULARY_FILE).stat().st_size < 10_000_000  # type: ignore[attr-defined]
    lines = [ln for ln in package.joinpath(SOURCES_FILE).read_text(encoding="utf-8").splitlines()
             if not ln.startswith("#")]  # fmt: skip
    rows = {r["source"]: r for r in csv.DictReader(lines, delimiter="\t")}
    for source in ("Cellosaurus", "Cell Ontology (CL)", "UBERON", "HGNC complete set", "BRENDA Tissue Ontology (BTO)",
                   "MetaSRA Cellosaurus synonym sets and mappings", "cellxgene-ontology-guide"):  # fmt: skip
        assert rows[source]["version"] and rows[source]["licence"] and rows[source]["attribution"], source
    assert {rows[s]["licence"] for s in rows} >= {"CC-BY-4.0", "BSD-3-Clause", "CC0", "MIT"}
    notice = package.joinpath(NOTICE_FILE).read_text(encoding="utf-8")  # BSD-3 and MIT ask for their texts
    assert "Copyright (c) 2023, MetaSRA developers" in notice and "Chan Zuckerberg Initiative" in notice
    assert "Redistributions in binary form must reproduce" in notice and "Permission is hereby granted" in notice


def test_extract_labels_identifies_a_line_only_a_characteristic_names() -> None:
    labels = extract_labels({"title": "rep1", "characteristics": [{"key": "cell line", "value": "HAP1"}]}, {})
    assert identifier_columns(labels)["cell_type_id"] == "CVCL_Y019"


def test_the_pinned_rows_agree_with_the_shipped_table() -> None:
    # identifiers_pinned.tsv spares one usual string the database: it must say what the database says
    from annotator.labels import identifiers

    pinned = identifiers._pinned()
    db = identifiers._db()
    assert len(pinned.names) > 80 and len(pinned.hgnc) == len(symbols("tf", "chromatin-protein"))
    for key, (ids, flags) in pinned.names.items():
        assert db.execute("SELECT ids, flags FROM names WHERE key = ?", (key,)).fetchone() == (" ".join(ids), flags)
    for term, label in pinned.labels.items():
        assert db.execute("SELECT label FROM terms WHERE id = ?", (term,)).fetchone() == (label,)
    for symbol, hgnc in pinned.hgnc.items():
        assert db.execute("SELECT id FROM hgnc WHERE symbol = ?", (symbol,)).fetchone() == (hgnc,)
