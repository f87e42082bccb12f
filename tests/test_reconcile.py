"""Reconciliation: every flag from tiny hand-made predictions, the precedence between them, and the edges."""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from modelkit import planted_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Config
from annotator.errors import ModelError, SchemaError
from annotator.flag_rules import GroupVerdict, label_evidence
from annotator.flags import Flag
from annotator.rankings import Ranking
from annotator.reconcile import reconcile, reconcile_workdir
from annotator.schema import ANNOTATIONS
from annotator.tables import read_table, to_table, write_table

GROUPS = {
    "antibody": ["H3K4me3", "H3K27ac", "H3K9ac", "H3K4me1", "H3K27me3", "H3K9me3"],
    "cell_type": ["K562", "HepG2", "GM12878"],
}
DIGEST = "d" * 64


def _sample(sid: str = "GSM1/a.bed", title: str = "", selected: bool = True, **fields: Any) -> dict[str, Any]:
    return {"gsm": sid.split("/")[0], "gse": "GSE1", "sample_id": sid, "title": title, "selected": selected, **fields}


def _ranks(sid: str, group: str, ranked: list[tuple[str, float]], margin: float | None = None) -> list[dict]:
    margin = ranked[0][1] - ranked[1][1] if margin is None else margin
    return [
        {"sample_id": sid, "group": group, "rank": i + 1, "label": label, "score": score, "margin": margin,
         "confident": margin >= 0.1, "status": "ok", "model_digest": DIGEST}
        for i, (label, score) in enumerate(ranked)
    ]  # fmt: skip


def _flag_row(title: str, ranked: list[tuple[str, float]], config: Config | None = None, **sample: Any) -> dict:
    """The antibody row for one sample titled `title` whose antibody ranking is `ranked`."""
    predictions = _ranks("GSM1/a.bed", "antibody", ranked) + _ranks(
        "GSM1/a.bed", "cell_type", [("K562", 0.5), ("HepG2", 0.1)]
    )
    table = reconcile(
        to_table("samples", [_sample(title=title, **sample)]), to_table("predictions", predictions), GROUPS,
        config or Config(),
    )  # fmt: skip
    return next(row for row in table.to_pylist() if row["group"] == "antibody")


def test_match() -> None:
    row = _flag_row("K562 H3K4me3 rep1", [("H3K4me3", 0.8), ("H3K27ac", 0.6)])
    assert row["flag"] == Flag.MATCH
    assert (row["author_label"], row["predicted_label"], row["author_rank"]) == ("H3K4me3", "H3K4me3", 1)
    assert row["author_score"] == pytest.approx(0.8) and row["confident"]


def test_match_when_the_top_label_settles_an_inferred_label() -> None:
    row = _flag_row("K562_K27", [("H3K27me3", 0.5), ("H3K27ac", 0.49)])  # "K27": H3K27ac or H3K27me3 or …
    assert (row["flag"], row["author_label"], row["author_method"]) == (Flag.MATCH, "H3K27me3", "inferred")


def test_misspelling() -> None:
    row = _flag_row("IgE H3K3me3 peaks", [("H3K4me3", 0.7), ("H3K27ac", 0.4)])
    assert row["flag"] == Flag.MISSPELLING
    assert (row["author_label_raw"], row["author_label"], row["author_method"]) == ("H3K3me3", "H3K4me3", "fuzzy")
    assert "H3K3me3" in row["reason"] and "H3K4me3" in row["reason"]
    # the data may settle the typo on another correction than the grammar's first choice
    other = _flag_row("IgE H3K3me3 peaks", [("H3K9me3", 0.7), ("H3K4me3", 0.4)])
    assert (other["flag"], other["author_label"], other["author_rank"]) == (Flag.MISSPELLING, "H3K9me3", 1)


def test_misspelt_cell_line_is_a_misspelling_not_a_match() -> None:
    predictions = _ranks("GSM1/a.bed", "antibody", [("H3K4me3", 0.8), ("H3K27ac", 0.6)]) + _ranks(
        "GSM1/a.bed", "cell_type", [("GM12878", 0.6), ("K562", 0.2)]
    )
    samples = [_sample(title="H3K4me3 ChIP", characteristics=[{"key": "cell line", "value": "GM1287"}])]
    table = reconcile(to_table("samples", samples), to_table("predictions", predictions), GROUPS, Config())
    row = next(r for r in table.to_pylist() if r["group"] == "cell_type")
    assert (row["flag"], row["author_label"], row["author_method"]) == (Flag.MISSPELLING, "GM12878", "fuzzy")


def test_near_miss_like_gsm5455054() -> None:
    row = _flag_row("H3K27ac ChIP", [("H3K9ac", 0.62), ("H3K27ac", 0.58), ("H3K4me3", 0.40)])
    assert row["flag"] == Flag.NEAR_MISS
    assert (row["author_rank"], row["predicted_label"]) == (2, "H3K9ac")
    assert row["author_score"] == pytest.approx(0.58) and not row["confident"]


