"""`annotator search` and the training samples a model ships: exact neighbours, labels, formats, bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.config import Config
from annotator.demo import DEMO_GSE, build_demo
from annotator.embeddings import EmbeddingArchive, label_blocks
from annotator.errors import InputError, ModelError
from annotator.model.format import load_model, save_model
from annotator.model.samples import VECTORS_FILE, add_training_samples, read_training_samples
from annotator.search import SOURCE_ARCHIVE, SOURCE_TRAINING, load_candidates, nearest, search, top_n
from annotator.tables import read_table


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp = tmp_path_factory.mktemp("search")
    model = labelled_model(tmp)
    demo = build_demo(tmp / "in", model)
    config = Config(workdir=tmp / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True)
    pipeline.run(config, [DEMO_GSE])
    return config


@pytest.fixture(scope="module")
def model(night: Config):
    return load_model(night.model)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, night: Config) -> Path:
    """A copy of the model with three 'training files' (the demo's own files) and their labels."""
    tmp = tmp_path_factory.mktemp("trained")
    model = save_model(load_model(night.model), tmp / "model", dtype="float32")
    files = tmp / "beds"
    files.mkdir()
    rows = [("GSM9990001_peaks.bed.gz", "H3K4me3", "K562"), ("GSM9990008_peaks.bed.gz", "H3K27me3", "HUVEC"),
            ("GSM9990010_peaks.bed.gz", "H3K4me1", "NHEK")]  # fmt: skip
    source = Path(str(night.soft_dir)).parent / "files"
    for name, _, _ in rows:
        (files / name).write_bytes((source / name).read_bytes())
    meta = tmp / "samples.csv"
    meta.write_text("file_name,antibody,cell_type,donor\n" + "".join(f"{f},{a},{c},x\n" for f, a, c in rows))
    add_training_samples(model.path, files, meta)
    return model.path


def _predicted_scores(workdir: Path, label: str) -> dict[str, float]:
    rows = read_table("predictions", workdir / "predictions.parquet").to_pylist()
    return {r["sample_id"]: r["score"] for r in rows if r["label"] == label}


def test_label_search_ranks_the_archive_by_the_models_own_score(model, night: Config) -> None:
    hits = search(model, night.workdir, label="H3K27ac", n=100)
    scores = _predicted_scores(night.workdir, "H3K27ac")  # predictions keep every label's score (top_k=None)
    assert {h.sample_id for h in hits} == set(scores)
    assert [h.cosine for h in hits] == sorted((h.cosine for h in hits), reverse=True)
    for h in hits:
        assert h.cosine == pytest.approx(scores[h.sample_id], abs=1e-5)
        assert h.source == SOURCE_ARCHIVE
    top = hits[0]
    assert top.predicted_labels["antibody"] == "H3K27ac"
    ann = read_table("annotations", night.workdir / "annotations.parquet").to_pylist()
    authors = {(r["sample_id"], r["group"]): r["author_label"] for r in ann}
    assert top.author_labels == {g: authors[(top.sample_id, g)] for g in ("antibody", "cell_type")}


def test_bed_search_finds_the_file_itself_first(model, night: Config) -> None:
    files = Path(str(night.soft_dir)).parent / "files"
    hits = search(model, night.workdir, bed=files / "GSM9990008_peaks.bed.gz", n=3)
    assert hits[0].sample_id.startswith("GSM9990008/") and hits[0].cosine == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 3 and hits[1].cosine < hits[0].cosine


def test_bed_search_within_a_group_block_compares_only_those_dimensions(model, night: Config) -> None:
    files = Path(str(night.soft_dir)).parent / "files"
    query = files / "GSM9990001_peaks.bed.gz"
    hits = search(model, night.workdir, bed=query, group="antibody", n=50)
    archived = EmbeddingArchive(night.workdir, model.digest).read()
    dims = label_blocks(model)["antibody"]
    row = archived.sample_ids.index(next(s for s in archived.sample_ids if s.startswith("GSM9990001/")))
    q = archived.vectors[row, dims] / np.linalg.norm(archived.vectors[row, dims])
    expected = {s: float(archived.blocks["antibody"][i] @ q) for i, s in enumerate(archived.sample_ids)}
    assert {h.sample_id: round(h.cosine, 5) for h in hits} == {s: round(v, 5) for s, v in expected.items()}


def test_top_n_is_exact_and_breaks_ties_by_row() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=10_000).astype(np.float32)
    scores[[7, 3]] = 9.0
    got = top_n(scores, 20)
    assert [i for i, _ in got][:2] == [3, 7]
    assert [i for i, _ in got] == list(np.argsort(-scores, kind="stable")[:20])
    assert len(top_n(scores[:5], 20)) == 5


