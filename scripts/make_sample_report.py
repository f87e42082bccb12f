"""Generate a realistic synthetic workdir (samples, predictions, annotations, runs) and render its HTML report.

Samples and predictions are made up; the annotations come from the real reconciliation (`annotator.reconcile`),
so flags, reasons and evidence are exactly what a nightly run would write. The night has ~60 samples from a
handful of series, every flag, messy author text (odd case, typos, vendor strings, unicode, a very long title and
an XSS attempt), files that were not selected, a failed download, failed projections and a no-overlap file.

    python scripts/make_sample_report.py --workdir /tmp/demo-run
    python scripts/make_sample_report.py --workdir /tmp/demo-run --screenshot reports/report.png
    # the offline demo's own report (real projection, embeddings archive, the model's training samples):
    annotator run --demo --workdir /tmp/cur-demo
    python scripts/make_sample_report.py --from-workdir /tmp/cur-demo --screenshot reports/demo-report.png

Screenshots: `<name>.png` (summary, 1440 px), `<name>-review.png` (an open row), `<name>-matrix.png` (matrix and
calibration), `<name>-1024.png` (review table at 1,024 px) and `<name>-phone.png` (390 px, an open row).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from annotator.config import Config
from annotator.flags import Flag
from annotator.reconcile import reconcile
from annotator.report.html import render_report
from annotator.tables import to_table, write_table

ANTIBODIES = [
    "H3K4me3", "H3K27ac", "H3K4me1", "H3K36me3", "H3K27me3", "H3K9me3", "H3K9ac", "H3K79me2", "H4K20me1",
    "H2A.Z", "POLR2A",
]  # fmt: skip
CELL_TYPES = ["K562", "GM12878", "HepG2", "HeLa-S3", "H1-hESC", "A549", "MCF-7", "IMR-90", "SK-N-SH", "HUVEC"]
GROUPS = {"antibody": ANTIBODIES, "cell_type": CELL_TYPES}

# What authors write -> the label it reads as (checked against annotator.labels).
WRITTEN = {
    "antibody": [
        ("H3K4me3", "H3K4me3"), ("anti-H3K4me3 (Abcam ab8580)", "H3K4me3"), ("H3K27Ac ", "H3K27ac"),
        ("h3k4me1", "H3K4me1"), ("H3K36m3", "H3K36me3"), ("Pol II", "POLR2A"), ("H3K27me3", "H3K27me3"),
        ("H2A.Z", "H2A.Z"), ("H3K9ac", "H3K9ac"), ("H3K79me2", "H3K79me2"), ("H4K20me1", "H4K20me1"),
    ],
    "cell_type": [
        ("K562", "K562"), ("K-562 cells", "K562"), ("Hep G2", "HepG2"), ("MCF 7", "MCF-7"), ("IMR90", "IMR-90"),
        ("Hela S3", "HeLa-S3"), ("GM12878", "GM12878"), ("H1 hESC", "H1-hESC"), ("SKNSH", "SK-N-SH"),
        ("A549", "A549"), ("HUVEC", "HUVEC"),
    ],
}  # fmt: skip
TYPOS = {"antibody": [("H3K3me3", "H3K4me3"), ("H3K27ca", "H3K27ac")], "cell_type": [("GM1287", "GM12878")]}
OUT_OF_VOCAB = {"antibody": ["CTCF", "H3K18ac", "Input DNA", "BRD4"], "cell_type": ["Kasumi-1", "THP-1", "HUVECs"]}
REPRESSIVE = [("H3K9me2", "H3K9me2"), ("H3K27me3", "H3K27me3"), ("H3K9me3", "H3K9me3")]

# What a night looks like: mostly agreement, every kind of trouble present.
INTENTS = {
    "antibody": {"match": 26, "misspelling": 3, "near_miss": 3, "mismatch": 6, "repressive": 3, "low": 4,
                 "oov": 4, "missing": 4},
    "cell_type": {"match": 32, "misspelling": 2, "near_miss": 2, "mismatch": 4, "low": 3, "oov": 4, "missing": 6},
}  # fmt: skip
XSS_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
SERIES = ["GSE29611", "GSE31755", "GSE35583", "GSE51334", "GSE63525", "GSE70089", "GSE86660", "GSE99999"]
MODEL_NAME = "bedspace-hg19-encode-v1"
MODEL_DIGEST = "6f1c2a9be04d7a51c3e0f2b8d9a41e77c5b0a3f2e1d4c6b8a9f0e1d2c3b4a596"
STORED_RANKS = 5  # what `annotator project` keeps by default
FAILURES = {
    "failed": "BedFormatError: truncated gzip stream (the download was cut short; delete it and re-run)",
    "no_overlap": "no region overlaps a model tile: are the coordinates hg38?",
}


def make_workdir(workdir: Path, n_samples: int = 60, seed: int = 7) -> dict[str, int]:
    """Write the four tables of a synthetic night into `workdir`; returns the flag counts."""
    rng = random.Random(seed)
    config = Config(workdir=workdir)
    samples: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    for i in range(n_samples):
        status = "failed" if i % 23 == 5 else "no_overlap" if i % 29 == 11 else "ok"
        sample, preds = _sample(rng, i, status)
        samples.append(sample)
        predictions += preds
    samples += _unselected(rng)
    sample_table = to_table("samples", samples)
    prediction_table = to_table("predictions", predictions)
    annotations = reconcile(sample_table, prediction_table, GROUPS, config, MODEL_DIGEST)
    flags = Counter(annotations.column("flag").to_pylist())
    started = datetime(2024, 5, 14, 2, 0, tzinfo=UTC)
    counts = {
        "series": len(SERIES),
        "samples": len(samples),
        "selected": sum(s["selected"] for s in samples),
        "projected": len({p["sample_id"] for p in predictions if p["status"] == "ok"}),
        "failed": len({p["sample_id"] for p in predictions if p["status"] == "failed"}),
        "flags": {f.value: flags.get(f.value, 0) for f in Flag},
    }
    thresholds = {
        "margin_threshold": config.margin_threshold,
        "near_miss_top_k": config.near_miss_top_k,
        "antibody_fuzzy_threshold": config.antibody_fuzzy_threshold,
        "cell_type_fuzzy_threshold": config.cell_type_fuzzy_threshold,
    }
    run = {
        "run_id": "20240514T020000Z-7f3a",
        "started_at": started,
        "finished_at": started + timedelta(minutes=17, seconds=42),
        "status": "finished_with_failures",
        "exit_code": 1,
        "model_name": MODEL_NAME,
        "model_digest": MODEL_DIGEST,
        "inputs": SERIES,
        "counts": json.dumps(counts),
        "thresholds": json.dumps(thresholds),
        "config": json.dumps(config.to_dict()),
        "software_version": "0.1.0",
    }
    tables: dict[str, pa.Table] = {
        "samples": sample_table,
        "predictions": prediction_table,
        "annotations": annotations,
        "runs": to_table("runs", [run]),
    }
    for name, table in tables.items():
        write_table(name, table, workdir / f"{name}.parquet")
    return dict(flags)


def _sample(rng: random.Random, i: int, status: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One selected sample's metadata and its prediction rows."""
    gsm, gse = f"GSM{1003400 + 7 * i}", SERIES[i % len(SERIES)]
    file_name = f"{gsm}_peaks.narrowPeak.gz" if i % 4 else f"{gsm}_rep{1 + i % 2}.bed.gz"
    sample_id = f"{gsm}/{file_name}"
    texts, rankings = {}, {}
    for group in GROUPS:
        intent = rng.choices(list(INTENTS[group]), list(INTENTS[group].values()))[0]
        if i == 3 and group == "antibody":
            intent = "repressive"  # rare flags occur whatever the seed
        texts[group], rankings[group] = _author_and_ranking(rng, group, intent)
    characteristics = [
        {"key": key, "value": texts[group]}
        for group, key in (("cell_type", "cell line"), ("antibody", "chip antibody"))
        if texts[group] is not None and not (group == "antibody" and i % 5 == 0)  # then only the title names it
    ]
    characteristics.append({"key": "treatment", "value": rng.choice(["none", "DMSO 0.1%", "E2 10 nM, 45 min"])})
    title = XSS_TITLE if i == 9 else _title(rng, texts["antibody"], texts["cell_type"], i)
    download_failed = i == 17
    sample = {
        "gsm": gsm,
        "gse": gse,
        "title": title,
        "source_name": texts["cell_type"] or "cultured cells",
        "organism": "Homo sapiens",
        "library_strategy": "ChIP-Seq",
        "characteristics": characteristics,
        "description": "Peaks called with MACS2 (q < 0.01)",
        "data_processing": "Reads aligned to hg19 with bowtie2\nPeaks called with MACS2",
        "genome_build": "hg19",
        "build_evidence": "data_processing: 'aligned to hg19'",
        "file_url": f"https://ftp.ncbi.nlm.nih.gov/geo/samples/{gsm[:-3]}nnn/{gsm}/suppl/{file_name}",
        "file_name": file_name,
        "file_kind": "narrowPeak" if file_name.endswith("narrowPeak.gz") else "bed",
        "selected": True,
        "local_path": None if download_failed else f"downloads/{gse}/{file_name}",
        "file_size": None if download_failed else 400_000 + 1000 * i,
        "sha256": None if download_failed else f"{i:064x}",
        "download_status": "failed" if download_failed else "downloaded",
        "download_error": "HTTP 503 from ftp.ncbi.nlm.nih.gov after 4 tries" if download_failed else None,
        "sample_id": sample_id,
    }
    if download_failed:
        return sample, []
    return sample, _prediction_rows(rng, sample_id, f"downloads/{gse}/{file_name}", i, status, rankings)


