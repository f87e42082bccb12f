"""Parent peak RSS of a night after each stage, at two sizes: where the memory of a night grows.

    python scripts/bench_night_stages.py [--sizes 3200,6400] [--distinct 40]

Runs the night of `scripts/bench_night.py` (its local GEO, no latency, 400 MB/s over 4 connections; `annotator
run --since-days 2` in a fresh child process per size) with each stage of `annotator.pipeline.run` wrapped to print
the parent's peak RSS once it returns, then the growth per file of each stage between the two sizes. Use sizes above
3,000 files: below, the report is still filling its 3,000 review rows and their details.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import bench_night

STAGES = ("harvest", "project_workdir", "reconcile_workdir", "render_report")


def _child(workdir: Path, url: str) -> None:
    import annotator.pipeline as pipeline

    peaks: dict[str, float] = {}

    def wrap(name: str) -> None:
        stage = getattr(pipeline, name)

        def measured(*args: Any, **kwargs: Any) -> Any:
            result = stage(*args, **kwargs)
            peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            return result

        setattr(pipeline, name, measured)

    for name in STAGES:
        wrap(name)
    bench_night._child("night", workdir, url, 2, 4, None)
    print(json.dumps(peaks))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3200,6400", help="two sample counts (default 3200,6400)")
    parser.add_argument("--distinct", type=int, default=40, help="distinct generated files (default 40)")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1])
        return 0
    small, large = (int(x) for x in args.sizes.split(","))
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = bench_night.make_files(tmp / "files", args.distinct)
        for n in (small, large):
            parent, child = mp.Pipe()
            server = mp.get_context("spawn").Process(
                target=bench_night._serve, args=([str(f) for f in files], n, 0.0, 400e6 / 4, child), daemon=True
            )
            server.start()
            try:
                url = parent.recv()
                cmd = [sys.executable, __file__, "--child", str(tmp / f"night{n}"), url]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()
                peaks[n] = json.loads(out[-1])
            finally:
                parent.send("stop")
                server.join(timeout=10)
            print(f"N={n:>6}: " + ", ".join(f"after {s} {peaks[n][s]:.0f} MB" for s in STAGES), flush=True)
    for stage in STAGES:
        growth = (peaks[large][stage] - peaks[small][stage]) * 1024 / (large - small)
        print(f"{stage:<18} {peaks[small][stage]:6.0f} -> {peaks[large][stage]:6.0f} MB: {growth:5.1f} KB per file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
