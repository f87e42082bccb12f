"""Calibrated confidence: probabilities learnt from held-out calls, thresholds per condition, abstention."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.model import calibrate


def _calls(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Calls whose chance of being right rises with the margin; a fifth are out-of-vocabulary (never right) and
    have a low within-block cosine, the novelty signal."""
    rng = np.random.default_rng(seed)
    margin = rng.uniform(0, 0.5, n)
    known = rng.random(n) > 0.2
    block_cos = np.where(known, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.5, n))
    correct = known & (rng.random(n) < 1 / (1 + np.exp(-(margin - 0.15) * 25)))
    tokens = rng.integers(1, 3000, n)
    feats = np.column_stack([0.5 + margin, margin, block_cos, np.full(n, 0.6), np.log10(1 + tokens)])
    condition = rng.choice(["whole", "top500"], n)
    return feats, correct, known, condition, tokens


def test_probabilities_are_calibrated_on_fresh_calls() -> None:
    feats, correct, known, condition, tokens = _calls()
    group = calibrate.fit_group(feats, correct, known, condition, tokens)
    f2, c2, *_ = _calls(seed=1)
    p = calibrate.logistic(group["correct"], f2)
    for row in calibrate.reliability(p, c2):
        if row["n"] >= 100:
            assert abs(row["mean_p"] - row["right"]) < 0.08, row


def test_confident_calls_reach_the_target_precision_and_unknown_labels_abstain() -> None:
    feats, correct, known, condition, tokens = _calls()
    group = calibrate.fit_group(feats, correct, known, condition, tokens)
    assert 0.5 <= group["threshold"] < 1.0
    f2, c2, k2, _cond2, t2 = _calls(seed=2)
    _p, confident, reasons = calibrate.decide(group, f2, t2)
    assert confident.sum() > 200
    assert c2[confident].mean() >= 0.88
    assert confident[~k2].mean() <= 0.10  # files of unknown labels rarely confident
    novel = np.array([r == calibrate.REASON_NO_KNOWN_LABEL for r in reasons])
    assert novel[~k2].mean() > 0.8 and novel[k2].mean() < 0.1
    assert all(r is None for r, ok in zip(reasons, confident, strict=True) if ok)


def test_too_few_tokens_is_never_confident_and_says_so() -> None:
    feats, correct, known, condition, tokens = _calls()
    group = calibrate.fit_group(feats, correct, known, condition, tokens)
    strong = np.array([[1.0, 0.5, 1.0, 0.6, np.log10(6)]])
    _, confident, reasons = calibrate.decide(group, strong, np.array([5]))
    assert not confident[0] and reasons == [calibrate.REASON_FEW_TOKENS]
    _p, confident, reasons = calibrate.decide(group, strong, np.array([calibrate.MIN_TOKENS]))
    assert confident[0] and reasons == [None]


def test_threshold_is_raised_until_every_condition_is_precise_enough() -> None:
    p = np.array([0.95, 0.95, 0.6, 0.6, 0.6, 0.6, 0.97, 0.97])
    correct = np.array([True, True, True, False, True, False, True, True])
    condition = np.array(["a", "a", "b", "b", "b", "b", "b", "b"])
    eligible = np.ones(8, dtype=bool)
    assert calibrate.choose_threshold(p, correct, condition, eligible) == 0.61  # b at 0.6 is only 67 % right
    assert calibrate.choose_threshold(p, np.zeros(8, bool), condition, eligible) == 1.0


def test_the_one_call_path_of_projection_decides_like_the_vectorised_one() -> None:
    feats, correct, known, condition, tokens = _calls()
    group = calibrate.fit_group(feats, correct, known, condition, tokens)
    f2, _, _, _, t2 = _calls(n=300, seed=3)
    t2[:30] = 3  # some files too small
    p, confident, reasons = calibrate.decide(group, f2, t2)
    for i in range(300):
        one = calibrate.decide_one(group, f2[i].tolist(), int(t2[i]))
        assert one[0] == pytest.approx(p[i], rel=1e-9) and one[1:] == (bool(confident[i]), reasons[i])


def test_row_weights_weigh_each_rows_loss() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + rng.normal(scale=1.0, size=400) > 0).astype(float)
    plain = calibrate.fit_logistic(x, y)
    heavy_positives = calibrate.fit_logistic(x, y, np.where(y == 1, 5.0, 1.0))
    # weighing the positive rows five times makes every row more likely to be positive
    assert heavy_positives["intercept"] > plain["intercept"] + 0.5
    assert calibrate.fit_logistic(x, y, np.ones(400)) == plain


def test_the_novel_bound_is_the_highest_that_keeps_known_files_under_the_bound_in_every_condition() -> None:
    # P(label known) of calls on files whose label the model knows, in two conditions: in "sparse" a tenth of
    # them are 0.25, so a bound above 0.25 would call 10 % of them novel; 0.25 is the highest that keeps <= 8 %
    q = np.concatenate([np.full(90, 0.9), np.full(10, 0.25), np.full(100, 0.9)])
    condition = np.array(["sparse"] * 100 + ["whole"] * 100)
    known = np.ones(200, dtype=bool)
    bound = calibrate.choose_novel_below(q, known, condition)
    assert bound == max(t for t in calibrate._NOVEL_GRID if t <= 0.25)
    assert calibrate.choose_novel_below(np.full(200, 0.9), known, condition) == calibrate.NOVEL_BELOW
