"""Projection with a calibrated model: a probability per rank-1 call, and a reason whenever a call is not confident."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from modelkit import planted_model, write_bed

from annotator.model import calibrate
from annotator.model.format import BedspaceModel, save_model
from annotator.project import REASON_ASSAY_NOT_CHIP, project_file, to_predictions_table

#: P(right) rises with log10(1 + tokens): 10 tokens -> 0.54, no novelty model.
_BY_TOKENS = {"correct": {"intercept": -4.0, "coef": [0.0, 0.0, 0.0, 0.0, 4.0]}, "known": None, "threshold": 0.5}
#: P(known label) falls with the margin: a clear winner reads as "no known label fits" (to reach that reason).
_NOVEL = {**_BY_TOKENS, "known": {"intercept": 5.0, "coef": [0.0, -20.0, 0.0, 0.0, 0.0]}}


def _calibrated(tmp_path: Path, antibody: dict, assay: bool = False) -> BedspaceModel:
    m = planted_model(tmp_path)
    groups, labels = dict(m.groups), dict(m.label_vectors)
    vectors = m.token_vectors.copy()
    if assay:  # chr1 tiles look like ChIP-seq (axis 4), chr2 tiles like DNase-seq (axis 5)
        groups["assay"] = ["ChIP-seq", "DNase-seq"]
        labels["assay"] = np.eye(8, dtype=np.float32)[[4, 5]]
        vectors[:10, 4] = 1.0
        vectors[10:, 5] = 1.0
    model = dataclasses.replace(m, groups=groups, label_vectors=labels, token_vectors=vectors,
                                calibration={"antibody": antibody})  # fmt: skip
    return save_model(model, tmp_path / "calibrated", dtype="float32")


def _chr1(tmp_path: Path) -> Path:
    return write_bed(tmp_path / "a.bed", [("chr1", i * 1000 + 10, i * 1000 + 500) for i in range(10)])


def test_too_little_signal_is_never_confident_and_says_why(tmp_path: Path) -> None:
    model = _calibrated(tmp_path, _BY_TOKENS)
    ranking = project_file(model, _chr1(tmp_path)).rankings["antibody"]
    assert ranking.labels[0] == "H3K4me3" and ranking.margin == pytest.approx(1 / np.sqrt(2))  # margin rule: yes
    assert ranking.probability == pytest.approx(1 / (1 + np.exp(4 - 4 * np.log10(11))), rel=1e-5)
    assert not ranking.confident and ranking.reason == calibrate.REASON_FEW_TOKENS
    cell = project_file(model, _chr1(tmp_path)).rankings["cell_type"]  # no calibration for this group: margin rule
    assert cell.confident and cell.probability is None and cell.reason is None


def test_enough_tokens_make_a_confident_call_with_its_probability_on_rank_1_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibrate, "MIN_TOKENS", 5)
    model = _calibrated(tmp_path, _BY_TOKENS)
    projection = project_file(model, _chr1(tmp_path))
    assert projection.rankings["antibody"].confident and projection.rankings["antibody"].reason is None
    rows = [r for r in to_predictions_table([projection], model.digest).to_pylist() if r["group"] == "antibody"]
    assert rows[0]["probability"] == pytest.approx(0.54, abs=0.01)
    assert [r["probability"] for r in rows[1:]] == [None] * (len(rows) - 1)
    assert {r["confident"] for r in rows} == {True} and {r["confidence_reason"] for r in rows} == {None}


def test_no_known_label_and_assay_reasons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibrate, "MIN_TOKENS", 5)
    novel = project_file(_calibrated(tmp_path / "n", _NOVEL), _chr1(tmp_path)).rankings["antibody"]
    assert not novel.confident and novel.reason == calibrate.REASON_NO_KNOWN_LABEL
    model = _calibrated(tmp_path / "a", _BY_TOKENS, assay=True)
    dnase = write_bed(tmp_path / "d.bed", [("chr2", i * 1000 + 10, i * 1000 + 500) for i in range(10)])
    projection = project_file(model, dnase)
    assert projection.rankings["assay"].labels[0] == "DNase-seq" and projection.rankings["assay"].confident
    assert not projection.rankings["antibody"].confident
    assert projection.rankings["antibody"].reason == REASON_ASSAY_NOT_CHIP
    chip = project_file(model, _chr1(tmp_path)).rankings["antibody"]
    assert chip.confident  # a ChIP-seq-looking file keeps its antibody call
