"""Helpers of the fault suite: a clean reference run, table snapshots and their comparison."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.tables import read_table

#: Row keys per table: a key seen twice is a duplicate, a clean key missing is a loss.
KEYS = {
    "samples": ("sample_id",),
    "predictions": ("sample_id", "group", "rank"),
    "annotations": ("sample_id", "group"),
}


def snapshot(workdir: Path, *moved_from: Path) -> dict[str, list[dict[str, Any]]]:
    """The rows of samples, predictions and annotations, sorted by key (row order is not part of the contract).

    Predictions record the absolute path of the file projected; paths under `workdir` (or a workdir it was copied
    from) read `WORKDIR/…` so copies of one workdir compare equal.
    """
    out = {}
    prefixes = [str(p) for p in (workdir, *moved_from)]
    for name, key in KEYS.items():
        rows = read_table(name, workdir / f"{name}.parquet").to_pylist()
        for row in rows:
            for prefix in prefixes:
                if isinstance(row.get("file"), str) and row["file"].startswith(prefix):
                    row["file"] = "WORKDIR" + row["file"][len(prefix) :]
        out[name] = sorted(rows, key=lambda r, key=key: tuple(str(r[k]) for k in key))
    return out


@dataclass
class Diff:
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.wrong)


def compare(clean: dict[str, list[dict[str, Any]]], got: dict[str, list[dict[str, Any]]]) -> Diff:
    """Rows lost, duplicated and different from the clean run, over all tables."""
    diff = Diff()
    for name, key in KEYS.items():
        want = {tuple(r[k] for k in key): r for r in clean[name]}
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in got[name]:
            k = tuple(row[c] for c in key)
            if k in seen:
                diff.duplicated += 1
            seen[k] = row
        diff.lost += sum(k not in seen for k in want)
        diff.wrong += sum(k not in want or want[k] != row for k, row in seen.items())
    return diff


def flip(path: Path, rng: random.Random, n: int = 16) -> None:
    """Invert `n` seeded bytes of `path`."""
    data = bytearray(path.read_bytes())
    for i in rng.sample(range(len(data)), min(n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, rng: random.Random) -> None:
    """Cut `path` at a seeded point in its first three quarters."""
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(0, max(1, 3 * len(data) // 4))])


def leftovers(workdir: Path) -> list[Path]:
    """Temporary files of interrupted writes (downloads' `.part` files in beds/ may legitimately stay)."""
    return [p for p in workdir.rglob("*.tmp") if "beds" not in p.relative_to(workdir).parts]
