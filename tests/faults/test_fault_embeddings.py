"""A damaged embeddings or author-label part: dropped with a warning and rebuilt, never a failed `search` or
night, never a vector, id or sha changed in silence."""

from __future__ import annotations

import random
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
from annotator.embeddings import AUTHOR_LABELS_DIR, EmbeddingArchive, read_author_labels


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("emb")
    model = labelled_model(root / "model")
    demo = build_demo(root / "in", model)
    config = Config(workdir=root / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True)
    pipeline.run(config, [DEMO_GSE])
    archive = EmbeddingArchive(config.workdir, model.digest).read()
    vectors = {(s, h): v for s, h, v in zip(archive.sample_ids, archive.file_sha256, archive.vectors, strict=True)}
    return {"config": config, "model": model, "vectors": vectors, "labels": read_author_labels(config.workdir)}


def _copy(clean: dict, to: Path) -> Config:
    shutil.copytree(clean["config"].workdir, to)
    return replace(clean["config"], workdir=to)


def _part(work: Path, kind: str) -> Path:
    folder = work / ("embeddings" if kind == "embeddings" else AUTHOR_LABELS_DIR)
    return sorted(folder.rglob("part-*.parquet"))[0]


def _search(config: Config, model) -> object:
    return CliRunner().invoke(app, ["search", "--label", "H3K4me3", "--workdir", str(config.workdir), "--model",
                                    str(model.path), "--format", "json"])  # fmt: skip


def _searched(result) -> bool:
    """True when `search` answered; False when it refused clearly because the only part was dropped (until the
    next night rebuilds it); anything else (a traceback, an internal error) fails the test."""
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    if result.exit_code:
        assert result.exit_code == 2 and "no embeddings" in result.output, result.output
    return result.exit_code == 0


def _wrong_vectors(clean: dict, config: Config) -> int:
    got = EmbeddingArchive(config.workdir, clean["model"].digest).read()
    wrong = 0
    for sid, sha, vector in zip(got.sample_ids, got.file_sha256, got.vectors, strict=True):
        want = clean["vectors"].get((sid, sha))
        wrong += want is None or not np.array_equal(want, vector)
    return wrong


@pytest.mark.parametrize("kind", ["embeddings", "author labels"])
@pytest.mark.parametrize("damage", ["empty", "truncate"])
def test_a_damaged_part_is_dropped_and_rebuilt(clean: dict, tmp_path: Path, kind: str, damage: str, tally) -> None:
    config = _copy(clean, tmp_path / "work")
    part = _part(config.workdir, kind)
    part.write_bytes(b"" if damage == "empty" else part.read_bytes()[: part.stat().st_size // 2])
    tally.cases += 1
    _searched(_search(config, clean["model"]))
    again = pipeline.run(config, [DEMO_GSE])
    assert again.exit_code == 0
    wrong = _wrong_vectors(clean, config)
    got = EmbeddingArchive(config.workdir, clean["model"].digest).read()
    lost = len(clean["vectors"]) - len(set(zip(got.sample_ids, got.file_sha256, strict=True)))
    tally.wrong, tally.lost = tally.wrong + wrong, tally.lost + lost
    assert wrong == 0 and lost == 0
    assert read_author_labels(config.workdir) == clean["labels"]
    tally.recovered += 1


@pytest.mark.parametrize("kind", ["embeddings", "author labels"])
def test_single_bit_flips_never_change_a_vector_id_or_sha_silently(clean: dict, tmp_path: Path, kind: str,
                                                                   tally) -> None:  # fmt: skip
    rng = random.Random(f"bits/{kind}")
    for i in range(25):
        config = _copy(clean, tmp_path / str(i))
        part = _part(config.workdir, kind)
        data = bytearray(part.read_bytes())
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        part.write_bytes(bytes(data))
        tally.cases += 1
        answered = _searched(_search(config, clean["model"]))
        wrong = _wrong_vectors(clean, config)
        labels = read_author_labels(config.workdir)
        wrong += sum(labels.get(sid) not in (None, want) for sid, want in clean["labels"].items())
        tally.wrong += wrong
        assert wrong == 0, (kind, i)
        tally.recovered += answered
        tally.refused += not answered
        shutil.rmtree(config.workdir)


def test_parts_written_before_names_carried_a_digest_are_still_read(clean: dict, tmp_path: Path, tally) -> None:
    config = _copy(clean, tmp_path / "work")
    for kind in ("embeddings", "author labels"):
        part = _part(config.workdir, kind)
        part.rename(part.with_name("-".join(part.name.split("-")[:3]) + ".parquet"))  # part-<time>-<pid>.parquet
    tally.cases += 1
    assert _searched(_search(config, clean["model"])) and _wrong_vectors(clean, config) == 0
    assert read_author_labels(config.workdir) == clean["labels"]
    legacy = _part(config.workdir, "embeddings")
    legacy.write_bytes(legacy.read_bytes()[:100])  # an old part cut short: dropped, not a failed search
    _searched(_search(config, clean["model"]))
    assert not legacy.exists()
    tally.recovered += 1


def test_a_killed_writes_temporary_part_is_cleared_at_the_next_start(clean: dict, tmp_path: Path) -> None:
    from annotator.tables import remove_stale_temporaries

    config = _copy(clean, tmp_path / "work")
    folder = _part(config.workdir, "embeddings").parent
    left = [folder / ".part-01796222459720854978-13829.0badc0de.tmp",
            config.workdir / AUTHOR_LABELS_DIR / ".part-01796222459720854978-13829.0badc0de.tmp"]  # fmt: skip
    for path in left:
        path.write_bytes(b"half")
    assert remove_stale_temporaries(config.workdir) == 2 and not any(p.exists() for p in left)


def test_a_damaged_old_part_is_dropped_when_a_night_asks_for_some_vectors(clean: dict, tmp_path: Path, tally) -> None:
    config = _copy(clean, tmp_path / "work")
    part = _part(config.workdir, "embeddings")
    legacy = part.rename(part.with_name("-".join(part.name.split("-")[:3]) + ".parquet"))  # no digest to check
    legacy.write_bytes(legacy.read_bytes()[:100])
    tally.cases += 1
    archive = EmbeddingArchive(config.workdir, clean["model"].digest)
    assert archive.vectors_of(list(clean["vectors"])[:3]) == {}  # what reconcile's swap check asks: no traceback
    assert not legacy.exists()  # dropped with a warning: the next night projects its samples again
