"""A file that failed projection is reported failed every night but not projected again until its bytes change;
a failure that says nothing about the bytes (a worker killed) is tried again, a bounded number of times."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from modelkit import planted_model

from annotator import pipeline
from annotator.config import Config
from annotator.journal import MAX_FAILED_TRIES, ProjectionJournal
from annotator.project import STATUS_FAILED, Projection

GOOD = gzip.compress(b"".join(b"chr1\t%d\t%d\n" % (i * 1000, i * 1000 + 500) for i in range(10)), mtime=0)
#: a gzip cut short: its head is a fine BED (the harvest takes it), projection fails on these very bytes
_LONG = gzip.compress(b"".join(b"chr1\t%d\t%d\tpeak%d\n" % (i * 100, i * 100 + 50, i) for i in range(200_000)), mtime=0)
BAD = _LONG[: len(_LONG) // 2]


def _series(root: Path) -> Path:
    files = root / "files"
    files.mkdir(parents=True)
    lines = ["^SERIES = GSE1", "!Series_title = t", "!Series_sample_id = GSM1", "!Series_sample_id = GSM2"]
    for gsm, body in (("GSM1", GOOD), ("GSM2", BAD)):
        path = files / f"{gsm}_peaks.bed.gz"
        path.write_bytes(body)
        lines += [f"^SAMPLE = {gsm}", "!Sample_title = s", "!Sample_organism_ch1 = Homo sapiens",
                  "!Sample_library_strategy = ChIP-Seq", "!Sample_data_processing = Genome_build: hg19",
                  f"!Sample_supplementary_file_1 = {path.as_uri()}"]  # fmt: skip
    (root / "soft").mkdir()
    (root / "soft" / "GSE1_family.soft").write_text("\n".join(lines) + "\n")
    return root / "soft"


@pytest.mark.parametrize("workers", [1, 2], ids=["after the harvest", "streamed"])
def test_a_failed_projection_is_not_projected_again_every_night(tmp_path: Path, workers: int, tally) -> None:
    model = planted_model(tmp_path / "model")
    config = Config(workdir=tmp_path / "work", model=model.path, soft_dir=_series(tmp_path / "in"), workers=workers,
                    allow_local_urls=True, download_retries=0)  # fmt: skip
    first = pipeline.run(config, ["GSE1"])
    assert first.exit_code == 1  # GSM2 failed, and says so
    for _ in range(2):
        again = pipeline.run(config, ["GSE1"])
        assert again.exit_code == 1 and again.counts["project_failed"] == 1
        assert again.counts["project_projected"] == 0, again.counts  # nothing projected again
    journal = ProjectionJournal(config.workdir, model.digest, config.margin_threshold)
    tries = {key[0]: n for key, (n, _) in journal.failures().items()}
    tally.cases += 1
    tally.duplicated += sum(n - 1 for n in tries.values())
    assert tries == {"GSM2/GSM2_peaks.bed.gz": 1}
    tally.recovered += 1


def test_a_worker_failure_is_tried_again_a_bounded_number_of_times(tmp_path: Path) -> None:
    journal = ProjectionJournal(tmp_path, "d" * 64, 0.1)
    key = ("GSM1/a.bed", "a" * 64)
    final = Projection("GSM2/b.bed", "b.bed", STATUS_FAILED, reason="b.bed: not BED-like: no data lines",
                       file_sha256="b" * 64)  # fmt: skip
    for n in range(1, MAX_FAILED_TRIES + 1):
        with journal.writer() as w:
            w.add(Projection(key[0], "a.bed", STATUS_FAILED, reason="worker failed: BrokenProcessPool()",
                             file_sha256=key[1], vector=np.zeros(2, np.float32)))  # fmt: skip
            if n == 1:
                w.add(final)
        reusable = journal.reusable()
        assert ("GSM2/b.bed", "b" * 64) in reusable  # about the bytes: final at once
        assert (key in reusable) == (n >= MAX_FAILED_TRIES)


def test_a_file_over_a_size_cap_is_projected_again_once_the_cap_is_raised(tmp_path: Path) -> None:
    from annotator.regions.bed import BedLimits

    key = ("GSM1/big.bed", "c" * 64)
    small = BedLimits(max_bytes=1_000_000, max_lines=5_000)
    reason = ("big.bed: is larger than 1,000,000 bytes: too large for a peak file (a gzip bomb?); raise the "
              "max_bed_bytes setting to read it")  # the reason `annotator.regions.bed` writes, with the cap in force
    journal = ProjectionJournal(tmp_path, "d" * 64, 0.1, limits=small)
    for _ in range(MAX_FAILED_TRIES + 1):  # failed night after night with the same caps
        with journal.writer() as w:
            w.add(Projection(key[0], "big.bed", STATUS_FAILED, reason=reason, file_sha256=key[1]))
    assert key in journal.reusable()  # the same caps: not read again every night
    raised = ProjectionJournal(tmp_path, "d" * 64, 0.1, limits=BedLimits(max_bytes=10_000_000, max_lines=5_000))
    assert key not in raised.reusable()  # the cap it was over is raised: projected again, however often it failed
