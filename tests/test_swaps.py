"""The swap detector: pairs within one series whose labels each fit the other's data far better."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.swaps import block_scores, find_swaps

# labels: 0 H3K4me3, 1 H3K27me3, 2 CTCF
K4, K27, CTCF = 0, 1, 2
LOOKS_K4 = [0.9, 0.1, 0.2]
LOOKS_K27 = [0.1, 0.8, 0.2]
LOOKS_CTCF = [0.2, 0.1, 0.9]


def _swaps(series: list[str | None], labels: list[int], scores: list[list[float]], min_gain: float = 0.3):
    return find_swaps(series, np.array(labels), np.array(scores), min_gain)


def test_two_labels_that_each_fit_the_other_are_a_swap() -> None:
    # A is labelled H3K4me3 but looks H3K27me3; B the other way round; C is right
    pairs = _swaps(["GSE1"] * 3, [K4, K27, CTCF], [LOOKS_K27, LOOKS_K4, LOOKS_CTCF])
    assert [(p.first, p.second) for p in pairs] == [(0, 1)]
    assert pairs[0].gain_first == pytest.approx(0.7) and pairs[0].gain_second == pytest.approx(0.8)
    assert pairs[0].strength == pytest.approx(0.7)


def test_correct_labels_are_no_swap() -> None:
    assert _swaps(["GSE1"] * 3, [K4, K27, CTCF], [LOOKS_K4, LOOKS_K27, LOOKS_CTCF]) == []


def test_a_one_sided_misfit_is_not_a_swap() -> None:
    # A labelled H3K4me3 looks H3K27me3, but B's H3K27me3 label is right: A alone is wrong, not swapped with B
    assert _swaps(["GSE1"] * 2, [K4, K27], [LOOKS_K27, LOOKS_K27]) == []


def test_both_gains_must_reach_the_threshold() -> None:
    # B (labelled H3K27me3) fits H3K4me3 only 0.15 better than its own label: a swap at 0.1, none at 0.2
    b = [0.6, 0.45, 0.0]
    pairs = _swaps(["GSE1"] * 2, [K4, K27], [LOOKS_K27, b], min_gain=0.1)
    assert len(pairs) == 1 and pairs[0].gain_second == pytest.approx(0.15)
    assert _swaps(["GSE1"] * 2, [K4, K27], [LOOKS_K27, b], min_gain=0.2) == []


def test_samples_of_different_series_are_never_paired() -> None:
    assert _swaps(["GSE1", "GSE2"], [K4, K27], [LOOKS_K27, LOOKS_K4]) == []
    assert _swaps([None, None], [K4, K27], [LOOKS_K27, LOOKS_K4]) == []
    assert _swaps(["", ""], [K4, K27], [LOOKS_K27, LOOKS_K4]) == []


def test_a_sample_in_several_candidate_pairs_takes_the_strongest() -> None:
    # A (labelled H3K4me3, looks H3K27me3) could pair with B or C (both labelled H3K27me3, both look H3K4me3);
    # C fits H3K4me3 far better than B, so A pairs with C, and B, left alone, is no swap
    b = [0.6, 0.2, 0.0]  # gain 0.4 towards H3K4me3
    c = [0.95, 0.05, 0.0]  # gain 0.9
    pairs = _swaps(["GSE1"] * 3, [K4, K27, K27], [LOOKS_K27, b, c])
    assert [(p.first, p.second) for p in pairs] == [(0, 2)]
    # two independent pairs are both kept, strongest first
    pairs = _swaps(["GSE1"] * 4, [K4, K27, K4, K27], [LOOKS_K27, b, [0.1, 0.95, 0.0], c])
    assert [(p.first, p.second) for p in pairs] == [(2, 3), (0, 1)]


def test_replicates_with_the_same_label_are_never_a_pair() -> None:
    assert _swaps(["GSE1"] * 2, [K4, K4], [LOOKS_K27, LOOKS_K27], min_gain=0.01) == []


def test_rows_without_a_label_are_ignored() -> None:
    assert _swaps(["GSE1"] * 3, [-1, K27, K4], [LOOKS_K4, LOOKS_K4, LOOKS_CTCF]) == []
    pairs = _swaps(["GSE1"] * 3, [-1, K27, K4], [LOOKS_K27, LOOKS_K4, LOOKS_K27])
    assert [(p.first, p.second) for p in pairs] == [(1, 2)]


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        _swaps(["GSE1"] * 2, [K4, K27], [LOOKS_K27, LOOKS_K4], min_gain=0.0)


def test_block_scores_use_only_the_groups_dimensions() -> None:
    labels = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0]])  # a group owning dims 0-1
    vectors = np.array([[0.3, 0.0, 0.9, 0.3], [0.0, 0.1, 0.99, 0.0], [0.0, 0.0, 1.0, 0.0]])
    scores = block_scores(vectors, labels)
    # the other group's dims (2-3) do not dilute the score: a weak block still scores 1.0 for its own label
    np.testing.assert_allclose(scores, [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], atol=1e-6)
