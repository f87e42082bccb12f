"""The report shows a swapped pair: counted in the summary, and the two review rows linked to each other."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import report_tables

from annotator.report.html import render_report
from annotator.tables import write_table

SWAPPED = {"GSM2": "GSM3", "GSM3": "GSM2"}  # antibody rows of one series (GSE100) marked as a swap


def _swap_workdir(path: Path) -> Path:
    tables = report_tables()
    rows = tables["annotations"].to_pylist()
    for r in rows:
        if r["group"] == "antibody" and r["gsm"] == "GSM4":  # a mismatch ranked between the pair's two rows
            r["flag"] = "confident_mismatch"
        if r["group"] == "antibody" and r["gsm"] in SWAPPED:
            partner = SWAPPED[r["gsm"]]
            r.update(flag="confident_mismatch", swapped_with=f"{partner}/{partner}_peaks.bed.gz",
                     reason=f"labels of GSM2 and GSM3 look swapped: {r['gsm']} …")  # fmt: skip
    tables["annotations"] = pa.Table.from_pylist(rows, schema=tables["annotations"].schema)
    for name, table in tables.items():
        write_table(name, table, path / f"{name}.parquet")
    return path


def _tbodies(html: str) -> dict[str, str]:
    """id -> opening tag of every review-table row group."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<tbody class="item[^"]*" id="(row\d+)"[^>]*>', html)}


@pytest.mark.parametrize("max_rows", [None, 3])  # 3: the light-column path of a night cut to its most urgent rows
def test_a_swapped_pair_is_counted_and_its_rows_link_each_other(tmp_path: Path, max_rows: int | None) -> None:
    html = render_report(_swap_workdir(tmp_path / "work"), max_rows=max_rows).read_text()
    assert re.search(r'data-stat="n_swap_pairs">1<', html)
    bodies = _tbodies(html)
    ids = [row_id for row_id, tag in bodies.items() if "swapped" in tag.split("id=")[0]]
    assert len(ids) == 2 and abs(int(ids[0][3:]) - int(ids[1][3:])) == 1  # the pair is shown together
    for tag in (bodies[row_id] for row_id in ids):
        gsm = re.search(r'data-key="(GSM\d)/', tag).group(1)
        partner = SWAPPED[gsm]
        assert f'data-swap="{partner}/{partner}_peaks.bed.gz|antibody"' in tag
        # the row's flag cell links to the partner's row
        body = html[html.index(tag) : html.index("</tbody>", html.index(tag))]
        link = re.search(r'<a href="#(row\d+)">swapped with (GSM\d)</a>', body)
        assert link and link.group(2) == partner
        assert f'data-key="{partner}/' in bodies[link.group(1)]
    rows = json.loads(re.search(r'<script type="application/json" id="report-rows">(.*?)</script>', html).group(1))
    column = rows["columns"].index("swapped_with")  # "Download CSV" carries the partner too
    assert rows["rows"]["GSM2/GSM2_peaks.bed.gz|antibody"][column] == "GSM3/GSM3_peaks.bed.gz"


def test_a_night_without_swaps_counts_none_and_links_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name, table in report_tables().items():
        write_table(name, table, work / f"{name}.parquet")
    html = render_report(work).read_text()
    assert re.search(r'data-stat="n_swap_pairs">0<', html)
    assert 'class="swap-link"' not in html and not any("data-swap" in tag for tag in _tbodies(html).values())
