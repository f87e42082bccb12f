"""End to end: the offline demo through harvest, projection, reconciliation and report, on a synthetic model."""

import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
from modelkit import labelled_model
from typer.testing import CliRunner

from annotator import pipeline
from annotator.cli import app
from annotator.config import Config
from annotator.demo import DEMO_GSE, SAMPLES, build_demo
from annotator.errors import WorkdirLockedError
from annotator.lock import LOCK_NAME
from annotator.tables import read_table

#: Demo samples with a peak file: the ones a demo night projects.
N_PEAK_FILES = sum(1 for s in SAMPLES if s.truth)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def _flags(workdir: Path) -> dict[tuple[str, str], str]:
    rows = read_table("annotations", workdir / "annotations.parquet").to_pylist()
    return {(r["gsm"], r["group"]): r["flag"] for r in rows}


def _swapped(workdir: Path) -> dict[str, str]:
    """gsm -> the gsm of its swap partner, over the antibody rows that name one."""
    rows = read_table("annotations", workdir / "annotations.parquet").to_pylist()
    return {r["gsm"]: r["swapped_with"].split("/")[0] for r in rows if r["group"] == "antibody" and r["swapped_with"]}


def test_demo_runs_offline_and_flags_each_story(model, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = CliRunner().invoke(
        app, ["run", "--demo", "--model", str(model.path), "--workdir", str(work), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output and "annotations.parquet" in result.output
    flags = _flags(work)
    assert flags[("GSM9990001", "antibody")] == "match"
    assert flags[("GSM9990001", "cell_type")] == "match"
    assert flags[("GSM9990003", "antibody")] == "misspelling"  # "IgE H3K3me3 peaks"
    assert flags[("GSM9990004", "antibody")] == "misspelling"  # "H3K27ace"
    assert flags[("GSM9990007", "antibody")] == "missing_author_label"
    assert flags[("GSM9990008", "antibody")] == "confident_mismatch"  # says H3K4me3, data are H3K27me3
    assert flags[("GSM9990009", "antibody")] == "out_of_vocabulary"  # H3K18ac
    assert flags[("GSM9990005", "antibody")] == "near_miss"  # data between H3K27ac and H3K9ac, author H3K9ac
    assert flags[("GSM9990006", "antibody")] == "repressive_low_confidence"
    swapped = _swapped(work)  # GSM9990016 and GSM9990017 carry each other's labels; GSM9990008 is wrong alone
    assert swapped == {"GSM9990016": "GSM9990017", "GSM9990017": "GSM9990016"}
    assert flags[("GSM9990016", "antibody")] == flags[("GSM9990017", "antibody")] == "confident_mismatch"
    assert "label swaps (pairs)" in result.output
    samples = read_table("samples", work / "samples.parquet").to_pylist()
    skipped = {r["gsm"]: r["skip_reason"] for r in samples if not r["selected"]}
    assert {"GSM9990011", "GSM9990012", "GSM9990013", "GSM9990014"} <= set(skipped)
    runs = read_table("runs", work / "runs.parquet").to_pylist()
    assert runs[-1]["status"] == "ok" and runs[-1]["model_digest"] == model.digest
    assert json.loads(runs[-1]["thresholds"])["margin_threshold"] == 0.1
    assert "region sets of this report are synthetic" in (work / "report.html").read_text()
    assert not (work / LOCK_NAME).exists()
    again = CliRunner().invoke(
        app, ["run", "--demo", "--model", str(model.path), "--workdir", str(work), "--workers", "1"]
    )
    assert again.exit_code == 0, again.output
    counts = json.loads(read_table("runs", work / "runs.parquet").to_pylist()[-1]["counts"])
    assert (counts["project_projected"], counts["project_reused"]) == (0, N_PEAK_FILES)  # same bytes: none redone


def test_second_run_reuses_projections_and_gives_the_same_tables(model, tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "in", model)
    config = Config(
        workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True
    )
    first = pipeline.run(config, [DEMO_GSE])
    tables = {n: read_table(n, p) for n, p in first.tables.items() if n != "runs"}
    second = pipeline.run(config, [DEMO_GSE])
    assert first.counts["project_projected"] == N_PEAK_FILES and second.counts["project_projected"] == 0
    assert second.counts["project_reused"] == N_PEAK_FILES
    for name, table in tables.items():
        assert read_table(name, second.tables[name]).equals(table), name
    assert read_table("runs", second.tables["runs"]).num_rows == 2
    assert "synthetic" not in second.report.read_text()  # only the --demo run says so


def test_a_run_killed_mid_projection_continues_where_it_stopped(
    model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = build_demo(tmp_path / "in", model)
    config = Config(
        workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1, allow_local_urls=True
    )
    real = pipeline.project_many

    def dies_after_four(*args, **kwargs):
        for i, p in enumerate(real(*args, **kwargs)):
            if i == 4:
                raise KeyboardInterrupt  # Ctrl-C from the terminal
            yield p

    monkeypatch.setattr(pipeline, "project_many", dies_after_four)
    monkeypatch.setattr("annotator.journal.ProjectionJournal.__init__.__defaults__", (2, 3600.0))  # parts of 2
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(config, [DEMO_GSE])
    assert not (config.workdir / LOCK_NAME).exists()
    monkeypatch.setattr(pipeline, "project_many", real)
    result = pipeline.run(config, [DEMO_GSE])
    assert result.counts["project_reused"] == 4 and result.counts["project_projected"] == N_PEAK_FILES - 4
    assert result.exit_code == 0


def test_a_failed_download_is_a_row_and_exit_code_1(model, tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "in", model)
    (tmp_path / "in" / "files" / "GSM9990002_peaks.bed.gz").unlink()
    config = Config(workdir=tmp_path / "work", model=model.path, soft_dir=demo.soft_dir, workers=1,
                    allow_local_urls=True, download_retries=0)  # fmt: skip
    result = pipeline.run(config, [DEMO_GSE])
    assert result.exit_code == 1 and result.counts["failed"] == 1
    samples = read_table("samples", result.tables["samples"]).to_pylist()
    row = next(r for r in samples if r["gsm"] == "GSM9990002")
    assert row["download_status"] == "failed" and row["download_error"]
    assert _flags(config.workdir)[("GSM9990002", "antibody")] == "no_prediction"
    assert _flags(config.workdir)[("GSM9990001", "antibody")] == "match"  # the rest of the night went on
    assert read_table("runs", result.tables["runs"]).to_pylist()[-1]["status"] == "finished_with_failures"


def test_a_live_lock_refuses_a_second_run_and_a_stale_one_is_cleared(model, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    lock = work / LOCK_NAME
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}))
    config = replace(Config(), workdir=work, model=model.path, soft_dir=tmp_path, workers=1)
    with pytest.raises(WorkdirLockedError, match=f"pid {os.getpid()}"):
        pipeline.run(config, [DEMO_GSE])
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 12345, "started": 0}))  # no such pid
    demo = build_demo(tmp_path / "in", model)
    result = pipeline.run(replace(config, soft_dir=demo.soft_dir, allow_local_urls=True), [DEMO_GSE])
    assert result.exit_code == 0 and not lock.exists()


