"""The embeddings archive: every region-set vector a workdir has projected, per model, across nights.

```
WORKDIR/embeddings/<model digest>/part-<time>-<pid>-<sha256>.parquet   schema `embeddings` (docs/schemas.md)
WORKDIR/.cache/author-labels/part-<time>-<pid>-<sha256>.parquet       the authors' labels each night read (search)
```
Each part's name carries the SHA-256 of its bytes, checked before it is read (`annotator.parts`): a damaged part
is deleted with a warning instead of failing `search` and every later night. Its vectors are rebuilt by the next
night (the journal projects again any ok projection whose vector is missing); a damaged author-label part's labels
come back when their series is annotated again. Parts written by an older annotator, without a digest, are still
read, and deleted the same way if they cannot be.

Parts are written atomically by the projection journal just before its own part (so a projection the journal
reuses always has its vector), and a key (sample_id, file sha256) already archived is not written again: a re-run,
or a run killed between the two writes, adds no duplicate. Only a vector the journal remakes on purpose (`forget`)
is written twice, and `read` keeps the latest. Vectors are unit length, so a dot product is a cosine,
in numpy as in DuckDB (`list_dot_product(vector, ?)`).

A model whose label groups own disjoint dimensions (the bundled one: antibody labels on 11 axes, cell types on the
other 18) also gets each group's block as its own unit vector, `vector_<group>`: neighbours within one group's space
agree far more often on that group's label than neighbours over the whole vector.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.errors import SchemaError
from annotator.model.format import BedspaceModel
from annotator.parts import drop, intact_parts, write_part
from annotator.project import STATUS_OK, Projection
from annotator.schema import (
    LABEL_BLOCKS_KEY,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TABLE_NAME_KEY,
    embeddings_schema,
)

EMBEDDINGS_DIR = "embeddings"
AUTHOR_LABELS_DIR = Path(".cache") / "author-labels"
Key = tuple[str, str]  # (sample_id, file sha256 or "")
_AUTHOR_LABELS = pa.schema(
    [("sample_id", pa.string()), ("gsm", pa.string()), ("group", pa.string()), ("author_label", pa.string())]
)


def label_blocks(model: BedspaceModel) -> dict[str, list[int]]:
    """Group -> the dimensions its label vectors use, when every group owns its own dimensions; else {}."""
    blocks: dict[str, list[int]] = {}
    taken: set[int] = set()
    for group, vectors in model.label_vectors.items():
        dims = [int(d) for d in np.flatnonzero(np.any(np.abs(vectors) > 1e-6, axis=0))]
        if not dims or taken.intersection(dims):
            return {}
        taken.update(dims)
        blocks[group] = dims
    return blocks if len(blocks) > 1 else {}


@dataclass(frozen=True)
class Embeddings:
    """Vectors of one model, row i belonging to `sample_ids[i]`; `blocks` maps a group to its unit block vectors."""

    sample_ids: list[str]
    file_sha256: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit rows
    blocks: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.sample_ids)


class EmbeddingArchive:
    """The parts of one model's vectors in one workdir."""

    def __init__(
        self, workdir: str | os.PathLike[str], model_digest: str, blocks: Mapping[str, Sequence[int]] | None = None
    ) -> None:
        self.model_digest = model_digest
        self.directory = Path(workdir) / EMBEDDINGS_DIR / model_digest
        self.blocks = {g: list(d) for g, d in (blocks or {}).items()}
        self._known: set[Key] | None = None
        self._verified: set[Path] = set()

    @classmethod
    def for_model(cls, workdir: str | os.PathLike[str], model: BedspaceModel) -> EmbeddingArchive:
        return cls(workdir, model.digest, label_blocks(model))

    def parts(self) -> list[Path]:
        """The intact parts, oldest first (damaged ones are deleted with a warning; the next night rebuilds them)."""
        return intact_parts(self.directory, _ARCHIVE, legacy=True, verified=self._verified, then=_REBUILT)

    def keys(self) -> set[Key]:
        """Keys already archived (two string columns of every part: no vectors are read)."""
        out: set[Key] = set()
        for part in self.parts():
            t = _read(part, ["sample_id", "file_sha256"])
            if t is not None:
                out.update(zip(t.column(0).to_pylist(), (s or "" for s in t.column(1).to_pylist()), strict=True))
        return out

    def forget(self, keys: Iterable[Key]) -> None:
        """Let `append` archive these keys again (their vectors are being remade; `read` keeps the latest)."""
        if self._known is None:
            self._known = self.keys()
        self._known.difference_update(keys)

    def append(self, projections: Iterable[Projection]) -> int:
        """Archive the vectors of the ok projections whose key is not archived yet; returns rows written."""
        if self._known is None:
            self._known = self.keys()
        rows: dict[Key, np.ndarray] = {}
        for p in projections:
            key = (p.sample_id, p.file_sha256 or "")
            if p.status == STATUS_OK and p.vector is not None and key not in self._known:
                rows[key] = np.asarray(p.vector, dtype=np.float32)
        if not rows:
            return 0
        matrix = np.stack(list(rows.values()))
        table = self._to_table(list(rows), matrix)
        self._verified.add(write_part(self.directory, lambda tmp: pq.write_table(table, tmp, compression="zstd")))
        self._known.update(rows)
        return len(rows)

    def _to_table(self, keys: list[Key], matrix: np.ndarray) -> pa.Table:
        dim = matrix.shape[1]
        schema = embeddings_schema(dim, {g: len(d) for g, d in self.blocks.items()})
        columns: list[pa.Array] = [
            pa.array([k[0] for k in keys], pa.string()),
            pa.array([k[1] or None for k in keys], pa.string()),
            pa.array([self.model_digest] * len(keys), pa.string()),
            _fixed_list(matrix),
        ]
        columns += [_fixed_list(unit_rows(matrix[:, dims])) for dims in self.blocks.values()]
        meta = {
            SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(),
            TABLE_NAME_KEY: b"embeddings",
            LABEL_BLOCKS_KEY: json.dumps(self.blocks).encode(),
        }
        return pa.Table.from_arrays(columns, schema=schema.with_metadata(meta))

    def vectors_of(self, keys: Iterable[Key]) -> dict[Key, np.ndarray]:
        """The archived vectors of `keys` only (the latest written per key, as `read` keeps), one part at a time,
        newest first: memory grows with the keys asked for, not with the archive."""
        wanted = set(keys)
        out: dict[Key, np.ndarray] = {}
        for part in reversed(self.parts()):
            if len(out) == len(wanted):
                break
            head = _read(part, ["sample_id", "file_sha256"])  # guarded as `read`: a bad part is dropped, not fatal
            if head is None:
                continue
            found = [
                (i, key)
                for i, key in enumerate(zip(head.column(0).to_pylist(),
                                            (s or "" for s in head.column(1).to_pylist()), strict=True))
                if key in wanted and key not in out
            ]  # fmt: skip
            column = _read(part, ["vector"]) if found else None
            if column is not None:
                vectors = to_matrix(column.column(0).take([i for i, _ in found]))
                out.update((key, vectors[n]) for n, (_, key) in enumerate(found))
        return out

    def read(self) -> Embeddings:
        """Every archived vector (the latest written per key), as one float32 matrix."""
        tables: list[pa.Table] = []
        for part in self.parts():
            table = _read(part)
            if table is None:
                continue
            meta = table.schema.metadata or {}
            if meta.get(SCHEMA_VERSION_KEY, b"").decode() not in READABLE_SCHEMA_VERSIONS:
                raise SchemaError(f"{part} is not a version-{SCHEMA_VERSION} embeddings part: delete it and re-run")
            if tables and table.schema.field("vector").type != tables[0].schema.field("vector").type:
                raise SchemaError(f"{part}: vectors of another length than the rest of {self.directory}")
            tables.append(table.replace_schema_metadata(None))
        if not tables:
            return Embeddings([], [], np.zeros((0, 0), np.float32), {})
        table = pa.concat_tables(tables, promote_options="permissive")
        key = pc.binary_join_element_wise(table["sample_id"], pc.fill_null(table["file_sha256"], ""), "\x1f")
        if pc.count_distinct(key).as_py() != table.num_rows:  # a remade vector, or a part copied by hand
            latest: dict[str, int] = {}
            for i, k in enumerate(key.to_pylist()):
                latest[k] = i
            table = table.take(sorted(latest.values()))
        blocks = {
            name.removeprefix("vector_"): to_matrix(table[name])
            for name in table.column_names
            if name.startswith("vector_") and table[name].null_count == 0
        }
        shas = [s or "" for s in table["file_sha256"].to_pylist()]
        return Embeddings(table["sample_id"].to_pylist(), shas, to_matrix(table["vector"]), blocks)


