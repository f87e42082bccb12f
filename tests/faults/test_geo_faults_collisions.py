"""File-name collisions: whatever a file is called, each (sample, URL) gets its own local file and its own row.

A sample may list a file named like another sample's (`GSM610_peaks.bed.gz` listed by GSM61), two names may only
differ in characters the harvest makes safe (`a b` and `a_b`), a series may hold a file named like a sample's own,
a URL may spell a sample's file name with `..%2F`, and a series may list the very same file twice. Every row must
end with the bytes its own URL served, under its own sample id, with that file's sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

from geo_fault_servers import versioned
from test_geo_download import serving

from annotator.config import Config
from annotator.geo.harvest import harvest
from annotator.geo.select import unique_rows


def _peaks(mark: int) -> bytes:
    """A small gzip BED whose regions say which file it is."""
    return gzip.compress(b"".join(b"chr%d\t%d\t%d\n" % (mark, i * 1000, i * 1000 + 500) for i in range(50)), mtime=0)


def _soft(soft_dir: Path, samples: dict[str, list[str]], series_files: tuple[str, ...] = (), gse: str = "GSE1") -> None:
    lines = [f"^SERIES = {gse}", "!Series_title = collisions"] + [f"!Series_sample_id = {g}" for g in samples]
    lines += [f"!Series_supplementary_file = {url}" for url in series_files]
    for gsm, urls in samples.items():
        lines += [f"^SAMPLE = {gsm}", f"!Sample_title = sample {gsm}", "!Sample_organism_ch1 = Homo sapiens",
                  "!Sample_library_strategy = ChIP-Seq", "!Sample_data_processing = Genome_build: hg19"]  # fmt: skip
        lines += [f"!Sample_supplementary_file_{i} = {url}" for i, url in enumerate(urls, start=1)]
    soft_dir.mkdir(parents=True, exist_ok=True)
    (soft_dir / f"{gse}_family.soft").write_text("\n".join(lines) + "\n")


def _config(tmp_path: Path, **kw) -> Config:
    kw.setdefault("allow_local_urls", True)  # the SOFT lists a server on 127.0.0.1
    return Config(workdir=tmp_path / "work", soft_dir=tmp_path / "soft", download_retries=0, download_backoff_s=0.0,
                  **kw)  # fmt: skip


def _judge(rows: list[dict], work: Path, served: dict[str, bytes], tally) -> None:
    """Every downloaded row holds its own URL's bytes under its recorded sha256; ids and files are unique."""
    tally.cases += 1
    fetched = [r for r in rows if r["download_status"] == "downloaded" and r["selected"]]
    ids = Counter(r["sample_id"] for r in rows)
    tally.duplicated += sum(n - 1 for n in ids.values())
    wrong = [r["sample_id"] for r in fetched
             if (work / r["local_path"]).read_bytes() != served[r["file_url"]]
             or r["sha256"] != hashlib.sha256(served[r["file_url"]]).hexdigest()]  # fmt: skip
    tally.wrong += len(wrong)
    lost = [u for u in served if u not in {r["file_url"] for r in fetched}]
    tally.lost += len(lost)
    assert not wrong and not lost and max(ids.values()) == 1, (wrong, lost, ids)
    assert len({r["local_path"] for r in fetched}) == len(fetched)
    tally.recovered += 1


def test_a_sample_file_named_like_another_samples_never_lands_on_it(tmp_path: Path, tally) -> None:
    with serving() as server:
        served = {}
        for path, mark in (("/a/GSM610_peaks.bed.gz", 1), ("/b/GSM610_peaks.bed.gz", 2), ("/c/GSM1_a%20b.bed.gz", 3),
                           ("/d/GSM1_a_b.bed.gz", 4)):  # fmt: skip
            server.routes[path] = versioned(_peaks(mark))
            served[server.url(path)] = _peaks(mark)
        urls = list(served)
        _soft(tmp_path / "soft", {"GSM610": [urls[0]], "GSM61": [urls[1]], "GSM1": [urls[2], urls[3]]})
        for night in range(2):  # and the next night reuses each file, still right
            result = harvest(_config(tmp_path, download_workers=4), ["GSE1"])
            _judge(result.samples.to_pylist(), tmp_path / "work", served, tally)
            assert result.counts["cached"] == (4 if night else 0)


