"""The BEDspace model format: a directory with `model.json` and NumPy weight files.

```
model.json          format + version, genome, universe spec and digest, dim, label groups, training, metrics,
                    sha256 of every weight file, and the model digest
token_ids.npy       sorted universe token ids that have a vector (int32/int64)
token_vectors.npy   (n_tokens, dim) float16 or float32 — float16 is enough for storage; maths runs in float32
label_vectors.npy   (n_labels, dim) float32, the groups' labels stacked in the order of `groups`
reference_vectors.npy  (n_refs, dim) float16, only with a verdict: the training files projected by the model, the
                    references of `annotator.model.verdict` (their labels are in model.json's `verdict`)
reference_tiles.npy    (n_refs, ceil(n_tokens / 8)) uint8, only with a verdict: packed bits, which of the model's
                    tokens (rows of token_vectors) each reference hits
universe.bed.gz     only for BED universes
```
Loading recomputes every sha256 and refuses a model whose files or universe do not match what `model.json` says,
or whose format version this code does not read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import ModelError, UniverseError
from annotator.hashing import sha256_of
from annotator.regions.universe import BedUniverse, KnownTokens, Universe, universe_from_spec

log = logging.getLogger(__name__)

FORMAT_NAME = "annotator-bedspace"
FORMAT_VERSION = 2
#: Versions this code reads: version 1 has no calibration (confidence falls back to the margin rule).
READABLE_VERSIONS = (1, 2)
BUNDLED_MODEL_NAME = "encode-hg19-v2"
MODEL_CARD = "README.md"
_WEIGHT_FILES = ("token_ids.npy", "token_vectors.npy", "label_vectors.npy")
REFERENCE_FILE = "reference_vectors.npy"
REFERENCE_TILES = "reference_tiles.npy"


@dataclass(frozen=True)
class BedspaceModel:
    """Token and label embeddings over one universe; labels are ranked only within their group."""

    name: str
    universe: Universe
    token_ids: np.ndarray
    token_vectors: np.ndarray
    groups: dict[str, list[str]]
    label_vectors: dict[str, np.ndarray]
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)  # group -> calibrated confidence (calibrate.py)
    #: {"groups": {group: fitted verdict (verdict.py)}, "references": {group: label of each reference row}}
    verdict: dict[str, Any] = field(default_factory=dict)
    reference_vectors: np.ndarray | None = None  # (n_refs, dim), only with a verdict
    reference_tiles: np.ndarray | None = None  # (n_refs, ceil(n_tokens / 8)) packed bits, only with a verdict
    digest: str = ""
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.token_vectors.ndim != 2 or self.token_vectors.shape[0] != self.token_ids.shape[0]:
            raise ModelError(
                f"model {self.name!r}: {self.token_ids.shape[0]} token ids but token vectors of shape "
                f"{self.token_vectors.shape}"
            )
        if self.token_ids.size and (self.token_ids.min() < 0 or self.token_ids.max() >= self.universe.n_tokens):
            raise ModelError(f"model {self.name!r}: token ids outside its universe of {self.universe.n_tokens}")
        if np.any(np.diff(self.token_ids) <= 0):
            raise ModelError(f"model {self.name!r}: token ids must be sorted and unique")
        refs = self.verdict.get("references") or {}
        n_refs = None if self.reference_vectors is None else self.reference_vectors.shape
        tiles = None if self.reference_tiles is None else self.reference_tiles.shape
        if self.verdict and (n_refs is None or n_refs[1:] != (self.dim,) or tiles is None
                             or tiles != (n_refs[0], (self.token_ids.shape[0] + 7) // 8)
                             or any(len(v) != n_refs[0] for v in refs.values())):  # fmt: skip
            raise ModelError(f"model {self.name!r}: a verdict needs one reference vector and tile set per reference "
                             "label")  # fmt: skip
        for group, labels in self.groups.items():
            vecs = self.label_vectors.get(group)
            if vecs is None or vecs.shape != (len(labels), self.dim):
                raise ModelError(f"model {self.name!r}: group {group!r} has {len(labels)} labels but vectors "
                                 f"of shape {None if vecs is None else vecs.shape}")  # fmt: skip

    @property
    def dim(self) -> int:
        return int(self.token_vectors.shape[1])

    @cached_property
    def row_of_token(self) -> np.ndarray:
        """Universe token id -> row of `token_vectors`, -1 for tokens the model has no vector for."""
        rows = np.full(self.universe.n_tokens, -1, dtype=np.int32)
        rows[self.token_ids] = np.arange(self.token_ids.shape[0], dtype=np.int32)
        return rows

    @cached_property
    def known_tokens(self) -> KnownTokens:
        """Tokens the model has a vector for, as a mask over the universe with prefix counts."""
        return KnownTokens.from_mask(self.row_of_token >= 0)

    @cached_property
    def group_blocks(self) -> dict[str, np.ndarray]:
        """Per group, the dimensions its label vectors use (all dimensions for a model without blocks)."""
        return {g: np.flatnonzero(np.abs(v).sum(axis=0) > 0) for g, v in self.label_vectors.items()}

    @cached_property
    def token_blocks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The token vectors split by the groups' disjoint blocks of dimensions, for summing only non-zero parts.

        A trained model writes each group's block only for the tokens that group kept, so a token is zero outside
        one or two blocks. Per block: (dims, compact vectors of the tokens non-zero there, token row -> compact
        row or -1). Groups whose blocks overlap (imported models) give one block of every dimension.
        """
        blocks = list(self.group_blocks.values())
        used = np.concatenate(blocks) if blocks else np.zeros(0, np.int64)
        if np.unique(used).shape[0] != used.shape[0] or used.shape[0] != self.dim:
            blocks = [np.arange(self.dim)]
        out = []
        for dims in blocks:
            part = np.ascontiguousarray(self.token_vectors[:, dims])
            rows = np.flatnonzero(np.any(part != 0, axis=1))
            index = np.full(self.token_vectors.shape[0], -1, dtype=np.int32)
            index[rows] = np.arange(rows.shape[0], dtype=np.int32)
            out.append((dims, part[rows], index))
        return out

    @cached_property
    def unit_label_vectors(self) -> dict[str, np.ndarray]:
        """Label vectors scaled to unit length (float32), so a dot product is a cosine."""
        out = {}
        for group, vecs in self.label_vectors.items():
            v = vecs.astype(np.float32)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            out[group] = v / np.where(norms > 0, norms, 1.0)
        return out


    @cached_property
    def verdict_label_ids(self) -> dict[str, np.ndarray]:
        """Per group with a verdict: each reference's label index in the group's vocabulary (-1: none)."""
        if self.reference_vectors is None:
            return {}
        references = self.verdict.get("references", {})
        return {g: reference_label_ids(references.get(g) or [], self.groups[g]) for g in self.verdict.get("groups", {})}

    @cached_property
    def reference_tiles_by_row(self) -> tuple[Any, np.ndarray]:
        """(token row x reference CSR, 1 where the reference hits the token; tokens per reference)."""
        if self.reference_tiles is None:
            raise ModelError(f"model {self.name!r} has no reference tiles")
        by_row = unpack_tiles(self.reference_tiles, self.token_ids.shape[0])
        return by_row, np.asarray(by_row.sum(axis=0)).ravel()


