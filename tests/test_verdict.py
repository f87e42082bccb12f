"""The verdict on authors' labels: the pure scorer, the threshold choice, the fit, and a model that ships one."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from modelkit import planted_model, write_bed

from annotator.model import verdict
from annotator.model.classes import label_class
from annotator.model.format import load_model, pack_tiles, save_model, unpack_tiles
from annotator.model.verdict_fit import Evidence, choose_threshold, fit_group, is_slip, mislabel_kind
from annotator.project import project_file


def test_best_reference_is_the_best_cosine_per_label_and_zero_without_one() -> None:
    files = np.array([[1.0, 0.0], [0.0, 1.0]])
    refs = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]])
    best = verdict.best_reference(files, refs, np.array([0, 1, 1, -1]), n_labels=3)
    np.testing.assert_allclose(best, [[1.0, 0.6, 0.0], [0.0, 1.0, 0.0]])


def test_label_features_rank_the_labels_and_measure_the_gaps() -> None:
    scores = np.array([[0.2, 0.9, 0.5]])
    best = np.array([[0.3, 0.8, 0.7]])
    tiles = np.array([[0.4, 0.2, 0.1]])
    f = verdict.label_features(scores, best, tiles, np.array([[0.5, 0.7, 0.7]]), np.array([99]), np.array([0.5]))[0]
    col = {name: f[:, i] for i, name in enumerate(verdict.FEATURES)}
    np.testing.assert_allclose(col["gap"], [0.7, 0.0, 0.4])
    np.testing.assert_allclose(np.exp(col["log_rank"]), [3, 1, 2])
    np.testing.assert_allclose(col["rank_share"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(col["ref_gap"], [0.5, 0.0, 0.1])
    np.testing.assert_allclose(np.exp(col["ref_log_rank"]), [3, 1, 2])
    np.testing.assert_allclose(col["tile_ratio"], [1.0, 0.5, 0.25])
    np.testing.assert_allclose(np.exp(col["tile_log_rank"]), [1, 2, 3])
    np.testing.assert_allclose(col["cross_gap"], [0.2, 0.0, 0.0])
    np.testing.assert_allclose(col["ref_gap_x_cross"], [0.1, 0.0, 0.0])
    np.testing.assert_allclose(col["log_tokens"], [2.0] * 3)
    np.testing.assert_allclose(col["top_score"], [0.9] * 3)


def test_threshold_keeps_false_alarms_under_the_bound_in_every_condition_and_source() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.5, 100), rng.uniform(0, 0.9, 100)])
    condition = np.array(["whole"] * 100 + ["random300"] * 100)
    source = np.array(["a", "b"] * 100)
    t = choose_threshold(p, condition, source, 0.05)
    for c in ("whole", "random300"):
        for s in ("a", "b"):
            assert np.mean(p[(condition == c) & (source == s)] >= t) <= 0.05
    # the lowest such threshold: a hair lower flags too many in the worst cell
    worst = condition == "random300"
    assert any(np.mean(p[m] >= np.nextafter(t, 0)) > 0.05 for m in [worst & (source == s) for s in ("a", "b")])


def _synthetic_evidence(n_files: int = 60, n_labels: int = 8, seed: int = 0) -> Evidence:
    """Files whose true label scores high and is the best reference; wrong labels score lower, with noise."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.2, 0.1, (n_files, n_labels))
    truth = rng.integers(0, n_labels, n_files)
    scores[np.arange(n_files), truth] += rng.uniform(0.2, 0.6, n_files)
    best = scores + rng.normal(0, 0.05, scores.shape)
    tiles = scores + rng.normal(0, 0.05, scores.shape)
    feats = verdict.label_features(scores, best, tiles, np.zeros_like(best), rng.integers(10, 1000, n_files),
                                   rng.uniform(0.5, 1, n_files))  # fmt: skip
    names = np.array([f"L{i}" for i in range(n_labels)], dtype=object)
    n = n_files * n_labels
    truth_names = np.repeat(names[truth], n_labels)
    label = np.tile(names, n_files)
    obj = lambda v: np.array([v] * n, dtype=object)  # noqa: E731
    return Evidence(obj("loso:x"), obj("antibody"), np.tile(np.array(["whole", "random300"], dtype=object), n // 2),
                    np.repeat(np.array(["a", "b"], dtype=object)[np.arange(n_files) % 2], n_labels),
                    np.repeat(np.arange(n_files), n_labels), truth_names, label, truth_names != label,
                    obj("x"), np.ones(n, dtype=bool), feats.reshape(n, -1), np.ones(n, dtype=bool))  # fmt: skip


def test_fitted_verdict_ranks_wrong_labels_above_true_ones_and_bounds_false_alarms() -> None:
    ev = _synthetic_evidence()
    fitted = fit_group(ev, max_false_alarm=0.05)
    p = verdict.p_wrong(fitted, ev.features)
    assert p[ev.wrong].mean() > p[~ev.wrong].mean() + 0.3
    flagged = p >= fitted["threshold"]
    assert flagged[~ev.wrong].mean() <= 0.05 and flagged[ev.wrong].mean() > 0.5
    assert fitted["features"] == list(verdict.FEATURES) and len(fitted["coef"]) == len(verdict.FEATURES)


def test_evidence_survives_a_round_trip_through_disk(tmp_path: Path) -> None:
    ev = _synthetic_evidence(n_files=4, n_labels=3)
    ev.save(tmp_path / "ev.npz")
    back = Evidence.load(tmp_path / "ev.npz")
    np.testing.assert_array_equal(back.features, ev.features)
    assert back.truth.tolist() == ev.truth.tolist() and back.wrong.tolist() == ev.wrong.tolist()


@pytest.mark.parametrize(
    ("truth", "label", "kind"),
    [("H3K4me3", "H3K4me1", "slip"), ("H3K27ac", "H3K27me3", "slip"), ("STAT1", "STAT5A", "slip"),
     ("H3K4me3", "H3K27me3", "across"), ("CTCF", "H3K4me3", "across"), ("H3K4me1", "H3K27ac", "within"),
     ("CTCF", "REST", "within"), ("MAX", "MAZ", "within"), ("CTCF", "CTCF", "true")],
)  # fmt: skip
def test_mislabel_kinds(truth: str, label: str, kind: str) -> None:
    assert mislabel_kind("antibody", truth, label) == kind
    assert is_slip("HSMM", "HSMMtube") and not is_slip("NHEK", "NHLF")


def _with_verdict(tmp_path: Path, threshold: float = 0.5) -> tuple:
    model = planted_model(tmp_path)
    # references: one training file per label, lying on that label's axis
    refs = np.eye(model.dim, dtype=np.float32)[[0, 1]] + np.eye(model.dim, dtype=np.float32)[[2, 3]]
    coef = np.zeros(len(verdict.FEATURES))
    coef[[verdict.FEATURES.index("gap"), verdict.FEATURES.index("ref_gap")]] = 4.0
    fitted = {"intercept": -2.0, "coef": coef.tolist(), "threshold": threshold, "features": list(verdict.FEATURES)}
    extra = {"groups": {"antibody": fitted}, "references": {"antibody": ["H3K4me3", "H3K27me3"]}}
    tiles = sp.csr_matrix(np.repeat(np.eye(2), 10, axis=1))  # reference 0 hits token rows 0-9, reference 1 10-19
    judged = replace(model, verdict=extra, reference_vectors=refs, reference_tiles=pack_tiles(tiles))
    return model, save_model(judged, tmp_path / "judged", dtype="float32")


def test_a_model_ships_its_verdict_and_projection_scores_every_label(tmp_path: Path) -> None:
    plain, judged = _with_verdict(tmp_path)
    loaded = load_model(judged.path)
    assert loaded.verdict == judged.verdict and loaded.digest == judged.digest != plain.digest
    np.testing.assert_allclose(loaded.reference_vectors, judged.reference_vectors)
    np.testing.assert_array_equal(loaded.reference_tiles, judged.reference_tiles)
    bed = write_bed(tmp_path / "a.bed", [("chr1", i * 1000, i * 1000 + 500) for i in range(10)])  # H3K4me3 tiles
    ranking = project_file(loaded, bed).rankings["antibody"]
    assert ranking.labels == ("H3K4me3", "H3K27me3") and ranking.p_wrong is not None
    assert ranking.p_wrong[0] < 0.2 < 0.8 < ranking.p_wrong[1]  # gap 1 and reference gap 1: logit -2 + 8
    assert project_file(plain, bed).rankings["antibody"].p_wrong is None  # no verdict, nothing to score
    assert "cell_type" not in loaded.verdict_label_ids


def test_tile_overlap_is_ochiai_and_the_packed_tiles_round_trip() -> None:
    files = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 0]]))
    refs = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 0, 1, 0], [1, 0, 0, 0]]))
    np.testing.assert_allclose(verdict.tile_overlap(files, refs), [[2 / np.sqrt(8), 0.0, 1 / np.sqrt(2)], [0, 0, 0]])
    by_row = unpack_tiles(pack_tiles(refs), 4)
    np.testing.assert_array_equal(by_row.toarray(), refs.toarray().T)
    one = verdict.overlap_of_rows(np.array([0, 1]), by_row, np.asarray(by_row.sum(axis=0)).ravel())
    np.testing.assert_allclose(one, verdict.tile_overlap(files, refs)[:1])


