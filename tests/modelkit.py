"""Tiny BEDspace models and BED files built in code, shared by the tests (no ../shared data needed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from annotator.model.format import BedspaceModel, save_model
from annotator.regions.universe import TileUniverse

WIDTH = 1000


def planted_model(tmp_path: Path, dim: int = 8, name: str = "tiny") -> BedspaceModel:
    """A model whose tiles chr1:0-10 kb point at H3K4me3/K562 and chr2:0-10 kb at H3K27me3/HepG2.

    Label vectors are the unit axes 0..3, so a region set on chr1's first 10 tiles scores exactly 1.0 for H3K4me3.
    """
    universe = TileUniverse(WIDTH)
    chr2 = int(universe.offsets[1])
    token_ids = np.array([*range(10), *range(chr2, chr2 + 10)], dtype=np.int64)
    vectors = np.zeros((20, dim), dtype=np.float32)
    vectors[:10, 0] = 1.0  # H3K4me3 axis
    vectors[:10, 2] = 1.0  # K562 axis
    vectors[10:, 1] = 1.0  # H3K27me3 axis
    vectors[10:, 3] = 1.0  # HepG2 axis
    eye = np.eye(dim, dtype=np.float32)
    model = BedspaceModel(
        name=name,
        universe=universe,
        token_ids=token_ids,
        token_vectors=vectors,
        groups={"antibody": ["H3K4me3", "H3K27me3"], "cell_type": ["K562", "HepG2"]},
        label_vectors={"antibody": eye[[0, 1]], "cell_type": eye[[2, 3]]},
        training={"method": "planted"},
    )
    return save_model(model, tmp_path / name, dtype="float32")


def write_bed(path: Path, rows: list[tuple[str, int, int]], gz: bool | None = None) -> Path:
    """BED3 file from rows; gzip when the name ends in .gz (or `gz` says so)."""
    text = "".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows)
    if gz if gz is not None else path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


ANTIBODIES = ["H3K4me3", "H3K27ac", "H3K9ac", "H3K4me1", "H3K27me3", "H3K9me3", "H3K36me3"]
CELL_TYPES = ["K562", "GM12878", "HepG2", "HeLa-S3", "HUVEC", "NHEK"]


def labelled_model(tmp_path: Path, tiles_per_label: int = 60, seed: int = 0) -> BedspaceModel:
    """A model with the demo's vocabulary: each antibody owns a block of chr1 tiles, each cell type one of chr2.

    Token vectors are the owner's axis plus a little noise, label vectors the axes: so a region set drawn from a
    label's tiles is predicted as that label, and mixtures give small margins, as with a trained model.
    """
    rng = np.random.default_rng(seed)
    universe = TileUniverse(WIDTH)
    dim = len(ANTIBODIES) + len(CELL_TYPES)
    ab_ids = np.arange(len(ANTIBODIES) * tiles_per_label, dtype=np.int64)
    ct_ids = int(universe.offsets[1]) + np.arange(len(CELL_TYPES) * tiles_per_label, dtype=np.int64)
    token_ids = np.concatenate([ab_ids, ct_ids])
    ab_owner = np.repeat(np.arange(len(ANTIBODIES)), tiles_per_label)
    ct_owner = len(ANTIBODIES) + np.repeat(np.arange(len(CELL_TYPES)), tiles_per_label)
    owner = np.concatenate([ab_owner, ct_owner])
    vectors = np.eye(dim, dtype=np.float32)[owner] + rng.normal(0, 0.05, (token_ids.size, dim)).astype(np.float32)
    eye = np.eye(dim, dtype=np.float32)
    model = BedspaceModel(
        name="labelled",
        universe=universe,
        token_ids=token_ids,
        token_vectors=vectors,
        groups={"antibody": list(ANTIBODIES), "cell_type": list(CELL_TYPES)},
        label_vectors={"antibody": eye[: len(ANTIBODIES)], "cell_type": eye[len(ANTIBODIES) :]},
        training={"method": "synthetic"},
    )
    return save_model(model, tmp_path / "labelled", dtype="float32")