def _author_and_ranking(rng: random.Random, group: str, intent: str) -> tuple[str | None, list[tuple[str, float]]]:
    """The author's text for one group and a model ranking that gives the intended flag."""
    vocab = GROUPS[group]
    margin = rng.uniform(0.11, 0.3)
    author_rank: int | None = None
    if intent == "match":
        text, top = rng.choice(WRITTEN[group])
        margin = rng.uniform(0.03, 0.3)  # a match need not be confident
    elif intent == "misspelling":
        text, top = rng.choice(TYPOS[group])
    elif intent in ("near_miss", "mismatch", "low"):
        text, label = rng.choice(WRITTEN[group])
        top = rng.choice([v for v in vocab if v != label])
        author_rank = 2 if intent == "near_miss" else rng.randint(3, 5) if intent == "mismatch" else rng.randint(4, 7)
        if intent != "mismatch":
            margin = rng.uniform(0.004, 0.08)
    elif intent == "repressive":
        text, label = rng.choice(REPRESSIVE)
        top = rng.choice([v for v in vocab if v != label])
        author_rank, margin = (rng.randint(4, 7) if label in vocab else None), rng.uniform(0.004, 0.08)
    elif intent == "oov":
        text, top = rng.choice(OUT_OF_VOCAB[group]), rng.choice(vocab)
    else:  # missing
        text, top = None, rng.choice(vocab)
    others = [v for v in vocab if v != top]
    rng.shuffle(others)
    if author_rank is not None:
        others.remove(label)
        others.insert(author_rank - 2, label)
    best = rng.uniform(0.38, 0.64)
    rest = sorted((rng.uniform(-0.04, best - margin - 0.002) for _ in others[1:]), reverse=True)
    scores = [best, best - margin, *rest]
    return text, list(zip([top, *others], scores, strict=True))


