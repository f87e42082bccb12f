"""Benchmark: a night at the BEDspace paper's GEO scale (32,174 hg19 BED files), measured on a sample.

    python scripts/bench_nightly.py [--samples 400,1600] [--distinct 60] [--workers 2] [--model DIR]

Generating and storing 32,174 files is more than this machine's time budget allows, so the script generates
`--distinct` gzip BED files whose peak counts follow a log-normal distribution (median 20,000, range 500-250,000, as
GEO peak files vary), registers N samples that cycle over them in a `samples.parquet`, and runs the real stages
(`project_workdir` with its journal and assembly, `reconcile_workdir`, `render_report`) in a fresh child process for
each N. It reports files/s, the extrapolated time for 32,174 files, and the parent process's peak RSS for each N:
bounded memory means the peak does not grow with N. Harvest (network) is not included.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GEO_SCALE = 32_174


def _make_files(directory: Path, n: int, seed: int = 0) -> list[tuple[Path, str]]:
    import hashlib

    from annotator.regions.genome import HG19

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(np.clip(rng.lognormal(np.log(20_000), 0.9), 500, 250_000))
        chrom = np.sort(rng.integers(0, 23, k))
        start = rng.integers(0, 45_000_000, k)
        end = start + rng.integers(150, 2500, k)
        names = np.asarray(HG19.chroms)[chrom]
        body = "".join(f"{c}\t{s}\t{e}\tp{j}\t{j % 1000}\t.\t4.2\t6.1\t3.3\t100\n"
                       for j, (c, s, e) in enumerate(zip(names, start, end, strict=True)))  # fmt: skip
        data = gzip.compress(body.encode(), compresslevel=6)
        path = directory / f"file{i:03d}.narrowPeak.gz"
        path.write_bytes(data)
        out.append((path, hashlib.sha256(data).hexdigest()))
    return out


def _child(workdir: Path, model: str | None, workers: int) -> None:
    """Runs in a fresh interpreter: the stages, then one JSON line of measurements."""
    import resource

    from annotator.config import Config
    from annotator.model.format import load_model
    from annotator.pipeline import project_workdir
    from annotator.reconcile import reconcile_workdir
    from annotator.report.html import render_report

    config = Config(workdir=workdir, model=Path(model) if model else None, workers=workers)
    loaded = load_model(config.model)
    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    result = project_workdir(config, loaded)
    t1, rss_project = time.perf_counter(), peak()
    reconcile_workdir(workdir, loaded, config)
    t2, rss_reconcile = time.perf_counter(), peak()
    render_report(workdir, workdir / "report.html")
    t3 = time.perf_counter()
    print(json.dumps({"project_s": t1 - t0, "reconcile_s": t2 - t1, "report_s": t3 - t2, "peak_rss_mb": peak(),
                      "rss_after_project_mb": rss_project, "rss_after_reconcile_mb": rss_reconcile,
                      "counts": result.counts}))  # fmt: skip


def _samples_table(workdir: Path, files: list[tuple[Path, str]], n: int) -> None:
    from annotator.tables import to_table, write_table

    beds = workdir / "beds"  # stored paths are workdir-relative: hard links keep the disk use of one copy
    beds.mkdir(parents=True, exist_ok=True)
    for path, _ in files:
        os.link(path, beds / path.name)
    rows = []
    for i in range(n):
        path, sha = files[i % len(files)]
        gsm = f"GSM{9_000_000 + i}"
        rows.append({
            "gsm": gsm, "gse": f"GSE{900_000 + i // 12}", "title": f"bench sample {i} H3K4me3 K562",
            "characteristics": [{"key": "cell line", "value": "K562"}], "organism": "Homo sapiens",
            "library_strategy": "ChIP-Seq", "genome_build": "hg19", "file_name": path.name,
            "file_kind": "narrowPeak", "selected": True, "local_path": f"beds/{path.name}", "sha256": sha,
            "download_status": "downloaded", "sample_id": f"{gsm}/{path.name}",
        })  # fmt: skip
    write_table("samples", to_table("samples", rows), workdir / "samples.parquet")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", default="400,1600", help="comma-separated sample counts to run (default 400,1600)")
    parser.add_argument("--distinct", type=int, default=60, help="distinct generated files (default 60)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child), args.model, args.workers)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        files = _make_files(Path(tmp), args.distinct)
        sizes = [p.stat().st_size for p, _ in files]
        print(f"generated {len(files)} files in {time.perf_counter() - t:.0f} s "
              f"(gzip size median {np.median(sizes) / 1e6:.2f} MB, max {max(sizes) / 1e6:.2f} MB)")  # fmt: skip
        for n in (int(x) for x in args.samples.split(",")):
            workdir = Path(tmp) / f"work{n}"
            _samples_table(workdir, files, n)
            cmd = [sys.executable, __file__, "--child", str(workdir), "--workers", str(args.workers)]
            if args.model:
                cmd += ["--model", args.model]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            m = json.loads(out)
            total = m["project_s"] + m["reconcile_s"] + m["report_s"]
            rate = n / total
            statuses = {k: v for k, v in m["counts"].items() if k in ("ok", "failed", "no_overlap")}
            print(
                f"N={n:>6}: project {m['project_s']:.1f} s, reconcile {m['reconcile_s']:.1f} s, "
                f"report {m['report_s']:.1f} s -> {rate:.1f} files/s; 32,174 files ≈ {GEO_SCALE / rate / 60:.0f} min; "
                f"parent peak RSS {m['peak_rss_mb']:.0f} MB (after project {m['rss_after_project_mb']:.0f}, "
                f"after reconcile {m['rss_after_reconcile_mb']:.0f}); statuses {json.dumps(statuses)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
