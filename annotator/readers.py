"""The one boundary every third-party reader of a downloaded file (pybigtools, tarfile, gzip/zlib, pyarrow) runs behind.

Readers of hostile files fail in ways `except Exception` does not see. pybigtools answers a damaged bigBed with a
Rust panic: a `PanicException`, which is a `BaseException`, plus the panic's text printed on stderr; and a header
that declares a huge size makes it allocate that size, which aborts the whole process (SIGABRT, "memory allocation
of … bytes failed"). So a file is read in one of two ways:

* `reading(name, what)` — a `with` block in this process: any failure inside it (any exception, including
  `BaseException` subclasses other than `KeyboardInterrupt`, `SystemExit` and `GeneratorExit`) leaves it as a
  `BedFormatError` with a one-line reason, which the caller records as a failed row.
* `isolated(call, args, ...)` — for readers that can abort or allocate without bound: `call` runs in a fresh child
  interpreter under an address-space limit (`RLIMIT_AS`) and a timeout, with its stdout and stderr captured (only
  the last line of stderr reaches a reason, cleaned). A crash, a kill by the limit or the timeout, or an error costs
  that one file: it becomes a `BedFormatError`. Nothing the reader prints reaches the user's terminal or the JSON
  log. The child is a new interpreter (not a fork), so it inherits neither threads nor the workdir lock.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from annotator.config import DEFAULT_READER_MEMORY_BYTES, DEFAULT_READER_TIMEOUT_S
from annotator.errors import AnnotatorError, BedFormatError

__all__ = ["DEFAULT_READER_MEMORY_BYTES", "DEFAULT_READER_TIMEOUT_S", "child_main", "clean", "isolated", "reading"]
_REASON_CHARS = 200
_EXCERPT_BYTES = 4096
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")
#: Environment of the child: one thread per numeric library, so the address-space limit is not spent on thread
#: arenas and stacks that a file reader never uses.
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RUST_BACKTRACE": "0"}


class WorkdirWriteError(OSError):
    """Writing what a reader produced into the workdir failed (a full or read-only disk): not the file's fault, so
    it passes every reader boundary and stops the night like any other local disk error."""

    @classmethod
    def of(cls, exc: OSError) -> WorkdirWriteError:
        return cls(exc.errno, exc.strerror, exc.filename)


@contextmanager
def reading(name: str, what: str) -> Iterator[None]:
    """Turn any failure of the reader called inside the block into `BedFormatError(f"{name}: {what} (…)")`.

    `AnnotatorError`s (the caller's own clear errors) pass through unchanged, and so do `WorkdirWriteError`,
    `KeyboardInterrupt` and `SystemExit`; everything else, `MemoryError` and Rust panics included, becomes a
    `BedFormatError`.
    """
    try:
        yield
    except (AnnotatorError, WorkdirWriteError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MemoryError as exc:
        raise BedFormatError(f"{name}: {what} (ran out of memory reading it)") from exc
    except BaseException as exc:  # the point of the boundary: a reader's panic is a failed file
        raise BedFormatError(f"{name}: {what} ({type(exc).__name__}: {clean(str(exc))})") from exc


def clean(text: str) -> str:
    """One short printable line of a reader's message (the message may quote the hostile file)."""
    return _UNPRINTABLE.sub(" ", text).strip()[:_REASON_CHARS]


def isolated(
    call: str, args: list[Any], *, name: str, what: str, memory_bytes: int, timeout_s: float
) -> Any:
    """Run `call` ("package.module:function", with JSON-able `args`) in a child process; return its JSON result.

    Raises
    ------
    BedFormatError
        The reader failed, crashed (a signal such as SIGABRT or the kernel's SIGKILL), passed `memory_bytes` of
        address space or `timeout_s` seconds: `f"{name}: {what} (why)"`.
    """
    request = json.dumps({"call": call, "args": args, "name": name, "what": what, "memory_bytes": memory_bytes})
    env = {**os.environ, **_CHILD_ENV, "PYTHONPATH": os.pathsep.join(_python_path())}
    command = [sys.executable, "-c", "from annotator.readers import child_main; child_main()"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(command, input=request.encode(), stdout=out, stderr=err, env=env,
                                  timeout=timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise BedFormatError(
                f"{name}: {what} (reading took more than {timeout_s:g} s; raise reader_timeout_s to allow more)"
            ) from exc
        reply, stderr = _excerpt(out, last=True), _excerpt(err, last=False)
    try:
        answer = json.loads(reply.splitlines()[-1]) if proc.returncode == 0 and reply.strip() else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        raise BedFormatError(str(answer["error"]))
    if isinstance(answer, dict) and "value" in answer:
        return answer["value"]
    raise BedFormatError(f"{name}: {what} (the reader crashed: {_death(proc.returncode, stderr, memory_bytes)})")


def child_main() -> None:
    """The child's side of `isolated`: read the request on stdin, run it, write one JSON line on stdout."""
    import resource

    request = json.loads(sys.stdin.read())
    limit = int(request["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        module, function = str(request["call"]).split(":")
        with reading(str(request["name"]), str(request["what"])):
            value = getattr(importlib.import_module(module), function)(*request["args"])
        reply: dict[str, Any] = {"value": value}
    except AnnotatorError as exc:
        reply = {"error": str(exc)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def _python_path() -> list[str]:
    """This `annotator`'s root first, so the child imports the same code as the parent."""
    root = str(Path(__file__).resolve().parent.parent)
    return [root, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root)]


def _excerpt(fh: IO[bytes], *, last: bool) -> str:
    """The first or last few KB a child wrote (a reader may print without bound)."""
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - _EXCERPT_BYTES) if last else 0)
    return fh.read(_EXCERPT_BYTES).decode("utf-8", "replace")


def _death(returncode: int, stderr: str, memory_bytes: int) -> str:
    """Why the child ended without an answer, in words: its signal or exit code and stderr's first line."""
    if returncode < 0:
        try:
            how = signal.Signals(-returncode).name
        except ValueError:
            how = f"signal {-returncode}"
    else:
        how = f"exit code {returncode}"
    said = [clean(line) for line in stderr.splitlines() if clean(line) and not line.startswith("note: ")]
    why = said[0] if said else ""  # the first line: "memory allocation of … bytes failed", a panic's location
    if returncode == -signal.SIGKILL:
        why = why or f"killed, maybe past its memory limit of {memory_bytes:,} bytes (reader_memory_bytes)"
    return f"{how}; {why}" if why else how
