"""Every workdir file and model file, truncated or with flipped bytes: a clear error or a clean re-run's tables."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from faultkit import compare, flip, leftovers, snapshot, truncate
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.demo import DEMO_GSE, build_demo

WORKDIR_FILES = ["samples.parquet", "predictions.parquet", "annotations.parquet", "runs.parquet", "report.html",
                 "ledger.jsonl", "journal part", "peak file"]  # fmt: skip
MODEL_FILES = ["model.json", "token_ids.npy", "token_vectors.npy", "label_vectors.npy"]
DAMAGE: dict[str, Callable[[Path, random.Random], None]] = {"flip": flip, "truncate": truncate}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A model, the demo series' input, and a workdir after one clean run (copied by each case)."""
    root = tmp_path_factory.mktemp("faults")
    model = labelled_model(root / "model")
    demo = build_demo(root / "in", model)
    work = root / "clean"
    result = CliRunner().invoke(app, _args(model.path, demo.soft_dir, work))
    assert result.exit_code == 0, result.output
    return {"model": model.path, "soft": demo.soft_dir, "work": work, "tables": snapshot(work)}


def _args(model: Path, soft: Path, work: Path) -> list[str]:
    return ["run", DEMO_GSE, "--soft-dir", str(soft), "--model", str(model), "--workdir", str(work), "-j", "1",
            "--allow-local-urls"]  # the demo series serves its files as file: URLs


def _target(work: Path, what: str) -> Path:
    if what == "journal part":
        return sorted((work / ".cache" / "projections").glob("*/part-*.parquet"))[0]
    if what == "peak file":
        return sorted((work / "beds").rglob("*.gz"))[0]
    return work / what


def _judge(result, work: Path, reference: dict, tally, case: str) -> None:
    tally.cases += 1
    assert leftovers(work) == [], case
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "internal error" not in errors[0], (case, result.stderr)
        tally.refused += 1
        return
    assert result.exit_code == 0, (case, result.output)
    diff = compare(reference["tables"], snapshot(work, reference["work"]))
    tally.lost, tally.duplicated, tally.wrong = (tally.lost + diff.lost, tally.duplicated + diff.duplicated,
                                                 tally.wrong + diff.wrong)  # fmt: skip
    assert diff.clean, (case, diff)
    tally.recovered += 1


@pytest.mark.slow
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_workdir_file_is_refused_or_redone(reference: dict, tmp_path: Path, damage: str, tally) -> None:
    for what in WORKDIR_FILES:
        work = tmp_path / what.replace(" ", "_")
        shutil.copytree(reference["work"], work)
        DAMAGE[damage](_target(work, what), random.Random(f"{what}/{damage}"))
        result = CliRunner().invoke(app, _args(reference["model"], reference["soft"], work))
        _judge(result, work, reference, tally, f"{damage} {what}")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_model_file_is_a_clear_error(reference: dict, tmp_path: Path, damage: str, tally) -> None:
    for name in MODEL_FILES:
        model = tmp_path / name / "model"
        shutil.copytree(reference["model"], model)
        DAMAGE[damage](model / name, random.Random(f"{name}/{damage}"))
        work = tmp_path / name / "work"
        result = CliRunner().invoke(app, _args(model, reference["soft"], work))
        _judge(result, work, reference, tally, f"{damage} model {name}")
        assert result.exit_code == 2, f"a damaged {name} was used"  # every model byte is covered by a digest
