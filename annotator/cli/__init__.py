"""Command-line interface: `annotator <command>`. Importing the stage modules registers their commands."""

from annotator.cli import (  # noqa: F401  (imported for their @app.command registrations)
    harvest,
    labels,
    model,
    project,
    report,
    run,
    search,
    train,
)
from annotator.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
