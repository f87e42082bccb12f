"""Check the demo's workdir after the README's first command: every table there, readable, with rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq


def main(workdir: Path) -> None:
    for name in ("samples", "predictions", "annotations", "runs"):
        path = workdir / f"{name}.parquet"
        if not path.is_file():
            raise SystemExit(f"demo: {path} is missing")
        rows = pq.read_metadata(path).num_rows
        if rows == 0:
            raise SystemExit(f"demo: {path} has no rows")
        print(f"demo: {name}.parquet {rows} rows")
    report = workdir / "report.html"
    if not report.is_file() or report.stat().st_size < 10_000:
        raise SystemExit(f"demo: {report} is missing or too small")
    print(f"demo: report.html {report.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
