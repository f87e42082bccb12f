"""The offline demo: a small synthetic GEO series with realistic messy author labels, run through the real pipeline.

Nothing here is real data. Each demo sample states what its region set *is* (the labels its regions are drawn
from) and what its authors *wrote* (title and characteristics, misspellings included). Region sets are generated
from the model's own token embeddings: tiles are drawn with probability rising with their cosine to the true labels,
so a "mixed" sample sits between two marks and a "mislabelled" one clearly belongs to another mark (two samples
of the series carry each other's labels: a swap). The series is
written as GEO SOFT text whose supplementary files are `file://` URLs, so harvest, download, projection,
reconciliation and the report all run exactly as they do on GEO, with no network.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.model.format import BedspaceModel
from annotator.project import GroupRanking, project_file

DEMO_GSE = "GSE999999"
_N_REGIONS = 4000


@dataclass(frozen=True)
class DemoSample:
    """One synthetic sample: what its data are drawn from, and what its authors wrote."""

    gsm: str
    title: str
    characteristics: tuple[str, ...]
    truth: dict[str, dict[str, float]]  # group -> label -> share of regions drawn from it ("" = random tiles)
    story: str  # what the demo shows with this sample
    strategy: str = "ChIP-Seq"
    organism: str = "Homo sapiens"
    file_name: str = "peaks.bed.gz"
    build: str = "hg19"
    tune: str | None = None  # "near_miss", "low_confidence" or "no_known_label": fit the story to the model


SAMPLES: tuple[DemoSample, ...] = (
    DemoSample("GSM9990001", "K562 H3K4me3 ChIP-seq rep1",
               ("cell line: K562", "chip antibody: H3K4me3 (Millipore 07-473)"),
               {"antibody": {"H3K4me3": 1}, "cell_type": {"K562": 1}}, "correct labels"),
    DemoSample("GSM9990002", "GM12878_H3K27ac_peaks", ("cell type: GM12878", "antibody: anti-H3K27ac (Abcam ab4729)"),
               {"antibody": {"H3K27ac": 1}, "cell_type": {"GM12878": 1}}, "correct labels, antibody catalogue text"),
    DemoSample("GSM9990003", "IgE H3K3me3 peaks", ("cell line: Hep G2", "treatment: none"),
               {"antibody": {"H3K4me3": 1}, "cell_type": {"HepG2": 1}}, "misspelt mark (H3K3me3) and cell line"),
    DemoSample("GSM9990004", "Lane1 2D H3K27ace BMI1 macs2 peaks", ("cell line: HeLa-S3",),
               {"antibody": {"H3K27ac": 1}, "cell_type": {"HeLa-S3": 1}}, "misspelt mark (H3K27ace)"),
    DemoSample("GSM9990005", "GM12878 k9ac ChIP", ("cell line: GM12878", "chip antibody: H3K9ac"),
               {"antibody": {"H3K27ac": 0.55, "H3K9ac": 0.45}, "cell_type": {"GM12878": 1}},
               "near miss: data between H3K27ac and H3K9ac", tune="near_miss"),
    DemoSample("GSM9990006", "HUVEC H3K9me2 broad domains", ("cell type: HUVEC", "histone mark: H3K9me2"),
               {"antibody": {"H3K27me3": 0.3, "H3K9me3": 0.3, "H3K36me3": 0.2, "": 0.2}, "cell_type": {"HUVEC": 1}},
               "repressive mark the model was not trained on"),
    DemoSample("GSM9990007", "K562 replicate 2 peaks", ("cell line: K562",),
               {"antibody": {"H3K36me3": 1}, "cell_type": {"K562": 1}}, "no antibody given by the authors"),
    DemoSample("GSM9990008", "HUVEC H3K4me3 ChIP-seq", ("cell type: HUVEC", "chip antibody: H3K4me3"),
               {"antibody": {"H3K27me3": 1}, "cell_type": {"HUVEC": 1}}, "possible mislabel: data look like H3K27me3"),
    DemoSample("GSM9990009", "K562 H3K18ac", ("cell line: K562", "antibody: H3K18ac"),
               {"antibody": {"H3K27ac": 1}, "cell_type": {"K562": 1}}, "mark the model was not trained on"),
    DemoSample("GSM9990010", "NHEK H3K4me1 enhancers", ("cell type: NHEK", "chip antibody: H3K4me1"),
               {"antibody": {"H3K4me1": 1}, "cell_type": {"NHEK": 1}}, "correct labels"),
    DemoSample("GSM9990011", "HepG2 input DNA", ("cell line: HepG2", "chip antibody: none"),
               {}, "input control without peak file: skipped", file_name=""),
    DemoSample("GSM9990012", "K562 RNA-seq rep1", ("cell line: K562",), {}, "RNA-seq: skipped",
               strategy="RNA-Seq", file_name="genes_FPKM.txt.gz"),
    DemoSample("GSM9990013", "mESC H3K4me3", ("cell type: E14 mESC", "chip antibody: H3K4me3"),
               {}, "mouse sample: never hg19", organism="Mus musculus", build="mm10"),
    DemoSample("GSM9990014", "A549 H3K4me3 signal", ("cell line: A549", "chip antibody: H3K4me3"),
               {}, "bigWig only: skipped", file_name="signal.bw"),
    DemoSample("GSM9990015", "H3K9me3 ChIP-seq rep2", ("chip antibody: H3K9me3",),
               {"antibody": {"H3K9me3": 1}, "cell_type": {"": 1}},
               "no cell type given and the data fit none the model knows: no known label, no default answer",
               tune="no_known_label"),
    DemoSample("GSM9990018", "HSMM H3K9ac ChIP-seq", ("cell type: HSMM", "chip antibody: H3K9ac"),
               {"antibody": {"H3K9ac": 0.4, "H3K4me3": 0.6}, "cell_type": {"HSMM": 1}},
               "low confidence: the data lean to H3K4me3, too little evidence against H3K9ac to flag it",
               tune="low_confidence"),
    DemoSample("GSM9990016", "HepG2 H3K4me3 ChIP-seq", ("cell line: HepG2", "chip antibody: H3K4me3"),
               {"antibody": {"H3K36me3": 1}, "cell_type": {"HepG2": 1}},
               "labels swapped with GSM9990017: data look like H3K36me3"),
    DemoSample("GSM9990017", "HepG2 H3K36me3 ChIP-seq", ("cell line: HepG2", "chip antibody: H3K36me3"),
               {"antibody": {"H3K4me3": 1}, "cell_type": {"HepG2": 1}},
               "labels swapped with GSM9990016: data look like H3K4me3"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoInput:
    """Where the demo series was written."""

    soft_dir: Path
    accession: str
    n_samples: int


def build_demo(directory: Path, model: BedspaceModel, seed: int = 7) -> DemoInput:
    """Write the demo series (SOFT files + supplementary files) under `directory`; deterministic for a seed."""
    files_dir = directory / "files"
    soft_dir = directory / "soft"
    files_dir.mkdir(parents=True, exist_ok=True)
    (soft_dir / DEMO_GSE).mkdir(parents=True, exist_ok=True)
    sampler = _TileSampler(model)
    gsm_blocks = []
    for i, sample in enumerate(SAMPLES):
        urls = []
        if sample.file_name:
            path = files_dir / f"{sample.gsm}_{sample.file_name}"
            _write_calibrated(path, sample, sampler, seed * 1000 + i)
            urls.append(path.resolve().as_uri())
        gsm_blocks.append(_gsm_soft(sample, urls))
    (soft_dir / DEMO_GSE / f"{DEMO_GSE}_GSM.soft").write_text("".join(gsm_blocks))
    (soft_dir / DEMO_GSE / f"{DEMO_GSE}_GSE.soft").write_text(_gse_soft())
    return DemoInput(soft_dir, DEMO_GSE, len(SAMPLES))


class _TileSampler:
    """Draws tiles whose embeddings point towards given labels (the model's own notion of each label)."""

    def __init__(self, model: BedspaceModel) -> None:
        self.model = model
        vecs = model.token_vectors.astype(np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        self.unit = vecs / np.where(norms > 0, norms, 1.0)

    def draw(self, mix: dict[str, dict[str, float]], n: int, rng: np.random.Generator) -> np.ndarray:
        """Token ids for a sample: 60 % drawn per the antibody mixture, 40 % from the cell type's typical tiles.

        Each label's pool is its most typical tiles, scored by cosine to the label plus half the cosine to the
        sample's other label, so that in a trained model the tiles carry both signals as real peaks do.
        """
        n_tokens = self.model.token_ids.shape[0]
        antibody_mix = mix.get("antibody", {})
        cell = next(iter(mix.get("cell_type", {})), "")
        main_antibody = max(antibody_mix, key=lambda k: antibody_mix[k]) if antibody_mix else ""
        plan = [("antibody", label, share * 0.6, cell) for label, share in antibody_mix.items()]
        plan.append(("cell_type", cell, 0.4, main_antibody))
        chosen = []
        for group, label, share, other in plan:
            k = round(n * share)
            if k == 0:
                continue
            if label not in self.model.groups.get(group, []):  # "" = noise, or a label this model lacks
                chosen.append(rng.integers(0, n_tokens, size=k))
                continue
            other_group = "cell_type" if group == "antibody" else "antibody"
            score = self._cosine(group, label) + 0.5 * self._cosine(other_group, other)
            size = min(4 * k, max(10, n_tokens // 20))  # the label's most typical tiles only
            pool = np.argpartition(-score, size - 1)[:size]
            chosen.append(rng.choice(pool, size=k, replace=True))
        rows = np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
        return self.model.token_ids[rows]

    def _cosine(self, group: str, label: str) -> np.ndarray | float:
        if label not in self.model.groups.get(group, []):
            return 0.0
        i = self.model.groups[group].index(label)
        v = self.model.unit_label_vectors[group][i]
        return self.unit @ v


def _write_calibrated(path: Path, sample: DemoSample, sampler: _TileSampler, seed: int) -> None:
    """Write the sample's file; for a tuned story, search the share of the first two antibody labels outwards from
    the declared mixture (±2.5 % steps) until the model shows the story (a close runner-up, or no confident label),
    so the demo holds for whatever model it runs with."""
    if sample.tune == "no_known_label":  # only a calibrated model abstains: try a few draws, keep the last
        for attempt in range(8):
            _write_supplementary(path, sample, sample.truth, sampler, np.random.default_rng([seed, attempt]))
            if _story_holds(sample.tune, sampler.model, path, sample.truth):
                return
        return
    offsets = [0.0] + [sign * 0.025 * k for k in range(1, 13) for sign in (1, -1)] if sample.tune else [0.0]
    for offset in offsets:
        mix = _shift(sample.truth, offset) if offset else sample.truth
        _write_supplementary(path, sample, mix, sampler, np.random.default_rng(seed))
        if sample.tune is None or _story_holds(sample.tune, sampler.model, path, mix):
            return


def _shift(mix: dict[str, dict[str, float]], amount: float) -> dict[str, dict[str, float]]:
    """Move `amount` of share from the first antibody label to the second (negative: the other way)."""
    first, second = list(mix["antibody"])[:2]
    antibody = dict(mix["antibody"])
    moved = float(np.clip(amount, -antibody[second], antibody[first]))
    antibody[first] -= moved
    antibody[second] += moved
    return {**mix, "antibody": antibody}


def _story_holds(tune: str, model: BedspaceModel, path: Path, mix: dict[str, dict[str, float]]) -> bool:
    rankings = project_file(model, path).rankings
    if tune == "no_known_label":
        return any(r.reason == "no_known_label" for r in rankings.values())
    ranking = rankings.get("antibody")
    if ranking is None:
        return False
    close = ranking.margin < DEFAULT_MARGIN_THRESHOLD
    first, second = list(mix["antibody"])[:2]
    if tune == "near_miss":  # the data's first label on top, the author's (second) label a close runner-up
        return close and ranking.labels[:2] == (first, second) and not _contradicted(model, ranking, second)
    # no confident label, the author's mark not on top nor a close runner-up (a near miss), and not so far off
    # that the data contradict it
    rank = ranking.labels.index(first) if first in ranking.labels else None
    far = rank is not None and rank > 0 and float(ranking.scores[0] - ranking.scores[rank]) >= DEFAULT_MARGIN_THRESHOLD
    return not ranking.confident and far and not _contradicted(model, ranking, first)


def _contradicted(model: BedspaceModel, ranking: GroupRanking, label: str) -> bool:
    """The model's verdict would flag `label` as the authors' antibody (`annotator.model.verdict`)."""
    fitted = model.verdict.get("groups", {}).get("antibody")
    if fitted is None or ranking.p_wrong is None or label not in ranking.labels:
        return False
    return bool(ranking.p_wrong[ranking.labels.index(label)] >= fitted["threshold"])


def _write_supplementary(
    path: Path, sample: DemoSample, mix: dict[str, dict[str, float]], sampler: _TileSampler, rng: np.random.Generator
) -> None:
    if not sample.truth:  # a file that is not a peak file (expression table, bigWig)
        if path.name.endswith(".bw"):
            path.write_bytes(b"\x26\xfc\x8f\x88" + bytes(64))
        else:
            path.write_bytes(gzip.compress(b"gene_id\tFPKM\nENSG00000141510\t12.5\n", mtime=0))
        return
    ids = sampler.draw(mix, _N_REGIONS, rng)
    names = sampler.model.universe.token_names(ids)
    lines = []
    for i, name in enumerate(names):
        chrom, start, end = name.rsplit("_", 2)
        s, e = int(start), int(end)
        width = e - s
        peak_start = s + int(rng.integers(0, max(1, width // 2)))
        peak_end = min(e, peak_start + int(rng.integers(150, max(151, width))))
        lines.append(f"{chrom}\t{peak_start}\t{peak_end}\tpeak_{i}\t{int(rng.integers(100, 1000))}\t.\n")
    path.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))  # no timestamp: same bytes every run


def _gsm_soft(sample: DemoSample, urls: list[str]) -> str:
    lines = [
        f"^SAMPLE = {sample.gsm}",
        f"!Sample_title = {sample.title}",
        f"!Sample_geo_accession = {sample.gsm}",
        "!Sample_status = Public on Nov 20 2026",
        f"!Sample_source_name_ch1 = {sample.characteristics[0].split(': ', 1)[-1]}",
        f"!Sample_organism_ch1 = {sample.organism}",
        *(f"!Sample_characteristics_ch1 = {c}" for c in sample.characteristics),
        f"!Sample_description = Synthetic annotator demo sample: {sample.story}.",
        "!Sample_data_processing = Reads aligned with bowtie2; peaks called with MACS2",
        f"!Sample_data_processing = Genome_build: {sample.build}",
        f"!Sample_library_strategy = {sample.strategy}",
        *(f"!Sample_supplementary_file_{i + 1} = {u}" for i, u in enumerate(urls)),
        *([] if urls else ["!Sample_supplementary_file_1 = NONE"]),
        f"!Sample_series_id = {DEMO_GSE}",
    ]
    return "\n".join(lines) + "\n"


def _gse_soft() -> str:
    lines = [
        f"^SERIES = {DEMO_GSE}",
        "!Series_title = annotator offline demo (synthetic region sets, realistic author labels)",
        f"!Series_geo_accession = {DEMO_GSE}",
        "!Series_summary = Synthetic series generated by annotator's demo; not real data.",
        *(f"!Series_sample_id = {s.gsm}" for s in SAMPLES),
    ]
    return "\n".join(lines) + "\n"