def test_a_verdict_without_references_is_refused(tmp_path: Path) -> None:
    _, judged = _with_verdict(tmp_path)
    with pytest.raises(Exception, match="reference"):
        replace(judged, reference_vectors=None)


def test_a_label_is_reliable_with_references_in_two_contexts_or_in_the_files_own() -> None:
    # label 0 seen in GM12878 and K562, label 1 in GM12878 only, label 2 never
    ref_label = np.array([0, 0, 1, -1])
    ref_context = ["GM12878", "K562", "GM12878", "HepG2"]
    rel = verdict.reliable_labels(ref_label, ref_context, 3, ["HepG2", "GM12878", None])
    np.testing.assert_array_equal(rel, [[True, False, False], [True, True, False], [True, False, False]])


def test_the_class_p_wrong_is_the_best_reliable_label_of_the_class_or_else_the_best_of_all() -> None:
    p = np.array([[0.1, 0.9, 0.88, 0.2, 0.95]])
    classes = ["tf", "tf", "tf", "active", "active"]
    reliable = np.array([[False, True, False, False, False]])
    # tf: only label 1 is reliable -> 0.9 (label 0's 0.1 does not count); active: none reliable -> min 0.2
    np.testing.assert_allclose(verdict.class_p_wrong(p, classes, reliable), [[0.9, 0.9, 0.9, 0.2, 0.2]])
    flagged = verdict.contradicted(p, verdict.class_p_wrong(p, classes, reliable), reliable, 0.85, 0.5)
    # label 0: its class is contradicted but its own P(wrong) is low; label 4: its own is high, its class's not
    np.testing.assert_array_equal(flagged, [[False, True, True, False, False]])
    no_class = verdict.contradicted(p, verdict.class_p_wrong(p, classes, reliable), reliable, 0.85, None)
    np.testing.assert_array_equal(no_class, [[False, True, False, False, False]])


