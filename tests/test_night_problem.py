"""What a night's last line, its run record and its report banner say went wrong (annotator.night_problem)."""

from __future__ import annotations

from annotator.night_problem import night_problem, without_url


def test_the_problem_names_the_most_common_cause_once_most_of_the_night_failed() -> None:
    errors = {"HTTP 404 (1 attempt)": 1, "cannot fetch: timed out (3 attempts)": 4}
    assert night_problem(selected=5, download_failed=5, download_errors=errors) == (
        "every download failed (5 of 5 selected files): cannot fetch: timed out (3 attempts)"
    )
    assert night_problem(selected=8, download_failed=5, download_errors=errors) == (
        "most downloads failed (5 of 8 selected files): cannot fetch: timed out (3 attempts)"
    )
    assert night_problem(selected=8, download_failed=4, download_errors=errors) is None  # half is not most
    assert night_problem(selected=0, download_failed=0, download_errors={}) is None  # --metadata-only
    assert night_problem(selected=6, download_failed=0, download_errors={}, projected=6, projection_failed=4) == (
        "most projections failed (4 of 6 files): see the review table's reasons"
    )
    assert night_problem(selected=6, download_failed=0, download_errors={}, error="disk full") == (
        "the night did not finish: disk full"
    )


def test_one_cause_counts_once_whatever_the_url() -> None:
    a = without_url("https://ftp.ncbi.nlm.nih.gov/geo/a.bed.gz: HTTP 404 (1 attempt)")
    b = without_url("ftp://ftp.ncbi.nlm.nih.gov/geo/b.bed.gz: HTTP 404 (1 attempt)")
    assert a == b == "HTTP 404 (1 attempt)"
    assert without_url("gave up after 3 run(s): HTTP 404") == "gave up after 3 run(s): HTTP 404"


def test_the_banner_counts_failed_projections_among_every_projected_file() -> None:
    import pyarrow as pa

    from annotator.report.summary import night_banner

    samples = pa.table({"download_status": ["downloaded"] * 7, "download_error": [None] * 7})
    counts = {"n_selected": 7, "n_download_failed": 0, "n_no_overlap": 0, "n_wrong_build": 0}
    # 3 of 7 projected files failed: not most of the night (it was read as 3 of the 4 that projected fine)
    assert night_banner(None, samples, {**counts, "n_projected": 4, "n_failed": 3}) is None
    assert night_banner(None, samples, {**counts, "n_projected": 3, "n_failed": 4}) == (
        "most projections failed (4 of 7 files): see the review table's reasons"
    )
