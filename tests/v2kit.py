"""A tiny four-source corpus laid out like ../shared/data, generated in code (for the multi-source trainer)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from annotator.model.sources import DEFAULT_SOURCES

HISTONE = ["H3K4me3", "H3K27me3", "H3K36me3"]
TFS_SHARED = ["CTCF", "REST", "MAX"]
TFS_GM = ["PAX5", "IRF4"]
TFS_DREAM = ["FOXA1", "HNF4A"]
CELLS = ["K562", "GM12878", "HepG2", "HeLa-S3"]
_CHROM_OF = {"antibody": "chr2", "cell_type": "chr3", "dnase": "chr4"}


def _peaks(rng: np.random.Generator, labels: list[tuple[str, int]], n: int, drop_chr1: bool) -> str:
    """narrowPeak text: peaks near the label's own loci (one block of 5 kb tiles per label) plus noise,
    and peaks on chr1 everywhere except in DREAM-like files."""
    lines = []
    for chrom, index in labels:
        base = 1_000_000 + index * 2_000_000
        for _ in range(n):
            start = base + int(rng.integers(0, 200)) * 5000 + int(rng.integers(0, 4000))
            lines.append((chrom, start, rng.uniform(5, 50)))
    for _ in range(n // 2):
        chrom = f"chr{int(rng.integers(5, 20))}"
        lines.append((chrom, int(rng.integers(1_000_000, 50_000_000)), rng.uniform(1, 5)))
    if not drop_chr1:
        for _ in range(n // 2):
            lines.append(("chr1", int(rng.integers(1_000_000, 100_000_000)), rng.uniform(1, 5)))
    return "".join(f"{c}\t{s}\t{s + 300}\tp\t0\t.\t{v:.2f}\t-1\t-1\t150\n" for c, s, v in lines)


def write_sources(root: Path, seed: int = 0, n: int = 150) -> Path:
    """Write the four sources under `root` (source folders as in `DEFAULT_SOURCES`) and return `root`."""
    rng = np.random.default_rng(seed)
    antibodies = HISTONE + TFS_SHARED + TFS_GM + TFS_DREAM
    plans = {
        "histone": [(a, c, "") for a in HISTONE for c in CELLS],
        "tf-gm12878": [(a, "GM12878", "TF ChIP-seq") for a in TFS_SHARED + TFS_GM for _ in range(2)],
        "tf-dream": [(a, c, "TF ChIP-seq") for a in TFS_SHARED + TFS_DREAM for c in ("K562", "HepG2")],
        "dnase": [("", c, "DNase-seq") for c in CELLS for _ in range(2)],
    }
    for source, plan in plans.items():
        folder = root / DEFAULT_SOURCES[source]
        folder.mkdir(parents=True)
        rows = ["file_name,antibody,cell_type,assay"]
        for i, (antibody, cell, assay) in enumerate(plan):
            name = f"{source}-{i}.narrowPeak.gz"
            labels = [("chr3", CELLS.index(cell))]
            labels.append(("chr2", antibodies.index(antibody)) if antibody else ("chr4", 0))
            text = _peaks(rng, labels, n, drop_chr1=source == "tf-dream")
            (folder / name).write_bytes(gzip.compress(text.encode(), mtime=0))
            rows.append(f"{name},{antibody},{cell},{assay}")
        (folder / "samples.csv").write_text("\n".join(rows) + "\n")
    return root
