"""The embeddings archive: one unit vector per projected region set and model, kept across nights, no duplicates,
crash-safe, documented, and readable by DuckDB."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from modelkit import labelled_model, planted_model

from annotator import pipeline
from annotator.config import Config
from annotator.demo import DEMO_GSE, build_demo
from annotator.embeddings import EmbeddingArchive, label_blocks
from annotator.journal import ProjectionJournal
from annotator.model.format import load_model
from annotator.project import project_file
from annotator.schema import ARCHIVES, LABEL_BLOCKS_KEY, schemas_markdown
from annotator.tables import read_table


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def night(model, tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp = tmp_path_factory.mktemp("night")
    demo = build_demo(tmp / "in", model)
    config = Config(workdir=tmp / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True)
    pipeline.run(config, [DEMO_GSE])
    return config


def _ok_samples(workdir: Path) -> dict[str, str]:
    rows = read_table("predictions", workdir / "predictions.parquet").to_pylist()
    return {r["sample_id"]: r["file"] for r in rows if r["status"] == "ok"}


def test_every_projected_sample_has_its_unit_vector(model, night: Config) -> None:
    archived = EmbeddingArchive(night.workdir, model.digest).read()
    ok = _ok_samples(night.workdir)
    assert sorted(archived.sample_ids) == sorted(ok) and len(ok) >= 8
    for sid, vector in zip(archived.sample_ids, archived.vectors, strict=True):
        expected = project_file(model, ok[sid]).vector
        np.testing.assert_allclose(vector, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(archived.vectors, axis=1), 1.0, atol=1e-5)


def test_the_label_group_blocks_are_kept_as_unit_vectors(model, night: Config) -> None:
    blocks = label_blocks(model)
    assert list(blocks) == ["antibody", "cell_type"] and not set(blocks["antibody"]) & set(blocks["cell_type"])
    archived = EmbeddingArchive(night.workdir, model.digest).read()
    for group, dims in blocks.items():
        part = archived.vectors[:, dims]
        np.testing.assert_allclose(archived.blocks[group], part / np.linalg.norm(part, axis=1, keepdims=True),
                                   atol=1e-6)  # fmt: skip
    table = pq.read_table(EmbeddingArchive(night.workdir, model.digest).parts()[0])
    assert table.schema.field("vector").type.list_size == model.dim
    assert b'"antibody"' in table.schema.metadata[LABEL_BLOCKS_KEY]


def test_a_model_without_disjoint_blocks_gets_no_block_columns(tmp_path: Path) -> None:
    model = load_model(planted_model(tmp_path).path)
    assert label_blocks(model) == {"antibody": [0, 1], "cell_type": [2, 3]}  # axes 0-1 and 2-3: disjoint
    shared = {"antibody": model.label_vectors["antibody"], "cell_type": model.label_vectors["antibody"]}
    assert label_blocks(replace(model, label_vectors=shared)) == {}


def test_rerunning_the_night_adds_no_part_and_no_duplicate(model, night: Config, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(night.workdir, work)
    archive = EmbeddingArchive(work, model.digest)
    before = archive.parts()
    pipeline.run(replace(night, workdir=work), [DEMO_GSE])
    assert archive.parts() == before


def test_a_crash_between_archive_and_journal_writes_leaves_no_duplicate(
    model, night: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    config = replace(night, workdir=work)

    def dies(*args, **kwargs):
        raise KeyboardInterrupt  # killed after the vectors were archived, before the journal part

    monkeypatch.setattr("annotator.journal.write_table", dies)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, [DEMO_GSE])
    archive = EmbeddingArchive(work, model.digest)
    assert len(archive.parts()) == 1 and not ProjectionJournal(work, model.digest, 0.1).parts()
    monkeypatch.undo()
    pipeline.run(config, [DEMO_GSE])  # everything is projected again: the journal has nothing
    keys = [(s, h) for s, h in zip(archive.read().sample_ids, archive.read().file_sha256, strict=True)]
    raw = sum(pq.read_metadata(p).num_rows for p in archive.parts())
    assert len(keys) == len(set(keys)) == raw == len(_ok_samples(work))


def test_a_journal_from_before_the_archive_is_filled_on_the_next_run(model, night: Config, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(night.workdir, work)
    shutil.rmtree(work / "embeddings")  # a workdir projected by an annotator without the archive
    result = pipeline.run(replace(night, workdir=work), [DEMO_GSE])
    assert result.counts["project_projected"] == len(_ok_samples(work))
    assert sorted(EmbeddingArchive(work, model.digest).read().sample_ids) == sorted(_ok_samples(work))


def test_duckdb_reads_the_archive_and_its_cosine_matches_numpy(model, night: Config) -> None:
    archive = EmbeddingArchive(night.workdir, model.digest)
    archived = archive.read()
    a, b = archived.sample_ids[0], archived.sample_ids[3]
    glob = str(archive.directory / "part-*.parquet")
    sql = f"""
        SELECT list_dot_product(x.vector, y.vector)
               / (sqrt(list_dot_product(x.vector, x.vector)) * sqrt(list_dot_product(y.vector, y.vector)))
        FROM read_parquet('{glob}') x, read_parquet('{glob}') y
        WHERE x.sample_id = ? AND y.sample_id = ?
    """
    (cosine,) = duckdb.execute(sql, [a, b]).fetchone()
    va, vb = archived.vectors[0].astype(np.float64), archived.vectors[3].astype(np.float64)
    assert cosine == pytest.approx(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)), abs=1e-6)
    n_rows = duckdb.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()
    assert n_rows == (len(archived),)


def test_the_archive_is_documented_with_every_column() -> None:
    text = schemas_markdown()
    section = text.split("## `embeddings` (archive)", 1)[1]
    documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert documented == ["sample_id", "file_sha256", "model_digest", "vector", "vector_<group>"]
    assert [f.name for f in ARCHIVES["embeddings"]][:4] == documented[:4]
    assert "fixed_size_list<float32>" in section


def test_a_part_copied_by_hand_does_not_duplicate_what_search_reads(model, night: Config, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(night.workdir, work)
    archive = EmbeddingArchive(work, model.digest)
    (part,) = archive.parts()
    shutil.copy(part, part.with_name("part-99999999999999999999-1.parquet"))  # e.g. a restored backup
    read = archive.read()
    assert len(read) == len(set(read.sample_ids)) == pq.read_metadata(part).num_rows


def test_a_remade_vector_is_what_both_readers_return(model, night: Config, tmp_path: Path) -> None:
    """After `forget` and a new `append` (a file projected again), `vectors_of` and `read` agree on the latest."""
    from annotator.project import Projection

    work = tmp_path / "work"
    shutil.copytree(night.workdir, work)
    archive = EmbeddingArchive(work, model.digest)
    before = archive.read()
    key = (before.sample_ids[0], before.file_sha256[0] or "")
    remade = -before.vectors[0]
    archive.forget([key])
    assert archive.append([Projection(key[0], "f", "ok", file_sha256=key[1], vector=remade)]) == 1
    np.testing.assert_array_equal(archive.vectors_of([key])[key], remade)
    latest = archive.read()
    np.testing.assert_array_equal(latest.vectors[latest.sample_ids.index(key[0])], remade)