def test_training_samples_ship_with_the_model_and_are_searched(model, night: Config, trained: Path) -> None:
    m = load_model(trained)
    assert m.digest == model.digest  # adding samples changes no prediction, so not the digest either
    samples = read_training_samples(m)
    assert samples is not None and samples.sample_ids[0] == "GSM9990001_peaks.bed.gz"
    assert samples.labels[1] == {"antibody": "H3K27me3", "cell_type": "HUVEC"}
    assert np.load(trained / VECTORS_FILE).dtype == np.float16
    candidates = load_candidates(night.workdir, m)
    assert candidates.sources.count(SOURCE_TRAINING) == 3
    files = Path(str(night.soft_dir)).parent / "files"
    hits = search(m, night.workdir, bed=files / "GSM9990008_peaks.bed.gz", n=2)
    top = hits[0]  # the file and its training twin (the same bytes) are one region set, archive copy first
    assert top.sources == [SOURCE_ARCHIVE, SOURCE_TRAINING] and top.sample_id.startswith("GSM9990008/")
    assert (SOURCE_TRAINING, "GSM9990008_peaks.bed.gz") in top.copies
    assert top.cosine == pytest.approx(1.0, abs=1e-5)
    assert not hits[1].sample_id.startswith("GSM9990008")


def test_changed_or_foreign_training_vectors_are_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    import shutil

    shutil.copytree(trained, copy)
    np.save(copy / VECTORS_FILE, np.zeros((3, load_model(copy).dim), np.float16))
    with pytest.raises(ModelError, match="changed"):
        read_training_samples(load_model(copy))
    retrained = save_model(replace(load_model(trained), training={"method": "other"}), tmp_path / "r")
    assert read_training_samples(retrained) is None  # a rewritten model drops samples made for the old one
    meta = json.loads((trained / "model.json").read_text())
    meta["training_samples"]["model_digest"] = "0" * 64
    shutil.copytree(trained, tmp_path / "f")
    (tmp_path / "f" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="another model"):
        read_training_samples(load_model(tmp_path / "f"))


def test_model_info_counts_the_training_samples_or_says_why_they_are_unusable(trained: Path, tmp_path: Path) -> None:
    info = CliRunner().invoke(app, ["model", "info", "--model", str(trained)])
    assert info.exit_code == 0 and "training samples: 3 shipped" in info.output
    copy = tmp_path / "m"
    shutil.copytree(trained, copy)
    np.save(copy / VECTORS_FILE, np.zeros((3, load_model(copy).dim), np.float16))
    info = CliRunner().invoke(app, ["model", "info", "--model", str(copy)])
    assert info.exit_code == 0 and "training samples: unusable" in " ".join(info.output.split())


def test_search_needs_exactly_one_known_query(model, night: Config, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exactly one"):
        search(model, night.workdir)
    with pytest.raises(InputError, match="unknown label 'H3K99'"):
        search(model, night.workdir, label="H3K99")
    with pytest.raises(InputError, match="unknown label 'K562' in group 'antibody'"):
        search(model, night.workdir, label="K562", group="antibody")
    assert search(model, night.workdir, label="h3k27AC", n=1)[0].predicted_labels["antibody"] == "H3K27ac"
    with pytest.raises(InputError, match="no embeddings"):
        (tmp_path / "empty").mkdir()
        search(model, tmp_path / "empty", label="H3K27ac")


def _cli(*args: str) -> object:
    return CliRunner().invoke(app, ["search", *args])


def test_cli_json_lines_best_first_and_csv(night: Config) -> None:
    common = ["--workdir", str(night.workdir), "--model", str(night.model)]
    result = _cli("--label", "H3K27me3", "-n", "4", "--format", "json", *common)
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 4
    assert {"sample_id", "cosine", "author_labels", "predicted_labels"} <= set(objects[0])
    assert [o["cosine"] for o in objects] == sorted((o["cosine"] for o in objects), reverse=True)
    result = _cli("--label", "H3K27me3", "-n", "4", "--format", "csv", *common)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["sample_id"] for r in rows] == [o["sample_id"] for o in objects]
    assert {"author_antibody", "predicted_cell_type", "cosine"} <= set(rows[0])
    result = _cli("--label", "H3K27me3", "-n", "2", *common)
    assert result.exit_code == 0 and objects[0]["sample_id"][:10] in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "NOPE"], "unknown label"),
        (["--bed", "/no/such/file.bed"], "no such file"),
        (["--label", "H3K27ac", "--bed", "x"], "exactly one"),
        (["--label", "H3K27ac", "--group", "tissue"], "unknown label group"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(night: Config, args: list[str], message: str) -> None:
    result = _cli(*args, "--workdir", str(night.workdir), "--model", str(night.model))
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_empty_archive_is_exit_2(night: Config, tmp_path: Path) -> None:
    result = _cli("--label", "H3K27ac", "--workdir", str(tmp_path), "--model", str(night.model))
    assert result.exit_code == 2 and "no embeddings" in result.output


def test_nearest_of_an_empty_candidate_set_is_empty(model) -> None:
    assert nearest(load_candidates(None, model), np.ones(model.dim, np.float32), 5) == []


def test_the_nightly_report_lists_similar_samples_from_the_archive(night: Config) -> None:
    html = (night.workdir / "report.html").read_text(encoding="utf-8")
    block = html.split('<script type="application/json" id="report-details">', 1)[1].split("</script>", 1)[0]
    details = json.loads(block)
    archived = set(EmbeddingArchive(night.workdir, load_model(night.model).digest).read().sample_ids)
    with_similar = {sid for sid, d in details.items() if d["similar"]}
    assert with_similar == archived & set(details) and len(with_similar) >= 8
    hits = next(iter(details[sorted(with_similar)[0]]["similar"].values()))
    assert len(hits) == 5 and all(h["source"] == SOURCE_ARCHIVE and h["sample_id"] in archived for h in hits)
