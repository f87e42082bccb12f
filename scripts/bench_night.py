"""Benchmark: a whole night through a local GEO — search, SOFT, downloads, projection, reconcile, report.

    python scripts/bench_night.py [--quick] [--sizes 400,1600] [--distinct 60] [--latency 0.1] [--mbps-total 20]

A local GEO (annotator.testing.localgeo) runs in its own process on 127.0.0.1 and serves, for each size N, N samples
in series of 10 found by the `--since-days` search: SOFT text through geofetch, then peak files whose sizes follow
real GEO peak files (log-normal peak counts, median 20,000, range 500-250,000; `--distinct` generated files served
under every sample's own name), each answer after `--latency` seconds and each connection capped at
`--mbps-total / download_workers` MB/s (4 connections: 20 MB/s in all). Each night runs in a fresh child process:

- **night**: `annotator run --since-days 2` as shipped (4 download connections, projection streamed on 2 workers);
- **baseline**: the same night with one download connection and projection after the harvest (no streaming), at
  the larger size (the speedup is measured there, where the fixed costs of a night weigh least).

Both see the same kind of server in the same run. Reported: wall time of the night (from the search to the report, the
interpreter start left out), files/s, the 32,174-file night extrapolated on the line through the two sizes (the
night's fixed cost plus a marginal time per file; the plain N/wall extrapolation is printed beside it), the
parent's and the workers' peak RSS at each size, and the parent's growth per file between the two sizes (at the
`--quick` sizes, and up to 3,000 files, this includes the report filling its bounded review rows: use sizes above 3,000
files for the slope). The last line is
`speedup=<x.xx> night_32174_min=<m.m> memory_growth_kb_per_file=<k.k>`. The machine is shared: numbers move with load.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GEO_SCALE = 32_174
PER_SERIES = 10
TITLES = ["K562 H3K4me3", "GM12878 H3K27ac", "HepG2 CTCF", "K562 H3K36me3", "HeLa-S3 H3K4me1", "HUVEC H3K27me3"]


def make_files(directory: Path, n: int, seed: int = 0) -> list[Path]:
    """`n` gzip narrowPeak files with log-normal peak counts (median 20,000), realistic columns."""
    from annotator.regions.genome import HG19

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        k = int(np.clip(rng.lognormal(np.log(20_000), 0.9), 500, 250_000))
        chrom = np.sort(rng.integers(0, 23, k))
        start = rng.integers(0, 45_000_000, k)
        end = start + rng.integers(150, 2500, k)
        names = np.asarray(HG19.chroms)[chrom]
        body = "".join(f"{c}\t{s}\t{e}\tp{j}\t{j % 1000}\t.\t4.2\t6.1\t3.3\t100\n"
                       for j, (c, s, e) in enumerate(zip(names, start, end, strict=True)))  # fmt: skip
        path = directory / f"file{i:03d}.narrowPeak.gz"
        path.write_bytes(gzip.compress(body.encode(), compresslevel=6, mtime=0))
        out.append(path)
    return out


def _serve(files: list[str], n: int, latency: float, bps: float, conn: object) -> None:
    """Server process: N samples in series of 10, all listed by the search; stops when told."""
    from annotator.testing.localgeo import Faults, GeoSample, LocalGeo

    data = [Path(f).read_bytes() for f in files]
    geo = LocalGeo(Faults(latency_s=latency, bandwidth_bps=bps))
    for s in range(0, n, PER_SERIES):
        gse = f"GSE{700_000 + s // PER_SERIES}"
        samples = []
        for i in range(s, min(n, s + PER_SERIES)):
            gsm = f"GSM{8_000_000 + i}"
            title = TITLES[i % len(TITLES)]
            cell, mark = title.split()
            samples.append(GeoSample(gsm, f"{title} rep{i}", (f"cell line: {cell}", f"chip antibody: {mark}"),
                                     {f"{gsm}_{mark}_peaks.narrowPeak.gz": data[i % len(data)]}))  # fmt: skip
        geo.add_series(gse, samples)
    with geo:
        conn.send(geo.url)  # type: ignore[attr-defined]
        conn.recv()  # type: ignore[attr-defined]


def _child(mode: str, workdir: Path, url: str, workers: int, download_workers: int, model: str | None) -> None:
    """One night in a fresh interpreter; prints one JSON line of measurements."""
    from annotator.config import Config
    from annotator.model.format import load_model

    config = Config(workdir=workdir, model=Path(model) if model else None, geo_base_url=url, since_days=2,
                    workers=workers, download_workers=download_workers, download_backoff_s=0.5)  # fmt: skip
    load_model(config.model)  # warm the model files as both modes do before timing
    began = time.perf_counter()
    if mode == "night":
        from annotator.pipeline import run

        result = run(config)
        counts = result.counts
    else:  # the baseline: harvest (one connection), then project, reconcile and report, one after the other
        from annotator.geo.harvest import harvest
        from annotator.pipeline import project_workdir
        from annotator.reconcile import reconcile_workdir
        from annotator.report.html import render_report

        loaded = load_model(config.model)
        harvested = harvest(config, [])
        projected = project_workdir(config, loaded)
        reconcile_workdir(workdir, loaded, config)
        render_report(workdir, workdir / "report.html")
        counts = {**{f"harvest_{k}": v for k, v in harvested.counts.items()},
                  **{f"project_{k}": v for k, v in projected.counts.items()}}  # fmt: skip
    wall = time.perf_counter() - began
    print(json.dumps({
        "wall_s": wall,
        "parent_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "downloaded": counts.get("harvest_downloaded", 0),
        "projected_ok": counts.get("project_ok", 0),
        "failed": counts.get("harvest_failed", 0),
    }))  # fmt: skip


def _night(mode: str, n: int, files: list[Path], tmp: Path, args: argparse.Namespace) -> dict[str, float]:
    download_workers = 1 if mode == "baseline" else args.download_workers
    per_connection = args.mbps_total * 1e6 / args.download_workers
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(
        target=_serve, args=([str(f) for f in files], n, args.latency, per_connection, child), daemon=True
    )
    server.start()
    try:
        url = parent.recv()
        workdir = tmp / f"{mode}{n}"
        cmd = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir), "--url", url,
               "--workers", str(args.workers), "--download-workers", str(download_workers)]  # fmt: skip
        if args.model:
            cmd += ["--model", args.model]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        m: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        parent.send("stop")
        server.join(timeout=10)
    print(f"  {mode:<8} N={n:>5}: {m['wall_s']:7.1f} s, {n / m['wall_s']:6.1f} files/s, parent peak "
          f"{m['parent_peak_mb']:.0f} MB, worker peak {m['worker_peak_mb']:.0f} MB, downloaded {m['downloaded']:.0f}, "
          f"failed {m['failed']:.0f}", flush=True)  # fmt: skip
    return m


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (60,180), about 2-3 minutes")
    parser.add_argument("--sizes", default="400,1600", help="two sample counts (default 400,1600)")
    parser.add_argument("--distinct", type=int, default=None, help="distinct generated files (60; quick 24)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds before every answer (0.1)")
    parser.add_argument("--mbps-total", type=float, default=20.0, help="MB/s across the download connections (20)")
    parser.add_argument("--download-workers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, Path(args.workdir), args.url, args.workers, args.download_workers, args.model)
        return 0
    small, large = (60, 180) if args.quick else tuple(int(x) for x in args.sizes.split(","))
    distinct = args.distinct or (24 if args.quick else 60)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        files = make_files(tmp / "files", distinct)
        sizes = np.array([f.stat().st_size for f in files])
        print(f"generated {distinct} files in {time.perf_counter() - t:.0f} s: gzip size median "
              f"{np.median(sizes) / 1e6:.2f} MB, mean {sizes.mean() / 1e6:.2f} MB; latency {args.latency:g} s, "
              f"{args.mbps_total:g} MB/s over {args.download_workers} connections", flush=True)  # fmt: skip
        night = {n: _night("night", n, files, tmp, args) for n in (small, large)}
        base = _night("baseline", large, files, tmp, args)
    speedup = base["wall_s"] / night[large]["wall_s"]
    rate = large / night[large]["wall_s"]
    # two sizes give a line: fixed cost of a night (start-up, search, report) + a marginal time per file
    per_file = (night[large]["wall_s"] - night[small]["wall_s"]) / (large - small)
    minutes = (night[small]["wall_s"] + (GEO_SCALE - small) * per_file) / 60
    growth_kb = (night[large]["parent_peak_mb"] - night[small]["parent_peak_mb"]) * 1024 / (large - small)
    print(f"speedup over the baseline at N={large}: {speedup:.2f}x; marginal {1 / per_file:.1f} files/s -> "
          f"32,174 files ≈ {minutes:.1f} min (at the overall {rate:.1f} files/s of N={large}: "
          f"{GEO_SCALE / rate / 60:.1f} min); parent peak {night[small]['parent_peak_mb']:.0f} -> "
          f"{night[large]['parent_peak_mb']:.0f} MB from {small} to {large} files")  # fmt: skip
    print(f"speedup={speedup:.2f} night_32174_min={minutes:.1f} memory_growth_kb_per_file={growth_kb:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
