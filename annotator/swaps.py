"""Series-level label swaps: two samples of one series whose author labels each fit the other's data far better.

The most common real slip in a GEO series is two labels written on the wrong samples (the H3K4me3 file labelled
H3K27me3 and the H3K27me3 file labelled H3K4me3). One sample's label can look wrong for many reasons; two labels
that each fit the *other* sample's data are a specific, easily fixed story. The rule, per label group:

* A sample's **gain towards a label** is the model's score of that label in its data minus the score of its own
  author label (scores are cosines of the group's block of the region-set vector: `block_scores`).
* Samples A (label a) and B (label b != a) of the **same series** are a candidate pair when A's gain towards b and
  B's gain towards a are both at least `min_gain`: **both directions** must hold, so one sample that fits its
  label badly (a one-sided misfit) is never a swap. The pair's strength is the smaller of the two gains.
* A sample in several candidate pairs takes the strongest: pairs are accepted greedily by strength (ties by
  position), each sample at most once.

Pure numpy: no I/O, no pipeline types. `annotator.reconcile_swaps` feeds it from a workdir.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SwapPair:
    """Rows `first` < `second` of the input whose labels look swapped, with the gains that say so."""

    first: int
    second: int
    gain_first: float  # score of the second's label in the first's data minus the first's own label's score
    gain_second: float  # and the other way round

    @property
    def strength(self) -> float:
        return min(self.gain_first, self.gain_second)


def block_scores(vectors: np.ndarray, label_vectors: np.ndarray) -> np.ndarray:
    """(n, n_labels) cosines between each region-set vector's group block and the group's label vectors.

    The block is the dimensions the group's label vectors use; scoring it on its own (the vector's other groups
    removed) makes scores of sparse and dense files comparable. A zero block scores 0 for every label.
    """
    labels = np.asarray(label_vectors, dtype=np.float32)
    dims = np.flatnonzero(np.any(np.abs(labels) > 1e-6, axis=0))
    block = np.asarray(vectors, dtype=np.float32)[:, dims]
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    unit_block = block / np.where(norms > 0, norms, 1.0)
    unit = labels[:, dims] / np.maximum(np.linalg.norm(labels[:, dims], axis=1, keepdims=True), 1e-12)
    return np.asarray(unit_block @ unit.T, dtype=np.float32)


def find_swaps(
    series: Sequence[str | None] | np.ndarray, labels: np.ndarray, scores: np.ndarray, min_gain: float
) -> list[SwapPair]:
    """Pairs of rows whose author labels look swapped (the rule in the module docstring), strongest first.

    Parameters
    ----------
    series
        (n,) series id per row; rows of different series are never paired. Empty or None: no series.
    labels
        (n,) int index of each row's author label into the columns of `scores`; -1 when it has none.
    scores
        (n, n_labels) the model's score of every label in each row's data (e.g. `block_scores`).
    min_gain
        The gain both samples of a pair must reach (> 0; `annotator.config.DEFAULT_SWAP_MIN_GAIN`).
    """
    if not min_gain > 0:
        raise ValueError(f"min_gain must be positive (a pair of equal labels gains 0), got {min_gain}")
    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n = labels.shape[0]
    if n < 2:
        return []
    keys = np.array(["" if s is None else str(s) for s in series], dtype=object)
    ok = (labels >= 0) & (keys != "")
    own = np.where(ok, scores[np.arange(n), np.clip(labels, 0, None)], np.nan)
    gains = scores - own[:, None]  # gain of every row towards every label
    offer_row, offer_label = np.nonzero(ok[:, None] & (gains >= min_gain))
    if offer_row.size == 0:
        return []
    # an offer "row r (label a) would rather be b" meets an offer "row s (label b) would rather be a" of its series
    own_label = labels[offer_row]
    by_key: dict[tuple[str, int, int], list[int]] = {}
    for r, a, b in zip(offer_row.tolist(), own_label.tolist(), offer_label.tolist(), strict=True):
        by_key.setdefault((keys[r], a, b), []).append(r)
    candidates: list[SwapPair] = []
    for (key, a, b), rows in by_key.items():
        if a > b:
            continue  # each pair of directions once, from the side with the lower label
        partners = by_key.get((key, b, a), [])
        for r in rows:
            for s in partners:
                first, second = min(r, s), max(r, s)
                candidates.append(SwapPair(first, second, float(gains[first, labels[second]]),
                                           float(gains[second, labels[first]])))  # fmt: skip
    candidates.sort(key=lambda p: (-p.strength, p.first, p.second))
    taken: set[int] = set()
    out = []
    for pair in candidates:
        if pair.first in taken or pair.second in taken:
            continue
        taken.update((pair.first, pair.second))
        out.append(pair)
    return out
