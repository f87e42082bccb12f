"""Host-level back-off: waits shared by a host's files, a budget per run of 429/503 answers, the night's deadline."""

from __future__ import annotations

import pytest

from annotator.errors import ConfigError
from annotator.geo.throttle import HostThrottle
from annotator.settings import resolve_config

A = "https://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM1/suppl/a.bed.gz"
A_FTP = "ftp://ftp.ncbi.nlm.nih.gov/geo/samples/GSM1nnn/GSM2/suppl/b.bed.gz"
B = "http://127.0.0.1:5000/x.bed"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_overlapping_waits_count_once_and_a_delivered_file_ends_the_run() -> None:
    clock = _Clock()
    throttle = HostThrottle(10.0, clock=clock)
    throttle.slowed(A, 4.0)
    throttle.slowed(A_FTP, 4.0)  # the same host over ftp, asked at the same moment: no extra wait
    clock.now += 4.0
    throttle.slowed(A, 4.0)
    assert throttle.given_up(A) is None  # 8 s of 10
    throttle.delivered(A)  # a file of the host arrived: a new run starts
    clock.now += 4.0
    throttle.slowed(A, 9.0)
    assert throttle.given_up(A) is None
    clock.now += 9.0
    throttle.slowed(A, 2.0)  # 11 s in this run
    assert "over the budget of 10 s" in (throttle.given_up(A_FTP) or "")
    assert throttle.given_up(B) is None  # another host is not affected


def test_a_wait_past_the_nights_deadline_gives_the_host_up_and_wakes_no_one_late() -> None:
    clock = _Clock()
    throttle = HostThrottle(600.0, deadline=clock.now + 60, clock=clock)
    throttle.slowed(B, 30.0)
    assert throttle.given_up(B) is None
    throttle.slowed(B, 61.0)
    assert "past the night's deadline" in (throttle.given_up(B) or "")
    assert throttle.wait(B, until=float("inf")) == throttle.given_up(B)  # returns at once


def test_a_file_whose_deadline_comes_before_the_hosts_resume_time_is_told_so_at_once() -> None:
    clock = _Clock()
    throttle = HostThrottle(600.0, clock=clock)
    assert throttle.wait(B, until=clock.now + 1) is None  # nothing asked: no wait
    throttle.slowed(B, 100.0)
    assert "after this file's deadline" in (throttle.wait(B, until=clock.now + 50) or "")


def test_the_budget_is_a_checked_setting() -> None:
    assert resolve_config({}, environ={"ANNOTATOR_HOST_THROTTLE_BUDGET_S": "120"}).host_throttle_budget_s == 120.0
    with pytest.raises(ConfigError, match="host_throttle_budget_s"):
        resolve_config({}, environ={"ANNOTATOR_HOST_THROTTLE_BUDGET_S": "0"})
