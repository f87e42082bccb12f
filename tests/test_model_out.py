"""`--out` of `annotator train` / `model import-starspace`: annotator never deletes what it did not create."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelkit import planted_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.errors import ModelError
from annotator.model.format import load_model, save_model


def _train_args(tmp_path: Path, out: str) -> list[str]:
    return ["train", "--beds", str(tmp_path / "beds"), "--metadata", str(tmp_path / "meta.csv"),
            "--label", "antibody", "--out", out]  # fmt: skip


def test_train_out_dot_in_a_folder_with_user_files_refuses_and_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.txt").write_text("four years of work")
    monkeypatch.chdir(home)
    result = CliRunner().invoke(app, _train_args(tmp_path, "."))
    assert result.exit_code == 2, result.output
    assert "not an annotator model directory" in result.output and "thesis.txt" in result.output
    assert len(result.output.strip().splitlines()) == 1  # one line, no traceback
    assert sorted(p.name for p in home.iterdir()) == ["thesis.txt"]
    assert (home / "thesis.txt").read_text() == "four years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # no temporary folder left beside it


def test_save_model_refuses_a_model_folder_holding_user_files(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    assert model.path is not None
    (model.path / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match=r"notes\.txt"):
        save_model(model, model.path)
    assert (model.path / "notes.txt").read_text() == "mine" and load_model(model.path).digest == model.digest
    other = tmp_path / "other.json"
    other.write_text("{}")
    with pytest.raises(ModelError, match="not a model directory"):
        save_model(model, other)
    assert other.read_text() == "{}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_save_model_replaces_a_model_or_fills_an_empty_folder(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    assert model.path is not None
    (model.path / "README.md").write_text("# card\n")
    again = save_model(model, model.path, dtype="float16")
    assert load_model(again.path).digest == again.digest
    assert (model.path / "README.md").read_text() == "# card\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_model(save_model(model, empty).path).name == model.name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