def test_two_samples_served_as_file_urls_each_get_their_own_file_and_sha(tmp_path: Path, tally) -> None:
    served = {}
    for folder, mark in (("x", 5), ("y", 6)):
        path = tmp_path / "files" / folder / "GSM70_peaks.bed.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(_peaks(mark))
        served[path.as_uri()] = _peaks(mark)
    urls = list(served)
    _soft(tmp_path / "soft", {"GSM70": [urls[0]], "GSM7": [urls[1]]})
    result = harvest(_config(tmp_path, allow_local_urls=True, download_workers=2), ["GSE1"])
    _judge(result.samples.to_pylist(), tmp_path / "work", served, tally)


def test_a_series_file_named_like_a_samples_own_gets_its_own_row_and_file(tmp_path: Path, tally) -> None:
    with serving() as server:
        served = {}
        for path, mark in (("/s/GSM1_peaks.bed.gz", 7), ("/series/GSM1_peaks.bed.gz", 8),
                           ("/t/..%2FGSM1_peaks.bed.gz", 9)):  # fmt: skip
            server.routes[path] = versioned(_peaks(mark))
            served[server.url(path)] = _peaks(mark)
        own, series_file, dotted = served
        # GSM1 lists its file twice (one row), and a `..%2F` spelling of the same name
        _soft(tmp_path / "soft", {"GSM1": [own, own, dotted], "GSM2": []}, series_files=(series_file,))
        result = harvest(_config(tmp_path, download_workers=4), ["GSE1"])
    rows = result.samples.to_pylist()
    _judge(rows, tmp_path / "work", served, tally)
    mine = [r["sample_id"] for r in rows if r["gsm"] == "GSM1"]
    assert len(mine) == 3 and "GSM1/GSM1_peaks.bed.gz" in mine  # the sample's own file keeps its plain id
    assert not list((tmp_path / "work" / "beds" / ".partial").glob("*.part"))


def test_unique_rows_keeps_the_first_id_and_drops_a_repeated_file() -> None:
    seen: dict[str, str] = {}
    rows = [{"gsm": "GSM1", "sample_id": "GSM1/a.bed", "file_url": u} for u in ("http://x/a.bed", "http://y/a.bed",
                                                                                  "http://x/a.bed")]  # fmt: skip
    new, before = unique_rows(rows, seen)
    assert new[0]["sample_id"] == "GSM1/a.bed" and len(new) == 2 and before == []
    again, before = unique_rows(rows[:1], seen)  # a SuperSeries repeating the first file
    assert again == [] and [r["sample_id"] for r in before] == ["GSM1/a.bed"]


def test_an_old_flat_workdir_reuses_intact_files_and_refetches_overwritten_ones(tmp_path: Path, tally) -> None:
    """A workdir of the flat layout where GSM61's file overwrote GSM610's: GSM610 is fetched again (right bytes),
    GSM61's intact file moves to its own path and is reused."""
    work = tmp_path / "work"
    with serving() as server:
        served = {}
        for path, mark in (("/a/GSM610_peaks.bed.gz", 1), ("/b/GSM610_peaks.bed.gz", 2)):
            server.routes[path] = versioned(_peaks(mark))
            served[server.url(path)] = _peaks(mark)
        victim, other = served
        (work / "beds").mkdir(parents=True)
        (work / "beds" / "GSM610_peaks.bed.gz").write_bytes(served[other])  # the other one's bytes won
        ledger = [{"url": u, "status": "downloaded", "local_path": "beds/GSM610_peaks.bed.gz", "size": len(b),
                   "sha256": hashlib.sha256(b).hexdigest(), "detail": "bed", "at": "2024-01-01T00:00:00+00:00",
                   "tries": 1} for u, b in served.items()]  # fmt: skip
        (work / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ledger))
        _soft(tmp_path / "soft", {"GSM610": [victim], "GSM61": [other]})
        result = harvest(_config(tmp_path), ["GSE1"])
    _judge(result.samples.to_pylist(), work, served, tally)
    assert result.counts["cached"] == 1 and result.counts["downloaded"] == 2


