"""Host-level back-off: when a host answers 429 or 503, every file of that host waits, not just the one asked.

A server that rate-limits says so to whichever request it refuses; the files fetched beside it on the same host would
each discover the same answer and wait on their own, so a night of many files on a throttling host lasts files x
waits. `HostThrottle` is shared by the download threads of one night (the `DownloadPool` holds it): a 429/503 sets
the host's resume time (the server's `Retry-After`, else the file's own back-off), every attempt on that host first
waits for it, and the waiting of one unbroken run of 429/503 answers (no file of the host arrived in between) is
summed. When that sum would pass the budget, or the resume time would pass the night's deadline, the host is given
up for the night: its files in flight stop waiting and the ones not started fail at once, "host throttling", to be
retried the next night.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class _HostState:
    resume_at: float = 0.0
    held_s: float = 0.0  # waiting asked for since the host last delivered a file
    given_up: str | None = None


class HostThrottle:
    """Per-host resume times and budgets, safe to share between threads.

    Parameters
    ----------
    budget_s
        The most one host may hold its files back in one run of 429/503 answers.
    deadline
        `clock()` value of the night's end (None: no limit); no host waits past it.
    clock
        Monotonic clock (the waits themselves are real: `threading.Condition.wait`).
    """

    def __init__(
        self,
        budget_s: float,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_s, self.deadline, self._clock = budget_s, deadline, clock
        self._hosts: dict[str, _HostState] = {}
        self._changed = threading.Condition()

    def given_up(self, url: str) -> str | None:
        """Why `url`'s host is not asked again tonight, or None."""
        with self._changed:
            return self._state(url).given_up

    def slowed(self, url: str, wait_s: float) -> None:
        """`url`'s host answered 429/503 and asks for `wait_s` seconds (the server's own figure, uncapped)."""
        with self._changed:
            state, now = self._state(url), self._clock()
            if state.given_up:
                return
            resume = now + max(0.0, wait_s)
            added = max(0.0, resume - max(now, state.resume_at))
            why = None
            if state.held_s + added > self.budget_s:
                why = f"asked to wait {state.held_s + added:.0f} s in all, over the budget of {self.budget_s:g} s"
            elif self.deadline is not None and resume >= self.deadline:
                why = f"asked to wait {resume - now:.0f} s, past the night's deadline (--max-hours)"
            if why:
                state.given_up = (
                    f"host throttling: {_host(url)} kept answering 429/503 ({why}; raise host_throttle_budget_s to "
                    "wait longer); not attempted tonight, retried next night"
                )
                self._changed.notify_all()
                return
            state.held_s += added
            state.resume_at = max(state.resume_at, resume)

    def delivered(self, url: str) -> None:
        """A file of `url`'s host arrived: the host is no longer throttling us."""
        with self._changed:
            self._state(url).held_s = 0.0

    def wait(self, url: str, until: float) -> str | None:
        """Block until `url`'s host may be asked again; return why not instead (the host was given up, or its
        resume time is past `until`, the file's own deadline)."""
        with self._changed:
            while True:
                state, now = self._state(url), self._clock()
                if state.given_up:
                    return state.given_up
                if state.resume_at <= now:
                    return None
                if state.resume_at >= until:
                    return f"{_host(url)} asked to wait until after this file's deadline"
                self._changed.wait(state.resume_at - now)

    def _state(self, url: str) -> _HostState:
        return self._hosts.setdefault(_host(url), _HostState())


def _host(url: str) -> str:
    """The server a URL's requests go to: its name and any explicit port, whatever the scheme (a GEO ftp URL is
    fetched over https from the same host)."""
    return urlsplit(url).netloc.rpartition("@")[2].lower()
