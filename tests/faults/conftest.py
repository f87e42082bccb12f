"""The fault suite: damaged artifacts, full and read-only disks, kill -9 at random moments (issue 10).

Every case ends in one of two acceptable outcomes: a clear one-line error with exit code 2 (nothing half-written
left behind), or tables equal to a clean run's. The tally below counts, over all cases of the session, rows lost,
rows duplicated and rows silently wrong (present but different); the terminal summary prints it whatever `-s` or
`-q` say, so CI logs show it. It must read 0, 0, 0.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# helper modules beside the tests (faultkit, servers) import by plain name, as `modelkit` does in tests/
sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class FaultTally:
    """What the fault cases of this session found."""

    cases: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    refused: int = 0  # ended in a clear error (exit 2), nothing half-written
    recovered: int = 0  # a re-run gave the clean run's tables

    def line(self) -> str:
        return (
            f"fault suite: {self.cases} cases, {self.lost} rows lost, {self.duplicated} duplicated, "
            f"{self.wrong} silently wrong ({self.refused} refused with a clear error, {self.recovered} recovered)"
        )


TALLY = FaultTally()


@pytest.fixture
def tally() -> FaultTally:
    """The session's fault tally (tests add their cases to it)."""
    return TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.cases:
        terminalreporter.write_sep("-", TALLY.line())