def test_cli_run_without_inputs_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "--workdir", str(tmp_path)])
    assert result.exit_code == 2 and "nothing to harvest" in result.output


def test_demo_input_is_byte_identical_whenever_it_is_built(
    model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_demo(tmp_path / "a", model)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # a later night: gzip would stamp this time
    second = build_demo(tmp_path / "b", model)
    files_a = sorted((first.soft_dir.parent / "files").iterdir())
    files_b = sorted((second.soft_dir.parent / "files").iterdir())
    assert [f.name for f in files_a] == [f.name for f in files_b] and files_a
    for a, b in zip(files_a, files_b, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_json_logs_for_log_collectors(model, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--demo",
            "--model",
            str(model.path),
            "--workdir",
            str(tmp_path / "w"),
            "-j",
            "1",
            "--log-format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(f"projecting {N_PEAK_FILES} of {N_PEAK_FILES}" in r["message"] for r in records)
    assert "\x1b[" not in result.output  # no colour codes when not on a terminal


def test_readme_demo_on_the_bundled_model_shows_every_story(tmp_path: Path) -> None:
    """The README's main command, with the default model: every demo story gets its flag."""
    result = CliRunner().invoke(app, ["run", "--demo", "--workdir", str(tmp_path / "demo"), "-j", "1"])
    assert result.exit_code == 0, result.output
    flags = set(_flags(tmp_path / "demo").values())
    expected = {"match", "misspelling", "near_miss", "repressive_low_confidence", "missing_author_label",
                "confident_mismatch", "out_of_vocabulary", "no_known_label", "low_confidence"}  # fmt: skip
    assert expected <= flags, f"missing: {expected - flags}"
    assert _swapped(tmp_path / "demo") == {"GSM9990016": "GSM9990017", "GSM9990017": "GSM9990016"}
    html = (tmp_path / "demo" / "report.html").read_text()
    assert 'data-stat="n_swap_pairs">1<' in html and "swapped with GSM9990017" in html
    assert "no known label" in html and "no label the model knows fits this file" in html  # flag and its legend
    assert "calibrated probability that its top label is right" in html  # not the margin rule of format-1 models
    assert "when its margin is at least" not in html
