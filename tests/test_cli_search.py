"""`annotator search`: one row per region set, the antibody block as the default space of --bed, "did you mean"."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.config import Config
from annotator.demo import DEMO_GSE, build_demo
from annotator.embeddings import EmbeddingArchive, label_blocks, unit_rows
from annotator.hashing import sha256_of
from annotator.model.format import load_model, save_model
from annotator.model.samples import INDEX_FILE, add_training_samples
from annotator.search import similar_labels

QUERY = "GSM9990008_peaks.bed.gz"


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp = tmp_path_factory.mktemp("search")
    model = labelled_model(tmp)
    demo = build_demo(tmp / "in", model)
    config = Config(workdir=tmp / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True)
    pipeline.run(config, [DEMO_GSE])
    return config


def _files(night: Config) -> Path:
    return Path(str(night.soft_dir)).parent / "files"


def _with_training_files(night: Config, where: Path, rows: list[tuple[str, str]]) -> Path:
    """A copy of the model shipping training samples: (name in the training folder, demo file whose bytes it has)."""
    model = save_model(load_model(night.model), where / "model", dtype="float32")
    beds = where / "beds"
    beds.mkdir()
    for name, source in rows:
        shutil.copyfile(_files(night) / source, beds / name)
    meta = where / "samples.csv"
    meta.write_text("file_name,antibody,cell_type\n" + "".join(f"{n},H3K27me3,HUVEC\n" for n, _ in rows))
    add_training_samples(model.path, beds, meta)
    assert model.path is not None
    return model.path


def _search(night: Config, model: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["search", *args, "--workdir", str(night.workdir), "--model", str(model),
                                      "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_an_archived_file_and_its_training_copy_are_one_row(night: Config, tmp_path: Path) -> None:
    twins = [(QUERY, QUERY), ("GSM9990001_peaks.bed.gz", "GSM9990001_peaks.bed.gz")]
    model = _with_training_files(night, tmp_path, twins)
    hits = _search(night, model, "--bed", str(_files(night) / QUERY), "-n", "5")
    top = hits[0]
    assert top["sources"] == ["archive", "training"] and top["source"] == "archive"
    assert [c["source"] for c in top["copies"]] == ["archive", "training"]
    assert top["copies"][1]["sample_id"] == QUERY and top["sample_id"].startswith("GSM9990008/")
    assert top["cosine"] == pytest.approx(1.0, abs=1e-5)
    ids = [c["sample_id"] for h in hits for c in h["copies"]]
    assert len(ids) == len(set(ids)) and not any(i.startswith("GSM9990008") for h in hits[1:] for i in
                                                  [c["sample_id"] for c in h["copies"]])  # fmt: skip
    by_label = _search(night, model, "--label", "H3K27me3", "-n", "100")
    archived = EmbeddingArchive(night.workdir, load_model(model).digest).read()
    assert len(by_label) == len(archived)  # the two training files are copies of archived ones: no extra rows
    table = CliRunner().invoke(app, ["search", "--bed", str(_files(night) / QUERY), "-n", "2", "--workdir",
                                     str(night.workdir), "--model", str(model), "--format", "csv"])  # fmt: skip
    first = next(csv.DictReader(io.StringIO(table.stdout)))
    assert first["source"] == "archive+training" and first["copies"] == QUERY


def test_copies_are_matched_by_their_bytes_not_their_names(night: Config, tmp_path: Path) -> None:
    model = _with_training_files(night, tmp_path, [(QUERY, "GSM9990001_peaks.bed.gz")])  # GSM9990001's bytes
    hits = {h["sample_id"].split("/")[0]: h for h in _search(night, model, "--label", "H3K27me3", "-n", "100")}
    assert hits["GSM9990008"]["sources"] == ["archive"]
    assert hits["GSM9990001"]["sources"] == ["archive", "training"]
    assert hits["GSM9990001"]["copies"][1]["sample_id"] == QUERY


def test_training_samples_recorded_without_a_sha256_are_matched_by_file_name(night: Config, tmp_path: Path) -> None:
    model = _with_training_files(night, tmp_path, [(QUERY, QUERY)])
    index = json.loads((model / INDEX_FILE).read_text())
    assert index[0]["file_sha256"] == sha256_of(_files(night) / QUERY)
    (model / INDEX_FILE).write_text(json.dumps([{k: v for k, v in r.items() if k != "file_sha256"} for r in index]))
    meta = json.loads((model / "model.json").read_text())  # as a model whose samples were added by an older release
    meta["training_samples"]["files"][INDEX_FILE] = sha256_of(model / INDEX_FILE)
    (model / "model.json").write_text(json.dumps(meta))
    top = _search(night, model, "--bed", str(_files(night) / QUERY), "-n", "1")[0]
    assert top["sources"] == ["archive", "training"]


def test_bed_compares_in_the_antibody_block_by_default_and_says_so(night: Config) -> None:
    model = load_model(night.model)
    query = _files(night) / "GSM9990001_peaks.bed.gz"
    archived = EmbeddingArchive(night.workdir, model.digest).read()
    row = next(i for i, s in enumerate(archived.sample_ids) if s.startswith("GSM9990001/"))

    def expected(dims: list[int]) -> dict[str, float]:
        block = unit_rows(archived.vectors[:, dims])
        return {s: round(float(v), 4) for s, v in zip(archived.sample_ids, block @ block[row], strict=True)}

    antibody = label_blocks(model)["antibody"]
    default = _search(night, night.model, "--bed", str(query), "-n", "50")  # type: ignore[arg-type]
    assert {h["sample_id"]: round(h["cosine"], 4) for h in default} == expected(antibody)
    assert default[0]["compared_in"] == "the antibody dimensions"
    whole = _search(night, night.model, "--bed", str(query), "-n", "50", "--group", "all")  # type: ignore[arg-type]
    assert {h["sample_id"]: round(h["cosine"], 4) for h in whole} == expected(list(range(model.dim)))
    assert expected(antibody) != expected(list(range(model.dim)))
    text = CliRunner().invoke(app, ["search", "--bed", str(query), "-n", "3", "--workdir", str(night.workdir),
                                    "--model", str(night.model)])  # fmt: skip
    assert text.exit_code == 0 and "compared in the antibody dimensions (the default for --bed" in text.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--label", "H3K27acc"], "did you mean H3K27ac?"),
        (["--label", "h3k4me33"], "did you mean H3K4me3?"),
        (["--label", "K526", "--group", "cell_type"], "did you mean K562?"),
        (["--label", "XYZZY"], None),
    ],
)
def test_an_unknown_label_suggests_the_close_one_instead_of_listing_all(
    night: Config, args: list[str], hint: str | None
) -> None:
    result = CliRunner().invoke(app, ["search", *args, "--workdir", str(night.workdir), "--model", str(night.model)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: unknown label '{args[1]}'")
    assert (hint in line) if hint else "did you mean" not in line
    assert "H3K36me3" not in line and "annotator model info" in line  # no list of every label


def test_similar_labels_offers_a_near_tie_but_not_a_distant_one() -> None:
    known = ["H3K27ac", "H3K27me3", "H3K4me1", "H3K4me3", "K562", "GM12878"]
    assert similar_labels("H3K27acc", known) == ["H3K27ac"]
    assert similar_labels("H3K4me", known) == ["H3K4me1", "H3K4me3"]
    assert similar_labels("CTCF", known) == []


def test_help_says_what_a_cosine_means() -> None:
    text = " ".join(CliRunner().invoke(app, ["search", "--help"]).stdout.split())
    assert "the model's score for that label" in text and "same antibody score 0.9-1.0" in text
    assert "(median 0.06)" in text and "--group all" in text


def test_the_bundled_models_scores_are_on_the_scale_the_help_gives() -> None:
    """The numbers `annotator search --help` quotes: own-label scores vs others, and block vs whole-vector cosines."""
    from annotator.model.samples import read_training_samples

    model = load_model(None)
    samples = read_training_samples(model)
    assert samples is not None
    labels = model.groups["antibody"]
    rows = [i for i, lab in enumerate(samples.labels) if lab.get("antibody") in labels]
    scores = samples.vectors[rows] @ model.unit_label_vectors["antibody"].T
    own = np.array([scores[k, labels.index(samples.labels[i]["antibody"])] for k, i in enumerate(rows)])
    others = scores.copy()
    others[np.arange(len(rows)), [labels.index(samples.labels[i]["antibody"]) for i in rows]] = np.nan
    assert 0.04 < np.median(own) < 0.1 and np.nanpercentile(np.abs(others), 99) < 0.02
    block = unit_rows(samples.vectors[rows][:, label_blocks(model)["antibody"]])
    same = np.array([[samples.labels[i]["antibody"] == samples.labels[j]["antibody"] for j in rows] for i in rows])
    np.fill_diagonal(same, False)
    different = ~same
    np.fill_diagonal(different, False)
    inside = block @ block.T
    whole = samples.vectors[rows] @ samples.vectors[rows].T
    assert np.median(inside[same]) > 0.9 and np.median(inside[different]) < 0.1
    assert np.median(whole[different]) > 0.85  # over the whole vector, different antibodies look alike


def test_one_file_under_two_samples_and_its_training_copy_are_one_set() -> None:
    from annotator.search import Candidates, first_copies

    ids = ["GSM1/a.bed", "GSM2/a.bed", "GSM3/b.bed", "a.bed", "b.bed", "c.bed"]
    sources = ["archive"] * 3 + ["training"] * 3
    shas = ["x", "x", "y", "x", "", ""]  # b.bed and c.bed recorded without a sha256: matched by file name
    first = first_copies(Candidates(ids, sources, np.zeros((6, 2), np.float32), [{}] * 6, shas))
    assert first.tolist() == [0, 0, 2, 0, 2, 5]
