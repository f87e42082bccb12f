"""Search the region sets a workdir has archived, and the model's own training samples (the BEDspace paper's
scenario 1, label -> region sets, and scenario 3, region set -> region sets).

Exact search: every candidate's unit vector is scored with one matrix-vector product and the best `n` are picked
with `argpartition`, so the answer is the true nearest set, not an approximation (`scripts/bench_search.py` measures
the latency; `docs/search.md` says what to use beyond a million vectors).

One row per region set: copies of the same bytes (the same file sha256 — say a training file that a night also
harvested, or one file filed under two samples) are one hit that lists every copy. A training sample recorded without
its sha256 (models whose samples were added before it was kept) is the same region set as an archived sample whose
file has its name.

What a cosine means: with ``label``, it is the model's score for that label (the cosine of the region set's vector
with the label's vector, the number `annotator project` ranks); with ``bed``, the cosine of two region sets' vectors
within one label group's dimensions (1.0: the same known tiles; near 0: no tile in common).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.embeddings import EmbeddingArchive, label_blocks, read_author_labels, unit_rows
from annotator.errors import InputError
from annotator.model.format import BedspaceModel
from annotator.model.samples import read_training_samples
from annotator.project import STATUS_OK, project_file
from annotator.tables import read_columns

SOURCE_ARCHIVE, SOURCE_TRAINING = "archive", "training"
#: `--bed` compares within this group's dimensions unless told otherwise: the antibody (histone mark or TF) shapes
#: where a file's peaks lie far more than the cell type does, and it is what a query file usually asks for.
DEFAULT_BED_GROUP = "antibody"
#: `group` value that compares whole vectors (every group's dimensions).
WHOLE_VECTOR = "all"


@dataclass(frozen=True)
class Candidates:
    """Everything search can return: row i is `sample_ids[i]` from `sources[i]`, with unit `vectors[i]`."""

    sample_ids: list[str]
    sources: list[str]
    vectors: np.ndarray  # (n, dim) float32, unit rows
    author_labels: list[dict[str, str | None]]
    file_sha256: list[str] = field(default_factory=list)  # "" (or no list at all): not known

    def __len__(self) -> int:
        return len(self.sample_ids)


@dataclass(frozen=True)
class Hit:
    """One search result: a region set, with every copy of it (`copies`, this hit's own `sample_id` first)."""

    sample_id: str
    source: str
    cosine: float
    author_labels: dict[str, str | None]
    predicted_labels: dict[str, str]
    copies: tuple[tuple[str, str], ...] = ()  # (source, sample_id) of every copy of the same bytes

    @property
    def sources(self) -> list[str]:
        """The distinct sources holding this region set, this hit's own first."""
        return list(dict.fromkeys([self.source, *(source for source, _ in self.copies)]))

    def to_dict(self) -> dict[str, object]:
        copies = self.copies or ((self.source, self.sample_id),)
        return {
            "sample_id": self.sample_id,
            "source": self.source,
            "sources": self.sources,
            "copies": [{"source": source, "sample_id": sid} for source, sid in copies],
            "cosine": round(self.cosine, 6),
            "author_labels": self.author_labels,
            "predicted_labels": self.predicted_labels,
        }


def load_candidates(workdir: str | os.PathLike[str] | None, model: BedspaceModel) -> Candidates:
    """The workdir's archived vectors for `model` (none when `workdir` is None) and the model's training samples.

    Author labels of archived samples come from every night recorded in the workdir and from its current
    `annotations.parquet`; those of training samples from the model's training metadata.
    """
    ids: list[str] = []
    sources: list[str] = []
    mats: list[np.ndarray] = []
    authors: list[dict[str, str | None]] = []
    shas: list[str] = []
    if workdir is not None:
        archived = EmbeddingArchive(workdir, model.digest).read()
        if len(archived):
            labels = _workdir_author_labels(Path(workdir))
            ids += archived.sample_ids
            sources += [SOURCE_ARCHIVE] * len(archived)
            mats.append(archived.vectors)
            authors += [labels.get(s, {}) for s in archived.sample_ids]
            shas += archived.file_sha256
    training = read_training_samples(model)
    if training is not None and len(training):
        ids += training.sample_ids
        sources += [SOURCE_TRAINING] * len(training)
        mats.append(training.vectors)
        authors += training.labels
        shas += training.file_sha256 or [""] * len(training)
    vectors = np.concatenate(mats) if mats else np.zeros((0, model.dim), np.float32)
    return Candidates(ids, sources, vectors, authors, shas)


def first_copies(candidates: Candidates) -> np.ndarray:
    """Row -> the first row holding the same region set (the row itself when it is the first).

    Rows hold the same region set when their file sha256 is the same, or when a training row without a sha256 has
    the file name of an archived row (``GSM1/x.bed.gz`` and ``x.bed.gz``). Archived rows come before training rows,
    so a set's first row is the workdir's own copy when it has one. Rows are walked in Python only when some sha256
    repeats, and names compared only when some training row lacks its sha256.
    """
    n = len(candidates)
    shas = candidates.file_sha256 or [""] * n
    first = np.arange(n)
    distinct = set(shas)
    distinct.discard("")
    if len(distinct) < n - shas.count(""):  # some sha256 repeats (set and count run in C; usually none)
        seen: dict[str, int] = {}
        for i, sha in enumerate(shas):
            if sha:
                first[i] = seen.setdefault(sha, i)
    start = candidates.sources.index(SOURCE_TRAINING) if SOURCE_TRAINING in candidates.sources else n
    orphans = [i for i in range(start, n) if not shas[i]]  # training rows come last
    if orphans:
        by_name: dict[str, int] = {}
        for i in range(start):
            by_name.setdefault(candidates.sample_ids[i].rsplit("/", 1)[-1], int(first[i]))
        for i in orphans:
            first[i] = by_name.get(candidates.sample_ids[i], i)
    return first


def _workdir_author_labels(workdir: Path) -> dict[str, dict[str, str | None]]:
    labels = read_author_labels(workdir)
    current = workdir / "annotations.parquet"
    if current.is_file():
        table = read_columns("annotations", current, ["sample_id", "group", "author_label"])
        for sid, group, label in zip(*(c.to_pylist() for c in table.columns), strict=True):
            labels.setdefault(sid, {})[group] = label
    return labels


def label_query(model: BedspaceModel, label: str, group: str | None = None) -> tuple[np.ndarray, str]:
    """The unit vector of `label` and its group; a cosine with it is the model's score for that label.

    Raises
    ------
    InputError
        Unknown group or label, or a label that more than one group has and no `group` was given.
    """
    if group is not None and group not in model.groups:
        raise InputError(f"unknown label group {group!r}: model {model.name!r} has {', '.join(model.groups)}")
    groups = [group] if group is not None else list(model.groups)
    found = [g for g in groups if label in model.groups[g]]
    if not found:  # a case slip is forgiven when it names one label unambiguously
        folded = [(g, lb) for g in groups for lb in model.groups[g] if lb.casefold() == label.casefold()]
        if len(folded) == 1:
            found, label = [folded[0][0]], folded[0][1]
    if not found:
        where = f"group {group!r}" if group else "any group"
        known = sorted({lb for g in groups for lb in model.groups[g]})
        close = similar_labels(label, known)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise InputError(f"unknown label {label!r} in {where} of model {model.name!r}; {hint}(`annotator model info` "
                         f"lists its {len(known)} labels)")  # fmt: skip
    if len(found) > 1:
        raise InputError(f"label {label!r} is in groups {', '.join(found)}: choose one with --group")
    g = found[0]
    return model.unit_label_vectors[g][model.groups[g].index(label)], g


def similar_labels(label: str, known: Sequence[str], limit: int = 3) -> list[str]:
    """The known labels closest to a misspelt one, best first (at most `limit`; none when nothing is close)."""
    from rapidfuzz import fuzz, process, utils  # only on a miss: keeps the search start-up light

    matches = process.extract(label, known, scorer=fuzz.ratio, processor=utils.default_process, limit=limit,
                              score_cutoff=75)  # fmt: skip
    if not matches:
        return []
    best = matches[0][1]
    return [m[0] for m in matches if m[1] >= best - 5]  # the clear favourite alone, or a near tie


def bed_group(model: BedspaceModel, group: str | None) -> str | None:
    """The label group whose dimensions a `bed` query is compared in (None: the whole vector).

    `group` None means `DEFAULT_BED_GROUP` when the model has it in a block of its own; `WHOLE_VECTOR` means the
    whole vector.

    Raises
    ------
    InputError
        An unknown group, or one that shares its dimensions with another group.
    """
    if group == WHOLE_VECTOR:
        return None
    blocks = label_blocks(model)
    if group is None:
        return DEFAULT_BED_GROUP if DEFAULT_BED_GROUP in blocks else None
    if group not in model.groups:
        raise InputError(f"unknown label group {group!r}: model {model.name!r} has {', '.join(model.groups)} "
                         f"(or {WHOLE_VECTOR!r} for the whole vector)")  # fmt: skip
    return group if group in blocks else None


def bed_query(model: BedspaceModel, path: str | os.PathLike[str]) -> np.ndarray:
    """The unit region-set vector of a query BED file.

    Raises
    ------
    InputError
        The file is missing, unreadable, or hits no token the model knows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    p = project_file(model, path)
    if p.status != STATUS_OK or p.vector is None:
        raise InputError(f"{path}: {p.reason}")
    return p.vector


def nearest(
    candidates: Candidates,
    query: np.ndarray,
    n: int,
    dims: Sequence[int] | None = None,
    skip: np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """Row indices and cosines of the `n` candidates closest to `query`, best first (ties: lower row first).

    With `dims`, both sides are cut to those dimensions (one label group's block) and re-normalised. Rows in
    `skip` (further copies of a region set already in the running) are left out.
    """
    if len(candidates) == 0 or n <= 0:
        return []
    matrix = candidates.vectors
    q = np.asarray(query, dtype=np.float32)
    if dims is not None:
        matrix = unit_rows(matrix[:, list(dims)])
        q = q[list(dims)]
    norm = float(np.linalg.norm(q))
    scores = matrix @ (q / (norm or 1.0))
    if skip is not None and skip.size:
        scores[skip] = -np.inf
        n = min(n, scores.shape[0] - skip.size)
    return top_n(scores, n) if n > 0 else []


def top_n(scores: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The `n` best (index, score) pairs, best first; argpartition keeps it O(len(scores))."""
    n = min(n, scores.shape[0])
    part = np.argpartition(-scores, n - 1)[:n] if n < scores.shape[0] else np.arange(scores.shape[0])
    order = part[np.lexsort((part, -scores[part]))]
    return [(int(i), float(scores[i])) for i in order]


def predicted_labels(model: BedspaceModel, vectors: np.ndarray) -> list[dict[str, str]]:
    """The model's top label per group for each unit vector (one matrix product per group)."""
    if vectors.shape[0] == 0:
        return []
    best = {g: np.argmax(vectors @ model.unit_label_vectors[g].T, axis=1) for g in model.groups}
    return [{g: model.groups[g][int(best[g][i])] for g in model.groups} for i in range(vectors.shape[0])]


def to_hits(
    model: BedspaceModel,
    candidates: Candidates,
    found: Sequence[tuple[int, float]],
    copies: Mapping[int, Sequence[int]] | None = None,
) -> list[Hit]:
    """Search results with labels, in the order of `found`; `copies` maps a found row to all rows of its set.

    A set's author labels are its first copy's, with the groups it lacks filled in from the other copies.
    """
    rows = [i for i, _ in found]
    predicted = predicted_labels(model, candidates.vectors[rows])
    hits = []
    for (i, score), pred in zip(found, predicted, strict=True):
        members = list((copies or {}).get(i) or [i])
        authors = dict(candidates.author_labels[i])
        for j in members:
            for g, value in candidates.author_labels[j].items():
                if value and not authors.get(g):
                    authors[g] = value
        held = tuple((candidates.sources[j], candidates.sample_ids[j]) for j in members)
        hits.append(Hit(candidates.sample_ids[i], candidates.sources[i], score, authors, pred, held))
    return hits


def search(
    model: BedspaceModel,
    workdir: str | os.PathLike[str] | None,
    *,
    label: str | None = None,
    bed: str | os.PathLike[str] | None = None,
    group: str | None = None,
    n: int = 20,
) -> list[Hit]:
    """Region sets nearest a label (`label`, optionally within `group`) or a query file (`bed`), one per region set.

    With `bed`, files are compared within one group's block of dimensions when the model's groups own disjoint ones
    (neighbours then share that group's label far more often): `group`, by default `DEFAULT_BED_GROUP`; `group`
    `WHOLE_VECTOR` (or a model without blocks) compares whole vectors. `bed_group` says which applies.

    Raises
    ------
    InputError
        Neither or both queries, unknown label or group, unreadable query file, or nothing to search.
    """
    if (label is None) == (bed is None):
        raise InputError("give exactly one query: --label NAME or --bed FILE")
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    if workdir is not None and not Path(workdir).is_dir():
        raise InputError(f"workdir {workdir} does not exist: pass the --workdir of a run")
    if label is not None:
        query, _ = label_query(model, label, group)
        dims = None
    else:
        assert bed is not None
        space = bed_group(model, group)
        query = bed_query(model, bed)
        dims = label_blocks(model)[space] if space is not None else None
    candidates = load_candidates(workdir, model)
    if len(candidates) == 0 and workdir is None:
        raise InputError(f"model {model.name!r} ships no training samples and no workdir was given: nothing to search")
    if workdir is not None and SOURCE_ARCHIVE not in candidates.sources:
        raise InputError(
            f"workdir {workdir} has no embeddings for model {model.name!r} ({model.digest[:12]}…): run "
            "`annotator run` or `annotator project --workdir` on it first"
        )
    first = first_copies(candidates)
    later = np.flatnonzero(first != np.arange(len(candidates)))
    copies: dict[int, list[int]] = {}
    for row in later.tolist():
        copies.setdefault(int(first[row]), [int(first[row])]).append(row)
    return to_hits(model, candidates, nearest(candidates, query, n, dims, skip=later), copies)


def hit_columns(hits: Sequence[Hit], groups: Mapping[str, object]) -> list[dict[str, object]]:
    """Flat rows for tables and CSV: rank, sample_id, source, cosine, author_<group>, predicted_<group>, copies.

    `source` lists every source holding the set (``archive+training``); `copies` the other copies' sample ids.
    """
    rows = []
    for rank, h in enumerate(hits, start=1):
        others = [sid for source, sid in h.copies if (source, sid) != (h.source, h.sample_id)]
        row: dict[str, object] = {"rank": rank, "sample_id": h.sample_id, "source": "+".join(h.sources),
                                  "cosine": round(h.cosine, 6), "copies": " ".join(others)}  # fmt: skip
        row.update({f"author_{g}": h.author_labels.get(g) for g in groups})
        row.update({f"predicted_{g}": h.predicted_labels.get(g) for g in groups})
        rows.append(row)
    return rows