def _prediction_rows(
    rng: random.Random, sample_id: str, path: str, i: int, status: str, rankings: dict[str, list[tuple[str, float]]]
) -> list[dict[str, Any]]:
    n_regions = rng.randint(8_000, 90_000)
    skipped = {"unplaced_contig": rng.randint(1, 40)} if i % 5 == 1 else {}
    if i % 7 == 2:
        skipped["past_chromosome_end"] = 2
    coverage = rng.uniform(0.82, 0.99) if status == "ok" else 0.0
    head = {
        "sample_id": sample_id,
        "file": path,
        "coverage": None if status == "failed" else coverage,
        "n_regions": None if status == "failed" else n_regions,
        "n_regions_hit": None if status == "failed" else int(n_regions * coverage),
        "n_tokens": int(n_regions * coverage * 1.3) if status == "ok" else 0,
        "n_skipped": sum(skipped.values()),
        "skipped_by_reason": json.dumps(skipped),
        "status": status,
        "reason": FAILURES.get(status),
        "model_digest": MODEL_DIGEST,
    }
    if status != "ok":
        return [head]
    rows = []
    for group, ranking in rankings.items():
        margin = ranking[0][1] - ranking[1][1]
        for rank, (label, score) in enumerate(ranking[:STORED_RANKS], start=1):
            rows.append({**head, "group": group, "rank": rank, "label": label, "score": score, "margin": margin,
                         "confident": margin >= 0.1})  # fmt: skip
    return rows


