"""The download pool: files in flight, the per-host cap, host spacing, the deadline and the unreachable-host breaker."""

from __future__ import annotations

import threading
import time

import pytest

from annotator.errors import DownloadError
from annotator.geo.download import HostUnreachableError
from annotator.geo.pool import DownloadPool, Outcome, read_ahead


class _Gauge:
    """Counts calls in flight per host, remembering the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.total_peak = 0

    def fetch(self, host: str, seconds: float = 0.05, fail: str | None = None, unreachable: bool = False):
        def run() -> str:
            with self.lock:
                self.now[host] = self.now.get(host, 0) + 1
                self.peak[host] = max(self.peak.get(host, 0), self.now[host])
                self.total_peak = max(self.total_peak, sum(self.now.values()))
            time.sleep(seconds)
            with self.lock:
                self.now[host] -= 1
            if fail:
                raise (HostUnreachableError if unreachable else DownloadError)(fail)
            return host

        return run


def _run_all(pool: DownloadPool, jobs: list[tuple[str, str, object]]) -> list[Outcome]:
    out: list[Outcome] = []
    with pool:
        for tag, url, fetch in jobs:
            out += pool.submit(tag, url, fetch)  # type: ignore[arg-type]
        return out + list(pool.drain())


def test_workers_and_per_host_cap_bound_what_is_in_flight() -> None:
    gauge = _Gauge()
    hosts = ["a.example", "b.example"]
    jobs = [(i, f"http://{hosts[i % 2]}/f{i}", gauge.fetch(hosts[i % 2])) for i in range(32)]
    outcomes = _run_all(DownloadPool(workers=5, per_host=3), jobs)
    assert sorted(o.tag for o in outcomes) == list(range(32))  # every file once
    assert all(o.error is None for o in outcomes)
    assert max(gauge.peak.values()) == 3 and min(gauge.peak.values()) >= 2
    assert gauge.total_peak == 5


def test_one_worker_is_sequential_and_in_order() -> None:
    gauge = _Gauge()
    jobs = [(i, f"http://a.example/f{i}", gauge.fetch("a.example", 0.01)) for i in range(6)]
    outcomes = _run_all(DownloadPool(workers=1, per_host=4), jobs)
    assert [o.tag for o in outcomes] == list(range(6)) and gauge.total_peak == 1


def test_requests_to_one_host_are_spaced() -> None:
    starts: list[float] = []

    def fetch() -> None:
        starts.append(time.monotonic())

    _run_all(
        DownloadPool(workers=4, per_host=4, host_interval_s=0.05), [(i, f"http://a/x{i}", fetch) for i in range(5)]
    )
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    # the pool spaces its starts by 0.05 s; a thread woken a little late shortens one gap and lengthens the next,
    # so check each gap loosely and the whole span tightly (unspaced starts give gaps of ~0)
    assert min(gaps) >= 0.03, gaps
    assert sorted(starts)[-1] - sorted(starts)[0] >= 4 * 0.05 - 0.01, gaps


def test_after_the_deadline_nothing_starts_and_the_rest_is_deferred() -> None:
    gauge = _Gauge()
    pool: DownloadPool[str] = DownloadPool(workers=1, per_host=1, deadline=time.monotonic() + 0.12)
    jobs = [(i, f"http://a/f{i}", gauge.fetch("a", 0.05)) for i in range(10)]
    outcomes = _run_all(pool, jobs)
    done = [o.tag for o in outcomes if not o.deferred]
    deferred = [o.tag for o in outcomes if o.deferred]
    assert 1 <= len(done) <= 4 and len(done) + len(deferred) == 10
    assert sorted(done + deferred) == list(range(10)) and all("time budget" in (o.error or "") for o in outcomes
                                                             if o.deferred)  # fmt: skip


def test_an_unreachable_host_fails_its_remaining_files_at_once() -> None:
    gauge = _Gauge()
    asked: list[str] = []

    def reachable(host: str) -> bool:
        asked.append(host)
        return host != "http://down.example"

    jobs = [(i, f"http://down.example/f{i}", gauge.fetch("down", 0.01, fail="x: refused", unreachable=True)) for i in
            range(20)] + [(99, "http://up.example/f", gauge.fetch("up", 0.01))]  # fmt: skip
    began = time.monotonic()
    outcomes = _run_all(DownloadPool(workers=1, per_host=1, breaker_after=3, is_reachable=reachable), jobs)
    assert time.monotonic() - began < 0.5
    by_tag = {o.tag: o for o in outcomes}
    assert asked == ["http://down.example"]  # probed once, when the breaker tripped
    assert "host unreachable" in (by_tag[19].error or "") and "retried next night" in (by_tag[19].error or "")
    assert by_tag[99].error is None and by_tag[99].value == "up"
    assert sum("host unreachable" in (o.error or "") for o in outcomes) == 17


def test_failures_that_are_not_connection_failures_never_trip_the_breaker() -> None:
    asked: list[str] = []
    jobs = [(i, f"http://a/f{i}", _Gauge().fetch("a", 0.0, fail="x: HTTP 404 Not Found (1 attempt)")) for i in range(6)]
    outcomes = _run_all(DownloadPool(workers=1, breaker_after=2, is_reachable=lambda h: asked.append(h) or False), jobs)
    assert not asked and all("404" in (o.error or "") for o in outcomes)


def test_the_breaker_follows_the_error_type_not_its_words() -> None:
    """A plain DownloadError whose text reads like a connection failure (the URL or a server message may say
    anything) never trips the breaker; a HostUnreachableError does, whatever its text."""
    asked: list[str] = []
    wordy = "http://a/connection-refused-unreachable.bed: HTTP 500 cannot fetch: timed out (1 attempt)"
    jobs = [(i, f"http://a/f{i}", _Gauge().fetch("a", 0.0, fail=wordy)) for i in range(6)]
    outcomes = _run_all(DownloadPool(workers=1, breaker_after=2, is_reachable=lambda h: asked.append(h) or False), jobs)
    assert not asked and not any(o.unreachable for o in outcomes) and len(outcomes) == 6

    jobs = [(i, f"http://b/f{i}", _Gauge().fetch("b", 0.0, fail="x: errno 113", unreachable=True)) for i in range(6)]
    outcomes = _run_all(DownloadPool(workers=1, breaker_after=2, is_reachable=lambda h: asked.append(h) or False), jobs)
    assert asked == ["http://b"] and all(o.unreachable for o in outcomes)
    assert sum("host unreachable" in (o.error or "") for o in outcomes) == 4


def test_read_ahead_keeps_order_and_stops_loading_when_told() -> None:
    loaded: list[str] = []

    def load(item: str) -> str:
        loaded.append(item)
        if item == "c":
            raise ValueError("bad")
        time.sleep(0.01 if item == "a" else 0)
        return item.upper()

    stop = threading.Event()
    out = []
    for item, value, error in read_ahead(list("abcdefgh"), load, ahead=2, stop=stop.is_set):
        out.append((item, value, type(error).__name__ if error else None))
        if item == "d":
            stop.set()
    assert [o[0] for o in out] == list("abcdefgh")
    assert out[:4] == [("a", "A", None), ("b", "B", None), ("c", None, "ValueError"), ("d", "D", None)]
    assert all(value is None and error is None for _, value, error in out[6:])  # never loaded
    assert "h" not in loaded


def test_pool_refuses_nonsense_sizes() -> None:
    with pytest.raises(ValueError):
        DownloadPool(workers=0)