def test_projections_of_old_flat_files_are_made_again_and_their_vectors_replaced(tmp_path: Path, tally) -> None:
    """A flat `beds/<name>` file may have held another sample's bytes under this one's sha256 when it was
    projected: that projection, and its archived vector, are never reused."""
    import numpy as np

    from annotator.embeddings import EmbeddingArchive
    from annotator.journal import ProjectionJournal
    from annotator.project import STATUS_OK, GroupRanking, Projection

    scores = np.array([0.9, 0.1], np.float32)
    ranked = {"antibody": GroupRanking("antibody", ("H3K4me3", "H3K27me3"), scores, 0.8, True)}
    journal = ProjectionJournal(tmp_path, "d" * 64, 0.1)
    flat = ("GSM610/GSM610_peaks.bed.gz", "a" * 64)
    nested = ("GSM1/GSM1_peaks.bed.gz", "b" * 64)
    poisoned, right = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    with journal.writer() as w:
        w.add(Projection(flat[0], str(tmp_path / "beds" / "GSM610_peaks.bed.gz"), STATUS_OK, file_sha256=flat[1],
                         rankings=ranked, vector=poisoned))  # fmt: skip
        w.add(Projection(nested[0], str(tmp_path / "beds" / "GSM1" / "0123456789ab_GSM1_peaks.bed.gz"), STATUS_OK,
                         file_sha256=nested[1], rankings=ranked, vector=right))  # fmt: skip
    tally.cases += 1
    assert journal.reusable() == {nested}
    with journal.writer() as w:  # projected again, from the file at its own path
        w.add(Projection(flat[0], str(tmp_path / "beds" / "GSM610" / "0123456789ab_GSM610_peaks.bed.gz"), STATUS_OK,
                         file_sha256=flat[1], rankings=ranked, vector=right))  # fmt: skip
    assert journal.reusable() == {flat, nested}
    got = EmbeddingArchive(tmp_path, "d" * 64).read()
    vectors = dict(zip(got.sample_ids, got.vectors, strict=True))
    tally.wrong += int(not np.array_equal(vectors[flat[0]], right))
    assert np.array_equal(vectors[flat[0]], right) and len(got) == 2
    tally.recovered += 1


def test_a_series_file_named_like_a_samples_own_duplicates_no_prediction_on_later_nights(tmp_path: Path,
                                                                                           tally) -> None:  # fmt: skip
    from faultkit import KEYS
    from modelkit import planted_model

    from annotator import pipeline
    from annotator.tables import read_table

    files = tmp_path / "files"
    urls = []
    for folder, mark in (("own", 1), ("series", 2)):
        path = files / folder / "GSM1_peaks.bed.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(_peaks(mark))
        urls.append(path.as_uri())
    _soft(tmp_path / "soft", {"GSM1": [urls[0]]}, series_files=(urls[1],))
    model = planted_model(tmp_path / "model")
    config = _config(tmp_path, model=model.path, allow_local_urls=True, workers=2)
    for _ in range(2):
        result = pipeline.run(config, ["GSE1"])
        assert result.exit_code == 0
    tally.cases += 1
    for name in ("samples", "predictions"):
        rows = read_table(name, config.workdir / f"{name}.parquet").to_pylist()
        keys = Counter(tuple(r[k] for k in KEYS[name]) for r in rows)
        tally.duplicated += sum(n - 1 for n in keys.values())
        assert max(keys.values()) == 1, name
    assert len({r["sample_id"] for r in rows}) == 2  # both files projected, each under its own id
    tally.recovered += 1
