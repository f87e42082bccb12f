"""Usage errors are one `error:` line (one JSON record with --log-format json) and exit 2; --log-format json works
anywhere on the line and makes every line JSON; nothing draws boxes off a terminal unless asked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from modelkit import labelled_model
from typer.main import get_command
from typer.testing import CliRunner

from annotator.cli import app
from annotator.cli.app import hoist_log_format

BOX = set("┌┐└┘│─━┃╭╮╰╯")

USAGE_ERRORS = [
    (["--sinse-days", "2"], "No such option: --sinse-days"),
    (["runn"], "No such command 'runn'"),
    (["run", "--sinse-days", "2"], "--sinse-days (Possible options: --since-days)"),
    (["run", "--workers", "abc"], "Invalid value for '--workers'"),
    (["labels"], "give at least one TEXT"),
    (["search", "--format", "xml", "--label", "H3K27ac"], "'xml' is not one of"),
    (["report", "--workdir"], "requires an argument"),
    (["model", "import-starspace"], "Missing argument 'TSV'"),
    (["model", "info", "extra"], "unexpected extra argument"),
    (["model", "infoo"], "No such command 'infoo'"),
    (["--log-format", "xml", "labels", "x"], "must be 'text' or 'json'"),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # raises on a line that is not JSON


@pytest.mark.parametrize(("args", "words"), USAGE_ERRORS)
def test_a_usage_error_is_one_error_line_and_exit_2(args: list[str], words: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: annotator") and words.casefold() in line.casefold(), line
    assert "--help" in line and not BOX & set(line) and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "words"), USAGE_ERRORS)
@pytest.mark.parametrize("where", ["front", "end"])
def test_a_usage_error_is_one_json_record_with_json_logs(args: list[str], words: str, where: str) -> None:
    bad_log_format = args[0] == "--log-format"
    if bad_log_format:
        args = [*args[2:], "--log-format", "xml"] if where == "end" else args
    else:
        args = ["--log-format", "json", *args] if where == "front" else [*args, "--log-format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    if bad_log_format:  # an unknown log format cannot be honoured: the error says so in text
        assert result.stderr.startswith("error: ") and words in result.stderr
        return
    (record,) = _json_lines(result.stderr)
    assert record["level"] == "error" and record["event"] == "error"
    assert words.casefold() in record["message"].casefold()


def _leaf_commands() -> list[list[str]]:
    root = get_command(app)
    out = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        subs = getattr(cmd, "commands", None)
        out += [[name, sub] for sub in subs] if subs else [[name]]
    return out


@pytest.mark.parametrize("command", _leaf_commands(), ids=" ".join)
def test_every_command_takes_log_format_json_after_its_options(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--no-such-option", "--log-format", "json"])
    assert result.exit_code == 2
    (record,) = _json_lines(result.stderr)
    assert "No such option: --no-such-option" in record["message"]


def test_hoisting_leaves_words_after_double_dash_alone() -> None:
    assert hoist_log_format(["labels", "x", "--log-format", "json"]) == ["--log-format", "json", "labels", "x"]
    assert hoist_log_format(["labels", "--log-format=json"]) == ["--log-format=json", "labels"]
    assert hoist_log_format(["labels", "--", "--log-format", "json"]) == ["labels", "--", "--log-format", "json"]


def test_json_logs_anywhere_make_every_line_json(model, tmp_path) -> None:
    work = tmp_path / "w"
    run = CliRunner().invoke(app, ["run", "--demo", "--model", str(model.path), "--workdir", str(work), "-j", "1",
                                   "--log-format", "json"])  # fmt: skip
    assert run.exit_code == 0, run.output
    assert _json_lines(run.stdout)[-1]["event"] == "run_finished" and _json_lines(run.stderr)
    common = ["--workdir", str(work), "--model", str(model.path)]
    for args in (
        ["search", "--label", "H3K27ac", "-n", "3", *common, "--log-format", "json"],
        ["--log-format", "json", "search", "--label", "H3K27ac", "-n", "3", *common, "--format", "table"],
        ["search", "--bed", str(next((work / "beds").rglob("*.bed.gz"))), "-n", "3", *common, "--log-format=json"],
        ["model", "info", "--model", str(model.path), "--log-format", "json"],
        ["labels", "H3K4me3 in K562", "--format", "table", "--log-format", "json"],
        ["reconcile", *common, "--format", "table", "--log-format", "json"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert _json_lines(result.stdout) and not BOX & set(result.stdout), args
        _json_lines(result.stderr)
    hits = _json_lines(CliRunner().invoke(app, ["search", "--label", "H3K27ac", "-n", "3", *common,
                                                 "--log-format", "json"]).stdout)  # fmt: skip
    assert len(hits) == 3 and all("cosine" in h for h in hits)


def test_nothing_draws_boxes_off_a_terminal_unless_asked(model, tmp_path) -> None:
    work = tmp_path / "w"
    assert CliRunner().invoke(app, ["run", "--demo", "--model", str(model.path), "--workdir", str(work),
                                    "-j", "1"]).exit_code == 0  # fmt: skip
    common = ["--workdir", str(work), "--model", str(model.path)]
    for args in (["search", "--label", "H3K27ac", "-n", "3", *common], ["model", "info", "--model", str(model.path)],
                 ["--help"], ["search", "--help"], ["model", "info", "--help"]):  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert not BOX & set(result.output), (args, result.output)
    drawn = CliRunner().invoke(app, ["search", "--label", "H3K27ac", "-n", "3", *common, "--format", "table"])
    assert BOX & set(drawn.stdout)


def test_the_installed_entry_point_prints_one_line_for_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "annotator", "run", "--workers", "abc"], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: annotator run: Invalid value for '--workers'") and "abc" not in line[:20]


def test_a_bare_command_prints_its_help_and_exit_2() -> None:
    for args in ([], ["model"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and result.stdout.startswith("Usage: annotator") and result.stderr == ""
