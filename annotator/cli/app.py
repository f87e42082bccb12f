"""The typer application, the parsing of the command line, and the mapping of errors to exit codes.

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

Output (results on stdout, messages on stderr, JSON lines with `--log-format json`, tables only on a terminal) is
`annotator.cli.output`'s; this module re-exports what the command modules write with.

Start-up: `annotator --help` and `annotator labels …` must answer at once, so this module and every command module
import only typer and the standard library at import time; rich, numpy, pyarrow and the stages are imported by the
functions that use them (`tests/test_cli_startup.py` guards it, `scripts/bench_startup.py` measures it).
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from annotator.cli.output import (
    FORMAT_HELP,
    LOG_FORMATS,
    OUTPUT,
    emit,
    err_console,
    json_output,
    out_console,
    print_path,
    print_table,
    progress,
    say,
    say_error,
    set_table_format,
    setup_logging,
    table_mode,
)
from annotator.errors import AnnotatorError

EXIT_OK, EXIT_FAILED_SAMPLES, EXIT_CANNOT_RUN = 0, 1, 2
LOG_FORMAT_OPTION = "--log-format"

# typer raises the click exceptions of whichever click it runs on (recent releases carry their own copy of click):
# take the classes from typer's own BadParameter rather than from an `import click` that may be another package.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_NO_ARGS_IS_HELP: type[Exception] | None = getattr(sys.modules[_USAGE_ERROR.__module__], "NoArgsIsHelpError", None)
_EXIT = (typer.Exit, *(c for c in (getattr(sys.modules[_USAGE_ERROR.__module__], "Exit", None),) if c))
_ABORT = (typer.Abort, *(c for c in (getattr(sys.modules[_USAGE_ERROR.__module__], "Abort", None),) if c))

#: What the command modules import from here: the app, error handling, and (from `output`) how they write.
__all__ = ["EXIT_CANNOT_RUN", "EXIT_FAILED_SAMPLES", "EXIT_OK", "FORMAT_HELP", "LOG_FORMATS", "MODEL_OPTION", "OUTPUT",
           "app", "describe_os_error", "emit", "err_console", "fail", "handle_errors", "json_output", "model_app",
           "out_console", "print_path", "print_table", "progress", "say", "set_table_format", "setup_logging",
           "table_mode"]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


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
            say_error("aborted")
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
    say_error(message)
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
    say_error(message.replace("\n", " "))
    raise typer.Exit(code)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass


MODEL_OPTION = typer.Option(None, "--model", "-m", envvar="ANNOTATOR_MODEL",
                            help="Model directory (default: the bundled hg19 model).")  # fmt: skip


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
