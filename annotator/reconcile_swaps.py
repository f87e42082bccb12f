"""Label swaps in a reconciled night: find them across the whole night and mark both samples of each pair.

Reconcile works in chunks of samples, and a series' samples may lie in different chunks, so swaps are found after
every chunk is written: `SwapCandidates` keeps, per chunk, the few light fields of the rows that could be half of a
swap (an author label in the model's vocabulary that is not already the model's top label); `find_night_swaps`
scores those samples' labels from their archived region-set vectors (`annotator.embeddings`: every label's cosine
with the antibody block of the vector, which the predictions table does not store) and calls
`annotator.swaps.find_swaps`;
`apply_swaps` rewrites the annotations one row group at a time, flagging both samples `confident_mismatch` with a
reason naming the partner and the partner's sample id in `swapped_with`. Memory: a few strings per candidate row
and one vector per candidate sample in a series that holds two different candidate labels.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.embeddings import EmbeddingArchive
from annotator.flags import Flag
from annotator.swaps import block_scores, find_swaps
from annotator.tables import TableWriter, to_table

log = logging.getLogger(__name__)

#: Groups checked for swaps: the threshold was chosen on held-out antibody labels (`scripts/bench_swaps.py`).
SWAP_GROUPS = ("antibody",)
#: Flags whose author label cannot be half of a swap: none in the vocabulary, or it is the model's top label.
_NOT_CANDIDATES = [Flag.MATCH, Flag.MISSPELLING, Flag.NO_PREDICTION, Flag.OUT_OF_VOCABULARY, Flag.MISSING_AUTHOR_LABEL]
RowKey = tuple[str, str]  # (sample_id, group)


@dataclass
class SwapCandidates:
    """Rows that could be half of a swap, gathered chunk by chunk (sample, series, group, label, file sha256)."""

    sample_id: list[str] = field(default_factory=list)
    gsm: list[str | None] = field(default_factory=list)
    gse: list[str] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)

    def add(self, annotations: pa.Table, sha256_of: Mapping[str, str | None], groups: Sequence[str]) -> None:
        """Keep the candidate rows of one chunk's annotations; `sha256_of` maps its sample ids to file digests."""
        keep = pc.and_(
            pc.and_(pc.is_in(annotations["group"], pa.array(list(groups), pa.string())),
                    pc.invert(pc.is_in(annotations["flag"], pa.array([f.value for f in _NOT_CANDIDATES])))),
            pc.and_(pc.is_valid(annotations["author_label"]), pc.is_valid(annotations["gse"])),
        )  # fmt: skip
        rows = annotations.filter(pc.fill_null(keep, False)).select(["sample_id", "gsm", "gse", "group",
                                                                      "author_label"])  # fmt: skip
        for sid, gsm, gse, group, label in zip(*(c.to_pylist() for c in rows.columns), strict=True):
            self.sample_id.append(sid)
            self.gsm.append(gsm)
            self.gse.append(gse)
            self.group.append(group)
            self.label.append(label)
            self.sha256.append(sha256_of.get(sid) or "")

    def __len__(self) -> int:
        return len(self.sample_id)


@dataclass(frozen=True)
class SwapNote:
    """What one sample's row says about its swap."""

    partner: str  # partner's sample id
    reason: str
    evidence: dict[str, Any]


