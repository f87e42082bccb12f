"""The typer application, the shared consoles, logging set-up and the mapping of errors to exit codes.

Exit codes: 0 success, 1 finished but some samples failed, 2 could not run (an `AnnotatorError`: bad input,
missing model, locked workdir …). Commands live in one module per stage (`annotator/cli/<stage>.py`); each calls one
library function and wraps it in `@handle_errors`.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from annotator.errors import AnnotatorError

EXIT_OK, EXIT_FAILED_SAMPLES, EXIT_CANNOT_RUN = 0, 1, 2

app = typer.Typer(
    name="annotator",
    help="Annotate GEO hg19 ChIP-seq peak files with a BEDspace model and reconcile the authors' labels.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
model_app = typer.Typer(help="Inspect BEDspace models.", no_args_is_help=True)
app.add_typer(model_app, name="model")

#: Results go to stdout; messages, progress bars and logs go to stderr so stdout stays pipeable.
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn an AnnotatorError into a one-line message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnnotatorError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_CANNOT_RUN) from None

    return wrapper  # type: ignore[return-value]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time (test runners and daemons swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload, default=str)


def setup_logging(log_format: str = "text", verbose: bool = False) -> None:
    """Configure the `annotator` logger once, on stderr: rich on a terminal, plain or JSON lines otherwise."""
    logger = logging.getLogger("annotator")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    handler: logging.Handler
    if log_format == "json":
        handler = _StderrHandler()
        handler.setFormatter(_JsonFormatter())
    elif err_console.is_terminal:
        handler = RichHandler(console=err_console, show_path=False, markup=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)


def version_callback(value: bool) -> None:
    if value:
        from annotator import __version__

        console.print(f"annotator {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    log_format: str = typer.Option(
        "text", "--log-format", envvar="ANNOTATOR_LOG_FORMAT", help="Log format on stderr: text or json."
    ),
) -> None:
    """Annotate GEO hg19 ChIP-seq peak files with a BEDspace model and reconcile the authors' labels."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    setup_logging(log_format, verbose)
