"""Training on tiny generated corpora: planted signals must be learned, the StarSpace flaws must stay fixed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from modelkit import write_bed
from typer.testing import CliRunner

from annotator.cli import app
from annotator.errors import TrainingError
from annotator.model.corpus import Corpus
from annotator.model.evaluate import evaluate_embeddings
from annotator.model.format import load_model
from annotator.model.rows import embed_region_sets, stratified_split
from annotator.model.solvers import hinge_loss
from annotator.model.train import TrainParams, _token_weights, train_embeddings, train_model
from annotator.project import project_file
from annotator.regions.universe import TileUniverse

ANTIBODIES = ["H3K4me3", "H3K27me3", "H3K36me3"]
CELL_TYPES = ["K562", "CD14+ monocytes", "fibroblast, lung"]
UNIVERSE = TileUniverse(1000)
POOL = 300  # tokens owned by each label


def _planted(seed: int = 0, reps: int = 4) -> tuple[sp.csr_matrix, dict[str, np.ndarray]]:
    """Sets hitting 40 % of their antibody's tokens (chr1), 40 % of their cell type's (chr2), 5 % of noise (chr3)."""
    rng = np.random.default_rng(seed)
    chr2, chr3 = int(UNIVERSE.offsets[1]), int(UNIVERSE.offsets[2])
    rows, ab, ct = [], [], []
    for a in range(len(ANTIBODIES)):
        for c in range(len(CELL_TYPES)):
            for _ in range(reps):
                own_a = a * POOL + np.flatnonzero(rng.random(POOL) < 0.4)
                own_c = chr2 + c * POOL + np.flatnonzero(rng.random(POOL) < 0.4)
                noise = chr3 + np.flatnonzero(rng.random(3000) < 0.05)
                rows.append(np.concatenate([own_a, own_c, noise]))
                ab.append(a)
                ct.append(c)
    indptr = np.cumsum([0, *map(len, rows)])
    data = np.ones(indptr[-1], dtype=np.float32)
    matrix = sp.csr_matrix((data, np.concatenate(rows), indptr), shape=(len(rows), UNIVERSE.n_tokens))
    return matrix, {"antibody": np.array(ab), "cell_type": np.array(ct)}


def _corpus(matrix: sp.csr_matrix, labels: dict[str, np.ndarray]) -> Corpus:
    names = {"antibody": ANTIBODIES, "cell_type": CELL_TYPES}
    return Corpus(
        files=tuple(f"s{i}.bed" for i in range(matrix.shape[0])),
        matrix=matrix,
        labels={g: tuple(names[g][i] for i in v) for g, v in labels.items()},
        universe=UNIVERSE,
        n_regions=np.asarray(matrix.sum(axis=1)).ravel().astype(np.int64),
    )


@pytest.mark.parametrize(
    "params",
    [
        TrainParams(tokens_per_group=400),
        TrainParams(loss="softmax", epochs=150, tokens_per_group=None, weighting="idf"),
        TrainParams(loss="hinge", epochs=150, weighting="none", tokens_per_group=None),
    ],
    ids=["squared", "softmax", "hinge"],
)
def test_learns_planted_labels_on_held_out_sets(params: TrainParams) -> None:
    corpus = _corpus(*_planted())
    train, test = stratified_split(corpus.labels["antibody"], 0.25, seed=1)
    model = train_model(corpus, params, name="planted", train_rows=train)
    vectors = embed_region_sets(corpus.matrix, model.token_ids, model.token_vectors)
    metrics = evaluate_embeddings(vectors, corpus.labels, model.groups, model.label_vectors, test)
    for group in ("antibody", "cell_type"):
        assert metrics[group]["top1"] == 1.0, (group, metrics[group]["confusion"])
        assert metrics[group]["r_precision"] >= (1.0 if params.loss == "squared" else 0.8)
    assert model.groups["cell_type"] == sorted(CELL_TYPES)  # labels with spaces and commas stay whole


def test_same_seed_same_weights_and_groups_in_separate_dimensions() -> None:
    matrix, labels = _planted()
    n_labels = {"antibody": 3, "cell_type": 3}
    params = TrainParams(loss="hinge", epochs=20, tokens_per_group=200, seed=5)
    first = train_embeddings(matrix, labels, n_labels, params)
    second = train_embeddings(matrix, labels, n_labels, params)
    assert np.array_equal(first.columns, second.columns)
    assert np.array_equal(first.token_vectors, second.token_vectors)
    other = train_embeddings(matrix, labels, n_labels, TrainParams(loss="hinge", epochs=20, tokens_per_group=200))
    assert not np.array_equal(first.token_vectors, other.token_vectors)
    cross = first.label_vectors["antibody"] @ first.label_vectors["cell_type"].T
    assert np.abs(cross).max() == 0.0  # an antibody is never scored against (or pushed from) a cell type


def test_hinge_never_uses_a_sets_own_label_as_negative() -> None:
    cos = np.zeros((50, 2))
    y = np.array([0, 1] * 25)
    loss, grad = hinge_loss(cos, y, TrainParams(margin=0.5, negatives=5), np.random.default_rng(0))
    rows = np.arange(50)
    # with two labels the only admissible negative is the other one: all 5 samples must land on it
    assert np.allclose(grad[rows, 1 - y], 5 / 50) and np.allclose(grad[rows, y], -5 / 50)
    assert loss == pytest.approx(5 * 0.5)


def test_eta_weights_by_hand() -> None:
    # columns: only in class 0 | in every set | one per class | only in set 0
    x = sp.csc_matrix(np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0]], dtype=np.float32))
    weights = _token_weights(x, np.array([0, 0, 1, 1]), 2, TrainParams(weight_power=1.0))
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0, 1 / 3])
    squared = _token_weights(x, np.array([0, 0, 1, 1]), 2, TrainParams(weight_power=2.0))
    np.testing.assert_allclose(squared, [1.0, 0.0, 0.0, 1 / 9])


def test_vocabulary_respects_min_df_and_tokens_per_group() -> None:
    matrix, labels = _planted()
    emb = train_embeddings(matrix, labels, {"antibody": 3, "cell_type": 3}, TrainParams(min_df=4, tokens_per_group=50))
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    assert df[emb.columns].min() >= 4
    assert emb.columns.shape[0] <= 100 and emb.info["groups"]["antibody"]["n_tokens"] == 50
    assert emb.token_vectors.shape == (emb.columns.shape[0], 6)


def test_validation_split_stops_early_and_records_the_choice() -> None:
    matrix, labels = _planted()
    params = TrainParams(loss="softmax", epochs=400, patience=5, validation_fraction=0.25, tokens_per_group=300)
    emb = train_embeddings(matrix, labels, {"antibody": 3, "cell_type": 3}, params)
    chosen = emb.info["groups"]["antibody"]["validation"]
    assert chosen["validation_mrr"] == 1.0
    assert len(chosen["history"]) == chosen["epochs"] + 5 < 400  # stopped `patience` epochs after the best
    squared = train_embeddings(matrix, labels, {"antibody": 3, "cell_type": 3}, TrainParams(validation_fraction=0.25))
    assert squared.info["groups"]["cell_type"]["validation"]["ridge"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def test_invalid_parameters_and_corpora_are_refused() -> None:
    with pytest.raises(TrainingError, match="loss must be one of"):
        TrainParams(loss="warp")
    matrix, labels = _planted(reps=1)
    with pytest.raises(TrainingError, match="fewer than two distinct labels"):
        train_embeddings(matrix, {"antibody": np.zeros(9, int)}, {"antibody": 1})
    with pytest.raises(TrainingError, match="lower min_df"):
        train_embeddings(matrix, labels, {"antibody": 3, "cell_type": 3}, TrainParams(min_df=100))


def _write_files(tmp_path: Path) -> tuple[Path, Path]:
    """Tiny BED corpus on disk: 3 antibodies x 3 cell types x 2 replicates, peaks drawn from label-owned tiles."""
    matrix, labels = _planted(seed=3, reps=2)
    beds = tmp_path / "beds"
    beds.mkdir()
    rows = []
    for i in range(matrix.shape[0]):
        ids = matrix[i].indices.astype(np.int64)
        code = np.searchsorted(UNIVERSE.offsets, ids, side="right") - 1
        starts = (ids - UNIVERSE.offsets[code]) * 1000 + 100
        regions = [(UNIVERSE.genome.chroms[c], int(s), int(s) + 300) for c, s in zip(code, starts, strict=True)]
        write_bed(beds / f"s{i}.bed.gz", regions)
        rows.append({"file_name": f"s{i}.bed.gz", "antibody": ANTIBODIES[labels["antibody"][i]],
                     "cell_type": CELL_TYPES[labels["cell_type"][i]]})  # fmt: skip
    meta = tmp_path / "samples.csv"
    with meta.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return beds, meta


def test_cli_train_then_evaluate_then_project(tmp_path: Path) -> None:
    beds, meta = _write_files(tmp_path)
    out = tmp_path / "models" / "tiny"
    runner = CliRunner()
    args = ["train", "--beds", str(beds), "--metadata", str(meta), "--label", "antibody", "--label", "cell_type",
            "--out", str(out), "--tile-width", "1000", "--test-fraction", "0.2", "--tokens-per-group", "400",
            "--workers", "1", "--json", str(tmp_path / "train.json")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "top-1 accuracy" in result.output
    model = load_model(out)
    assert np.load(out / "token_vectors.npy").dtype == np.float16
    held_out = json.loads((tmp_path / "train.json").read_text())
    assert held_out["groups"]["antibody"]["top1"] == 1.0 and held_out["split"]["n_test"] == 4
    assert model.metrics["groups"]["cell_type"]["top1"] == 1.0
    assert len(model.training["train_files"]) == 14 and model.training["params"]["seed"] == 0

    result = runner.invoke(app, ["evaluate", "--model", str(out), "--beds", str(beds), "--metadata", str(meta),
                                 "--workers", "1", "--json", str(tmp_path / "eval.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / "eval.json").read_text())
    assert again["groups"]["antibody"]["n_test"] == 4  # only the files the model was not trained on
    assert again["groups"]["antibody"]["mrr"] == pytest.approx(held_out["groups"]["antibody"]["mrr"])

    (out / "README.md").write_text("# card\n")
    result = runner.invoke(app, ["evaluate", "--model", str(out), "--beds", str(beds), "--metadata", str(meta),
                                 "--workers", "1", "--all", "--store"])  # fmt: skip
    assert result.exit_code == 0, result.output
    stored = load_model(out)
    assert stored.digest == model.digest  # same weights: storing metrics does not change the model's identity
    assert stored.metrics["split"]["kind"] == "all" and stored.metrics["groups"]["antibody"]["n_test"] == 18
    assert (out / "README.md").read_text() == "# card\n"  # the hand-written card survives the rewrite

    test_file = held_out["split"]["test_files"][0]
    projection = project_file(model, beds / test_file)
    with meta.open(newline="") as fh:
        truth = next(r for r in csv.DictReader(fh) if r["file_name"] == test_file)
    assert projection.rankings["antibody"].labels[0] == truth["antibody"]
    assert projection.rankings["cell_type"].labels[0] == truth["cell_type"]


def test_cli_reports_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    beds, meta = _write_files(tmp_path)
    result = CliRunner().invoke(app, ["train", "--beds", str(beds), "--metadata", str(meta), "--label", "tissue",
                                      "--out", str(tmp_path / "m"), "--workers", "1"])  # fmt: skip
    assert result.exit_code == 2
    assert "no column 'tissue'" in result.output


def test_fewer_dimensions_than_labels_share_them_per_group() -> None:
    matrix, labels = _planted()
    emb = train_embeddings(matrix, labels, {"antibody": 3, "cell_type": 3}, TrainParams(dim=4, tokens_per_group=100))
    assert emb.token_vectors.shape[1] == 4 and emb.info["dims"] == {"antibody": 2, "cell_type": 2}
    for group, block in (("antibody", slice(0, 2)), ("cell_type", slice(2, 4))):
        vecs = emb.label_vectors[group]
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)
        assert not np.delete(vecs, block, axis=1).any()  # each group only uses its own block
