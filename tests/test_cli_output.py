"""What annotator prints: JSON lines on both streams with --log-format json, no tables off a terminal (item 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.demo import SAMPLES

_BOX = set("┌┐└┘│─━┃╭╮")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def _json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # raises on any line that is not JSON


def test_json_log_format_makes_stdout_and_stderr_json_lines_with_a_final_run_finished(model, tmp_path: Path) -> None:
    work = tmp_path / "w"
    args = ["--log-format", "json", "run", "--demo", "--model", str(model.path), "--workdir", str(work), "-j", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out, err = _json_lines(result.stdout), _json_lines(result.stderr)
    assert err and all(r["level"] in ("info", "warning") for r in err)
    assert any("demo: synthetic series" in r["message"] for r in err)  # the demo notice is a record too
    final = out[-1]
    assert final["event"] == "run_finished" and final["exit_code"] == 0
    n_files = final["counts"]["project_selected_files"]
    assert n_files >= 10 and final["counts"]["project_projected"] == n_files and final["flags"]["match"] >= 1
    assert Path(final["report"]) == work / "report.html"

    project = CliRunner().invoke(app, ["--log-format", "json", "project", "--workdir", str(work),
                                       "--model", str(model.path)])  # fmt: skip
    assert project.exit_code == 0, project.output
    assert _json_lines(project.stderr)[-1]["message"].startswith(f"0 projected, {n_files} reused")
    info = CliRunner().invoke(app, ["--log-format", "json", "model", "info", "--model", str(model.path)])
    (card,) = _json_lines(info.stdout)
    assert card["event"] == "model_info" and card["digest"] == model.digest
    bad = CliRunner().invoke(app, ["--log-format", "json", "report", "--workdir", str(tmp_path / "none")])
    (error,) = _json_lines(bad.stderr)
    assert bad.exit_code == 2 and error["level"] == "error" and error["event"] == "error"


def test_no_tables_off_a_terminal_unless_asked(model, tmp_path: Path) -> None:
    base = ["run", "--demo", "--model", str(model.path), "--workdir", str(tmp_path / "w"), "-j", "1"]
    plain = CliRunner().invoke(app, base)
    assert plain.exit_code == 0, plain.output
    assert not _BOX & set(plain.stdout)
    n_files = int(plain.stdout.split("files selected\t")[1].split()[0])
    assert n_files >= 10 and f"projected (new / reused)\t{n_files} / 0" in plain.stdout
    table = CliRunner().invoke(app, [*base, "--format", "table"])
    assert _BOX & set(table.stdout) and "projected (new / reused)" in table.stdout
    as_json = CliRunner().invoke(app, [*base, "--format", "json"])
    assert _json_lines(as_json.stdout)[-1]["counts"]["project_reused"] == n_files
    harvest = CliRunner().invoke(app, ["harvest", "GSE999999", "--workdir", str(tmp_path / "w"), "--soft-dir",
                                       str(tmp_path / "w" / "demo-input" / "soft"), "--allow-local-urls"])  # fmt: skip
    assert harvest.exit_code == 0, harvest.output
    assert not _BOX & set(harvest.stdout) and f"GSE999999\t{len(SAMPLES)}" in harvest.stdout
    drawn = CliRunner().invoke(app, ["reconcile", "--workdir", str(tmp_path / "w"), "--model", str(model.path),
                                     "--format", "table"])  # fmt: skip
    assert drawn.exit_code == 0 and _BOX & set(drawn.stdout)