def _with_classes(ev: Evidence, reliable_share: float, seed: int = 1) -> Evidence:
    """`ev` with labels named as TFs and histone marks (two classes) and a share of labels not judged alone."""
    names = {f"L{i}": (f"TF{i}" if i % 2 else f"H3K{i}ac") for i in range(8)}
    rename = np.vectorize(lambda v: names[v], otypes=[object])
    rng = np.random.default_rng(seed)
    n_labels = 8
    n_files = ev.wrong.shape[0] // n_labels  # one condition per file (the synthetic rows alternate it per label)
    condition = np.repeat(np.array(["whole", "random300"], dtype=object)[np.arange(n_files) // 2 % 2], n_labels)
    return replace(ev, truth=rename(ev.truth), label=rename(ev.label), condition=condition,
                   reliable=rng.uniform(size=ev.wrong.shape[0]) < reliable_share)  # fmt: skip


def test_evidence_rows_get_the_class_p_wrong_of_the_pure_scorer() -> None:
    from annotator.model.verdict_fit import class_p_of_rows

    ev = _with_classes(_synthetic_evidence(n_files=10), 0.5)
    # files 0-4, each under two conditions: the rows of one file and condition are grouped, never across them
    ev = replace(ev, file=np.repeat(np.arange(10) // 2, 8),
                 condition=np.repeat(np.array(["whole", "random300"], dtype=object)[np.arange(10) % 2], 8))
    p = np.random.default_rng(2).uniform(size=ev.wrong.shape[0])
    by_rows = class_p_of_rows(ev, p).reshape(10, 8)
    classes = [label_class("antibody", lab) for lab in ev.label[:8]]
    expected = verdict.class_p_wrong(p.reshape(10, 8), classes, ev.reliable.reshape(10, 8))
    np.testing.assert_allclose(by_rows, expected)


def test_the_class_is_judged_against_the_label_threshold_and_only_lowers_false_alarms() -> None:
    from annotator.model.verdict_fit import class_p_of_rows

    ev = _with_classes(_synthetic_evidence(n_files=400), 0.5)
    fitted = fit_group(ev, max_false_alarm=0.05)
    assert fitted["class_threshold"] == fitted["threshold"]
    p = verdict.p_wrong(fitted, ev.features)
    flagged = verdict.contradicted(p, class_p_of_rows(ev, p), ev.reliable, fitted["threshold"],
                                   fitted["class_threshold"])  # fmt: skip
    alone = p >= fitted["threshold"]
    assert not (flagged & ~alone).any()  # the class check only ever clears a label
    assert (alone & ~flagged & ~ev.reliable).any()  # ... and here it does
    np.testing.assert_array_equal(flagged[ev.reliable], alone[ev.reliable])
    for c in ("whole", "random300"):
        for s in ("a", "b"):
            m = ~ev.wrong & (ev.condition == c) & (ev.source == s)
            assert np.mean(flagged[m]) <= 0.05
    # the threshold is the lowest that keeps that bound for what is flagged (the decision as applied), which is
    # lower than the one P(wrong) alone would need: the class rule clears some true labels
    right = ~ev.wrong
    score = verdict.decision_score(p, class_p_of_rows(ev, p), ev.reliable, by_class=True)
    assert fitted["threshold"] == choose_threshold(score[right], ev.condition[right], ev.source[right], 0.05)
    assert fitted["threshold"] < choose_threshold(p[right], ev.condition[right], ev.source[right], 0.05)
    # one class (here every label reads as a TF; cell types likewise): no class verdict
    assert fit_group(_synthetic_evidence(n_files=100))["class_threshold"] is None


def test_reconcile_judges_an_author_label_exactly_as_the_benchmark_does() -> None:
    """`flag_rules.label_evidence` (reconcile, one label at a time) and `verdict.contradicted` (the fit and the
    benchmark, vectorised) must agree, or the benchmark measures a verdict that never runs."""
    from annotator.flag_rules import GroupVerdict, label_evidence
    from annotator.rankings import Ranking

    rng = np.random.default_rng(3)
    vocabulary = ["H3K4me3", "H3K27ac", "H3K27me3", "H3K9me3", "CTCF", "JUND", "MAX", "REST"]
    cells = ["GM12878", "K562", "HepG2"]
    ref_label = rng.integers(0, len(vocabulary), 30)
    ref_context = [cells[i] for i in rng.integers(0, len(cells), 30)]
    contexts: dict[str, set[str]] = {}
    for label, cell in zip(ref_label.tolist(), ref_context, strict=True):
        contexts.setdefault(vocabulary[label], set()).add(cell)
    group = GroupVerdict("antibody", 0.6, 0.6, {k: frozenset(v) for k, v in contexts.items()})
    classes = [label_class("antibody", lab) for lab in vocabulary]
    checked = 0
    for _ in range(40):
        p = rng.uniform(size=(1, len(vocabulary)))
        context = cells[rng.integers(0, len(cells))] if rng.uniform() < 0.7 else None
        reliable = verdict.reliable_labels(ref_label, ref_context, len(vocabulary), [context])
        expected = verdict.contradicted(p, verdict.class_p_wrong(p, classes, reliable), reliable, 0.6, 0.6)[0]
        order = np.argsort(-p[0])  # any order: the stored ranks carry their own P(wrong)
        ranking = Ranking(tuple(vocabulary[i] for i in order), tuple(float(1 - p[0, i]) for i in order), 0.1,
                          p_wrong=tuple(float(p[0, i]) for i in order))  # fmt: skip
        for i, label in enumerate(vocabulary):
            ev = label_evidence(label, ranking, vocabulary, group, context)
            assert ev.reliable == bool(reliable[0, i]) and ev.contradicted == bool(expected[i]), (label, context)
            checked += int(not ev.reliable)
    assert checked > 0  # labels judged by their class were among those compared


def test_the_threshold_is_compared_with_the_decision_score_of_the_verdict_as_applied() -> None:
    rng = np.random.default_rng(4)
    p, class_p = rng.uniform(size=(50, 6)), rng.uniform(size=(50, 6))
    reliable = rng.uniform(size=(50, 6)) < 0.5
    for t in (0.2, 0.5, 0.8):
        score = verdict.decision_score(p, class_p, reliable, by_class=True)
        np.testing.assert_array_equal(score >= t, verdict.contradicted(p, class_p, reliable, t, t))
        alone = verdict.decision_score(p, class_p, reliable, by_class=False)
        np.testing.assert_array_equal(alone >= t, verdict.contradicted(p, class_p, reliable, t, None))
