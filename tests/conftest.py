"""Shared fixtures: a tiny hand-made run (all four tables) for the report tests, and a headless Chromium."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from annotator.tables import to_table, write_table

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
RAW_XSS = "H3K27ac</script><script>alert(3)</script>"  # author text that ends up in the details' JSON block
XSS_LABEL = "<svg onload=alert(4)>BRD4"  # an out-of-vocabulary author label: matrix axis, data attributes, CSV
FORMULA_TITLE = '=HYPERLINK("http://example.invalid","x")'  # a spreadsheet must not run it from the CSV
DIGEST = "d" * 64
THRESHOLDS = {"margin_threshold": 0.1, "near_miss_top_k": 3}
ANTIBODY = ["H3K4me3", "H3K27ac", "H3K27me3", "H3K36me3", "H3K9me3", "CTCF"]  # 6: one more than the bars show
CELL = ["K562", "GM12878", "HepG2"]

# sample, title, then per group: (raw, canonical, flag, ranking best first, margin); ranking None = no prediction
_RUN: list[tuple[str, str, dict[str, tuple[str | None, str | None, str, list[str] | None, float | None]]]] = [
    ("GSM1", "K562 H3K4me3 rep1", {
        "antibody": ("H3K4me3", "H3K4me3", "match", ANTIBODY, 0.25),
        "cell_type": ("K562", "K562", "match", CELL, 0.2)}),
    ("GSM2", XSS_TITLE, {
        "antibody": (RAW_XSS, "H3K27ac", "confident_mismatch", ANTIBODY, 0.15),
        "cell_type": ("K-652", "K562", "misspelling", CELL, 0.12)}),
    ("GSM3", "GM12878_H3K27me3", {
        "antibody": ("H3K27me3", "H3K27me3", "repressive_low_confidence",
                     ["H3K36me3", "H3K4me3", "H3K27ac", "H3K9me3", "CTCF", "H3K27me3"], 0.02),
        "cell_type": ("GM12878", "GM12878", "near_miss", ["HepG2", "GM12878", "K562"], 0.03)}),
    ("GSM4", "HepG2 CTCF ChIP", {
        "antibody": ("CTCF", "CTCF", "low_confidence", ["H3K4me3", "H3K27ac", "H3K27me3", "H3K36me3", "H3K9me3",
                                                         "CTCF"], 0.05),
        "cell_type": ("HepG2", "HepG2", "match", ["HepG2", "K562", "GM12878"], 0.3)}),
    ("GSM5", "BRD4 in HeLa", {
        "antibody": (XSS_LABEL, XSS_LABEL, "out_of_vocabulary", ANTIBODY, 0.2),
        "cell_type": ("HeLa", "HeLa", "out_of_vocabulary", CELL, 0.01)}),
    ("GSM6", FORMULA_TITLE, {
        "antibody": (None, None, "missing_author_label", ANTIBODY, 0.11),
        "cell_type": (None, None, "missing_author_label", CELL, 0.04)}),
    ("GSM7", "broken file", {
        "antibody": ("H3K4me3", "H3K4me3", "no_prediction", None, None),
        "cell_type": ("K562", "K562", "no_prediction", None, None)}),
]  # fmt: skip


def _ranking(labels: list[str], margin: float, best: float) -> list[tuple[str, float]]:
    """Scores best first: `best`, then `margin` below it, then steps of 1/32."""
    second = best - margin
    return [(labels[0], best), *((label, second - k / 32) for k, label in enumerate(labels[1:]))]


def report_tables() -> dict[str, pa.Table]:
    """The four tables of a tiny run: 7 projected-or-failed samples x 2 groups, every flag, and 2 unselected."""
    samples, predictions, annotations = [], [], []
    for i, (gsm, title, groups) in enumerate(_RUN):
        sample_id = f"{gsm}/{gsm}_peaks.bed.gz"
        failed = all(g[3] is None for g in groups.values())
        samples.append(
            {"gsm": gsm, "gse": "GSE100" if i < 4 else "GSE200", "title": title, "selected": True,
             "sample_id": sample_id, "file_name": f"{gsm}_peaks.bed.gz", "file_kind": "bed",
             "download_status": "downloaded", "genome_build": "hg19",
             "characteristics": [{"key": "cell line", "value": groups["cell_type"][0] or ""}]}
        )  # fmt: skip
        stats = {
            "sample_id": sample_id, "file": f"downloads/{sample_id}", "status": "failed" if failed else "ok",
            "reason": "truncated gzip" if failed else None, "coverage": None if failed else 0.75,
            "n_regions": None if failed else 1000 + i, "n_regions_hit": None if failed else 750 + i,
            "n_tokens": 0 if failed else 900, "n_skipped": 3, "skipped_by_reason": json.dumps({"unplaced_contig": 3}),
            "model_digest": DIGEST,
        }  # fmt: skip
        if failed:
            predictions.append(stats)
        for group, (raw, canonical, flag, labels, margin) in groups.items():
            ranking = _ranking(labels, margin, 0.25 + i / 32) if labels is not None and margin is not None else []
            for rank, (label, score) in enumerate(ranking, start=1):
                predictions.append({**stats, "group": group, "rank": rank, "label": label, "score": score,
                                    "margin": margin, "confident": margin is not None and margin >= 0.1})  # fmt: skip
            scores = dict(ranking)
            ranked = [label for label, _ in ranking]
            author = {"source": "characteristics:cell line", "raw": raw, "canonical": canonical, "method": "exact",
                      "score": 100.0, "candidates": ["K562"] if flag == "misspelling" else [],
                      "readings": [{"source": "title", "canonical": canonical, "raw": raw, "method": "exact",
                                    "score": 100.0}] * 2}  # fmt: skip
            evidence = {"thresholds": THRESHOLDS, "author": author if raw else None,
                        "top": [{"label": lb, "score": sc} for lb, sc in ranking[:5]]}  # fmt: skip
            annotations.append(
                {"sample_id": sample_id, "gsm": gsm, "gse": samples[-1]["gse"], "title": title, "group": group,
                 "author_label_raw": raw, "author_label": canonical,
                 "author_source": "characteristics:cell line" if raw else None,
                 "author_method": "fuzzy" if flag == "misspelling" else "exact" if raw else None,
                 "author_label_score": 100.0 if raw else None, "author_label_kind": "none" if raw is None else "x",
                 "predicted_label": ranked[0] if ranked else None, "predicted_score": ranking[0][1] if ranked else None,
                 "margin": margin, "confident": None if margin is None else margin >= 0.1,
                 "author_rank": ranked.index(canonical) + 1 if canonical in scores else None,
                 "author_score": scores.get(canonical or ""), "flag": flag,
                 "reason": f"{flag} because of <b>{gsm}</b>",
                 "evidence": "not json {" if gsm == "GSM6" else json.dumps(evidence), "model_digest": DIGEST}
            )  # fmt: skip
    for j, reason in enumerate(["genome build hg38, not hg19", "signal track (bigWig)"]):
        samples.append(
            {"gsm": f"GSM9{j}", "gse": "GSE200", "selected": False, "skip_reason": reason,
             "sample_id": f"GSM9{j}/x.bw", "download_status": "not_attempted"}
        )  # fmt: skip
    runs = [
        {"run_id": "old", "started_at": datetime(2024, 1, 1, tzinfo=UTC), "status": "ok",
         "thresholds": json.dumps({"margin_threshold": 0.5})},
        {"run_id": "20240514T020000Z-ab12", "started_at": datetime(2024, 5, 14, 2, tzinfo=UTC),
         "finished_at": datetime(2024, 5, 14, 2, 17, tzinfo=UTC), "status": "finished_with_failures",
         "exit_code": 1, "model_name": "tiny-model", "model_digest": DIGEST, "inputs": ["GSE100", "GSE200"],
         "counts": json.dumps({"samples": 9}), "thresholds": json.dumps(THRESHOLDS), "software_version": "0.1.0"},
    ]  # fmt: skip
    return {
        "samples": to_table("samples", samples),
        "predictions": to_table("predictions", predictions),
        "annotations": to_table("annotations", annotations),
        "runs": to_table("runs", runs),
    }


def write_report_workdir(path: Path, *, predictions: bool = True, runs: bool = True) -> Path:
    """Write `report_tables()` into `path` as a workdir, optionally without predictions and/or runs."""
    for name, table in report_tables().items():
        if (name == "predictions" and not predictions) or (name == "runs" and not runs):
            continue
        write_table(name, table, path / f"{name}.parquet")
    return path


@pytest.fixture
def report_workdir(tmp_path: Path) -> Path:
    """A workdir holding the tiny run's four tables."""
    return write_report_workdir(tmp_path / "work")


@pytest.fixture(scope="session")
def make_report_workdir() -> Callable[..., Path]:
    """`write_report_workdir`, for module-scoped fixtures and tests that need a variant of the run."""
    return write_report_workdir


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module (a launch costs seconds on a 2-core machine).

    Skips only when /usr/bin/chromium is absent and CI is unset; in CI a missing browser fails loudly, so the
    browser tests can never be skipped there by accident.
    """
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing but CI is set: install Debian's 'chromium' package", pytrace=False)
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _annotator_logger_restored() -> Iterator[None]:
    """A CLI run configures the `annotator` logger (own handler, no propagation), also inside module-scoped fixtures:
    every test starts and ends with the library default (propagating, no handler) so caplog sees its records."""
    _reset_annotator_logger()
    yield
    _reset_annotator_logger()


def _reset_annotator_logger() -> None:
    logger = logging.getLogger("annotator")
    logger.propagate, logger.handlers[:] = True, []
    logger.setLevel(logging.NOTSET)
