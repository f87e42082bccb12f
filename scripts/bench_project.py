"""Benchmark: projection time per file against the floor of merely gzip-decompressing and splitting it into lines.

    python scripts/bench_project.py [--files N] [--model DIR]

Reads ../shared/data/encode-broad-histone-hg19 when present, otherwise generates gzip BED files of ~50,000 regions.
Floor and projection are timed on the same files, interleaved file by file, so machine load hits both alike.
Peak memory: the process's max RSS after one pass over the files and after `--passes` passes over the same files:
streaming one file at a time means equal (comparing early and late files would compare file sizes instead).
Target (issue 2): projection <= 2.0x the floor.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from annotator.errors import ModelError
from annotator.model.format import BedspaceModel, load_model
from annotator.project import project_file
from annotator.regions.genome import HG19
from annotator.regions.universe import TileUniverse

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "encode-broad-histone-hg19"


def _generated_files(n: int, directory: Path, regions: int = 50_000) -> list[Path]:
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        chrom = np.sort(rng.integers(0, 23, regions))
        start = rng.integers(0, 40_000_000, regions)
        end = start + rng.integers(150, 3000, regions)
        names = np.asarray(HG19.chroms)[chrom]
        lines = [f"{c}\t{s}\t{e}\tpeak{j}\t500\t.\t5.1\t4.2\t3.3\t120\n" for j, (c, s, e) in
                 enumerate(zip(names, start, end, strict=True))]  # fmt: skip
        path = directory / f"gen{i}.narrowPeak.gz"
        path.write_bytes(gzip.compress("".join(lines).encode(), compresslevel=6))
        files.append(path)
    return files


def _model(path: str | None) -> BedspaceModel:
    try:
        return load_model(path)
    except ModelError:
        print("no bundled model yet: using a random model over every 3rd 1 kb tile (dim 32)")
        universe = TileUniverse(1000)
        ids = np.arange(0, universe.n_tokens, 3, dtype=np.int64)
        rng = np.random.default_rng(1)
        vec = rng.normal(size=(ids.size, 32)).astype(np.float32)  # as load_model widens it
        labels = {"antibody": [f"ab{i}" for i in range(11)], "cell_type": [f"ct{i}" for i in range(18)]}
        label_vectors = {g: rng.normal(size=(len(v), 32)).astype(np.float32) for g, v in labels.items()}
        return BedspaceModel("random", universe, ids, vec, labels, label_vectors)


def _floor(path: Path) -> int:
    return len(gzip.decompress(path.read_bytes()).split(b"\n"))


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=60, help="number of files (default 60)")
    parser.add_argument("--model", default=None, help="model directory (default: bundled)")
    parser.add_argument("--passes", type=int, default=3, help="passes over the files (default 3)")
    args = parser.parse_args()
    model = _model(args.model)
    _ = model.known_tokens  # built once per worker in real runs; not part of per-file cost
    with tempfile.TemporaryDirectory() as tmp:
        if SHARED.is_dir():
            files = sorted(SHARED.glob("*.broadPeak.gz"))[: args.files]
            source = f"{len(files)} ENCODE broadPeak files from {SHARED}"
        else:
            files = _generated_files(args.files, Path(tmp))
            source = f"{len(files)} generated narrowPeak.gz files of 50,000 regions"
        print(f"benchmark: {source}; model {model.name} ({model.token_ids.size:,} tokens, dim {model.dim})")
        floor_s = proj_s = 0.0
        regions = 0
        rss_first = 0.0
        for pass_no in range(args.passes):
            for f in files:
                t0 = time.perf_counter()
                _floor(f)
                t1 = time.perf_counter()
                p = project_file(model, f)
                t2 = time.perf_counter()
                floor_s += t1 - t0
                proj_s += t2 - t1
                regions += p.n_regions
                if p.status != "ok" and pass_no == 0:
                    print(f"  {f.name}: {p.status} {p.reason}")
            if pass_no == 0:
                rss_first = _max_rss_mb()
    n = len(files) * args.passes
    ratio = proj_s / floor_s
    print(f"floor (gunzip + split lines): {floor_s:.2f} s  ({1000 * floor_s / n:.1f} ms/file)")
    print(f"projection (read + tokenize + rank): {proj_s:.2f} s  ({1000 * proj_s / n:.1f} ms/file, "
          f"{regions / proj_s / 1e6:.2f} M regions/s)")  # fmt: skip
    print(f"ratio projection/floor: {ratio:.2f}x  (target <= 2.0x)")
    print(f"max RSS after 1 pass ({len(files)} files): {rss_first:.0f} MB; "
          f"after {args.passes} passes ({n} files): {_max_rss_mb():.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