def test_near_miss_depth_and_gap_come_from_the_config() -> None:
    ranked = [("H3K9ac", 0.62), ("H3K4me3", 0.60), ("H3K27ac", 0.55), ("H3K4me1", 0.3)]
    assert _flag_row("H3K27ac", ranked)["flag"] == Flag.NEAR_MISS  # rank 3, 0.07 below the top
    assert _flag_row("H3K27ac", ranked, Config(near_miss_top_k=2))["flag"] == Flag.LOW_CONFIDENCE
    assert _flag_row("H3K27ac", ranked, Config(margin_threshold=0.05))["flag"] == Flag.LOW_CONFIDENCE


def test_label_below_the_stored_ranks_is_not_a_near_miss() -> None:
    # only two ranks stored: H3K4me1 is in the vocabulary but ranked > 2, however close the scores
    row = _flag_row("H3K4me1", [("H3K4me3", 0.50), ("H3K27ac", 0.49)])
    assert (row["flag"], row["author_rank"], row["author_score"]) == (Flag.LOW_CONFIDENCE, None, None)
    assert "below the 2 stored" in row["reason"]


def test_confident_mismatch() -> None:
    row = _flag_row("H3K4me3", [("H3K27me3", 0.7), ("H3K9me3", 0.5), ("H3K4me3", 0.2)])
    assert (row["flag"], row["author_rank"], row["predicted_label"]) == (Flag.CONFIDENT_MISMATCH, 3, "H3K27me3")
    assert row["confident"] and row["margin"] == pytest.approx(0.2)


def test_low_confidence() -> None:
    row = _flag_row("H3K4me3", [("H3K27ac", 0.5), ("H3K4me1", 0.48), ("H3K9ac", 0.47), ("H3K4me3", 0.3)])
    assert (row["flag"], row["author_rank"]) == (Flag.LOW_CONFIDENCE, 4)


def test_repressive_low_confidence() -> None:
    row = _flag_row("H3K9me3", [("H3K4me1", 0.40), ("H3K27ac", 0.38), ("H3K9ac", 0.37), ("H3K9me3", 0.2)])
    assert (row["flag"], row["author_rank"]) == (Flag.REPRESSIVE_LOW_CONFIDENCE, 4)
    # a repressive mark the model does not know at all, even when the model is confident about something else
    unknown = _flag_row("H4K20me3", [("H3K9me3", 0.7), ("H3K27me3", 0.3)])
    assert (unknown["flag"], unknown["author_label"]) == (Flag.REPRESSIVE_LOW_CONFIDENCE, "H4K20me3")
    # a close runner-up is still repressive_low_confidence: for repressive marks the top label is unreliable
    close = _flag_row("H3K27me3", [("H3K4me1", 0.40), ("H3K27me3", 0.38), ("H3K9ac", 0.2)])
    assert (close["flag"], close["author_rank"]) == (Flag.REPRESSIVE_LOW_CONFIDENCE, 2)
    # the same ranking for an activating mark is a near miss
    activating = _flag_row("H3K9ac", [("H3K4me1", 0.40), ("H3K9ac", 0.38), ("H3K27me3", 0.2)])
    assert activating["flag"] == Flag.NEAR_MISS
    # but a confident disagreement about a mark the model knows stays a possible mislabel
    confident = _flag_row("H3K9me3", [("H3K4me3", 0.7), ("H3K9me3", 0.3)])
    assert confident["flag"] == Flag.CONFIDENT_MISMATCH


@pytest.mark.parametrize(
    ("title", "label", "kind"),
    [("H3K18ac", "H3K18ac", "histone_mark"), ("CTCF ChIP", "CTCF", "non_histone"), ("K562 input", "input", "control")],
)
def test_out_of_vocabulary(title: str, label: str, kind: str) -> None:
    row = _flag_row(title, [("H3K27ac", 0.5), ("H3K4me3", 0.45)])
    assert (row["flag"], row["author_label"], row["author_label_kind"]) == (Flag.OUT_OF_VOCABULARY, label, kind)
    assert row["predicted_label"] == "H3K27ac" and "H3K27ac" in row["reason"]  # the nearest label is reported


def test_missing_author_label() -> None:
    row = _flag_row("replicate 1", [("H3K4me3", 0.5), ("H3K27ac", 0.45)])
    assert row["flag"] == Flag.MISSING_AUTHOR_LABEL
    assert row["author_label"] is None and row["author_label_kind"] == "none"
    assert row["predicted_label"] == "H3K4me3" and "not confident" in row["reason"]
    assert "no confident suggestion" in row["reason"]  # an unconfident top label is no default answer
    sure = _flag_row("replicate 1", [("H3K4me3", 0.8), ("H3K27ac", 0.45)])
    assert sure["flag"] == Flag.MISSING_AUTHOR_LABEL and "the model suggests H3K4me3" in sure["reason"]


