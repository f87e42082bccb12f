"""How annotator writes: results on stdout, messages and logs on stderr; tables drawn only on a terminal.

With `--log-format json` both streams are JSON lines (no tables, no progress bars, whatever `--format` says);
otherwise tables are drawn only on a terminal (or with `--format table`), and plain tab-separated text is printed
when output goes to a file or a pipe. rich is imported only to draw on a terminal: start-up time matters.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from annotator.errors import AnnotatorError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from annotator.progress import Progress

LOG_FORMATS = ("text", "json")
FORMAT_HELP = "Summary: table, text or json (default: a table on a terminal, else text; json with --log-format json)."
log = logging.getLogger("annotator.cli")


class _Output:
    """How this invocation writes: set once from the command line (the root options and a command's --format)."""

    log_format: str = "text"  # "json": stdout and stderr are JSON lines
    table_format: str = "auto"  # "table", "text" or "json"; auto: table on a terminal, else text (json with json logs)
    debug: bool = False  # re-raise unexpected errors with their traceback


OUTPUT = _Output()


@functools.cache
def out_console() -> Console:
    """The rich console on stdout (results), made on first use: importing rich costs start-up time."""
    from rich.console import Console

    return Console()


@functools.cache
def err_console() -> Console:
    """The rich console on stderr (messages, progress bars)."""
    from rich.console import Console

    return Console(stderr=True)

def say_error(message: str) -> None:
    """The one error line of a failure on stderr (a JSON record with --log-format json)."""
    try:
        if OUTPUT.log_format == "json":  # written directly: a usage error comes before logging is set up
            sys.stderr.write(json_record("error", message, logger=log.name, event="error") + "\n")
        elif stderr_is_terminal():
            from rich.text import Text

            err_console().print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    except BrokenPipeError:  # stderr is gone too: nothing more can be said
        pass


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def json_record(level: str, message: str, logger: str = "annotator", **fields: Any) -> str:
    """One JSON log line: time, level, logger, message and `fields`."""
    stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    payload = {"time": stamp, "level": level, "logger": logger, "message": message, **fields}
    return json.dumps(payload, default=str, ensure_ascii=False)


def say(message: str, style: str | None = None, **fields: Any) -> None:
    """A message (plain text, never markup: it may quote GEO text) on stderr, or a JSON log record."""
    if OUTPUT.log_format == "json":
        log.info(message, extra={"fields": fields})
    elif stderr_is_terminal():
        from rich.text import Text

        err_console().print(Text(message, style=style or ""), highlight=False, soft_wrap=True)
    else:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


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


def set_table_format(fmt: str | None) -> None:
    """Apply a command's `--format` (None: automatic)."""
    if fmt not in (None, "table", "text", "json"):
        raise AnnotatorError(f"--format must be table, text or json, got {fmt!r}")
    OUTPUT.table_format = fmt or "auto"


def json_output() -> bool:
    return OUTPUT.log_format == "json" or OUTPUT.table_format == "json"


def table_mode() -> str:
    """How a result table is written now: "json" (always with JSON logs), "table" or "text"."""
    if json_output():
        return "json"
    if OUTPUT.table_format == "auto":
        return "table" if _stdout_is_terminal() else "text"
    return OUTPUT.table_format


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def print_table(table: Table) -> None:
    """A result table on stdout: drawn on a terminal (or --format table), else tab-separated text or JSON lines."""
    mode = table_mode()
    if mode == "table":
        out_console().print(table)
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
    from rich.errors import MarkupError
    from rich.text import Text

    if isinstance(cell, Text):
        return cell.plain
    try:
        return Text.from_markup(str(cell)).plain
    except MarkupError:  # text that only looks like markup (a hostile title): shown as is
        return str(cell)


def progress() -> Progress:
    """Progress bars on an interactive terminal, none with JSON logs, in cron, pipes and CI."""
    from annotator.progress import NULL_PROGRESS, progress_for

    return NULL_PROGRESS if OUTPUT.log_format == "json" else progress_for(err_console())


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
        fields = getattr(record, "fields", {})
        return json_record(record.levelname.lower(), record.getMessage(), record.name, **fields)


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
    elif stderr_is_terminal():
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console(), show_path=False, markup=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
