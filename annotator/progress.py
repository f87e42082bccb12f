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

    def grow(self, n: float) -> None:
        """Raise the total by `n` (work discovered on the way, e.g. the files of a series just read)."""
        ...


class Progress(Protocol):
    def task(self, description: str, total: float | None = None) -> Any:
        """Context manager yielding a `Task`."""
        ...


class _NullTask:
    def advance(self, n: float = 1, **fields: Any) -> None:
        pass

    def grow(self, n: float) -> None:
        pass


class NullProgress:
    """Reports nothing."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        yield NULL_TASK


NULL_PROGRESS = NullProgress()
NULL_TASK: Task = _NullTask()


class _RichTask:
    def __init__(self, bar: _RichProgress, task_id: TaskID) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, n: float = 1, **fields: Any) -> None:
        self._bar.update(self._id, advance=n, info=" ".join(f"{k}={v}" for k, v in fields.items()))

    def grow(self, n: float) -> None:
        total = self._bar.tasks[self._id].total or 0
        self._bar.update(self._id, total=total + n)


class RichProgress:
    """Rich progress bars on `console`; one bar per task, kept when the task ends; none for a task of no work."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        if total == 0:  # an empty "0/0" bar says nothing
            yield NULL_TASK
            return
        bar = _RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self._console,
            transient=False,
            refresh_per_second=2,  # a night runs for minutes to hours: a calm bar, not 10 redraws a second
        )
        with bar:
            task_id = bar.add_task(description, total=total, info="")
            yield _RichTask(bar, task_id)


def progress_for(console: Console) -> Progress:
    """Rich bars when `console` is an interactive terminal, silence otherwise (cron, pipes, CI)."""
    return RichProgress(console) if console.is_terminal else NULL_PROGRESS
