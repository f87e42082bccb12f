"""CLI conventions: every command documents itself, and the README's reference lists every command."""

from pathlib import Path

import typer
from typer.main import get_command
from typer.testing import CliRunner

from annotator.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    click_group = get_command(group)
    out = []
    for name, cmd in click_group.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out += [(*prefix, name, sub) for sub in cmd.commands]
        else:
            out.append((*prefix, name))
    return out


def test_every_command_has_help_text() -> None:
    commands = _commands(app)
    assert {("run",), ("harvest",), ("project",), ("reconcile",), ("report",), ("model", "info")} <= set(commands)
    for command in commands:
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output
        doc = get_command(app).get_command(None, command[0])  # type: ignore[attr-defined]
        assert (doc.help or "").strip() or len(command) > 1, f"{command} has no docstring"


def test_readme_reference_names_every_command() -> None:
    text = README.read_text()
    for command in _commands(app):
        assert f"`annotator {' '.join(command)}" in text, f"README lacks `annotator {' '.join(command)}`"


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("annotator ")


def test_readme_stays_short_and_its_links_resolve() -> None:
    """The README is a newcomer's first hour: short, with every detail one working link away."""
    import re

    text = README.read_text()
    assert len(text.splitlines()) <= 150
    docs = [README, *sorted((README.parent / "docs").glob("*.md"))]
    for doc in docs:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
