"""Polite concurrency around the per-file downloader: N files in flight, a cap per host, a deadline, a breaker.

`DownloadPool` runs `annotator.geo.download.download` (which owns retries, back-off, resume, atomic rename,
sha256 and the size cap for one file) on threads. Everything else stays on the caller's thread: results come back
from `submit`/`drain` to be recorded in the ledger there, so the ledger has one writer. At most `workers` files are
in flight, at most `per_host` of them on one host, and consecutive request starts on one host are at least
`host_interval_s` apart. After `deadline` nothing new starts: later files come back `Deferred`. A host that failed
`breaker_after` files in a row with `HostUnreachableError` (the downloader's verdict that the host was not reached:
name not resolved, connection refused or timed out) is probed once more; if it does not even accept a TCP
connection, its remaining files come back failed at once ("host unreachable"), instead of each spending minutes on
retries. The verdict travels as `Outcome.unreachable`, never read back out of the error's words. A host that kept
answering 429/503 past its budget (`annotator.geo.throttle.HostThrottle`, shared with the download threads) has its
remaining files failed at once too ("host throttling"). A download that fails on our own disk (`OSError`: full,
read-only) ends the night: the error is raised on the caller's thread when that file is settled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from annotator.errors import DownloadError
from annotator.geo.download import HostUnreachableError
from annotator.geo.throttle import HostThrottle
from annotator.readers import clean

_LOG = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Deferred:
    """Not started: the night's time budget ran out first."""

    reason: str


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How one submitted file ended: `value` (what `fetch` returned), `error` (why not) or `deferred`;
    `unreachable` when `fetch` raised `HostUnreachableError` (the host was not reached at all)."""

    tag: Any
    value: T | None = None
    error: str | None = None
    deferred: bool = False
    unreachable: bool = False
    local_error: OSError | None = None  # our disk failed: raised again on the caller's thread


class _Host:
    def __init__(self) -> None:
        self.in_flight = 0
        self.last_start = 0.0
        self.failures_in_row = 0
        self.unreachable: str | None = None


class DownloadPool(Generic[T]):
    """Bounded, per-host-capped execution of `fetch(url)` calls; results are consumed on the caller's thread.

    Parameters
    ----------
    fetch
        Fetches one URL (the per-file downloader bound to its destination); raises DownloadError on failure.
    workers
        Files in flight at once.
    per_host
        Files in flight at once on one host.
    host_interval_s
        Minimum time between two request starts on one host.
    deadline
        `time.monotonic()` after which nothing new starts (None: no limit).
    is_reachable
        `host_url -> bool`, asked once a host has failed `breaker_after` files in a row on connection errors.
    throttle
        The night's host-level back-off, shared with `fetch` (files of a host it gave up on are not started).
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        per_host: int = 4,
        host_interval_s: float = 0.0,
        deadline: float | None = None,
        breaker_after: int = 3,
        is_reachable: Callable[[str], bool] | None = None,
        throttle: HostThrottle | None = None,
    ) -> None:
        if workers < 1 or per_host < 1:
            raise ValueError("workers and per_host must be at least 1")
        self.workers, self.per_host, self.host_interval_s = workers, per_host, host_interval_s
        self.deadline, self.breaker_after, self.is_reachable = deadline, breaker_after, is_reachable
        self.throttle = throttle
        self._hosts: dict[str, _Host] = {}
        self._waiting: deque[tuple[Any, str, Callable[[], T]]] = deque()
        self._done: queue.Queue[tuple[str, Outcome[T]]] = queue.Queue()
        self._todo: queue.Queue[tuple[Any, str, Callable[[], T]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self._urls_in_flight: set[str] = set()

    @property
    def over_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def submit(self, tag: Any, url: str, fetch: Callable[[], T]) -> Iterator[Outcome[T]]:
        """Queue one file and yield whatever finished meanwhile; blocks only while too much is waiting."""
        self._waiting.append((tag, url, fetch))
        yield from self._pump(block=len(self._waiting) > 2 * self.workers)

    def poll(self) -> Iterator[Outcome[T]]:
        """Outcomes finished so far, without waiting."""
        yield from self._pump(block=False)

    def drain(self) -> Iterator[Outcome[T]]:
        """Every remaining outcome, waiting for files in flight."""
        while self._waiting or self._in_flight:
            yield from self._pump(block=True)

    # -- internals -------------------------------------------------------------------------------------------------
    def _pump(self, *, block: bool) -> Iterator[Outcome[T]]:
        while True:
            yield from self._start_what_fits()
            try:
                url, outcome = self._done.get(block=block and self._in_flight > 0, timeout=0.05)
            except queue.Empty:
                if block and (self._waiting or self._in_flight):
                    continue
                return
            yield self._settle(url, outcome)
            block = block and len(self._waiting) > 2 * self.workers

    def _start_what_fits(self) -> Iterator[Outcome[T]]:
        skipped: deque[tuple[Any, str, Callable[[], T]]] = deque()
        while self._waiting and self._in_flight < self.workers:
            tag, url, fetch = self._waiting.popleft()
            host = self._host(url)
            if self.over_time:
                yield Outcome(tag, deferred=True, error="the night's time budget (--max-hours) ran out first")
                continue
            if host.unreachable:
                yield Outcome(tag, error=host.unreachable, unreachable=True)
                continue
            if self.throttle and (throttled := self.throttle.given_up(url)):
                yield Outcome(tag, error=throttled)
                continue
            if host.in_flight >= self.per_host or url in self._urls_in_flight:
                skipped.append((tag, url, fetch))
                continue
            wait = host.last_start + self.host_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            host.in_flight += 1
            host.last_start = time.monotonic()
            self._in_flight += 1
            self._urls_in_flight.add(url)
            self._todo.put((tag, url, fetch))
            if len(self._threads) < min(self.workers, self._in_flight):
                thread = threading.Thread(target=self._serve, daemon=True, name=f"download-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)
        self._waiting.extendleft(reversed(skipped))

    def _serve(self) -> None:
        """A download thread: runs the files handed to it until the pool closes (a None on the queue)."""
        while (item := self._todo.get()) is not None:
            self._run(*item)

    def close(self) -> None:
        """Stop the download threads once they finish what they hold (the caller drains first)."""
        for _ in self._threads:
            self._todo.put(None)
        self._threads.clear()

    def __enter__(self) -> DownloadPool[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, tag: Any, url: str, fetch: Callable[[], T]) -> None:
        # every file hands back an outcome, whatever escapes `fetch` (a reader's panic is a BaseException): the
        # caller waits for exactly one per file, so a thread that died silently would hang the night
        outcome: Outcome[T] = Outcome(tag, error="internal error: the download thread stopped")
        try:
            outcome = Outcome(tag, value=fetch())
        except HostUnreachableError as exc:
            outcome = Outcome(tag, error=str(exc), unreachable=True)
        except DownloadError as exc:
            outcome = Outcome(tag, error=str(exc))
        except OSError as exc:  # our disk, not the file's server: no traceback here, the caller stops the night
            outcome = Outcome(tag, error=str(exc), local_error=exc)
        except BaseException as exc:  # a bug or resource error on one file must not hang the pool
            _LOG.error("downloading %s failed unexpectedly", url, exc_info=isinstance(exc, Exception))
            outcome = Outcome(tag, error=f"internal error: {type(exc).__name__}: {clean(str(exc))}")
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
        finally:
            self._done.put((url, outcome))

    def _settle(self, url: str, outcome: Outcome[T]) -> Outcome[T]:
        """Bookkeeping on the caller's thread when a file finished; opens a host's breaker when it is gone."""
        host = self._host(url)
        host.in_flight -= 1
        self._in_flight -= 1
        self._urls_in_flight.discard(url)
        if outcome.local_error is not None:
            raise outcome.local_error
        if not outcome.unreachable:
            host.failures_in_row = 0
            return outcome
        host.failures_in_row += 1
        if host.unreachable is None and host.failures_in_row >= self.breaker_after and self.is_reachable:
            key = _host_key(url)
            if not self.is_reachable(key):
                host.unreachable = (
                    f"not attempted: {key} did not accept connections after {host.failures_in_row} files failed "
                    "in a row (host unreachable); retried next night"
                )
                _LOG.error("%s is unreachable: its remaining files are not attempted tonight", key)
            else:
                host.failures_in_row = 0
        return outcome

    def _host(self, url: str) -> _Host:
        key = _host_key(url)
        if key not in self._hosts:
            self._hosts[key] = _Host()
        return self._hosts[key]


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def read_ahead(
    items: list[str], load: Callable[[str], T], *, threads: int = 2, ahead: int = 4, stop: Callable[[], bool] = bool
) -> Iterator[tuple[str, T | None, BaseException | None]]:
    """Yield `(item, load(item), None)` or `(item, None, error)` in input order, loading up to `ahead` items early.

    Once `stop()` is true no new load starts; the items never loaded come back as `(item, None, None)`.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    pending: deque[tuple[str, Future[T] | None]] = deque()
    it = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="soft") as pool:

        def top_up() -> None:
            while len(pending) < ahead:
                item = next(it, None)
                if item is None:
                    return
                pending.append((item, None if stop() else pool.submit(load, item)))

        top_up()
        while pending:
            item, future = pending.popleft()
            top_up()
            if future is None:
                yield item, None, None
                continue
            try:
                yield item, future.result(), None
            except Exception as exc:  # handed to the caller, who decides what a failed item means
                yield item, None, exc