def bundled_model_path() -> Path:
    """Directory of the model shipped with the package (installed or editable)."""
    return Path(str(resources.files("annotator.bundled_models") / BUNDLED_MODEL_NAME))


def load_model(path: str | os.PathLike[str] | None = None) -> BedspaceModel:
    """Load a model directory, verifying format version and every digest.

    Parameters
    ----------
    path
        Model directory; None loads the bundled default model.

    Raises
    ------
    ModelError
        Missing directory or file, unsupported format version, or a digest mismatch.
    """
    directory = Path(path) if path is not None else bundled_model_path()
    meta_path = directory / "model.json"
    if not meta_path.is_file():
        hint = " (the bundled model is missing: reinstall annotator)" if path is None else ""
        raise ModelError(f"{directory}: not a model directory, no model.json{hint}")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{meta_path}: not valid JSON: {exc}") from exc
    if meta.get("format") != FORMAT_NAME:
        raise ModelError(f"{meta_path}: not an annotator BEDspace model (format {meta.get('format')!r})")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise ModelError(
            f"{meta_path}: format version {meta.get('format_version')!r}, this annotator reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: upgrade annotator or re-export the model"
        )
    for fname, expected in meta.get("files", {}).items():
        fpath = directory / fname
        if not fpath.is_file():
            raise ModelError(f"{directory}: {fname} is missing")
        actual = sha256_of(fpath)
        if actual != expected:
            raise ModelError(f"{fpath}: sha256 {actual[:12]}… does not match model.json ({expected[:12]}…): "
                             "the file is corrupt or was changed")  # fmt: skip
    try:
        universe = universe_from_spec(meta["universe"], directory)
    except (UniverseError, KeyError) as exc:
        raise ModelError(f"{meta_path}: bad universe: {exc}") from exc
    if universe.digest != meta.get("universe_digest"):
        raise ModelError(f"{meta_path}: universe digest does not match the universe it describes")
    token_ids = np.load(directory / "token_ids.npy").astype(np.int64)
    # widened once here: numpy converts float16 slowly, and projection sums these rows for every file
    token_vectors = np.load(directory / "token_vectors.npy").astype(np.float32)
    label_matrix = np.load(directory / "label_vectors.npy").astype(np.float32)
    groups = {g: list(labels) for g, labels in meta["groups"].items()}
    verdict = meta.get("verdict") or {}
    references, reference_tiles = None, None
    if verdict:
        if REFERENCE_FILE not in meta.get("files", {}):
            raise ModelError(f"{meta_path}: the model has a verdict but lists no {REFERENCE_FILE}")
        if REFERENCE_TILES not in meta.get("files", {}):
            raise ModelError(f"{meta_path}: the model has a verdict but lists no {REFERENCE_TILES}")
        references = np.load(directory / REFERENCE_FILE, allow_pickle=False).astype(np.float32)
        reference_tiles = np.load(directory / REFERENCE_TILES, allow_pickle=False)
    label_vectors, row = {}, 0
    for group, labels in groups.items():
        label_vectors[group] = label_matrix[row : row + len(labels)]
        row += len(labels)
    if row != label_matrix.shape[0]:
        raise ModelError(f"{meta_path}: {row} labels in groups but {label_matrix.shape[0]} label vectors")
    model = BedspaceModel(
        name=meta.get("name", directory.name),
        universe=universe,
        token_ids=token_ids,
        token_vectors=token_vectors,
        groups=groups,
        label_vectors=label_vectors,
        training=meta.get("training", {}),
        metrics=meta.get("metrics", {}),
        calibration=meta.get("calibration") or {},
        verdict=verdict,
        reference_vectors=references,
        reference_tiles=reference_tiles,
        digest=meta["digest"],
        path=directory,
    )
    if _model_digest(meta) != model.digest:
        raise ModelError(f"{meta_path}: model digest does not match its contents")
    return model