def _title(rng: random.Random, antibody: str | None, cell: str | None, i: int) -> str:
    ab, ct = (antibody or "").strip(), cell or ""
    if not ab or not ct:  # the authors left something out: a terse title
        return rng.choice([f"{ab or ct} ChIP-seq rep{1 + i % 2}".strip(), f"sample {i} (lane {i % 8})"])
    patterns = [
        f"{ct}_{ab}_ChIP-seq_rep{1 + i % 2}",
        f"ChIP-seq of {ab} in {ct} (ENCODE)",
        f"{ct} {ab.lower()} ChIP rep{1 + i % 3}",
        f"{ab}_{ct}_treated_E2_45min",
        f"Ménière cohort, {ct}, {ab} — patient #{i}",
        f"{ct}-{ab}-input-normalised-peaks-MACS2-q0.01-broad-cutoff-0.1-fragment-size-estimated-run{i}",
        f'{ab} & {ct} "repeat" <lane {i % 8}>',
    ]
    return rng.choice(patterns).strip(" _-")


def _unselected(rng: random.Random) -> list[dict[str, Any]]:
    """Files the harvest listed but did not project: other builds, signal tracks, no supplementary file."""
    reasons = [("hg38", "bigwig", "genome build hg38, not hg19"), ("hg19", "bigwig", "signal track (bigWig)"),
               ("hg19", "none", "no supplementary file"), ("ambiguous", "bed", "ambiguous genome build")]  # fmt: skip
    rows = []
    for j in range(8):
        build, kind, reason = reasons[j % len(reasons)]
        gsm = f"GSM{2005000 + j}"
        name = None if kind == "none" else f"{gsm}_signal.{'bw' if kind == 'bigwig' else 'bed.gz'}"
        rows.append({"gsm": gsm, "gse": SERIES[rng.randrange(len(SERIES))], "title": f"sample {j}",
                     "organism": "Homo sapiens", "library_strategy": "ChIP-Seq", "genome_build": build,
                     "file_name": name, "file_kind": kind, "selected": False, "skip_reason": reason,
                     "download_status": "not_attempted", "sample_id": f"{gsm}/{name}"})  # fmt: skip
    return rows


def _screenshot(html: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]  # fmt: skip
    png.parent.mkdir(parents=True, exist_ok=True)

    def named(suffix: str) -> str:
        return str(png.with_name(f"{png.stem}{suffix}{png.suffix}"))

    def to(page: Any, section: str) -> None:
        page.evaluate(f"window.scrollTo(0, document.getElementById('{section}').offsetTop)")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(html.resolve().as_uri())
        page.screenshot(path=str(png))  # the summary, as a curator first sees it
        to(page, "matrix")
        page.screenshot(path=named("-matrix"))
        page.locator("tbody.item button.toggle").first.click()  # one open detail: bars, evidence, similar samples
        to(page, "review")
        page.screenshot(path=named("-review"))
        page.set_viewport_size({"width": 1024, "height": 800})
        page.locator("tbody.item button.toggle").first.click()
        to(page, "review")
        page.screenshot(path=named("-1024"))
        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(html.resolve().as_uri())
        phone.locator("tbody.item button.toggle").first.click()
        to(phone, "review")
        phone.screenshot(path=named("-phone"))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--workdir", type=Path, help="folder to write the synthetic tables and report into")
    where.add_argument("--from-workdir", type=Path, help="render the report of an existing workdir (e.g. the demo's)")
    parser.add_argument("--samples", type=int, default=60, help="number of selected samples (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--screenshot", type=Path, help="also save PNGs of the report (needs /usr/bin/chromium)")
    args = parser.parse_args()
    if args.from_workdir:
        html = render_report(args.from_workdir)
    else:
        flags = make_workdir(args.workdir, args.samples, args.seed)
        missing = [f.value for f in Flag if not flags.get(f.value)]
        print("flags:", ", ".join(f"{k}={v}" for k, v in sorted(flags.items())))
        if missing:
            print("warning: no sample got flag(s)", ", ".join(missing))
        html = render_report(args.workdir)
    print(html)
    if args.screenshot:
        _screenshot(html, args.screenshot)
        print(args.screenshot)


if __name__ == "__main__":
    main()
