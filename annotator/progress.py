"""A tiny progress protocol so library loops can report progress without knowing about terminals.

Library functions take `progress: Progress = NULL_PROGRESS`; the CLI passes a `RichProgress` on a terminal and
nothing when output goes to a file or cron mail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as _RichProgress,
)


class Task(Protocol):
    def advance(self, n: float = 1, **fields: Any) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: float | None = None) -> Any:
        """Context manager yielding a `Task`."""
        ...


class _NullTask:
    def advance(self, n: float = 1, **fields: Any) -> None:
        pass


class NullProgress:
    """Reports nothing."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        yield _NullTask()


NULL_PROGRESS = NullProgress()


class _RichTask:
    def __init__(self, bar: _RichProgress, task_id: TaskID) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, n: float = 1, **fields: Any) -> None:
        self._bar.update(self._id, advance=n, info=" ".join(f"{k}={v}" for k, v in fields.items()))


class RichProgress:
    """Rich progress bars on `console`; one bar per task, removed when the task ends."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        bar = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self._console,
            transient=False,
        )
        with bar:
            task_id = bar.add_task(description, total=total, info="")
            yield _RichTask(bar, task_id)


def progress_for(console: Console) -> Progress:
    """Rich bars when `console` is an interactive terminal, silence otherwise (cron, pipes, CI)."""
    return RichProgress(console) if console.is_terminal else NULL_PROGRESS
