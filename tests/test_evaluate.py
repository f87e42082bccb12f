"""Evaluation metrics checked against values computed by hand on tiny examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from modelkit import planted_model

from annotator.errors import TrainingError
from annotator.model.evaluate import (
    confusion_matrix,
    evaluate_embeddings,
    evaluate_group,
    f1_scores,
    neighbour_agreement,
    r_precision,
)
from annotator.model.rows import embed_region_sets, mean_reciprocal_rank, stratified_split, true_ranks
from annotator.project import region_set_vector


def test_split_holds_out_ceil_fraction_stratified_and_is_seeded() -> None:
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 3 + ["solo"] + [""] * 2
    train, test = stratified_split(labels, 0.15, seed=3)
    assert test.size == 4  # ceil(0.15 * 22)
    assert np.intersect1d(train, test).size == 0 and np.union1d(train, test).size == 22
    held = [labels[i] for i in test]
    assert "solo" not in held and "" not in held  # a class of one and unlabelled rows always train
    assert held.count("a") >= 1 and held.count("b") >= 1  # quota 1.5 and 0.9: both classes get tested
    again_train, again_test = stratified_split(labels, 0.15, seed=3)
    assert np.array_equal(test, again_test) and np.array_equal(train, again_train)
    others = {tuple(stratified_split(labels, 0.15, seed=s)[1]) for s in range(10)}
    assert len(others) > 1


def test_split_keeps_one_member_of_every_class_in_training() -> None:
    labels = ["a", "a", "b", "b"]
    train, test = stratified_split(labels, 0.9, seed=0)
    assert sorted(labels[i] for i in train) == ["a", "b"] and test.size == 2


def test_split_rejects_fraction_of_one() -> None:
    with pytest.raises(TrainingError, match="test fraction"):
        stratified_split(["a", "b"], 1.0)


def test_true_ranks_break_ties_like_a_stable_sort_and_unknown_is_infinite() -> None:
    scores = np.array([[0.9, 0.5, 0.1], [0.2, 0.2, 0.7], [0.2, 0.2, 0.7], [0.3, 0.1, 0.0]])
    truth = np.array([1, 0, 1, -1])
    ranks = true_ranks(scores, truth)
    # row 1: label 0 ties with label 1 but comes first -> 2nd; row 2: label 1 ties and comes after label 0 -> 3rd
    assert ranks.tolist() == [2.0, 2.0, 3.0, np.inf]
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 / 2 + 1 / 2 + 1 / 3 + 0) / 4)


def test_f1_and_confusion_by_hand() -> None:
    truth = np.array([0, 0, 1, 2, -1])
    predicted = np.array([0, 1, 1, 1, 2])
    micro, macro = f1_scores(predicted, truth, 3)
    assert micro == pytest.approx(2 / 5)  # single-label: micro-F1 = accuracy, the unknown label is a miss
    # per label F1 = 2TP / (2TP + FP + FN): label0 2/(2+0+1)=2/3, label1 2/(2+2+0)=1/2, label2 0/(0+1+1)=0
    assert macro == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert confusion_matrix(predicted, truth, 3).tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_r_precision_by_hand() -> None:
    # label 0 is carried by rows 0 and 2 (R=2): the two best rows for label 0 are 0 and 1 -> 1/2
    # label 1 is carried by row 1 (R=1): the best row for label 1 is row 1 -> 1
    scores = np.array([[0.9, 0.1], [0.8, 0.9], [0.1, 0.2]])
    assert r_precision(scores, np.array([0, 1, 0])) == {0: 0.5, 1: 1.0}


def test_neighbour_agreement_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 0])
    # k=1: 0->1 agree, 1->0 agree, 2->3 disagree, 3->2 disagree
    assert neighbour_agreement(vectors, labels, k=1).tolist() == [1.0, 1.0, 0.0, 0.0]
    # k=2, query row 2 only: neighbours 3 and 1 (cosine 0.99, 0.11), both label 0
    assert neighbour_agreement(vectors, labels, np.array([2]), k=2).tolist() == [0.0]


def test_evaluate_group_reports_unknown_labels_and_margins() -> None:
    set_vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [1.0, 0.1]])
    label_vectors = np.eye(2)
    truth = np.array([0, 1, 0, -1])
    out = evaluate_group(set_vectors, truth, label_vectors, ["x", "y"], np.array([1, 2, 3]), k=1)
    assert out["n_test"] == 3 and out["n_unknown_label"] == 1
    assert out["mrr"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert out["top1"] == pytest.approx(1 / 3)
    assert out["mean_margin"] == pytest.approx((1.0 + 0.2 + (1 - 0.1) / np.hypot(1, 0.1)) / 3, abs=1e-6)
    assert out["confusion"] == {"labels": ["x", "y"], "matrix": [[0, 1], [0, 1]]}
    assert out["per_label"]["x"]["n"] == 1 and out["per_label"]["x"]["top1"] == 0.0


def test_evaluate_embeddings_skips_sets_without_a_label_in_the_group() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    out = evaluate_embeddings(
        vectors, {"g": ["x", "", "x"]}, {"g": ["x", "y"]}, {"g": np.eye(2)}, np.array([1, 2]), k=1
    )
    assert out["g"]["n_test"] == 1 and out["g"]["top1"] == 1.0


def test_embed_region_sets_matches_projection(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    hits = [np.array([0, 3, 7]), np.array([5, int(model.token_ids[12]), 999_999]), np.array([999_999])]
    indptr = np.cumsum([0, *map(len, hits)])
    matrix = sp.csr_matrix((np.ones(indptr[-1]), np.concatenate(hits), indptr), shape=(3, model.universe.n_tokens))
    vectors = embed_region_sets(matrix, model.token_ids, model.token_vectors)
    for row, ids in zip(vectors[:2], hits[:2], strict=True):
        expected = region_set_vector(model, ids)
        assert expected is not None
        np.testing.assert_allclose(row, expected, atol=1e-6)
    assert not vectors[2].any()  # no known token: the zero vector (projection says no_overlap)
