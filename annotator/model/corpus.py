"""The edge of training: a folder of BED files and a metadata CSV -> a sample x token matrix and labels (the
bottom of corpus -> train -> evaluate; `annotator.model.run` chains them).

The metadata CSV is the one the BEDspace tooling uses: a `file_name` column (relative to the BED folder) and one
column per label group (`antibody`, `cell_type`, …). A cell holds one label; it may contain spaces or commas
(quote the cell, as any CSV writer does), and an empty cell means "no label in this group" — the set still
trains the other groups. Files are read and tokenized one at a time in worker processes; only the distinct token
ids of each file come back, so memory stays at the size of the final sparse matrix.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from annotator.errors import AnnotatorError, InputError
from annotator.progress import NULL_PROGRESS, Progress
from annotator.regions.bed import read_bed
from annotator.regions.universe import TileUniverse, Universe

log = logging.getLogger(__name__)

FILE_COLUMN = "file_name"
#: Below this many files a process pool costs more (start-up, pickling) than it saves.
_MIN_FILES_FOR_POOL = 8


@dataclass(frozen=True)
class Corpus:
    """Region sets as rows of a binary sample x universe-token matrix, with their labels per group.

    `augmented` holds extra rows made from random subsets of each file's peaks (training augmentation);
    `augmented_source[i]` is the row of `matrix` that augmented row i was drawn from.
    """

    files: tuple[str, ...]
    matrix: sp.csr_matrix  # (n_files, universe.n_tokens) float32, 1.0 where the file hits the token
    labels: dict[str, tuple[str, ...]]  # group -> one label per file ("" when missing)
    universe: Universe
    n_regions: np.ndarray = field(repr=False)  # int64 valid regions read per file
    augmented: sp.csr_matrix | None = field(default=None, repr=False)
    augmented_source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def label_names(self, group: str, rows: np.ndarray | None = None) -> tuple[str, ...]:
        """Sorted distinct non-empty labels of `group` (among `rows` when given)."""
        values = np.asarray(self.labels[group], dtype=object)
        if rows is not None:
            values = values[np.asarray(rows, dtype=np.int64)]
        return tuple(sorted({str(v) for v in values if v}))

    def label_ids(self, group: str, names: Sequence[str]) -> np.ndarray:
        """Index of each file's label in `names` (-1 when missing or not in `names`)."""
        index = {n: i for i, n in enumerate(names)}
        return np.array([index.get(v, -1) for v in self.labels[group]], dtype=np.int64)

    def subset(self, rows: np.ndarray) -> Corpus:
        """The corpus restricted to `rows` (augmented rows follow their source file)."""
        rows = np.asarray(rows, dtype=np.int64)
        new_index = np.full(len(self), -1, dtype=np.int64)
        new_index[rows] = np.arange(rows.shape[0])
        augmented, source = None, np.zeros(0, np.int64)
        if self.augmented is not None:
            keep = np.flatnonzero(new_index[self.augmented_source] >= 0)
            augmented = self.augmented[keep]
            source = new_index[self.augmented_source[keep]]
        return replace(
            self,
            files=tuple(self.files[i] for i in rows),
            matrix=self.matrix[rows],
            labels={g: tuple(v[i] for i in rows) for g, v in self.labels.items()},
            n_regions=self.n_regions[rows],
            augmented=augmented,
            augmented_source=source,
        )


