"""How the genome-build check (`annotator.regions.build_check`) classifies the real hg19 files in ../shared/data,
and the same files moved to mimic hg38.

Every real file must read as hg19 (false alarms are printed by name). Each file is then "lifted" to hg38 two crude
ways, from chromosome lengths alone (no chain file is available offline):

- ``scale``: every coordinate multiplied by hg38/hg19 length of its chromosome (a chromosome that grew in hg38
  stretches; the q-arm end of chr17 moves 2.1 Mb right);
- ``offset``: every coordinate moved by the length difference (regions that would start below 0 are dropped, as
  if unmapped);

and projected as it would be uploaded to GEO: the whole file, its 2,000 strongest regions (column 7, signalValue),
1,000 and 200 random regions. The detection rate is the share of those files flagged ``wrong_build``. Headers and
contig names, which real hg38 files often carry, are not simulated: this measures the content signal alone.

    python scripts/check_builds.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from annotator.regions.bed import parse_bed_bytes, read_bed
from annotator.regions.build_check import BUILD_SIZES, check_build

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONDITIONS = {"whole": None, "strongest 2,000": 2000, "random 1,000": -1000, "random 200": -200}
HG19, HG38 = BUILD_SIZES["hg19"], BUILD_SIZES["hg38"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the corpora")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files of each corpus (0: all)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rng = np.random.default_rng(13)
    real: Counter[str] = Counter()
    flagged_real: list[str] = []
    beyond_hg38 = 0
    detected: Counter[tuple[str, str]] = Counter()
    missed_whole: list[str] = []
    n_shifted: Counter[tuple[str, str]] = Counter()
    corpora = sorted(p for p in args.data.iterdir() if p.is_dir() and any(p.glob("*.gz")))
    for corpus in corpora:
        files = sorted(corpus.glob("*.gz"))[: args.limit or None]
        for path in files:
            regions = read_bed(path)
            real[corpus.name] += 1
            if check_build(regions).wrong:
                flagged_real.append(f"{corpus.name}/{path.name}: {check_build(regions).reason}")
            limits = np.array([HG38[c] for c in regions.genome.chroms])[regions.chrom]
            beyond_hg38 += bool((regions.end > limits).any())  # hg19's own signature: regions hg38 cannot hold
            chrom, start, end, signal = _columns(path)
            for condition, n in CONDITIONS.items():
                keep = _subset(signal, n, rng)
                for how in ("scale", "offset"):
                    lifted = _lift(chrom[keep], start[keep], end[keep], how)
                    n_shifted[(how, condition)] += 1
                    wrong = check_build(parse_bed_bytes(lifted, path.name)).wrong
                    detected[(how, condition)] += wrong
                    if condition == "whole" and not wrong:
                        missed_whole.append(f"{how}: {corpus.name}/{path.name} ({len(regions)} regions)")
    n_real = sum(real.values())
    print(f"real files: {n_real} ({', '.join(f'{k} {v}' for k, v in sorted(real.items()))})")
    print(f"  flagged wrong_build: {len(flagged_real)} of {n_real}")
    for line in flagged_real:
        print(f"    {line}")
    print(f"  files with regions past hg38 chromosome ends (positive hg19 signature): {beyond_hg38} of {n_real}")
    print("hg38-like files (same files, lifted crudely), detected as wrong_build:")
    for how in ("scale", "offset"):
        for condition in CONDITIONS:
            d, n = detected[(how, condition)], n_shifted[(how, condition)]
            print(f"  {how:6s} {condition:16s} {d:4d} / {n:4d} = {d / max(n, 1):.3f}")
    for line in missed_whole:
        print(f"  missed whole file, {line}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 1 if flagged_real else 0


def _columns(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """chrom, start, end and signal (column 7, or 0 when absent) of a gzip BED file."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    table = pacsv.read_csv(
        pa.py_buffer(data),
        pacsv.ReadOptions(autogenerate_column_names=True),
        pacsv.ParseOptions(delimiter="\t"),
    )
    signal = table.column(6).to_numpy() if table.num_columns > 6 else np.zeros(table.num_rows)
    return (
        table.column(0).to_numpy(zero_copy_only=False).astype(str),
        table.column(1).to_numpy().astype(np.int64),
        table.column(2).to_numpy().astype(np.int64),
        np.asarray(signal, dtype=np.float64),
    )


def _subset(signal: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Row indices: all, the n strongest (n > 0) or |n| random ones (n < 0)."""
    if n is None or abs(n) >= signal.shape[0]:
        return np.arange(signal.shape[0])
    if n > 0:
        return np.sort(np.argsort(-signal, kind="stable")[:n])
    return np.sort(rng.choice(signal.shape[0], size=-n, replace=False))


def _lift(chrom: np.ndarray, start: np.ndarray, end: np.ndarray, how: str) -> bytes:
    """BED3 text of the regions moved from hg19 to a crude hg38."""
    old = np.array([HG19.get(c, 1) for c in chrom], dtype=np.float64)
    new = np.array([HG38.get(c, 1) for c in chrom], dtype=np.float64)
    if how == "scale":
        s, e = np.round(start * (new / old)).astype(np.int64), np.round(end * (new / old)).astype(np.int64)
    else:
        s, e = start + (new - old).astype(np.int64), end + (new - old).astype(np.int64)
    keep = s >= 0
    table = pa.table({"c": chrom[keep], "s": s[keep], "e": e[keep]})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"))
    return sink.getvalue().to_pybytes()


if __name__ == "__main__":
    sys.exit(main())
