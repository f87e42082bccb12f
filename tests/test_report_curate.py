"""The curator views as data: confusion matrices, calibration buckets, probability columns, accession links,
similar samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import report_tables
from modelkit import planted_model

from annotator.embeddings import EmbeddingArchive
from annotator.model.format import load_model
from annotator.project import Projection
from annotator.report.curate import MAX_MATRIX_LABELS, OTHER, calibration, confusion_matrices, top_probabilities
from annotator.report.similar import similar_samples
from annotator.report.view import build_view, is_real_accession


def _row(group: str, author: str | None, predicted: str | None, margin: float = 0.2, flag: str = "match",
         sample: str = "s") -> dict[str, Any]:  # fmt: skip
    return {"sample_id": sample, "group": group, "author_label": author, "predicted_label": predicted,
            "margin": margin, "flag": flag}  # fmt: skip


def test_matrix_counts_every_row_with_both_labels_on_one_diagonal_order() -> None:
    rows = [_row("antibody", "A", "A")] * 3 + [_row("antibody", "A", "B"), _row("antibody", "C", "B"),
            _row("antibody", None, "B"), _row("cell_type", "K", "K")]  # fmt: skip
    (ab, ct) = confusion_matrices(rows, ["antibody", "cell_type"])
    assert ab["n"] == 5 and ab["n_agree"] == 3 and ct["n"] == 1
    counts = {(c["author"], c["predicted"]): c["count"] for c in ab["cells"]}
    assert counts == {("A", "A"): 3, ("A", "B"): 1, ("C", "B"): 1}
    assert [a["label"] for a in ab["authors"]] == ["A", "C"] and [p["label"] for p in ab["predicted"]] == ["A", "B"]
    diag = next(c for c in ab["cells"] if c["diagonal"])
    assert diag["x"] - ab["predicted"][0]["x"] == diag["y"] - ab["authors"][0]["y"] == 0


def test_a_large_vocabulary_folds_into_other_and_other_cells_do_not_filter() -> None:
    labels = [f"L{i:02d}" for i in range(MAX_MATRIX_LABELS + 6)]
    rows = [_row("g", lb, lb) for i, lb in enumerate(labels) for _ in range(1 + i % 3)]
    (mx,) = confusion_matrices(rows, ["g"])
    axis = [a["label"] for a in mx["authors"]]
    assert len(axis) == MAX_MATRIX_LABELS and axis[-1] == OTHER and mx["folded"]
    assert sum(c["count"] for c in mx["cells"]) == len(rows)
    assert all(not c["clickable"] for c in mx["cells"] if OTHER in (c["author"], c["predicted"]))
    assert all(c["clickable"] for c in mx["cells"] if OTHER not in (c["author"], c["predicted"]))


def test_calibration_buckets_count_agreement_among_mappable_rows() -> None:
    rows = [
        _row("g", "A", "A", 0.02, "low_confidence"), _row("g", "A", "B", 0.03, "near_miss"),
        _row("g", "A", "A", 0.15), _row("g", "A", "B", 0.16, "confident_mismatch"), _row("g", "A", "A", 0.6),
        _row("g", "X", "A", 0.6, "out_of_vocabulary"), _row("g", None, "A", 0.6, "missing_author_label"),
    ]  # fmt: skip
    cal = calibration(rows, ["g"], 0.1)
    buckets = {b["label"]: b for b in cal["by_margin"][0]["buckets"]}
    assert (buckets["0–0.05"]["n"], buckets["0–0.05"]["n_agree"]) == (2, 1)
    assert (buckets["0.1–0.2"]["n"], buckets["0.1–0.2"]["share"]) == (2, 0.5) and buckets["0.1–0.2"]["confident"]
    assert (buckets["≥ 0.5"]["n"], buckets["≥ 0.5"]["n_agree"]) == (1, 1)  # not the oov and missing rows
    assert not buckets["0.05–0.1"]["confident"] and cal["by_probability"] is None


def test_probability_buckets_appear_when_a_table_has_a_probability_column() -> None:
    ann = pa.table({"sample_id": ["a", "b", "c"], "group": ["g"] * 3, "top_probability": [0.95, 0.55, 0.97]})
    probs = top_probabilities(ann, None)
    assert probs == {("a", "g"): 0.95, ("b", "g"): 0.55, ("c", "g"): 0.97}
    rows = [_row("g", "A", "A", sample="a"), _row("g", "A", "B", sample="b", flag="near_miss"),
            _row("g", "A", "B", sample="c", flag="confident_mismatch")]  # fmt: skip
    cal = calibration(rows, ["g"], 0.1, probs)
    buckets = {b["label"]: b for b in cal["by_probability"][0]["buckets"]}
    assert buckets["≥ 0.95"]["n"] == 2 and buckets["≥ 0.95"]["share"] == 0.5
    assert buckets["≥ 0.95"]["mean_probability"] == pytest.approx(0.96)
    assert top_probabilities(pa.table({"sample_id": ["a"], "group": ["g"]}), None) is None


def test_only_real_accessions_link_and_the_demo_series_never_does() -> None:
    assert is_real_accession("GSM1234", "GSE5", frozenset())
    assert not is_real_accession("GSM9990001", "GSE999999", frozenset({"GSE999999"}))
    assert not is_real_accession("GSM12/../x", "GSE5", frozenset())
    assert not is_real_accession("sample_7", None, frozenset())
    tables = report_tables()
    ann = tables["annotations"]
    demo = ann.set_column(ann.schema.get_field_index("gse"), "gse", pa.array(["GSE999999"] * ann.num_rows))
    view = build_view(tables["samples"], demo)
    assert all(r["geo_url"] is None for r in view["rows"])
    assert all(r["geo_url"] for r in build_view(tables["samples"], ann)["rows"] if r["gsm"])


def test_similar_samples_are_the_exact_nearest_others_per_group_block(tmp_path: Path) -> None:
    model = load_model(planted_model(tmp_path).path)  # antibody on axes 0-1, cell type on 2-3
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, model.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"GSM{i}/f.bed" for i in range(40)]
    projections = [Projection(s, "f", "ok", file_sha256=str(i), vector=vectors[i]) for i, s in enumerate(ids)]
    EmbeddingArchive.for_model(tmp_path / "work", model).append(projections)
    got = similar_samples(tmp_path / "work", model, ids[:3], k=5)
    assert set(got) == set(ids[:3]) and set(got[ids[0]]) == {"antibody", "cell_type"}
    block = vectors[:, [0, 1]] / np.linalg.norm(vectors[:, [0, 1]], axis=1, keepdims=True)
    scores = block @ block[0]
    scores[0] = -np.inf
    expected = [ids[i] for i in np.argsort(-scores, kind="stable")[:5]]
    assert [h["sample_id"] for h in got[ids[0]]["antibody"]] == expected
    assert all(h["sample_id"] != ids[0] for h in got[ids[0]]["cell_type"])
    assert Counter(h["source"] for h in got[ids[1]]["antibody"]) == {"archive": 5}
    assert set(got[ids[2]]["antibody"][0]["predicted"]) == {"antibody", "cell_type"}


def test_matrices_from_pair_counts_equal_those_from_every_row() -> None:
    """The report counts label pairs in Arrow (one row per distinct pair): the matrices must not change."""
    from annotator.report.curate import pair_counts

    labels = [f"L{i:02d}" for i in range(MAX_MATRIX_LABELS + 6)]
    rows = [_row("g", a, labels[(i * 7) % len(labels)]) for i, a in enumerate(labels) for _ in range(1 + i % 4)]
    rows += [_row("h", "A", "B"), _row("h", None, "B"), _row("h", "A", None)]
    table = pa.Table.from_pylist(rows)
    counted = pair_counts(table)
    assert len(counted) < len(rows) and sum(r["n"] for r in counted) == len(rows) - 2
    assert confusion_matrices(counted, ["g", "h"]) == confusion_matrices(rows, ["g", "h"])


def test_probability_table_keeps_the_last_probability_of_a_key() -> None:
    from annotator.report.curate import probability_table

    ann = pa.table({"sample_id": ["a", "a", "b", "c"], "group": ["g", "g", "g", None],
                    "probability": [0.2, 0.9, None, 0.5]})  # fmt: skip
    table = probability_table(ann, None)
    assert table is not None and table.to_pylist() == [{"sample_id": "a", "group": "g", "probability": 0.9}]
    assert top_probabilities(ann, None) == {("a", "g"): 0.9}


def test_confident_is_the_models_decision_and_margin_buckets_carry_no_tick_for_a_calibrated_model() -> None:
    rows = [{**_row("g", "A", "A", 0.02), "confident": True},  # calibrated: confident at a small margin
            {**_row("g", "A", "B", 0.4, "low_confidence"), "confident": False},
            {**_row("g", "A", "A", 0.3), "confident": True}]  # fmt: skip
    cal = calibration(rows, ["g"], None)  # a calibrated model: no margin threshold decides ✓
    assert not any(b["confident"] for b in cal["by_margin"][0]["buckets"])
    sure, unsure = cal["by_decision"][0]["buckets"]
    assert (sure["label"], sure["confident"], sure["n"], sure["n_agree"]) == ("confident", True, 2, 2)
    assert (unsure["label"], unsure["confident"], unsure["n"], unsure["n_agree"]) == ("not confident", False, 1, 0)
