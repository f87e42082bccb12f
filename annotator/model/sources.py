"""Several labelled corpora ("sources") read once into token matrices per GEO-like condition and tile width.

A source is a folder of scored peak files with a `samples.csv` (`file_name`, `antibody`, `cell_type`, optionally
`assay`). Every file is read once; each condition of `annotator.model.conditions` and each tile width gives one
binary file x token row. Labels are read into three groups:

* `antibody` — the target as written (HGNC symbols for TFs, histone-mark names); empty for DNase-seq files, which
  have no antibody and therefore never train or score the antibody group;
* `cell_type` — as written;
* `assay` — `DNase-seq` when the CSV says so, else `ChIP-seq` (the CSVs write "TF ChIP-seq" or nothing).

**Masked chromosomes.** The ENCODE-DREAM files lack chr1, chr8, chr21 and chrY (held out by the challenge). If
tokens there had vectors, "no peak on chr1" would be learned as a property of the DREAM TFs. Tokens on
`MASKED_CHROMS` are therefore removed from every file of every source, in training and in scoring, and the bundled
model has no vector there: a user file's peaks on those chromosomes are simply not counted.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from annotator.errors import InputError
from annotator.model.conditions import CONDITIONS, apply_condition, read_peaks
from annotator.regions.genome import HG19
from annotator.regions.universe import TileUniverse

MASKED_CHROMS = ("chr1", "chr8", "chr21", "chrY")
GROUPS = ("antibody", "cell_type", "assay")
ASSAY_CHIP, ASSAY_DNASE = "ChIP-seq", "DNase-seq"
#: The four corpora of ../shared/data, by source name.
DEFAULT_SOURCES = {
    "histone": "encode-broad-histone-hg19",
    "tf-gm12878": "encode-uniform-tfbs-gm12878",
    "tf-dream": "encode-dream-tf",
    "dnase": "encode-uniform-dnase",
}


@dataclass(frozen=True)
class SourceCorpus:
    """Files of several sources; `matrices[(condition, width)]` is (n_files, n_tiles(width)) binary CSR."""

    files: tuple[str, ...]
    sources: np.ndarray  # (n_files,) source name per file
    labels: dict[str, np.ndarray]  # group -> (n_files,) label string ("" = none)
    file_format: np.ndarray  # narrowPeak / broadPeak …
    n_peaks: np.ndarray
    matrices: dict[tuple[str, int], sp.csr_matrix]

    def __len__(self) -> int:
        return len(self.files)

    def matrix(self, condition: str, widths: Sequence[int]) -> sp.csr_matrix:
        """One condition's rows, the tile widths' columns side by side (multi-scale tokens)."""
        return sp.hstack([self.matrices[(condition, w)] for w in widths]).tocsr()


def masked_tile_mask(width: int) -> np.ndarray:
    """Boolean over the tiles of `width`: True for tiles on `MASKED_CHROMS`."""
    universe = TileUniverse(width)
    mask = np.zeros(universe.n_tokens, dtype=bool)
    code_of = HG19.code_of()
    for chrom in MASKED_CHROMS:
        c = code_of[chrom]
        mask[universe.offsets[c] : universe.offsets[c + 1]] = True
    return mask


def read_source_labels(folder: Path, source: str) -> list[dict[str, str]]:
    """Rows of a source's samples.csv with the three label groups normalised."""
    path = folder / "samples.csv"
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    out = []
    for row in rows:
        assay = ASSAY_DNASE if (row.get("assay") or "").strip() == ASSAY_DNASE else ASSAY_CHIP
        antibody = "" if assay == ASSAY_DNASE else (row.get("antibody") or "").strip()
        out.append({"file_name": row["file_name"].strip(), "source": source, "antibody": antibody,
                    "cell_type": (row.get("cell_type") or "").strip(), "assay": assay})  # fmt: skip
    return out


def read_sources(
    root: Path, sources: dict[str, str] | None = None, widths: Sequence[int] = (5000,), seed: int = 0,
    workers: int = 2,
) -> SourceCorpus:  # fmt: skip
    """Read every file of every source under `root` into token rows per condition and width."""
    sources = sources or DEFAULT_SOURCES
    rows = [r for name, folder in sources.items() for r in read_source_labels(root / folder, name)]
    paths = [root / sources[r["source"]] / r["file_name"] for r in rows]
    jobs = [(p, tuple(widths), seed) for p in paths]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_tokenize_conditions, jobs, chunksize=4))
    else:
        results = [_tokenize_conditions(j) for j in jobs]
    matrices = {}
    for width in widths:
        n_cols = TileUniverse(width).n_tokens
        for condition in CONDITIONS:
            matrices[(condition, width)] = _rows_to_csr([r[0][(condition, width)] for r in results], n_cols)
    return SourceCorpus(
        files=tuple(r["file_name"] for r in rows),
        sources=np.array([r["source"] for r in rows]),
        labels={g: np.array([r[g] for r in rows]) for g in GROUPS},
        file_format=np.array([r[1] for r in results]),
        n_peaks=np.array([r[2] for r in results], dtype=np.int64),
        matrices=matrices,
    )


def _tokenize_conditions(job: tuple[Path, tuple[int, ...], int]) -> tuple[dict[tuple[str, int], np.ndarray], str, int]:
    path, widths, seed = job
    peaks = read_peaks(path)
    out = {}
    for width in widths:
        universe, masked = TileUniverse(width), masked_tile_mask(width)
        for condition in CONDITIONS:
            ids = universe.tokenize(apply_condition(peaks, condition, seed)).ids
            out[(condition, width)] = ids[~masked[ids]]
    return out, peaks.file_format, len(peaks.regions)


def _rows_to_csr(rows: list[np.ndarray], n_cols: int) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum([r.shape[0] for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    return sp.csr_matrix((np.ones(indices.shape[0], np.float32), indices, indptr), shape=(len(rows), n_cols))


def save_cache(corpus: SourceCorpus, path: Path) -> None:
    """Write the corpus to one `.npz` (matrices as CSR arrays) for repeated studies."""
    arrays: dict[str, np.ndarray] = {}
    for (condition, width), m in corpus.matrices.items():
        for part in ("indptr", "indices"):
            arrays[f"{condition}@{width}@{part}"] = getattr(m, part)
    meta = {"files": list(corpus.files), "shape": {f"{c}@{w}": list(m.shape) for (c, w), m in corpus.matrices.items()}}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays["sources"], arrays["file_format"], arrays["n_peaks"] = corpus.sources, corpus.file_format, corpus.n_peaks
    for g, v in corpus.labels.items():
        arrays[f"label_{g}"] = v
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_cache(path: Path) -> SourceCorpus:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        matrices = {}
        for key, shape in meta["shape"].items():
            condition, width = key.split("@")
            indptr, indices = z[f"{key}@indptr"], z[f"{key}@indices"]
            data = np.ones(indices.shape[0], np.float32)
            matrices[(condition, int(width))] = sp.csr_matrix((data, indices, indptr), shape=tuple(shape))
        return SourceCorpus(
            files=tuple(meta["files"]),
            sources=z["sources"],
            labels={g: z[f"label_{g}"] for g in GROUPS},
            file_format=z["file_format"],
            n_peaks=z["n_peaks"],
            matrices=matrices,
        )