def test_no_prediction_carries_the_reason() -> None:
    samples = to_table(
        "samples",
        [
            _sample("GSM1/a.bed", "K562 H3K4me3"),
            _sample("GSM2/b.bed", "K562 H3K4me3"),
            _sample("GSM3/c.bed", "K562 H3K4me3", download_error="HTTP 404 after 4 attempts"),
            _sample("GSM4/d.bed", "K562 H3K4me3", selected=False, skip_reason="bigwig"),
        ],
    )
    predictions = to_table(
        "predictions",
        [
            {"sample_id": "GSM1/a.bed", "status": "failed", "reason": "binary file", "model_digest": DIGEST},
            {"sample_id": "GSM2/b.bed", "status": "no_overlap", "reason": "none of 3 regions", "model_digest": DIGEST},
        ],
    )
    rows = reconcile(samples, predictions, GROUPS, Config()).to_pylist()
    assert len(rows) == 6  # three selected samples x two groups; the unselected one has no row
    assert {r["flag"] for r in rows} == {Flag.NO_PREDICTION}
    reasons = {r["sample_id"]: r["reason"] for r in rows}
    assert reasons["GSM1/a.bed"] == "failed: binary file"
    assert reasons["GSM2/b.bed"].startswith("no_overlap")
    assert "HTTP 404" in reasons["GSM3/c.bed"]
    assert all(r["author_label"] == "H3K4me3" for r in rows if r["group"] == "antibody")  # still reported
    assert all(r["predicted_label"] is None for r in rows)


def test_group_missing_from_predictions_is_no_prediction() -> None:
    predictions = to_table("predictions", _ranks("GSM1/a.bed", "antibody", [("H3K4me3", 0.8), ("H3K27ac", 0.6)]))
    rows = reconcile(to_table("samples", [_sample(title="K562 H3K4me3")]), predictions, GROUPS, Config()).to_pylist()
    by_group = {r["group"]: r for r in rows}
    assert by_group["antibody"]["flag"] == Flag.MATCH
    assert by_group["cell_type"]["flag"] == Flag.NO_PREDICTION and "cell_type" in by_group["cell_type"]["reason"]


def test_every_flag_is_reachable_and_the_table_fits_its_schema() -> None:
    cases = {
        "GSM1/a.bed": ("K562 H3K4me3", [("H3K4me3", 0.8), ("H3K27ac", 0.6)]),
        "GSM2/a.bed": ("IgE H3K3me3", [("H3K4me3", 0.8), ("H3K27ac", 0.6)]),
        "GSM3/a.bed": ("H3K27ac", [("H3K9ac", 0.62), ("H3K27ac", 0.58)]),
        "GSM4/a.bed": ("H3K4me3", [("H3K27me3", 0.7), ("H3K4me3", 0.3)]),
        "GSM5/a.bed": ("H3K4me3", [("H3K27ac", 0.5), ("H3K4me1", 0.45)]),
        "GSM6/a.bed": ("H3K9me3", [("H3K27ac", 0.5), ("H3K4me1", 0.45)]),
        "GSM7/a.bed": ("H3K18ac", [("H3K27ac", 0.5), ("H3K4me1", 0.45)]),
        "GSM8/a.bed": ("rep1", [("H3K27ac", 0.5), ("H3K4me1", 0.45)]),
    }
    cases["GSM10/a.bed"] = ("H3K4me1", [("H3K27ac", 0.7), ("H3K4me1", 0.45)])
    samples = [_sample(sid, title) for sid, (title, _) in cases.items()] + [_sample("GSM9/a.bed", "K562")]
    predictions = [row for sid, (_, ranked) in cases.items() for row in _ranks(sid, "antibody", ranked)]
    for row in predictions:  # GSM10: a calibrated model found that no known label fits
        if row["sample_id"] == "GSM10/a.bed":
            row.update(confident=False, probability=0.2 if row["rank"] == 1 else None,
                       confidence_reason="no_known_label")  # fmt: skip
    predictions += [row for sid in cases for row in _ranks(sid, "cell_type", [("K562", 0.6), ("HepG2", 0.1)])]
    table = reconcile(to_table("samples", samples), to_table("predictions", predictions), GROUPS, Config())
    assert table.schema.equals(ANNOTATIONS)
    assert set(table["flag"].to_pylist()) == set(Flag)
    assert all(reason and "\n" not in reason for reason in table["reason"].to_pylist())
    # the digest comes from the sample's predictions; a sample never projected has none to give
    digests = {r["sample_id"]: r["model_digest"] for r in table.to_pylist()}
    assert digests.pop("GSM9/a.bed") is None and set(digests.values()) == {DIGEST}


def _calibrated(ranked: list[tuple[str, float]], confident: bool, reason: str | None, title: str = "") -> dict:
    """The antibody row when a calibrated model stored `confident` and `reason` for the rank-1 call."""
    predictions = _ranks("GSM1/a.bed", "antibody", ranked) + _ranks(
        "GSM1/a.bed", "cell_type", [("K562", 0.5), ("HepG2", 0.1)]
    )
    for row in predictions[: len(ranked)]:
        row.update(confident=confident, probability=0.95 if confident else 0.3, confidence_reason=reason)
        if row["rank"] > 1:
            row["probability"] = None
    table = reconcile(to_table("samples", [_sample(title=title)]), to_table("predictions", predictions), GROUPS,
                      Config())  # fmt: skip
    return next(row for row in table.to_pylist() if row["group"] == "antibody")


