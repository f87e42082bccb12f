"""The report's view model: counts, the Fig. 5B shares, urgency order and per-sample details (no rendering)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from conftest import report_tables

from annotator.flags import Flag
from annotator.report.view import build_view, geo_url, group_title

ANTIBODY_TOP5 = ["H3K4me3", "H3K27ac", "H3K27me3", "H3K36me3", "H3K9me3"]


@pytest.fixture
def tables() -> dict[str, pa.Table]:
    return report_tables()


def _detail(view: dict, gsm: str) -> dict:
    return view["details"][f"{gsm}/{gsm}_peaks.bed.gz"]


def test_summary_counts_come_from_the_tables(tables: dict[str, pa.Table]) -> None:
    s = build_view(**tables)["summary"]
    assert s["n_gsm"] == 9 and s["n_series"] == 2 and s["n_files"] == 9
    assert s["n_selected"] == 7
    assert (s["n_projected"], s["n_failed"], s["n_no_overlap"]) == (6, 1, 0)
    assert s["n_reviewed"] == 7 and s["n_rows"] == 14
    assert s["n_flagged"] == 6  # every sample but GSM1 has a flag other than match


def test_summary_counts_files_on_another_genome_build_apart_from_failures(tables: dict[str, pa.Table]) -> None:
    predictions = tables["predictions"]
    status = pa.array([("wrong_build" if s == "failed" else s) for s in predictions["status"].to_pylist()])
    index = predictions.schema.get_field_index("status")
    tables["predictions"] = predictions.set_column(index, predictions.schema.field(index), status)
    s = build_view(**tables)["summary"]
    assert (s["n_projected"], s["n_wrong_build"], s["n_failed"], s["n_no_overlap"]) == (6, 1, 0, 0)
    assert build_view(**report_tables())["summary"]["n_wrong_build"] == 0


def test_assay_rows_reach_the_review_table_only_when_a_curator_has_something_to_do(
    tables: dict[str, pa.Table],
) -> None:
    cell = [r for r in tables["annotations"].to_pylist() if r["group"] == "cell_type"]
    flags = {0: "confident_mismatch", 1: "out_of_vocabulary"}  # the rest: match, or no_prediction when not projected
    assay = [
        {**r, "group": "assay", "flag": "no_prediction" if r["flag"] == "no_prediction" else flags.get(i, "match")}
        for i, r in enumerate(cell)
    ]
    schema = tables["annotations"].schema
    tables["annotations"] = pa.concat_tables([tables["annotations"], pa.Table.from_pylist(assay, schema)])
    view = build_view(**tables)
    listed = [(r["group"], r["flag"]) for r in view["rows"] if r["group"] == "assay"]
    assert sorted(listed) == [("assay", "confident_mismatch"), ("assay", "out_of_vocabulary")]
    s = view["summary"]
    assert s["n_rows"] == 21 and s["n_rows_shown"] == 16 and s["n_rows_quiet"] == 5 and not s["rows_cut"]
    assert {f["flag"]: f["by_group"]["assay"] for f in view["flags"]}["match"] == 4  # still counted
    room = build_view(**tables, max_rows=16)  # room for every row to review: quiet rows do not take it
    assert len(room["rows"]) == 16 and not room["summary"]["rows_cut"]
    cut = build_view(**tables, max_rows=10)
    assert len(cut["rows"]) == 10 and cut["summary"]["rows_cut"]


def test_flag_counts_list_every_flag_in_urgency_order(tables: dict[str, pa.Table]) -> None:
    flags = build_view(**tables)["flags"]
    assert [f["flag"] for f in flags] == [f.value for f in Flag]
    by_flag = {f["flag"]: f for f in flags}
    assert by_flag["match"]["total"] == 3 and by_flag["match"]["by_group"] == {"antibody": 1, "cell_type": 2}
    assert by_flag["out_of_vocabulary"]["total"] == 2
    assert sum(f["total"] for f in flags) == 14
    assert by_flag["match"]["width"] == 100.0  # the biggest count fills the chart


def test_agreement_follows_the_fig5b_definition(tables: dict[str, pa.Table]) -> None:
    agreement = {a["group"]: a for a in build_view(**tables)["agreement"]}
    ab, ct = agreement["antibody"], agreement["cell_type"]
    # antibody: GSM1-4 map (match, mismatch, repressive, low); BRD4 (oov), missing and no_prediction do not
    assert (ab["n"], ab["n_mappable"], ab["n_match"]) == (7, 4, 1)
    assert ab["share_mappable"] == pytest.approx(4 / 7) and ab["share_agree"] == pytest.approx(1 / 4)
    # cell type: match, misspelling, near miss, match map; a misspelling is not agreement unless asked
    assert (ct["n_mappable"], ct["n_match"], ct["n_misspelling"]) == (4, 2, 1)
    assert ct["share_agree"] == pytest.approx(0.5)
    assert ct["share_agree_incl_misspelling"] == pytest.approx(0.75)
    widths = [seg["width"] for seg in ct["segments"]]
    assert sum(widths) == pytest.approx(100.0, abs=0.05)
    assert [seg["x"] for seg in ct["segments"]][1] == widths[0]  # segments are stacked end to end


def test_agreement_of_a_group_without_mappable_labels_is_none_not_a_crash(tables: dict[str, pa.Table]) -> None:
    ann = tables["annotations"]
    ann = ann.set_column(ann.schema.get_field_index("flag"), "flag", pa.array(["no_prediction"] * ann.num_rows))
    agreement = build_view(tables["samples"], ann)["agreement"][0]
    assert agreement["n_mappable"] == 0 and agreement["share_agree"] is None


def test_rows_are_most_urgent_first_and_link_to_geo(tables: dict[str, pa.Table]) -> None:
    rows = build_view(**tables)["rows"]
    urgencies = [r["urgency"] for r in rows]
    assert urgencies == sorted(urgencies)
    assert rows[0]["flag"] == "confident_mismatch" and rows[-1]["flag"] == "match"
    assert rows[0]["geo_url"] == "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSM2"
    assert len({r["key"] for r in rows}) == len(rows)
    assert {r["sample_id"] for r in rows} == set(build_view(**tables)["details"])  # every row has its detail


def test_detail_shows_top_five_per_group_and_the_author_label_ranked_below(tables: dict[str, pa.Table]) -> None:
    detail = _detail(build_view(**tables), "GSM4")
    antibody = next(g for g in detail["rankings"] if g["group"] == "antibody")
    bars = antibody["bars"]
    assert [b["label"] for b in bars[:5]] == ANTIBODY_TOP5
    assert bars[0]["is_predicted"] and bars[0]["width"] == 100.0
    assert [b["score"] for b in bars[:5]] == sorted((b["score"] for b in bars[:5]), reverse=True)
    # CTCF, the author's label, is rank 6: appended after the top five, marked as such
    assert bars[5] == {**bars[5], "label": "CTCF", "rank": 6, "is_author": True, "beyond": True}
    assert not any(b.get("beyond") or b.get("is_author") for b in bars[:5])
    assert {g["group"] for g in detail["rankings"]} == {"antibody", "cell_type"}
    assert detail["stats"]["n_regions"] == 1003 and detail["stats"]["skipped_by_reason"] == {"unplaced_contig": 3}


def test_detail_carries_the_author_evidence(tables: dict[str, pa.Table]) -> None:
    detail = _detail(build_view(**tables), "GSM2")
    evidence = next(g for g in detail["rankings"] if g["group"] == "cell_type")["evidence"]
    assert (evidence["raw"], evidence["label"], evidence["source"]) == ("K-652", "K562", "characteristics:cell line")
    assert evidence["candidates"] == ["K562"]
    assert evidence["readings"] == ["title: “K-652” → K562 (exact, 100.0)"] * 2


def test_details_are_json_ready_and_compact(tables: dict[str, pa.Table]) -> None:
    details = build_view(**tables)["details"]
    text = json.dumps(details, allow_nan=False)  # embedded in the page as a JSON block
    assert json.loads(text) == details
    bars = [b for d in details.values() for g in d["rankings"] for b in g["bars"]]
    assert bars and all(b["score"] == round(b["score"], 4) for b in bars)


def test_malformed_evidence_is_shown_verbatim(tables: dict[str, pa.Table]) -> None:
    detail = _detail(build_view(**tables), "GSM6")
    evidence = detail["rankings"][0]["evidence"]
    assert evidence["unparsed"] == "not json {" and evidence["candidates"] == []


def test_without_predictions_bars_come_from_the_evidence(tables: dict[str, pa.Table]) -> None:
    view = build_view(tables["samples"], tables["annotations"])
    assert view["summary"]["n_projected"] is None and view["run"] is None
    detail = _detail(view, "GSM1")
    assert detail["stats"] is None
    assert [b["label"] for b in detail["rankings"][0]["bars"]] == ANTIBODY_TOP5
    assert view["margin_threshold"] == 0.1  # from the evidence when there is no runs table


def test_failed_projection_has_no_bars_but_its_reason(tables: dict[str, pa.Table]) -> None:
    detail = _detail(build_view(**tables), "GSM7")
    assert all(g["bars"] == [] for g in detail["rankings"])
    assert (detail["stats"]["status"], detail["stats"]["reason"]) == ("failed", "truncated gzip")


def test_run_header_describes_the_latest_run(tables: dict[str, pa.Table]) -> None:
    view = build_view(**tables, generated_at=datetime(2024, 5, 15, 8, 30, tzinfo=UTC))
    run = view["run"]
    assert run["run_id"] == "20240514T020000Z-ab12" and run["n_runs"] == 2
    assert run["started"] == "2024-05-14 02:00 UTC" and run["digest_short"] == "d" * 12
    assert view["margin_threshold"] == 0.1 and view["generated_at"] == "2024-05-15 08:30 UTC"


def test_skip_reasons_count_unselected_files(tables: dict[str, pa.Table]) -> None:
    reasons = build_view(**tables)["skip_reasons"]
    assert sorted((r["reason"], r["count"]) for r in reasons) == [
        ("genome build hg38, not hg19", 1),
        ("signal track (bigWig)", 1),
    ]


def test_group_titles_and_geo_links() -> None:
    assert group_title("cell_type") == "Cell type" and group_title("tissue_kind") == "Tissue kind"
    assert geo_url("GSE100").endswith("acc=GSE100")


def test_max_rows_keeps_the_most_urgent_rows_and_counts_everything() -> None:
    tables = report_tables()
    full = build_view(**tables)
    cut = build_view(**tables, max_rows=5)
    assert len(full["rows"]) > 5 and not full["summary"]["rows_cut"]
    assert len(cut["rows"]) == 5 and cut["summary"]["rows_cut"]
    assert [r["key"] for r in cut["rows"]] == [r["key"] for r in full["rows"][:5]]  # same rows, same order
    assert cut["flags"] == full["flags"] and cut["agreement"] == full["agreement"]  # counts cover every row
    assert cut["summary"]["n_rows"] == full["summary"]["n_rows"]
    assert set(cut["details"]) == {r["sample_id"] for r in cut["rows"]}


def test_partial_prediction_reads_give_the_same_report(tmp_path) -> None:
    from conftest import write_report_workdir

    from annotator.report.html import read_report_tables

    workdir = write_report_workdir(tmp_path / "w")
    full = build_view(**read_report_tables(workdir), max_rows=4)
    partial_tables = read_report_tables(workdir, max_rows=4)
    partial = build_view(**partial_tables, max_rows=4)
    assert partial["summary"] == full["summary"] and partial["details"] == full["details"]
    assert partial_tables["predictions"].num_rows < read_report_tables(workdir)["predictions"].num_rows


def test_a_cut_report_reads_light_columns_and_gives_the_same_view(tmp_path) -> None:
    """With more rows than the page shows, only the shown rows are read whole (their evidence JSON, titles);
    every count comes from the light columns, and the view is the one made from the whole tables."""
    from conftest import write_report_workdir

    from annotator.report.html import read_report_tables
    from annotator.report.view import LIGHT_COLUMNS

    workdir = write_report_workdir(tmp_path / "w")
    cut = read_report_tables(workdir, max_rows=4)
    assert cut["annotations"].column_names == list(LIGHT_COLUMNS) and cut["review"].num_rows == 4
    assert cut["annotations"].num_rows > 4
    assert build_view(**cut, max_rows=4) == build_view(**read_report_tables(workdir), max_rows=4)


def test_an_author_label_maps_by_the_model_vocabulary_even_without_a_prediction(tables: dict[str, pa.Table]) -> None:
    vocabulary = {"antibody": ["H3K4me3", "H3K27ac", "H3K27me3"], "cell_type": ["K562", "HepG2", "GM12878"]}
    agreement = {a["group"]: a for a in build_view(**tables, vocabulary=vocabulary)["agreement"]}
    ab = agreement["antibody"]  # GSM7 failed to project, but its author wrote H3K4me3, one of the model's labels
    assert (ab["n"], ab["n_mappable"], ab["n_compared"], ab["n_match"]) == (7, 5, 4, 1)
    assert ab["share_mappable"] == pytest.approx(5 / 7) and ab["share_agree"] == pytest.approx(1 / 4)
    assert {s["key"]: s["count"] for s in ab["segments"]}["unpredicted"] == 1

    failed = tables["annotations"].set_column(
        tables["annotations"].schema.get_field_index("flag"), "flag",
        pa.array(["no_prediction"] * tables["annotations"].num_rows),
    )  # fmt: skip
    ab = build_view(tables["samples"], failed, vocabulary=vocabulary)["agreement"][0]
    # a night whose every download failed: H3K4me3, H3K27ac, H3K27me3 (GSM1-3, GSM7) map; BRD4, CTCF, none do not
    assert (ab["n_mappable"], ab["n_compared"], ab["share_agree"]) == (4, 0, None)


def _failed_night(tables: dict[str, pa.Table], error: str | None) -> pa.Table:
    samples = tables["samples"]
    selected = samples.column("selected").to_pylist()
    status = ["failed" if s else "not_attempted" for s in selected]
    errors = [f"https://ftp.ncbi.nlm.nih.gov/geo/x/{i}.bed.gz: {error}" if s else None for i, s in enumerate(selected)]
    samples = samples.set_column(samples.schema.get_field_index("download_status"), "download_status",
                                 pa.array(status))  # fmt: skip
    return samples.set_column(samples.schema.get_field_index("download_error"), "download_error", pa.array(errors))


def test_a_night_whose_downloads_failed_gets_a_banner_naming_the_cause(tables: dict[str, pa.Table]) -> None:
    assert build_view(**tables)["problem"] is None  # one failed projection of seven: no banner
    samples = _failed_night(tables, "cannot fetch: [Errno -2] Name or service not known (5 attempts)")
    view = build_view(**{**tables, "samples": samples})
    assert view["problem"] == ("every download failed (7 of 7 selected files): cannot fetch: [Errno -2] Name or "
                               "service not known (5 attempts)")  # fmt: skip
    runs = tables["runs"]
    crashed = runs.set_column(runs.schema.get_field_index("status"), "status", pa.array(["ok", "failed"]))
    crashed = crashed.set_column(crashed.schema.get_field_index("counts"), "counts",
                                 pa.array([None, json.dumps({"error": "disk full"})]))  # fmt: skip
    assert build_view(**{**tables, "runs": crashed})["problem"] == "the night did not finish: disk full"


def test_sample_counts_are_the_runs(tables: dict[str, pa.Table]) -> None:
    """GSMs leave out the series' own rows (`gsm` == `gse`), files the rows naming no file, as `run_finished`."""
    samples = tables["samples"]
    extra = pa.Table.from_pylist(
        [{"gsm": "GSE200", "gse": "GSE200", "selected": False, "skip_reason": "series_archive_of_listed_files",
          "sample_id": "GSE200/GSE200_RAW.tar", "file_kind": "tar", "download_status": "not_attempted"},
         {"gsm": "GSM95", "gse": "GSE200", "selected": False, "skip_reason": "no_supplementary_file",
          "sample_id": "GSM95", "file_kind": "none", "download_status": "not_attempted"}],
        schema=samples.schema,
    )  # fmt: skip
    s = build_view(pa.concat_tables([samples, extra]), tables["annotations"])["summary"]
    assert (s["n_gsm"], s["n_files"]) == (9 + 1, 9 + 1)
