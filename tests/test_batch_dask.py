"""The Dask executor gives exactly what the local executors give (a real LocalCluster, worker processes)."""

from pathlib import Path

import pytest
from modelkit import labelled_model, write_bed

from annotator.batch import Job, project_many
from annotator.errors import ConfigError
from annotator.project import to_predictions_table

distributed = pytest.importorskip("distributed")


def test_dask_local_cluster_matches_in_process_projection(tmp_path: Path) -> None:
    model = labelled_model(tmp_path)
    jobs = [Job(f"s{i}", write_bed(tmp_path / f"s{i}.bed.gz", [("chr1", 1000 * i, 1000 * i + 60_000)]))
            for i in range(5)]  # fmt: skip
    jobs.append(Job("bad", tmp_path / "missing.bed"))
    local = to_predictions_table(project_many(jobs, model.path, workers=1), model.digest)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = to_predictions_table(
            project_many(jobs, model.path, scheduler=cluster.scheduler_address), model.digest
        )
    assert on_dask.equals(local)
    assert on_dask.column("status").to_pylist()[-1] == "failed"


def test_unreachable_scheduler_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("annotator.batch.DASK_CONNECT_TIMEOUT", "1s")
    model = labelled_model(tmp_path)
    job = Job("s", write_bed(tmp_path / "s.bed", [("chr1", 0, 100)]))
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        list(project_many([job], model.path, scheduler="tcp://127.0.0.1:9"))