def test_no_known_label_when_the_calibrated_model_finds_no_fit() -> None:
    ranked = [("H3K27ac", 0.7), ("H3K4me1", 0.3), ("H3K4me3", 0.2)]  # margin 0.4: confident by the margin rule
    row = _calibrated(ranked, False, "no_known_label", "H3K4me3")
    assert (row["flag"], row["confident"]) == (Flag.NO_KNOWN_LABEL, False)
    assert "no label the model knows fits" in row["reason"] and "p 0.30" in row["reason"]
    assert _calibrated(ranked, False, "no_known_label")["flag"] == Flag.NO_KNOWN_LABEL  # no author label either
    # the author's label on top still matches; an author label the model never saw stays out_of_vocabulary
    assert _calibrated(ranked, False, "no_known_label", "H3K27ac")["flag"] == Flag.MATCH
    assert _calibrated(ranked, False, "no_known_label", "H3K18ac")["flag"] == Flag.OUT_OF_VOCABULARY


def test_calibrated_decision_replaces_the_margin_rule() -> None:
    ranked = [("H3K27ac", 0.7), ("H3K4me1", 0.3), ("H3K4me3", 0.2)]
    low = _calibrated(ranked, False, "low_probability", "H3K4me3")
    assert (low["flag"], low["confident"]) == (Flag.LOW_CONFIDENCE, False)  # margin 0.4, but p says no
    close = [("H3K27ac", 0.50), ("H3K27me3", 0.45), ("H3K4me3", 0.2)]
    sure = _calibrated(close, True, None, "H3K4me3")
    assert (sure["flag"], sure["confident"]) == (Flag.CONFIDENT_MISMATCH, True)  # margin 0.05, p says yes


def test_evidence_holds_thresholds_extraction_and_top_labels() -> None:
    config = Config(margin_threshold=0.15, near_miss_top_k=4, antibody_fuzzy_threshold=82, cell_type_fuzzy_threshold=90)
    row = _flag_row("K562 H3K4me3", [("H3K27ac", 0.6), ("H3K4me3", 0.5), ("H3K9ac", 0.1)], config, source_name="H3K9ac")
    evidence = json.loads(row["evidence"])
    assert evidence["thresholds"] == {
        "margin_threshold": 0.15, "near_miss_top_k": 4, "antibody_fuzzy_threshold": 82, "cell_type_fuzzy_threshold": 90,
    }  # fmt: skip
    assert [t["label"] for t in evidence["top"]] == ["H3K27ac", "H3K4me3", "H3K9ac"]
    assert evidence["author"]["source"] == "title"
    assert [r["canonical"] for r in evidence["author"]["readings"]] == ["H3K4me3", "H3K9ac"]
    assert row["flag"] == Flag.NEAR_MISS  # margin 0.1 < 0.15: the config's threshold, not the stored `confident`


@dataclass
class _FakeModel:
    groups: dict[str, list[str]] = field(default_factory=lambda: GROUPS)
    digest: str = DIGEST


def _workdir(tmp_path: Path, digest: str = DIGEST) -> Path:
    samples = to_table("samples", [_sample(title="K562 H3K4me3"), _sample("GSM2/b.bed", "HepG2 H3K27me3")])
    rows = _ranks("GSM1/a.bed", "antibody", [("H3K4me3", 0.8), ("H3K27ac", 0.6)])
    rows += _ranks("GSM2/b.bed", "antibody", [("H3K4me3", 0.8), ("H3K27me3", 0.3)])
    predictions = to_table("predictions", [{**r, "model_digest": digest} for r in rows])
    write_table("samples", samples, tmp_path / "samples.parquet")
    write_table("predictions", predictions, tmp_path / "predictions.parquet")
    return tmp_path


def test_reconcile_workdir_writes_annotations(tmp_path: Path) -> None:
    result = reconcile_workdir(_workdir(tmp_path), _FakeModel(), Config())
    written = read_table("annotations", tmp_path / "annotations.parquet")
    assert result.path == tmp_path / "annotations.parquet" and result.n_rows == written.num_rows == 4
    assert sum(result.flags.values()) == 4
    one_by_one = reconcile_workdir(_workdir(tmp_path), _FakeModel(), Config(), chunk_size=1)
    assert read_table("annotations", one_by_one.path).equals(written)  # chunking changes nothing
    flags = {(r["sample_id"], r["group"]): r["flag"] for r in written.to_pylist()}
    assert flags[("GSM1/a.bed", "antibody")] == Flag.MATCH
    assert flags[("GSM2/b.bed", "antibody")] == Flag.CONFIDENT_MISMATCH
    assert flags[("GSM1/a.bed", "cell_type")] == Flag.NO_PREDICTION


def test_reconcile_workdir_refuses_predictions_of_another_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--model"):
        reconcile_workdir(_workdir(tmp_path, digest="e" * 64), _FakeModel(), Config())
    assert not (tmp_path / "annotations.parquet").exists()
    (tmp_path / "predictions.parquet").unlink()  # harvested but never projected
    with pytest.raises(SchemaError, match="predictions"):
        reconcile_workdir(tmp_path, _FakeModel(), Config())