def find_night_swaps(
    candidates: SwapCandidates,
    label_vectors: Mapping[str, np.ndarray],
    vocabularies: Mapping[str, Sequence[str]],
    archive: EmbeddingArchive,
    min_gain: float,
) -> dict[RowKey, SwapNote]:
    """Swap pairs among the candidates, per group: (sample id, group) -> the note for that row."""
    notes: dict[RowKey, SwapNote] = {}
    for group in dict.fromkeys(candidates.group):
        vocabulary = list(vocabularies.get(group, ()))
        index = {label: i for i, label in enumerate(vocabulary)}
        rows = [i for i, g in enumerate(candidates.group) if g == group and candidates.label[i] in index]
        rows = _in_mixed_series(rows, candidates)
        if not rows:
            continue
        keys = [(candidates.sample_id[i], candidates.sha256[i]) for i in rows]
        vectors = archive.vectors_of(keys)
        rows = [i for i, key in zip(rows, keys, strict=True) if key in vectors]
        if len(rows) < len(keys):
            log.info("swap check, %s: %d candidate samples have no archived vector", group, len(keys) - len(rows))
        if len(rows) < 2:
            continue
        matrix = np.stack([vectors[(candidates.sample_id[i], candidates.sha256[i])] for i in rows])
        scores = block_scores(matrix, label_vectors[group])
        labels = np.array([index[candidates.label[i]] for i in rows])
        series = [candidates.gse[i] for i in rows]
        for pair in find_swaps(series, labels, scores, min_gain):
            a, b = rows[pair.first], rows[pair.second]
            notes.update(_notes(candidates, group, a, b, pair.gain_first, pair.gain_second, min_gain,
                                scores[[pair.first, pair.second]], labels[[pair.first, pair.second]]))  # fmt: skip
    return notes


def _in_mixed_series(rows: list[int], c: SwapCandidates) -> list[int]:
    """The rows whose series holds at least two different candidate labels (no other row can be in a pair)."""
    labels: dict[str, set[str]] = {}
    for i in rows:
        labels.setdefault(c.gse[i], set()).add(c.label[i])
    return [i for i in rows if len(labels[c.gse[i]]) > 1]


def _notes(
    c: SwapCandidates, group: str, a: int, b: int, gain_a: float, gain_b: float, min_gain: float,
    scores: np.ndarray, labels: np.ndarray,
) -> dict[RowKey, SwapNote]:  # fmt: skip
    name_a, name_b = c.gsm[a] or c.sample_id[a], c.gsm[b] or c.sample_id[b]
    la, lb = c.label[a], c.label[b]
    reason = (
        f"labels of {name_a} and {name_b} look swapped: {name_a} (labelled {la}) fits {lb} {gain_a:.2f} better "
        f"than {la}, and {name_b} (labelled {lb}) fits {la} {gain_b:.2f} better than {lb} (each >= {min_gain:g})"
    )
    out = {}
    for me, other, gain, other_gain, row in ((a, b, gain_a, gain_b, 0), (b, a, gain_b, gain_a, 1)):
        evidence = {
            "partner": c.sample_id[other], "partner_gsm": c.gsm[other], "series": c.gse[me],
            "label": c.label[me], "partner_label": c.label[other],
            "label_score": round(float(scores[row, labels[row]]), 4),
            "partner_label_score": round(float(scores[row, labels[1 - row]]), 4),
            "gain": round(gain, 4), "partner_gain": round(other_gain, 4), "min_gain": min_gain,
            "scores": "cosine of the group's block of the region-set vector",
        }  # fmt: skip
        out[(c.sample_id[me], group)] = SwapNote(c.sample_id[other], reason, evidence)
    return out


def apply_swaps(path: Path, notes: Mapping[RowKey, SwapNote]) -> Counter[str]:
    """Rewrite the annotations at `path`, one row group at a time, marking the rows of `notes`; returns the change
    in rows per flag (the old flags minus, `confident_mismatch` plus)."""
    change: Counter[str] = Counter()
    if not notes:
        return change
    with pq.ParquetFile(path) as pf, TableWriter("annotations", path) as writer:
        for i in range(pf.num_row_groups):
            table = pf.read_row_group(i)
            keys = zip(table["sample_id"].to_pylist(), table["group"].to_pylist(), strict=True)
            if not any(k in notes for k in keys):
                writer.write(table)
                continue
            rows = table.to_pylist()
            for row in rows:
                note = notes.get((row["sample_id"], row["group"]))
                if note is None:
                    continue
                change[row["flag"]] -= 1
                change[Flag.CONFIDENT_MISMATCH.value] += 1
                evidence = json.loads(row["evidence"] or "{}")
                evidence["swap"] = {**note.evidence, "flag_before": row["flag"], "reason_before": row["reason"]}
                row.update(flag=Flag.CONFIDENT_MISMATCH.value, reason=note.reason, swapped_with=note.partner,
                           evidence=json.dumps(evidence, ensure_ascii=False, separators=(",", ":")))  # fmt: skip
            writer.write(to_table("annotations", rows))
    return change
