"""`annotator model info` prints the held-out evaluation the model carries: a pooled summary, every row with --all."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.model.card import pooled, summary_rows
from annotator.model.format import load_model, save_model

CARD = Path(__file__).resolve().parents[1] / "models" / "encode-hg19-v2" / "README.md"
BOX = set("┌┐└┘│─━┃╭╮╰╯")


def _row(fold: str, group: str, n: int, top1: float | None, n_oov: int = 0, oov: float | None = None, **kw):
    return {"fold": fold, "group": group, "condition": kw.get("condition", "whole"), "n": n, "top1": top1,
            "mrr": top1, "confident_share": kw.get("share", 0.5 if n else None),
            "confident_precision": kw.get("precision", 1.0 if n else None), "n_oov": n_oov,
            "oov_confident_rate": oov}  # fmt: skip


METRICS = {
    "held_out": [
        _row("loso:a", "antibody", 10, 0.5, n_oov=4, oov=0.25),
        _row("loso:b", "antibody", 30, 0.9, share=0.2, precision=0.5),
        _row("loso:b", "antibody", 30, 0.1, condition="top500"),
        _row("within:0", "antibody", 20, 0.75),
        _row("out:x", "antibody", 0, None, n_oov=8, oov=0.0),
    ],
    "reliability": [{"group": "antibody", "lo": 0.5, "hi": 1.0001, "n": 7, "mean_p": 0.8, "right": 0.71}],
}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("scored")
    model = save_model(replace(labelled_model(tmp), metrics=METRICS), tmp / "scored", dtype="float32")
    assert model.path is not None
    return model.path


def test_pooling_weights_each_fold_by_its_files() -> None:
    (whole,) = [r for r in pooled(METRICS["held_out"], "loso") if r["condition"] == "whole"]
    assert whole["fold"] == "loso (pooled)" and whole["n"] == 40 and whole["n_oov"] == 4
    assert whole["top1"] == pytest.approx((10 * 0.5 + 30 * 0.9) / 40)
    assert whole["confident_share"] == pytest.approx((10 * 0.5 + 30 * 0.2) / 40)
    assert whole["confident_precision"] == pytest.approx((5 * 1.0 + 6 * 0.5) / 11)  # over the confident calls
    assert whole["oov_confident_rate"] == pytest.approx(0.25)
    out = [r for r in summary_rows(METRICS) if r["fold"] == "out (pooled)"]
    assert out[0]["n"] == 0 and out[0]["top1"] is None and out[0]["n_oov"] == 8
    assert [r["fold"] for r in summary_rows(METRICS)] == ["loso (pooled)", "out (pooled)", "within (pooled)"]


def test_info_prints_the_pooled_summary_and_all_rows_on_request(scored: Path) -> None:
    result = CliRunner().invoke(app, ["model", "info", "--model", str(scored)])
    assert result.exit_code == 0, result.output
    assert "loso (pooled)\tantibody\twhole\t40\t0.800\t0.800\t0.275\t0.727\t4\t0.250" in result.stdout
    assert "within (pooled)\tantibody\twhole\t20\t0.750" in result.stdout
    assert "loso:a" not in result.stdout and "top500" not in result.stdout and "--all" in result.stderr
    every = CliRunner().invoke(app, ["model", "info", "--model", str(scored), "--all"])
    assert every.exit_code == 0, every.output
    assert "loso:a\tantibody\twhole\t10\t0.500" in every.stdout
    assert "loso:b\tantibody\ttop500\t30\t0.100" in every.stdout
    assert "loso (pooled)\tantibody\ttop500\t30\t0.100" in every.stdout
    assert "antibody\t[0.50, 1.00)\t7\t0.800\t0.710" in every.stdout  # the reliability bins
    assert not BOX & set(result.stdout + every.stdout)


def test_info_as_json_is_one_card_and_one_record_per_row(scored: Path) -> None:
    for args in (["--log-format", "json", "model", "info"], ["model", "info", "--format", "json"]):
        result = CliRunner().invoke(app, [*args, "--model", str(scored), "--all"])
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert records[0]["event"] == "model_info" and records[0]["metrics"] == METRICS
        rows = [r for r in records[1:] if r["event"] == "row"]
        assert len(rows) == len(records) - 1
        pooled_whole = next(r for r in rows if r["fold"] == "loso (pooled)" and r["condition"] == "whole")
        assert pooled_whole["n"] == 40 and pooled_whole["top-1"] == pytest.approx(0.8)
        assert any(r["table"].startswith("reliability") for r in rows)


def test_a_model_scored_by_evaluate_shows_its_metric_table(tmp_path: Path) -> None:
    metrics = {"split": {"kind": "held-out"}, "groups": {"antibody": {"n_test": 12, "mrr": 0.5}}}
    model = save_model(replace(labelled_model(tmp_path), metrics=metrics), tmp_path / "m", dtype="float32")
    result = CliRunner().invoke(app, ["model", "info", "--model", str(model.path)])
    assert result.exit_code == 0 and "n_test\t12" in result.stdout and "mrr\t0.500" in result.stdout
    bare = save_model(replace(load_model(model.path), metrics={}), tmp_path / "bare", dtype="float32")
    result = CliRunner().invoke(app, ["model", "info", "--model", str(bare.path)])
    assert result.exit_code == 0 and "held-out metrics: none stored" in result.stderr


def test_the_bundled_models_summary_is_the_model_cards() -> None:
    """Each pooled whole-file row `model info` prints is the row of the model card's held-out table."""
    result = CliRunner().invoke(app, ["model", "info"])
    assert result.exit_code == 0, result.output
    printed = [line.split("\t") for line in result.stdout.splitlines() if "(pooled)\t" in line]
    assert len(printed) == 9  # 3 fold families x 3 label groups
    card = CARD.read_text()
    for cells in printed:
        assert re.search(r"^\| " + re.escape(" | ".join(cells)) + r" \|$", card, re.M), cells
