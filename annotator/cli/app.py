"""The typer application, the shared consoles, logging and output set-up, and the mapping of errors to exit codes.

Exit codes: 0 success, 1 finished but some samples failed, 2 could not run. Commands live in one module per stage
(`annotator/cli/<stage>.py`); each calls one library function and wraps it in `@handle_errors`, the one place where
failures become a one-line message (never a traceback) and an exit code:

* `AnnotatorError` (bad input, missing model, locked workdir …): its message, exit 2;
* `OSError` (read-only or full disk, a file where a folder is expected …): the path, the system's reason and what
  to do, exit 2; a closed stdout (`annotator … | head -1`) ends quietly with exit 2 too;
* anything else is a bug: one line naming the exception and how to see its traceback (`--debug` or
  `ANNOTATOR_DEBUG=1`, which re-raise it), exit 2. Nothing is swallowed: the run that hit it records it in
  `runs.parquet`.

Output: results go to stdout, messages and logs to stderr. With `--log-format json` both streams are JSON lines
(no tables, no progress bars); otherwise tables are drawn only on a terminal (or with `--format table`), and
plain tab-separated text is printed when output goes to a file or a pipe.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.errors import MarkupError
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from annotator.errors import AnnotatorError
from annotator.progress import NULL_PROGRESS, Progress, progress_for

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
log = logging.getLogger("annotator.cli")


class _Output:
    """How this invocation writes: set once from the root options (and `run`'s own)."""

    log_format: str = "text"  # "json": stdout and stderr are JSON lines
    table_format: str = "auto"  # "table", "text" or "json"; auto: table on a terminal, else text (json with json logs)
    debug: bool = False  # re-raise unexpected errors with their traceback


OUTPUT = _Output()

_OS_HINTS = {
    errno.ENOSPC: "free some space and re-run (nothing half-written was kept)",
    errno.EDQUOT: "free some space and re-run (nothing half-written was kept)",
    errno.EACCES: "check the permissions, or choose another --workdir/--out",
    errno.EPERM: "check the permissions, or choose another --workdir/--out",
    errno.EROFS: "the file system is read-only: choose another --workdir/--out",
    errno.ENOTDIR: "a file stands where a folder is expected: choose another path",
    errno.EISDIR: "a folder stands where a file is expected: give a file name",
    errno.EEXIST: "something already exists there: choose another path",
}


def handle_errors(fn: F) -> F:
    """Map every failure of a command to a one-line message on stderr and an exit code (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.ClickException):
            raise
        except AnnotatorError as exc:
            fail(str(exc))
        except BrokenPipeError:
            _silence_stdout()
            fail("output closed before annotator finished writing (broken pipe)")
        except OSError as exc:
            fail(describe_os_error(exc))
        except Exception as exc:
            if OUTPUT.debug:
                raise
            fail(
                f"internal error: {type(exc).__name__}: {exc} — this is a bug in annotator; re-run with --debug "
                "(or ANNOTATOR_DEBUG=1) for the traceback and report it"
            )

    return wrapper  # type: ignore[return-value]


def describe_os_error(exc: OSError) -> str:
    """One line for a system error: what failed on which path, and what the user can do."""
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    hint = _OS_HINTS.get(exc.errno or 0)
    return f"{where}{reason}" + (f" — {hint}" if hint else "")


def fail(message: str, code: int = EXIT_CANNOT_RUN) -> None:
    """Print `message` as the one error line (a JSON record with --log-format json) and exit with `code`."""
    _say_error(message.replace("\n", " "))
    raise typer.Exit(code)


def _say_error(message: str) -> None:
    try:
        if OUTPUT.log_format == "json":
            log.error(message, extra={"fields": {"event": "error"}})
        else:
            err_console.print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
    except BrokenPipeError:  # stderr is gone too: nothing more can be said
        pass


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass


def say(message: str, style: str | None = None, **fields: Any) -> None:
    """A message (plain text, never markup: it may quote GEO text) on stderr, or a JSON log record."""
    if OUTPUT.log_format == "json":
        log.info(message, extra={"fields": fields})
    else:
        err_console.print(Text(message, style=style or ""), highlight=False, soft_wrap=True)


def emit(event: str, **fields: Any) -> None:
    """A machine-readable result on stdout: one JSON line `{"event": …, …}` (used with --log-format json)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    typer.echo(json.dumps({"time": stamp, "event": event, **fields}, default=str, ensure_ascii=False))


def print_path(path: Any, event: str = "file_written") -> None:
    """A written file's path on stdout (a JSON event with --log-format json)."""
    if json_output():
        emit(event, path=str(path))
    else:
        typer.echo(str(path))


FORMAT_HELP = "Summary: table, text or json (default: a table on a terminal, else text)."


def set_table_format(fmt: str | None) -> None:
    """Apply a command's `--format` (None: automatic)."""
    if fmt not in (None, "table", "text", "json"):
        raise AnnotatorError(f"--format must be table, text or json, got {fmt!r}")
    OUTPUT.table_format = fmt or "auto"


def json_output() -> bool:
    return OUTPUT.log_format == "json" or OUTPUT.table_format == "json"


def print_table(table: Table) -> None:
    """A result table on stdout: drawn on a terminal (or --format table), else tab-separated text or JSON lines."""
    mode = OUTPUT.table_format
    if mode == "auto":
        mode = "json" if OUTPUT.log_format == "json" else "table" if console.is_terminal else "text"
    if mode == "table":
        console.print(table)
        return
    headers = [_plain(c.header) for c in table.columns]
    cells = [[_plain(x) for x in c._cells] for c in table.columns]
    rows = list(zip(*cells, strict=True)) if cells else []
    title = _plain(table.title) if table.title else None
    if mode == "json":
        if not table.show_header and len(headers) == 2:  # a key/value summary: one object
            emit("table", title=title, values=dict(rows))
        else:
            for row in rows:
                emit("row", table=title, **dict(zip(headers, row, strict=True)))
        return
    if title:
        typer.echo(f"# {title}")
    if table.show_header:
        typer.echo("\t".join(headers))
    for row in rows:
        typer.echo("\t".join(c.replace("\t", " ").replace("\n", " ") for c in row))


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        return cell.plain
    try:
        return Text.from_markup(str(cell)).plain
    except MarkupError:  # text that only looks like markup (a hostile title): shown as is
        return str(cell)


def progress() -> Progress:
    """Progress bars on an interactive terminal, none with JSON logs, in cron, pipes and CI."""
    return NULL_PROGRESS if OUTPUT.log_format == "json" else progress_for(err_console)


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
    OUTPUT.log_format = log_format
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
        "text", "--log-format", envvar="ANNOTATOR_LOG_FORMAT", help="text, or json: stderr and stdout as JSON lines."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="ANNOTATOR_DEBUG", help="Show the traceback of an unexpected error (a bug)."
    ),
) -> None:
    """Annotate GEO hg19 ChIP-seq peak files with a BEDspace model and reconcile the authors' labels."""
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be 'text' or 'json'", param_hint="--log-format")
    OUTPUT.debug, OUTPUT.table_format = debug, "auto"
    setup_logging(log_format, verbose)