_ARCHIVE = "embeddings archive"
_REBUILT = "its vectors are projected again by the next night"


def _read(part: Path, columns: list[str] | None = None, what: str = _ARCHIVE, then: str = _REBUILT) -> pa.Table | None:
    """A part's table, or None (the part deleted with a warning) when it cannot be read: an older part without a
    digest, or one damaged between its check and this read, never stops a night or a search."""
    try:
        return pq.read_table(part, columns=columns)
    except FileNotFoundError:
        return None
    except (pa.ArrowException, OSError, ValueError) as exc:
        drop(part, what, f"cannot be read ({str(exc)[:120]})", then)
        return None


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def to_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A fixed-size-list column as an (n, size) float32 matrix, without a Python loop."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    size = arr.type.list_size
    if len(arr) == 0:
        return np.zeros((0, size), np.float32)
    flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(len(arr), size)


def _fixed_list(matrix: np.ndarray) -> pa.FixedSizeListArray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def record_author_labels(workdir: str | os.PathLike[str], annotations: pa.Table) -> Path | None:
    """Keep tonight's author labels (sample_id, gsm, group, author_label) for search; one atomic part per night."""
    if annotations.num_rows == 0:
        return None
    table = annotations.select(_AUTHOR_LABELS.names).cast(_AUTHOR_LABELS)
    return write_part(Path(workdir) / AUTHOR_LABELS_DIR, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


_LABELS = "author-label cache"
_RELABELLED = "its labels come back when their series is annotated again"


def read_author_labels(workdir: str | os.PathLike[str]) -> dict[str, dict[str, str | None]]:
    """sample_id -> {group: author label} over every night recorded; the latest night wins."""
    out: dict[str, dict[str, str | None]] = {}
    for part in intact_parts(Path(workdir) / AUTHOR_LABELS_DIR, _LABELS, legacy=True, then=_RELABELLED):
        t = _read(part, ["sample_id", "group", "author_label"], _LABELS, _RELABELLED)
        if t is None:
            continue
        for sid, group, label in zip(*(c.to_pylist() for c in t.columns), strict=True):
            out.setdefault(sid, {})[group] = label
    return out