def save_model(model: BedspaceModel, path: str | os.PathLike[str], *, dtype: str = "float16") -> BedspaceModel:
    """Write `model` to directory `path` (replacing it atomically) and return it with its digest filled in.

    A model card (`README.md`) already in `path` is kept.

    `dtype` is the storage type of token vectors: "float16" halves the size at no measurable cost in ranking.
    """
    if dtype not in ("float16", "float32"):
        raise ModelError(f"storage dtype must be float16 or float32, got {dtype!r}")
    directory = check_model_destination(path)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model is shared by everyone who runs annotator
    try:
        id_dtype = np.int32 if model.universe.n_tokens < 2**31 else np.int64
        np.save(tmp / "token_ids.npy", model.token_ids.astype(id_dtype))
        np.save(tmp / "token_vectors.npy", model.token_vectors.astype(dtype))
        stacked = [model.label_vectors[g].astype(np.float32) for g in model.groups]
        np.save(tmp / "label_vectors.npy", np.concatenate(stacked) if stacked else np.zeros((0, model.dim)))
        files = {f: sha256_of(tmp / f) for f in _WEIGHT_FILES}
        if model.verdict and model.reference_vectors is not None:
            np.save(tmp / REFERENCE_FILE, model.reference_vectors.astype(np.float16))
            files[REFERENCE_FILE] = sha256_of(tmp / REFERENCE_FILE)
            np.save(tmp / REFERENCE_TILES, np.asarray(model.reference_tiles, dtype=np.uint8))
            files[REFERENCE_TILES] = sha256_of(tmp / REFERENCE_TILES)
        if isinstance(model.universe, BedUniverse):
            model.universe.write_bed(tmp / "universe.bed.gz")
            files["universe.bed.gz"] = sha256_of(tmp / "universe.bed.gz")
        meta: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": model.name,
            "genome": model.universe.genome.name,
            "universe": model.universe.spec(),
            "universe_digest": model.universe.digest,
            "dim": model.dim,
            "n_tokens": int(model.token_ids.shape[0]),
            "token_dtype": dtype,
            "groups": model.groups,
            "training": model.training,
            "metrics": model.metrics,
            "calibration": model.calibration,
            "files": files,
        }
        if model.verdict:
            meta["verdict"] = model.verdict
        meta["digest"] = _model_digest(meta)
        (tmp / "model.json").write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        card = directory / MODEL_CARD
        if card.is_file():  # hand-written prose: kept, with a warning that its numbers may now be stale
            shutil.copy2(card, tmp / MODEL_CARD)
            log.warning("kept the model card %s: check that its numbers match the new model.json", card)
        _swap_in(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return replace(model, digest=meta["digest"], path=directory)


def check_model_destination(path: str | os.PathLike[str]) -> Path:
    """The absolute model directory `path`, when writing a model there deletes nothing annotator did not create.

    Allowed: a path that does not exist, an empty directory, or an annotator model directory holding only model
    files (and its card). Anything else (`--out .`, a folder with a thesis in it) is refused.

    Raises
    ------
    ModelError
        The destination is a file or a directory holding anything but a model.
    """
    directory = Path(os.path.abspath(path))
    if not directory.exists() and not directory.is_symlink():
        return directory
    if not directory.is_dir() or directory.is_symlink():
        raise ModelError(f"{directory} is not a model directory: refusing to replace it; choose another --out")
    entries = {p.name for p in directory.iterdir()}
    if not entries:
        return directory
    # the training samples (`annotator.model.samples`) are an optional part of a model directory too
    ours = {"model.json", MODEL_CARD, "universe.bed.gz", REFERENCE_FILE, REFERENCE_TILES, "training_vectors.npy",
            "training_samples.json", *_WEIGHT_FILES}  # fmt: skip
    foreign = sorted(entries - ours)
    try:
        is_model = json.loads((directory / "model.json").read_text()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        is_model = False
    if not is_model or foreign:
        what = f"holds {', '.join(foreign[:3])}{' …' if len(foreign) > 3 else ''}" if foreign else "has no model.json"
        raise ModelError(
            f"{directory} is not an annotator model directory ({what}): refusing to replace it, "
            "choose a new or empty --out folder"
        )
    return directory


def _swap_in(new: Path, directory: Path) -> None:
    """Put `new` in place of `directory` (checked by `check_model_destination`), then delete the old one."""
    if not directory.exists():
        os.replace(new, directory)
        return
    old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
    os.replace(directory, old)
    try:
        os.replace(new, directory)
    except BaseException:
        os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _model_digest(meta: dict[str, Any]) -> str:
    """Digest of what determines predictions: universe, groups, weights and (version 2) the calibration."""
    keys = ["format_version", "universe_digest", "groups", "dim", "files"]
    if meta.get("format_version", 1) >= 2:
        keys.append("calibration")
    if meta.get("verdict"):  # absent from models without one: their digest is unchanged
        keys.append("verdict")
    core = {k: meta.get(k) for k in keys}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def pack_tiles(sets: Any) -> np.ndarray:
    """Binary tile sets (R, T) as packed bits (R, ceil(T / 8)) uint8: the storage of ``reference_tiles.npy``."""
    import scipy.sparse as sp

    return np.packbits(np.asarray(sp.csr_matrix(sets).todense()) != 0, axis=1)


def unpack_tiles(packed: np.ndarray, n_tiles: int) -> Any:
    """Inverse of `pack_tiles`, transposed for lookups by tile: (T, R) float32 CSR."""
    import scipy.sparse as sp

    dense = np.unpackbits(packed, axis=1, count=n_tiles).astype(bool)
    return sp.csr_matrix(dense.T, dtype=np.float32)


def reference_label_ids(reference_labels: Sequence[str | None], vocabulary: Sequence[str]) -> np.ndarray:
    """Index of each reference's label in `vocabulary` (-1 when it has none there)."""
    index = {label: i for i, label in enumerate(vocabulary)}
    return np.array([index.get(label, -1) if label else -1 for label in reference_labels], dtype=np.int64)