def test_reconcile_command(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    work = tmp_path / "work"
    samples = to_table("samples", [_sample(title="K562 H3K4me3"), _sample("GSM2/b.bed", "HepG2 H3K4me3")])
    rows = _ranks("GSM1/a.bed", "antibody", [("H3K4me3", 1.0), ("H3K27me3", 0.0)])
    rows += _ranks("GSM1/a.bed", "cell_type", [("K562", 1.0), ("HepG2", 0.0)])
    rows += _ranks("GSM2/b.bed", "antibody", [("H3K27me3", 1.0), ("H3K4me3", 0.0)])
    rows += _ranks("GSM2/b.bed", "cell_type", [("HepG2", 1.0), ("K562", 0.0)])
    write_table("samples", samples, work / "samples.parquet")
    write_table("predictions", to_table("predictions", [{**r, "model_digest": model.digest} for r in rows]),
                work / "predictions.parquet")  # fmt: skip
    result = CliRunner().invoke(app, ["reconcile", "--workdir", str(work), "--model", str(model.path)])
    assert result.exit_code == 0, result.output
    assert "confident_mismatch" in result.stdout and "match" in result.stdout
    flags = read_table("annotations", work / "annotations.parquet")["flag"].to_pylist()
    assert sorted(flags) == ["confident_mismatch", "match", "match", "match"]
    missing = CliRunner().invoke(app, ["reconcile", "--workdir", str(tmp_path / "nowhere"), "--model", str(model.path)])
    assert missing.exit_code == 2 and "samples.parquet" in missing.stderr
    # settings come from the environment as for `annotator run`: a margin of 2 makes nothing confident
    strict = CliRunner().invoke(
        app, ["reconcile", "--workdir", str(work), "--model", str(model.path)], env={"ANNOTATOR_MARGIN_THRESHOLD": "2"}
    )
    assert strict.exit_code == 0, strict.output
    rows = read_table("annotations", work / "annotations.parquet").to_pylist()
    assert (
        not any(r["confident"] for r in rows) and json.loads(rows[0]["evidence"])["thresholds"]["margin_threshold"] == 2
    )


def test_unselected_samples_are_ignored() -> None:
    samples = to_table("samples", [_sample(selected=False, title="H3K4me3")])
    table = reconcile(samples, to_table("predictions", []), GROUPS, Config())
    assert table.num_rows == 0 and isinstance(table, pa.Table)


def test_a_model_group_without_author_labels_is_not_reconciled() -> None:
    groups = {**GROUPS, "tissue": ["blood", "liver"]}
    predictions = _ranks("GSM1/a.bed", "antibody", [("H3K4me3", 0.8), ("H3K27ac", 0.6)])
    predictions += _ranks("GSM1/a.bed", "tissue", [("blood", 0.9), ("liver", 0.1)])
    table = reconcile(to_table("samples", [_sample(title="K562 H3K4me3")]), to_table("predictions", predictions),
                      groups, Config())  # fmt: skip
    assert sorted(table["group"].to_pylist()) == ["antibody", "cell_type"]  # no row of missing tissue labels


ASSAY_GROUPS = {**GROUPS, "assay": ["ChIP-seq", "DNase-seq"]}


def _assay_row(model_top: str, **sample: Any) -> dict:
    """The assay row of one sample whose model confidently ranks `model_top` first in the assay group."""
    other = "ChIP-seq" if model_top == "DNase-seq" else "DNase-seq"
    predictions = _ranks("GSM1/a.bed", "assay", [(model_top, 0.9), (other, 0.2)])
    table = reconcile(to_table("samples", [_sample(**sample)]), to_table("predictions", predictions),
                      ASSAY_GROUPS, Config())  # fmt: skip
    return next(row for row in table.to_pylist() if row["group"] == "assay")


def test_the_assay_filed_in_the_library_strategy_is_compared_with_the_model() -> None:
    row = _assay_row("ChIP-seq", title="K562 H3K4me3", library_strategy="ChIP-Seq")
    assert (row["flag"], row["author_label"], row["author_source"]) == (Flag.MATCH, "ChIP-seq", "library_strategy")
    # a DNase file filed as ChIP-Seq, and a ChIP file filed as DNase: both flagged
    dnase = _assay_row("DNase-seq", title="K562 DNase-seq rep1", library_strategy="ChIP-Seq")
    assert dnase["flag"] == Flag.CONFIDENT_MISMATCH and dnase["author_label_raw"] == "ChIP-Seq"
    assert [r["source"] for r in json.loads(dnase["evidence"])["author"]["readings"]] == ["library_strategy", "title"]
    chip = _assay_row("ChIP-seq", title="K562 CTCF", library_strategy="DNase-Hypersensitivity")
    assert (chip["flag"], chip["author_label"]) == (Flag.CONFIDENT_MISMATCH, "DNase-seq")


def test_an_assay_the_model_does_not_know_is_out_of_vocabulary_not_a_mismatch() -> None:
    row = _assay_row("DNase-seq", title="K562 open chromatin", library_strategy="ATAC-seq")
    assert (row["flag"], row["author_label"]) == (Flag.OUT_OF_VOCABULARY, "ATAC-seq")
    assert "ATAC-seq is an assay the model was not trained on" in row["reason"]


def test_the_assay_falls_back_to_the_text_when_the_strategy_names_none() -> None:
    row = _assay_row("DNase-seq", title="K562 DNase-seq", library_strategy="OTHER")
    assert (row["flag"], row["author_label"], row["author_source"]) == (Flag.MATCH, "DNase-seq", "title")
    assert _assay_row("ChIP-seq", title="K562 H3K4me3")["flag"] == Flag.MISSING_AUTHOR_LABEL


def test_reconcile_workdir_holds_one_chunk_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat in the night's size: each chunk sees only its own samples' predictions, read from the
    row groups that hold them, and the output is that of reconciling everything at once."""
    import annotator.reconcile as rec
    from annotator.tables import TableWriter

    ids = [f"GSM{i}/f.bed" for i in range(1, 13)]
    samples = to_table("samples", [_sample(sid, f"K562 H3K{4 if i % 2 else 27}me3") for i, sid in enumerate(ids)])
    write_table("samples", samples, tmp_path / "samples.parquet")
    ranked = [("H3K4me3", 0.8), ("H3K27me3", 0.5), ("H3K27ac", 0.1)]
    with TableWriter("predictions", tmp_path / "predictions.parquet") as writer:
        for part in (ids[4:8], ids[:4], ids[8:]):  # one row group each, not in the samples' order
            writer.write(to_table("predictions", [r for sid in part for r in _ranks(sid, "antibody", ranked)]))
    seen: list[tuple[set[str], set[str], int]] = []
    real = rec.reconcile

    def spy(chunk: pa.Table, predictions: pa.Table, *args: Any, **kwargs: Any) -> pa.Table:
        seen.append((set(chunk["sample_id"].to_pylist()), set(predictions["sample_id"].to_pylist()),
                     predictions.num_rows))  # fmt: skip
        return real(chunk, predictions, *args, **kwargs)

    read_groups: list[list[int]] = []
    real_chunk = rec.chunk_predictions
    monkeypatch.setattr(rec, "reconcile", spy)
    monkeypatch.setattr(
        rec, "chunk_predictions", lambda pf, groups, *a: read_groups.append(groups) or real_chunk(pf, groups, *a)
    )
    result = reconcile_workdir(tmp_path, _FakeModel(), Config(), chunk_size=4)
    assert len(seen) == 3 and all(len(chunk) == 4 for chunk, _, _ in seen)
    assert all(got == chunk for chunk, got, _ in seen)  # its own samples' predictions, and only them
    assert max(n for _, _, n in seen) == 4 * len(ranked)
    assert read_groups == [[1], [0], [2]]  # each chunk reads only the row group holding its samples
    whole = real(samples, read_table("predictions", tmp_path / "predictions.parquet"), GROUPS, Config(), DIGEST)
    assert read_table("annotations", result.path).equals(whole)


def test_a_group_the_model_can_never_call_confidently_is_not_compared(tmp_path: Path) -> None:
    """A calibrated threshold of 1.0 (the bundled model's assay group) means no held-out threshold was right often
    enough: its rows would only say things that are not true ('match' on a DNase file the model calls ChIP-seq)."""
    assay = {**GROUPS, "assay": ["ChIP-seq", "DNase-seq"]}
    work = _workdir(tmp_path)
    rows = read_table("predictions", work / "predictions.parquet").to_pylist()
    rows += _ranks("GSM1/a.bed", "assay", [("ChIP-seq", 0.9), ("DNase-seq", 0.2)])
    write_table("predictions", to_table("predictions", rows), work / "predictions.parquet")

    @dataclass
    class Calibrated(_FakeModel):
        calibration: dict[str, Any] = field(default_factory=dict)

    callable_assay = Calibrated(groups=assay, calibration={"assay": {"threshold": 0.95}})
    groups = read_table("annotations", reconcile_workdir(work, callable_assay, Config()).path).column("group")
    assert "assay" in groups.to_pylist()
    never = Calibrated(groups=assay, calibration={"assay": {"threshold": 1.0}, "antibody": {"threshold": 0.8}})
    groups = read_table("annotations", reconcile_workdir(work, never, Config()).path).column("group")
    assert sorted(set(groups.to_pylist())) == ["antibody", "cell_type"]


def _judged(ranked: list[tuple[str, float, float]], title: str, threshold: float | None = 0.8,
            reason: str | None = "low_probability") -> dict:  # fmt: skip
    """The antibody row of an unconfident calibrated call whose ranks carry the verdict's P(wrong) (third item)."""
    predictions = _ranks("GSM1/a.bed", "antibody", [(lab, s) for lab, s, _ in ranked]) + _ranks(
        "GSM1/a.bed", "cell_type", [("K562", 0.5), ("HepG2", 0.1)]
    )
    for row, (_, _, wrong) in zip(predictions, ranked, strict=False):
        row.update(confident=False, probability=0.3 if row["rank"] == 1 else None, confidence_reason=reason,
                   p_wrong=wrong)  # fmt: skip
    cuts = None if threshold is None else {"antibody": GroupVerdict("antibody", threshold)}
    table = reconcile(to_table("samples", [_sample(title=title)]), to_table("predictions", predictions), GROUPS,
                      Config(), verdict_thresholds=cuts)  # fmt: skip
    return next(row for row in table.to_pylist() if row["group"] == "antibody")


#: An unconfident ranking (margin 0.02) whose last label the verdict contradicts.
_UNSURE = [("H3K4me3", 0.50, 0.05), ("H3K27ac", 0.48, 0.20), ("H3K9ac", 0.30, 0.40), ("H3K4me1", 0.20, 0.55),
           ("H3K9me3", 0.10, 0.70), ("H3K27me3", 0.05, 0.93)]  # fmt: skip


def test_a_wrong_label_ranked_low_is_a_confident_mismatch_without_a_confident_top_label() -> None:
    row = _judged(_UNSURE, "K562 H3K27me3 ChIP")
    assert (row["flag"], row["confident"], row["author_rank"]) == (Flag.CONFIDENT_MISMATCH, False, 6)
    assert row["author_p_wrong"] == pytest.approx(0.93)
    assert "contradict" in row["reason"] and "ranked 6 of 6" in row["reason"] and "0.93" in row["reason"]
    verdict = json.loads(row["evidence"])["verdict"]
    assert verdict == {
        "label": "H3K27me3", "rank": 6, "n_labels": 6, "p_wrong": 0.93, "threshold": 0.8, "contradicted": True,
        "prefers": ["H3K4me3", "H3K27ac", "H3K9ac", "H3K4me1", "H3K9me3"], "judged_alone": True,
    }  # fmt: skip
    # without a verdict the same row is only a repressive mark without a confident label
    assert _judged(_UNSURE, "K562 H3K27me3 ChIP", threshold=None)["flag"] == Flag.REPRESSIVE_LOW_CONFIDENCE


#: A TF file: MAX ranks first; CTCF (known from many cell types) and JUND and MYC (each known from GM12878 only).
_TF_FILE = [("MAX", 0.60, 0.10), ("CTCF", 0.40, 0.60), ("JUND", 0.30, 0.95), ("MYC", 0.20, 0.97),
            ("H3K4me3", 0.10, 0.90), ("H3K27me3", 0.05, 0.99)]  # fmt: skip
_TF_CONTEXTS = {"MAX": frozenset({"GM12878", "K562"}), "CTCF": frozenset({"GM12878", "HepG2"}),
                "JUND": frozenset({"GM12878"}), "MYC": frozenset({"GM12878"}),
                "H3K4me3": frozenset({"K562", "HepG2"}), "H3K27me3": frozenset({"K562", "HepG2"})}  # fmt: skip


def _tf_row(title: str, class_threshold: float | None = 0.5) -> dict:
    predictions = _ranks("GSM1/a.bed", "antibody", [(lab, s) for lab, s, _ in _TF_FILE]) + _ranks(
        "GSM1/a.bed", "cell_type", [("K562", 0.5), ("HepG2", 0.1)]
    )
    for row, (_, _, wrong) in zip(predictions, _TF_FILE, strict=False):
        row.update(confident=False, probability=0.3 if row["rank"] == 1 else None, p_wrong=wrong)
    groups = {"antibody": [lab for lab, _, _ in _TF_FILE], "cell_type": ["K562", "HepG2", "GM12878"]}
    cuts = {"antibody": GroupVerdict("antibody", 0.8, class_threshold, _TF_CONTEXTS)}
    table = reconcile(to_table("samples", [_sample(title=title)]), to_table("predictions", predictions), groups,
                      Config(), verdict_thresholds=cuts)  # fmt: skip
    return next(row for row in table.to_pylist() if row["group"] == "antibody")


def test_a_label_known_from_one_other_cell_type_is_judged_by_its_class() -> None:
    # JUND has P(wrong) 0.95 >= 0.80, but the model knows JUND from GM12878 only and this is a HepG2 file: a JUND
    # file of another cell type binds elsewhere, so JUND alone is not judged. Its class is: MAX, a TF the model
    # knows from two cell types, fits (P(wrong) 0.10 < 0.50), so the label is not contradicted.
    row = _tf_row("HepG2 JUND ChIP-seq")
    assert row["flag"] != Flag.CONFIDENT_MISMATCH
    assert "JUND from GM12878 only" in row["reason"] and "the best-fitting TF, MAX, has P(wrong) 0.10" in row["reason"]
    verdict = json.loads(row["evidence"])["verdict"]
    assert (verdict["judged_alone"], verdict["contradicted"], verdict["class"]) == (False, False, "tf")
    assert (verdict["class_best"], verdict["class_p_wrong"], verdict["seen_in"]) == ("MAX", 0.1, ["GM12878"])
    # in GM12878, where the model has seen JUND, the label is judged alone and contradicted
    assert _tf_row("GM12878 JUND ChIP-seq")["flag"] == Flag.CONFIDENT_MISMATCH
    # a reliable label is judged alone whatever its cell type: CTCF here has P(wrong) 0.60 < 0.80
    ctcf = _tf_row("HepG2 CTCF ChIP-seq")
    assert ctcf["flag"] != Flag.CONFIDENT_MISMATCH and json.loads(ctcf["evidence"])["verdict"]["judged_alone"]


def test_a_class_the_data_contradict_flags_a_label_known_from_one_cell_type() -> None:
    # a class threshold under MAX's P(wrong): every TF the model can judge is contradicted, so is JUND's class
    row = _tf_row("HepG2 JUND ChIP-seq", class_threshold=0.05)
    assert row["flag"] == Flag.CONFIDENT_MISMATCH
    assert "not judged alone but by its class" in row["reason"] and "0.10 (flagged from 0.05)" in row["reason"]
    # without a class threshold (a group with one class) such a label is never contradicted
    assert _tf_row("HepG2 JUND ChIP-seq", class_threshold=None)["flag"] != Flag.CONFIDENT_MISMATCH


def test_a_class_missing_from_the_stored_ranks_is_unknown_and_contradicts_nothing() -> None:
    # only the top 4 ranks stored (`project --top-k 4`): JUND's own P(wrong) is there, but the class verdict needs
    # every TF the model can judge alone, and CTCF... are stored while a judgeable TF below them is not
    voc = ["MAX", "CTCF", "JUND", "MYC", "REST"]
    contexts = {"MAX": frozenset({"GM12878", "K562"}), "CTCF": frozenset({"GM12878", "HepG2"}),
                "JUND": frozenset({"GM12878"}), "MYC": frozenset({"GM12878"}), "REST": frozenset({"K562", "HepG2"})}
    group = GroupVerdict("antibody", 0.8, 0.8, contexts)
    full = Ranking(tuple(voc), (0.6, 0.5, 0.4, 0.3, 0.2), 0.1, p_wrong=(0.9, 0.95, 0.99, 0.99, 0.85))
    assert label_evidence("JUND", full, voc, group, "HepG2").contradicted  # MAX 0.90, CTCF 0.95, REST 0.85
    top4 = Ranking(full.labels[:4], full.scores[:4], 0.1, p_wrong=full.p_wrong[:4])
    ev = label_evidence("JUND", top4, voc, group, "HepG2")
    assert not ev.contradicted and ev.class_p_wrong is None
    assert "its class cannot be judged from the stored ranks" in ev.describe()


def test_a_model_fitted_before_the_class_rule_judges_every_label_alone() -> None:
    refs = {"antibody": ["JUND", "CTCF", "CTCF"], "cell_type": ["GM12878", "GM12878", "K562"]}
    old = GroupVerdict.from_model("antibody", {"threshold": 0.8}, refs)  # no class_threshold entry
    new = GroupVerdict.from_model("antibody", {"threshold": 0.8, "class_threshold": 0.8}, refs)
    assert old.reliable("JUND", "HepG2") and not new.reliable("JUND", "HepG2") and new.reliable("CTCF", "HepG2")
    ranking = Ranking(("CTCF", "JUND"), (0.6, 0.1), 0.5, p_wrong=(0.1, 0.95))
    assert label_evidence("JUND", ranking, ["CTCF", "JUND"], old, "HepG2").contradicted
    assert not label_evidence("JUND", ranking, ["CTCF", "JUND"], new, "HepG2").contradicted  # CTCF fits: 0.10


def test_a_label_below_the_threshold_is_not_flagged_but_its_evidence_is_told() -> None:
    row = _judged(_UNSURE, "K562 H3K9me3 ChIP")  # P(wrong) 0.70 < 0.80
    assert row["flag"] == Flag.REPRESSIVE_LOW_CONFIDENCE
    assert "ranked 5 of 6, P(wrong) 0.70 (flagged from 0.80)" in row["reason"]
    assert "not enough evidence against it" in row["reason"]
    unknown = _judged(_UNSURE, "K562 H3K4me1 ChIP", reason="no_known_label")
    assert unknown["flag"] == Flag.NO_KNOWN_LABEL and "ranked 4 of 6, P(wrong) 0.55" in unknown["reason"]


def test_the_verdict_comes_before_match_and_no_known_label() -> None:
    contradicted_top = [("H3K4me3", 0.50, 0.90), *_UNSURE[1:]]
    assert _judged(contradicted_top, "K562 H3K4me3 ChIP")["flag"] == Flag.CONFIDENT_MISMATCH
    assert _judged(_UNSURE, "K562 H3K4me3 ChIP")["flag"] == Flag.MATCH
    assert _judged(_UNSURE, "K562 H3K27me3", reason="no_known_label")["flag"] == Flag.CONFIDENT_MISMATCH
    # an author label the model never saw has no verdict: still out of vocabulary
    assert _judged(_UNSURE, "K562 H3K18ac")["flag"] == Flag.OUT_OF_VOCABULARY


def test_an_inferred_label_is_contradicted_only_when_every_reading_is() -> None:
    # "K27" reads as H3K27ac (P(wrong) 0.20) or H3K27me3 (0.93): one reading fits, so no mismatch
    row = _judged(_UNSURE, "K562_K27")
    assert row["flag"] != Flag.CONFIDENT_MISMATCH
    both = [(lab, s, 0.95 if "K27" in lab else w) for lab, s, w in _UNSURE]
    assert _judged(both, "K562_K27")["flag"] == Flag.CONFIDENT_MISMATCH
