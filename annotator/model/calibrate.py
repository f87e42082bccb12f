"""Calibrated confidence and abstention for rank-1 calls, learnt from held-out calls (`annotator.model.crossval`).

Per label group two logistic models read the features of a rank-1 call (`crossval.FEATURES`: top cosine, margin,
cosine within the group's block, share of the vector in the block, log10 tokens hit):

* `correct`: P(the rank-1 label is right), fitted on calls of files from held-out sources and held-out labels — a
  file whose true label is outside the vocabulary counts as a wrong call, so the probability is low where no
  known label fits;
* `known`: P(the file's true label is in the vocabulary), fitted on the same calls; below the group's
  `novel_below` (the highest bound that marks at most `MAX_NOVEL_ON_KNOWN` of the calls on files of known labels,
  in every condition) the call is marked `no_known_label`.

A call is **confident** when it hits at least `MIN_TOKENS` known tokens, its probability reaches the group's
threshold (the lowest that keeps precision >= `TARGET_PRECISION` in every condition of the calibration calls), and
it is not `no_known_label`. Otherwise `confidence_reason` says which rule stopped it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Features of a rank-1 call, in the order `call_features` returns them.
FEATURES = ("score", "margin", "block_cosine", "block_share", "log_tokens")
#: Known tokens a file must hit before any call on it can be confident.
MIN_TOKENS = 20
#: Precision every condition of the calibration calls must keep among confident calls.
TARGET_PRECISION = 0.92
#: P(true label in vocabulary) under which a call is marked `no_known_label`: the highest bound, used by
#: calibrations fitted before `choose_novel_below` (each group now stores its own, `novel_below`).
NOVEL_BELOW = 0.5
#: Share of calls on files whose true label the model knows that may be marked `no_known_label`, per condition.
MAX_NOVEL_ON_KNOWN = 0.08
_NOVEL_GRID = np.round(np.arange(0.50, 0.0, -0.01), 2)
#: Thresholds tried, low to high.
_GRID = np.round(np.arange(0.50, 0.995, 0.01), 2)
#: L2 penalty of the logistic fits (features are standardised first).
_L2 = 1.0

REASON_FEW_TOKENS, REASON_LOW_PROBABILITY, REASON_NO_KNOWN_LABEL = "few_tokens", "low_probability", "no_known_label"


def call_features(scores: np.ndarray, block: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Features of each row's rank-1 call (`FEATURES`).

    `scores` (n, n_labels) are the group's cosines, `block` (n, d_g) the unit set vectors restricted to the group's
    own dimensions, `n_tokens` the known tokens each file hits. Returned: top cosine, margin to the runner-up, top
    cosine within the block (how well the best label fits the group's part of the vector), the share of the
    vector's length in the block, and log10(1 + tokens).
    """
    ranked = -np.sort(-np.asarray(scores, dtype=np.float64), axis=1)
    top = ranked[:, 0]
    margin = ranked[:, 0] - ranked[:, 1] if ranked.shape[1] > 1 else np.zeros_like(top)
    block_norm = np.linalg.norm(np.asarray(block, dtype=np.float64), axis=1)
    block_cos = np.divide(top, block_norm, out=np.zeros_like(top), where=block_norm > 0)
    return np.column_stack([top, margin, block_cos, block_norm, np.log10(1.0 + np.asarray(n_tokens))])


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> dict[str, Any]:
    """Penalised logistic regression by Newton's method on standardised features (deterministic); `weights`
    (default 1) weigh each row's loss."""
    w_row = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = np.column_stack([np.ones(x.shape[0]), (x - mean) / std])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], _L2)
    penalty[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (w_row * (p - y)) + penalty * w
        hess = (z * (w_row * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    coef = w[1:] / std  # back to raw features: logit = intercept + x . coef
    return {"intercept": float(w[0] - np.sum(coef * mean)), "coef": [float(c) for c in coef]}


def logistic(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    logit = model["intercept"] + np.asarray(x, dtype=np.float64) @ np.asarray(model["coef"], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def fit_group(features: np.ndarray, correct: np.ndarray, known: np.ndarray, condition: np.ndarray,
              n_tokens: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Both logistic models and the confidence threshold of one group from its calibration calls."""
    out: dict[str, Any] = {"correct": fit_logistic(features, correct.astype(float))}
    out["known"] = fit_logistic(features, known.astype(float)) if 0 < known.sum() < known.size else None
    p = logistic(out["correct"], features)
    if out["known"] is not None:
        out["novel_below"] = choose_novel_below(logistic(out["known"], features), known, condition)
    novel = novel_mask(out, features)
    eligible = (n_tokens >= MIN_TOKENS) & ~novel
    out["threshold"] = choose_threshold(p, correct, condition, eligible)
    out["n_calls"] = int(correct.size)
    return out


def novel_mask(group: dict[str, Any], features: np.ndarray) -> np.ndarray:
    if group.get("known") is None:
        return np.zeros(features.shape[0], dtype=bool)
    return logistic(group["known"], features) < group.get("novel_below", NOVEL_BELOW)


def choose_novel_below(q_known: np.ndarray, known: np.ndarray, condition: np.ndarray) -> float:
    """Highest bound (<= NOVEL_BELOW) on P(label known) under which at most MAX_NOVEL_ON_KNOWN of the calls on
    files of known labels fall, in every condition (0.0: never `no_known_label`)."""
    for t in _NOVEL_GRID:
        if all(np.mean(q_known[known & (condition == c)] < t) <= MAX_NOVEL_ON_KNOWN
               for c in np.unique(condition[known])):  # fmt: skip
            return float(t)
    return 0.0


def choose_threshold(p: np.ndarray, correct: np.ndarray, condition: np.ndarray, eligible: np.ndarray) -> float:
    """Lowest grid threshold whose confident calls are >= TARGET_PRECISION right in every condition (1.0, never
    confident, when no threshold keeps any confident call at that precision)."""
    for t in _GRID:
        confident = eligible & (p >= t)
        ok = True
        for c in np.unique(condition):
            sel = confident & (condition == c)
            if sel.any() and correct[sel].mean() < TARGET_PRECISION:
                ok = False
                break
        if ok and confident.any():
            return float(t)
    return 1.0


def decide(
    group: dict[str, Any], features: np.ndarray, n_tokens: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(probability, confident, reason) per call; reason None when confident."""
    p = logistic(group["correct"], features)
    novel = novel_mask(group, features)
    few = n_tokens < MIN_TOKENS
    confident = ~few & ~novel & (p >= group["threshold"])
    reasons: list[str | None] = [
        None if ok else REASON_FEW_TOKENS if f else REASON_NO_KNOWN_LABEL if nv else REASON_LOW_PROBABILITY
        for ok, f, nv in zip(confident.tolist(), few.tolist(), novel.tolist(), strict=True)
    ]
    return p, confident, reasons


def decide_one(group: dict[str, Any], features: Sequence[float], n_tokens: int) -> tuple[float, bool, str | None]:
    """`decide` for one call with plain floats: projection calls it once per file and group (~50x faster)."""

    def prob(model: dict[str, Any]) -> float:
        logit = model["intercept"] + sum(c * f for c, f in zip(model["coef"], features, strict=True))
        return 1.0 / (1.0 + math.exp(-min(max(logit, -50.0), 50.0)))

    p = prob(group["correct"])
    if n_tokens < MIN_TOKENS:
        return p, False, REASON_FEW_TOKENS
    if group.get("known") is not None and prob(group["known"]) < group.get("novel_below", NOVEL_BELOW):
        return p, False, REASON_NO_KNOWN_LABEL
    if p < group["threshold"]:
        return p, False, REASON_LOW_PROBABILITY
    return p, True, None


def reliability(p: np.ndarray, correct: np.ndarray, edges: Sequence[float] = (0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001)
                ) -> list[dict[str, float]]:  # fmt: skip
    """Per probability bin: calls, mean predicted probability, share right."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (p >= lo) & (p < hi)
        if sel.any():
            out.append({"lo": lo, "hi": min(hi, 1.0), "n": int(sel.sum()), "mean_p": float(p[sel].mean()),
                        "right": float(correct[sel].mean())})  # fmt: skip
    return out
