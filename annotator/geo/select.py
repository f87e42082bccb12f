"""Which sample files the harvest takes, each decision written into its `samples` row (pure).

A sample gives one row per supplementary file (one row with null file columns when it lists none). A row is
selected when the sample's library strategy is one we annotate, its organism is the target genome's, the file's
genome build is the target build, and the file's name says BED-like; otherwise `skip_reason` names the first check
that failed, in that order. The content check after download can still unselect a row (`content_not_bed_like`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from annotator.errors import ConfigError
from annotator.geo.build import AMBIGUOUS, UNKNOWN, BuildCall, detect_build, organism_of_build
from annotator.geo.files import BED_LIKE_KINDS, SKIP_REASON_OF_KIND, classify_file, file_name_from_url, url_digest
from annotator.geo.soft import Sample
from annotator.labels.extract import extract_labels, identifier_columns

NO_FILE = "no_supplementary_file"
NO_SAMPLE_RECORD = "no_sample_record"
STRATEGY_NOT_SELECTED = "library_strategy_not_selected"
ORGANISM_MISMATCH = "organism_mismatch"
BUILD_AMBIGUOUS = "genome_build_ambiguous"
BUILD_UNKNOWN = "genome_build_unknown"
OTHER_BUILD = "other_genome_build"
CONTENT_NOT_BED_LIKE = "content_not_bed_like"

NOT_ATTEMPTED = "not_attempted"


def sample_rows(sample: Sample, gse: str, genome: str, strategies: Sequence[str]) -> list[dict[str, Any]]:
    """The `samples` rows of one sample: one per supplementary file, or one for a sample without files.

    Parameters
    ----------
    sample
        The parsed GEO sample.
    gse
        The series it was harvested through.
    genome
        Target build (UCSC name, e.g. 'hg19').
    strategies
        Library strategies to take (compared ignoring case and punctuation: 'chip-seq' == 'ChIP-Seq').

    Returns
    -------
    list[dict]
        Rows with every column of `annotator.schema.SAMPLES`; download columns not yet filled.
    """
    organism = organism_of_build(genome)
    if organism is None:
        raise ConfigError(f"unknown genome {genome!r}: give a UCSC build name such as hg19")
    base = _base_row(sample, gse)
    if not sample.supplementary_files:
        call = detect_build(sample)
        return [
            _identified({
                **base,
                "genome_build": call.build,
                "build_evidence": call.evidence,
                "file_kind": "none",
                "selected": False,
                "skip_reason": NO_FILE,
                "sample_id": sample.gsm,
            })
        ]  # fmt: skip
    wanted = {_strategy_key(s) for s in strategies}
    rows = []
    for url in sample.supplementary_files:
        name = file_name_from_url(url)
        kind = classify_file(name)
        call = detect_build(sample, name)
        reason = _skip_reason(sample, call, kind, genome, organism, wanted)
        rows.append(
            _identified({
                **base,
                "genome_build": call.build,
                "build_evidence": call.evidence,
                "file_url": url,
                "file_name": name,
                "file_kind": kind,
                "selected": reason is None,
                "skip_reason": reason,
                "sample_id": f"{sample.gsm}/{name}",
            })
        )  # fmt: skip
    return rows


def unique_rows(
    rows: Sequence[dict[str, Any]], seen: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One row per (sample, URL), each with its own `sample_id`: (the new rows, the rows given before).

    `seen` maps every sample id given so far to the digest of its (sample, URL) and is updated. A row repeating a
    (sample, URL) already given is dropped (its id is listed as seen before when an earlier series gave it: a
    SuperSeries repeating its SubSeries); a row whose id is taken by another URL of the sample (a series file named
    like the sample's own, a `..%2F` spelling of its name) becomes `<id>~<digest of the sample and URL>`, so the first
    file listed keeps its plain id night after night.
    """
    new: list[dict[str, Any]] = []
    before: list[dict[str, Any]] = []
    here: set[str] = set()  # ids given by these rows (new or before): a repeat among them is dropped
    for row in rows:
        digest = url_digest(row["gsm"], row.get("file_url") or "")
        sample_id = row["sample_id"]
        if sample_id in seen and seen[sample_id] != digest:
            sample_id = f"{sample_id}~{digest}"
        if sample_id in here:
            continue  # this very file again
        here.add(sample_id)
        if sample_id in seen:
            before.append({**row, "sample_id": sample_id})
            continue
        seen[sample_id] = digest
        new.append({**row, "sample_id": sample_id})
    return new, before


def missing_sample_row(gsm: str, gse: str) -> dict[str, Any]:
    """Row for a sample the series lists but whose record the SOFT text lacks (reported, never dropped)."""
    return {
        "gsm": gsm,
        "gse": gse,
        "genome_build": UNKNOWN,
        "build_evidence": "the series lists this sample but its SOFT text has no record for it",
        "file_kind": "none",
        "selected": False,
        "skip_reason": NO_SAMPLE_RECORD,
        "download_status": NOT_ATTEMPTED,
        "sample_id": gsm,
    }


def _base_row(sample: Sample, gse: str) -> dict[str, Any]:
    row = {
        "gsm": sample.gsm,
        "gse": gse,
        "title": sample.title,
        "source_name": sample.source_name,
        "organism": sample.organism,
        "library_strategy": sample.library_strategy,
        "characteristics": [{"key": k, "value": v} for k, v in sample.characteristics],
        "description": sample.description,
        "data_processing": sample.data_processing,
        "download_status": NOT_ATTEMPTED,
    }
    return row


def _identified(row: dict[str, Any]) -> dict[str, Any]:
    """The row with the standard identifiers of what the authors wrote, read with the built-in tables (no model
    needed) from the same fields reconcile reads, the file's name included."""
    return {**row, **identifier_columns(extract_labels(row, {}))}


def _skip_reason(
    sample: Sample, call: BuildCall, kind: str, genome: str, organism: str, wanted: set[str]
) -> str | None:
    if _strategy_key(sample.library_strategy or "") not in wanted:
        return STRATEGY_NOT_SELECTED
    if organism.lower() not in {o.strip().lower() for o in sample.organisms}:
        return ORGANISM_MISMATCH
    if call.build == AMBIGUOUS:
        return BUILD_AMBIGUOUS
    if call.build == UNKNOWN:
        return BUILD_UNKNOWN
    if call.build != genome:
        return OTHER_BUILD
    if kind not in BED_LIKE_KINDS:
        return SKIP_REASON_OF_KIND[kind]
    return None


def _strategy_key(strategy: str) -> str:
    return re.sub(r"[^a-z0-9]", "", strategy.lower())
