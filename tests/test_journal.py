"""The projection journal: verified parts (a damaged part is redone, never read), flushed by count and by time."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
from modelkit import labelled_model

from annotator import pipeline
from annotator.config import Config
from annotator.demo import DEMO_GSE, build_demo
from annotator.journal import ProjectionJournal
from annotator.project import Projection
from annotator.tables import read_table


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def _sorted_rows(path: Path) -> list[dict]:
    rows = read_table("predictions", path).to_pylist()
    return sorted(rows, key=lambda r: (r["sample_id"], r["group"] or "", r["rank"] or 0))


def _parts(work: Path) -> list[Path]:
    return sorted((work / ".cache" / "projections").glob("*/part-*.parquet"))


def _flip(path: Path, rng: random.Random, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in rng.sample(range(4, len(data) - 8), n):  # leave the PAR1 magic: a reader may well accept the file
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_part_is_dropped_with_a_warning_and_recomputed(
    model, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("annotator"), "propagate", True)  # a CLI test may have configured it
    demo = build_demo(tmp_path / "in", model)
    config = Config(
        workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True
    )
    first = pipeline.run(config, [DEMO_GSE])
    clean = _sorted_rows(first.tables["predictions"])
    (part,) = _parts(config.workdir)
    if damage == "flip":
        _flip(part, random.Random(10))
    else:
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="annotator"):
        again = pipeline.run(config, [DEMO_GSE])
    assert "does not match its digest" in caplog.text
    assert again.exit_code == 0
    n_files = first.counts["project_projected"]
    assert n_files >= 10 and (again.counts["project_projected"], again.counts["project_reused"]) == (n_files, 0)
    assert _sorted_rows(again.tables["predictions"]) == clean  # never wrong rows
    assert not part.exists() and len(_parts(config.workdir)) == 1


@pytest.mark.slow
def test_many_seeded_flips_never_give_wrong_rows(model, tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "in", model)
    config = Config(
        workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True
    )
    clean = _sorted_rows(pipeline.run(config, [DEMO_GSE]).tables["predictions"])
    rng = random.Random(2026)
    for _ in range(4):
        (part,) = _parts(config.workdir)
        _flip(part, rng, n=rng.choice([1, 8, 64]))
        assert _sorted_rows(pipeline.run(config, [DEMO_GSE]).tables["predictions"]) == clean


def _projection(i: int) -> Projection:
    return Projection(f"s{i}", f"s{i}.bed", "failed", reason="x", file_sha256=f"{i:064x}")


def test_parts_are_written_by_count_and_by_time_while_the_block_runs(tmp_path: Path) -> None:
    """A run killed mid-projection (kill -9: no `finally`) keeps every part already flushed."""
    journal = ProjectionJournal(tmp_path, "d" * 64, 0.1, part_size=3, part_seconds=3600)
    with journal.writer() as w:
        for i in range(7):
            w.add(_projection(i))
        assert len(journal.parts()) == 2  # 3 + 3 written; the 7th waits
        assert len(journal.latest()) == 6
    timed = ProjectionJournal(tmp_path / "t", "d" * 64, 0.1, part_size=1000, part_seconds=0.0)
    with timed.writer() as w:
        w.add(_projection(0))
        assert len(timed.parts()) == 1
    assert ProjectionJournal(tmp_path, "d" * 64, 0.1).part_size <= 64


def test_parts_from_an_older_annotator_without_a_digest_are_redone(tmp_path: Path) -> None:
    journal = ProjectionJournal(tmp_path, "d" * 64, 0.1)
    with journal.writer() as w:
        w.add(_projection(1))
    (part,) = journal.parts()
    legacy = part.with_name("part-00000000000000000001-7.parquet")
    part.rename(legacy)
    assert ProjectionJournal(tmp_path, "d" * 64, 0.1).latest() == {}
    assert not legacy.exists()