def read_metadata(path: str | os.PathLike[str], label_columns: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """File names and label columns of a metadata CSV.

    Returns
    -------
    files, labels
        `file_name` values in CSV order, and group -> one stripped label per file ("" when empty).

    Raises
    ------
    InputError
        Missing file, missing `file_name` or label column, empty `file_name`, or a file listed twice.
    """
    path = Path(path)
    if not label_columns:
        raise InputError("give at least one label column (e.g. --label antibody --label cell_type)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # utf-8-sig: spreadsheet exports start with a BOM
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except OSError as exc:
        raise InputError(f"{path}: cannot read metadata CSV ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a readable CSV file: {exc}") from exc
    missing = [c for c in (FILE_COLUMN, *label_columns) if c not in columns]
    if missing:
        raise InputError(
            f"{path}: no column {', '.join(map(repr, missing))}; the CSV has {columns}. "
            f"It needs '{FILE_COLUMN}' and one column per --label"
        )
    files = [row[FILE_COLUMN] for row in rows]
    empty = [i + 2 for i, f in enumerate(files) if not f]
    if empty:
        raise InputError(f"{path}: empty {FILE_COLUMN} on line(s) {empty[:5]}")
    seen: set[str] = set()
    duplicates = sorted({f for f in files if f in seen or seen.add(f)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InputError(f"{path}: file(s) listed more than once: {duplicates[:5]}")
    return files, {g: [row[g] for row in rows] for g in label_columns}


def metadata_columns(path: str | os.PathLike[str]) -> list[str]:
    """Column names of a metadata CSV (stripped)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as fh:
            return [c.strip() for c in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read metadata CSV: {exc}") from exc


def read_corpus(
    beds: str | os.PathLike[str],
    metadata: str | os.PathLike[str],
    label_columns: Sequence[str],
    universe: Universe | None = None,
    *,
    augment: int = 0,
    augment_fraction: tuple[float, float] = (0.05, 0.5),
    seed: int = 0,
    workers: int | None = None,
    progress: Progress = NULL_PROGRESS,
) -> Corpus:
    """Read every file listed in `metadata` from folder `beds` and tokenize it over `universe`.

    Parameters
    ----------
    beds
        Folder the `file_name` entries are relative to.
    metadata
        CSV with `file_name` and the `label_columns`.
    label_columns
        Label groups to read (e.g. antibody, cell_type).
    universe
        Token universe (default: 1 kb hg19 tiles).
    augment
        Extra rows per file, each from a random subset of its peaks (0: none).
    augment_fraction
        Range the kept share of peaks is drawn from, uniformly, per augmented row.
    seed
        Seed of the peak subsets.
    workers
        Processes reading files (default: one per core; 1 reads in this process).
    progress
        Reports one step per file.

    Raises
    ------
    InputError
        Metadata problems, listed files that are missing, or files that are not BED-like (all named at once).
    """
    beds = Path(beds)
    universe = universe or TileUniverse()
    if not beds.is_dir():
        raise InputError(f"{beds}: not a directory of BED files")
    files, labels = read_metadata(metadata, label_columns)
    if not files:
        raise InputError(f"{metadata}: lists no files")
    absent = [f for f in files if not (beds / f).is_file()]
    if absent:
        raise InputError(
            f"{len(absent)} of {len(files)} files listed in {metadata} are not in {beds}: "
            f"{absent[:5]}{' …' if len(absent) > 5 else ''}"
        )
    lo, hi = augment_fraction
    if augment < 0 or not 0.0 < lo <= hi <= 1.0:
        raise InputError(f"augmentation needs a count >= 0 and 0 < low <= high <= 1, got {augment}, {augment_fraction}")
    seeds = np.random.SeedSequence(seed).spawn(len(files))  # one stream per file: same subsets whatever the order
    jobs = [(beds / f, universe, augment, augment_fraction, s) for f, s in zip(files, seeds, strict=True)]
    n_workers = workers or os.cpu_count() or 1
    results: list[_FileTokens | str] = []
    with progress.task("reading region sets", total=len(jobs)) as task:
        if n_workers > 1 and len(jobs) >= _MIN_FILES_FOR_POOL:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                for result in pool.map(_tokenize_file, jobs, chunksize=2):
                    results.append(result)
                    task.advance()
        else:
            for job in jobs:
                results.append(_tokenize_file(job))
                task.advance()
    failures = [f"{f}: {r}" for f, r in zip(files, results, strict=True) if isinstance(r, str)]
    if failures:
        raise InputError(
            f"{len(failures)} file(s) cannot be used for training; fix or remove them from "
            f"{metadata}: " + "; ".join(failures[:5])
        )
    done = [r for r in results if not isinstance(r, str)]
    matrix = _rows_to_csr([r.ids for r in done], universe.n_tokens)
    augmented, source = None, np.zeros(0, np.int64)
    if augment:
        augmented = _rows_to_csr([ids for r in done for ids in r.subsets], universe.n_tokens)
        source = np.repeat(np.arange(len(done), dtype=np.int64), augment)
    log.info(
        "read %d region sets: %d distinct tokens, %d token hits",
        len(done),
        np.unique(matrix.indices).shape[0],
        matrix.nnz,
    )
    return Corpus(
        files=tuple(files),
        matrix=matrix,
        labels={g: tuple(v) for g, v in labels.items()},
        universe=universe,
        n_regions=np.array([r.n_regions for r in done], dtype=np.int64),
        augmented=augmented,
        augmented_source=source,
    )


@dataclass(frozen=True)
class _FileTokens:
    ids: np.ndarray
    n_regions: int
    subsets: list[np.ndarray]


def _tokenize_file(job: tuple[Path, Universe, int, tuple[float, float], np.random.SeedSequence]) -> _FileTokens | str:
    """Distinct token ids of one file (and of its random peak subsets); a string is the reason it failed."""
    path, universe, augment, (lo, hi), seed = job
    try:
        regions = read_bed(path, universe.genome)
    except AnnotatorError as exc:
        return str(exc).removeprefix(f"{path}: ")
    rng = np.random.default_rng(seed)
    subsets = []
    for _ in range(augment):
        keep = rng.random(len(regions)) < rng.uniform(lo, hi)
        if not keep.any():  # a tiny file: keep one peak rather than an empty set
            keep[rng.integers(len(regions))] = True
        part = replace(regions, chrom=regions.chrom[keep], start=regions.start[keep], end=regions.end[keep])
        subsets.append(universe.tokenize(part).ids)
    return _FileTokens(universe.tokenize(regions).ids, len(regions), subsets)


def _rows_to_csr(rows: list[np.ndarray], n_cols: int) -> sp.csr_matrix:
    """Binary CSR matrix with one row per array of distinct sorted column ids."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([r.shape[0] for r in rows], out=indptr[1:])
    index_type = np.int32 if n_cols < 2**31 and indptr[-1] < 2**31 else np.int64
    indices = np.concatenate(rows).astype(index_type) if rows else np.zeros(0, index_type)
    data = np.ones(indices.shape[0], dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr.astype(index_type)), shape=(len(rows), n_cols))
