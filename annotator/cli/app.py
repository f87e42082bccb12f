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

Usage errors (an unknown command or option, a bad value, a missing argument) are one line too, exit 2:
`AnnotatorGroup.main` parses the command line itself instead of leaving it to typer's standalone mode, which draws a
box around the message. It also moves `--log-format` (which may be given anywhere on the line) in front of the
command, so the root option sees it.

Output: results go to stdout, messages and logs to stderr. With `--log-format json` both streams are JSON lines
(no tables, no progress bars, whatever `--format` says); otherwise tables are drawn only on a terminal (or with
`--format table`), and plain tab-separated text is printed when output goes to a file or a pipe.

Start-up: `annotator --help` and `annotator labels …` must answer at once, so this module and every command module
import only typer and the standard library at import time; rich, numpy, pyarrow and the stages are imported by the
functions that use them (`tests/test_cli_startup.py` guards it, `scripts/bench_startup.py` measures it).
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from typer.core import TyperGroup

from annotator.errors import AnnotatorError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from annotator.progress import Progress

EXIT_OK, EXIT_FAILED_SAMPLES, EXIT_CANNOT_RUN = 0, 1, 2
LOG_FORMATS = ("text", "json")
LOG_FORMAT_OPTION = "--log-format"

# typer raises the click exceptions of whichever click it runs on (recent releases carry their own copy of click):
# take the classes from typer's own BadParameter rather than from an `import click` that may be another package.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_NO_ARGS_IS_HELP: type[Exception] | None = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", None)
_EXIT = (typer.Exit, *(c for c in (getattr(sys.modules[_USAGE_ERROR.__module__], "Exit", None),) if c))
_ABORT = (typer.Abort, *(c for c in (getattr(sys.modules[_USAGE_ERROR.__module__], "Abort", None),) if c))

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("annotator.cli")


class _Output:
    """How this invocation writes: set once from the root options (and `run`'s own)."""

    log_format: str = "text"  # "json": stdout and stderr are JSON lines
    table_format: str = "auto"  # "table", "text" or "json"; auto: table on a terminal, else text (json with json logs)
    debug: bool = False  # re-raise unexpected errors with their traceback


OUTPUT = _Output()


class AnnotatorGroup(TyperGroup):
    """The root command: parses the line itself so that a usage error is one `error:` line (or JSON record), exit 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = hoist_log_format(list(sys.argv[1:] if args is None else args))
        OUTPUT.log_format = _requested_log_format(argv)  # a usage error can come before the root option is applied
        try:
            code = super().main(argv, prog_name or "annotator", complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else EXIT_OK
        except _CLICK_EXCEPTION as exc:
            code = _report_click_error(exc)
        except _ABORT:
            _say_error("aborted")
            code = EXIT_CANNOT_RUN
        if not standalone_mode:
            return code
        sys.exit(code)


def hoist_log_format(argv: list[str]) -> list[str]:
    """`argv` with every `--log-format X` (or `--log-format=X`) moved in front of the command, where the root
    option reads it: `annotator search … --log-format json` then means `annotator --log-format json search …`.

    Words after a `--` are arguments, never options, and stay where they are.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            rest += argv[i:]
            break
        if word == LOG_FORMAT_OPTION and i + 1 < len(argv):
            front += argv[i : i + 2]
            i += 2
            continue
        if word.startswith(LOG_FORMAT_OPTION + "="):
            front.append(word)
        else:
            rest.append(word)
        i += 1
    return front + rest


def _requested_log_format(argv: Sequence[str]) -> str:
    """The log format asked for on the (hoisted) line or in ANNOTATOR_LOG_FORMAT; "text" when unclear."""
    value = os.environ.get("ANNOTATOR_LOG_FORMAT", "text")
    for i, word in enumerate(argv):
        if word == "--":
            break
        if word == LOG_FORMAT_OPTION and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith(LOG_FORMAT_OPTION + "="):
            value = word.split("=", 1)[1]
    return value if value in LOG_FORMATS else "text"


def _report_click_error(exc: Exception) -> int:
    """Print a parse error as one line and return its exit code; a bare `annotator` (or `annotator model`) prints
    its help and exits 2, as click does (nothing was run)."""
    ctx = getattr(exc, "ctx", None)
    if _NO_ARGS_IS_HELP is not None and isinstance(exc, _NO_ARGS_IS_HELP) and ctx is not None:
        typer.echo(ctx.get_help())
        return EXIT_CANNOT_RUN
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(message.split())
    if isinstance(exc, _USAGE_ERROR):
        where = ctx.command_path if ctx is not None else "annotator"
        message = f"{where}: {message} (see '{where} --help')"
    _say_error(message)
    return int(getattr(exc, "exit_code", EXIT_CANNOT_RUN))


app = typer.Typer(
    name="annotator",
    cls=AnnotatorGroup,
    help="Annotate GEO hg19 ChIP-seq peak files with a BEDspace model and reconcile the authors' labels.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: no boxes in a pipe, and no rich import to print it
    pretty_exceptions_show_locals=False,
)
model_app = typer.Typer(help="Inspect BEDspace models.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(model_app, name="model")


def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


@functools.cache
def out_console() -> Console:
    """The rich console on stdout (results), made on first use: importing rich costs start-up time."""
    return _console(stderr=False)


@functools.cache
def err_console() -> Console:
    """The rich console on stderr (messages, progress bars)."""
    return _console(stderr=True)

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
        except (*_EXIT, *_ABORT, _CLICK_EXCEPTION):
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
        if OUTPUT.log_format == "json":  # written directly: a usage error comes before logging is set up
            sys.stderr.write(json_record("error", message, logger=log.name, event="error") + "\n")
        elif _stderr_is_terminal():
            from rich.text import Text

            err_console().print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
    except BrokenPipeError:  # stderr is gone too: nothing more can be said
        pass


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def json_record(level: str, message: str, logger: str = "annotator", **fields: Any) -> str:
    """One JSON log line: time, level, logger, message and `fields`."""
    stamp = datetime.now(UTC).astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
    payload = {"time": stamp, "level": level, "logger": logger, "message": message, **fields}
    return json.dumps(payload, default=str, ensure_ascii=False)


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
    elif _stderr_is_terminal():
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


FORMAT_HELP = "Summary: table, text or json (default: a table on a terminal, else text; json with --log-format json)."
MODEL_OPTION = typer.Option(None, "--model", "-m", envvar="ANNOTATOR_MODEL",
                            help="Model directory (default: the bundled hg19 model).")  # fmt: skip


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
    elif _stderr_is_terminal():
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console(), show_path=False, markup=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)


def version_callback(value: bool) -> None:
    if value:
        from annotator import __version__

        if OUTPUT.log_format == "json":
            emit("version", version=__version__)
        else:
            typer.echo(f"annotator {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    log_format: str = typer.Option(
        "text",
        LOG_FORMAT_OPTION,
        envvar="ANNOTATOR_LOG_FORMAT",
        help="text, or json: every line on stderr and stdout is JSON (errors too). Allowed anywhere on the line.",
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="ANNOTATOR_DEBUG", help="Show the traceback of an unexpected error (a bug)."
    ),
) -> None:
    """Annotate GEO hg19 ChIP-seq peak files with a BEDspace model and reconcile the authors' labels."""
    if log_format not in LOG_FORMATS:
        raise typer.BadParameter("must be 'text' or 'json'", param_hint=LOG_FORMAT_OPTION)
    OUTPUT.debug, OUTPUT.table_format = debug, "auto"
    setup_logging(log_format, verbose)
