"""The HTML report in a real headless Chromium: numbers, filters, sorting, details, and no script from titles.

One browser per module (the `chromium` fixture); each test opens the same rendered report in a fresh page.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import ANTIBODY, CELL, DIGEST, FORMULA_TITLE, RAW_XSS, XSS_LABEL, XSS_TITLE

from annotator.embeddings import EmbeddingArchive, record_author_labels
from annotator.flags import Flag
from annotator.model.format import BedspaceModel
from annotator.project import Projection
from annotator.regions.universe import TileUniverse
from annotator.report.curate import CSV_COLUMNS
from annotator.report.html import render_report
from annotator.report.view import NOT_MAPPABLE

pytestmark = pytest.mark.browser

#: A region set only the archive knows (an earlier night), named by hostile GEO text, next to GSM2.
XSS_SAMPLE = "GSM8/<img src=x onerror=alert(5)>.bed"
XSS_NEIGHBOUR_LABEL = "<script>alert(6)</script>"


def _tiny_model() -> BedspaceModel:
    """The fixture run's model in memory: its vocabulary, label vectors on disjoint axes, the run's digest."""
    eye = np.eye(len(ANTIBODY) + len(CELL), dtype=np.float32)
    return BedspaceModel(
        name="tiny-model", universe=TileUniverse(1000), token_ids=np.array([0]), token_vectors=eye[:1],
        groups={"antibody": ANTIBODY, "cell_type": CELL},
        label_vectors={"antibody": eye[: len(ANTIBODY)], "cell_type": eye[len(ANTIBODY) :]}, digest=DIGEST,
    )  # fmt: skip


def _write_archive(workdir: Path, model: BedspaceModel) -> None:
    """Vectors for the projected samples (their top labels' axes plus noise) and the hostile archive-only one."""
    rng = np.random.default_rng(3)
    top = pq.read_table(workdir / "predictions.parquet").filter(pc.equal(pc.field("rank"), 1)).to_pylist()
    axis = {lb: i for i, lb in enumerate([*ANTIBODY, *CELL])}
    vectors: dict[str, np.ndarray] = {}
    for r in top:
        vectors.setdefault(r["sample_id"], np.zeros(model.dim, np.float32))[axis[r["label"]]] += 1.0
    noisy = {sid: v / np.linalg.norm(v) + rng.normal(0, 0.1, v.shape) for sid, v in sorted(vectors.items())}
    noisy[XSS_SAMPLE] = noisy["GSM2/GSM2_peaks.bed.gz"] + 0.001  # its twin: the nearest in every space
    projections = [Projection(sid, "f", "ok", file_sha256=str(i), vector=(v / np.linalg.norm(v)).astype(np.float32))
                   for i, (sid, v) in enumerate(noisy.items())]  # fmt: skip
    EmbeddingArchive.for_model(workdir, model).append(projections)
    labels = pa.table({"sample_id": [XSS_SAMPLE], "gsm": ["GSM8"], "group": ["antibody"],
                       "author_label": [XSS_NEIGHBOUR_LABEL]})  # fmt: skip
    record_author_labels(workdir, labels)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, make_report_workdir: Any) -> Path:
    workdir = make_report_workdir(tmp_path_factory.mktemp("browser") / "work")
    model = _tiny_model()
    _write_archive(workdir, model)
    return render_report(workdir, model=model)


@pytest.fixture(scope="module")
def _tab(chromium: Any) -> Iterator[Any]:
    """One tab for the module; pages are reloaded per test, which is much cheaper than a new context."""
    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    tab = context.new_page()
    tab.dialogs, tab.errors, tab.requests = [], [], []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    # CSP violations and script errors are reported on the console: either is a bug in the page
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("request", lambda r: tab.requests.append(r.url))
    # An injected alert() would call this instead of blocking; the list is the "window flag" checked below.
    tab.add_init_script("window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));")
    yield tab
    context.close()


@pytest.fixture
def page(_tab: Any, report: Path) -> Any:
    """The report freshly loaded; `dialogs`, `errors` and `requests` record what this load did."""
    for seen in (_tab.dialogs, _tab.errors, _tab.requests):
        seen.clear()
    _tab.goto(report.as_uri())
    return _tab


def _annotations(report: Path) -> list[dict[str, Any]]:
    return pq.read_table(report.parent / "annotations.parquet").to_pylist()


def _visible_items(page: Any) -> Any:
    return page.locator("#review-table tbody.item:not([hidden])")


def test_summary_numbers_equal_the_parquet(page: Any, report: Path) -> None:
    samples = pq.read_table(report.parent / "samples.parquet")
    predictions = pq.read_table(report.parent / "predictions.parquet")
    ann = _annotations(report)
    ok = predictions.filter(pc.equal(predictions["status"], "ok"))
    expected = {
        "n_gsm": len(pc.unique(samples["gsm"])),
        "n_selected": pc.sum(samples["selected"].cast("int64")).as_py(),
        "n_projected": len(pc.unique(ok["sample_id"])),
        "n_reviewed": len({r["sample_id"] for r in ann}),
        "n_flagged": len({r["sample_id"] for r in ann if r["flag"] != "match"}),
    }
    shown = {k: int(page.locator(f"#summary [data-stat={k}]").inner_text().replace(",", "")) for k in expected}
    assert shown == expected

    counts = Counter(r["flag"] for r in ann)
    for flag in Flag:
        cell = page.locator(f"#flags tr[data-flag={flag.value}] td[data-count]")
        assert int(cell.inner_text()) == counts[flag.value], flag

    vocabulary = _tiny_model().groups
    for group in {r["group"] for r in ann}:
        rows = [r for r in ann if r["group"] == group and r["author_label"] is not None]
        compared = [r for r in rows if r["flag"] not in NOT_MAPPABLE]
        unpredicted = [r for r in rows if r["flag"] == "no_prediction" and r["author_label"] in vocabulary[group]]
        agree = sum(r["flag"] == "match" for r in compared)
        row = page.locator(f"#agreement tr[data-group={group}]")
        assert int(row.locator("[data-stat=n_mappable]").inner_text()) == len(compared) + len(unpredicted)
        assert int(row.locator("[data-stat=n_compared]").inner_text()) == len(compared)
        assert int(row.locator("[data-stat=n_match]").inner_text()) == agree
        assert row.locator("[data-stat=share_agree]").inner_text() == f"{100 * agree / len(compared):.0f}%"
    assert page.errors == []


def test_flag_filter_shows_only_the_chosen_flag(page: Any, report: Path) -> None:
    counts = Counter(r["flag"] for r in _annotations(report))
    page.select_option("#filter-flag", "out_of_vocabulary")
    flags = _visible_items(page).evaluate_all("els => els.map(e => e.dataset.flag)")
    assert flags == ["out_of_vocabulary"] * counts["out_of_vocabulary"]
    assert page.locator("#shown-count").inner_text() == f"2 of {sum(counts.values())} rows shown"

    page.select_option("#filter-group", "cell_type")
    assert _visible_items(page).evaluate_all("els => els.map(e => [e.dataset.flag, e.dataset.group])") == [
        ["out_of_vocabulary", "cell_type"]
    ]
    page.select_option("#filter-flag", "")
    page.select_option("#filter-group", "")
    assert _visible_items(page).count() == sum(counts.values())


def test_show_rows_button_in_the_flag_chart_filters_the_table(page: Any) -> None:
    page.click("#flags tr[data-flag=misspelling] button")
    assert page.locator("#filter-flag").input_value() == "misspelling"
    assert _visible_items(page).evaluate_all("els => els.map(e => e.dataset.flag)") == ["misspelling"]


def test_search_matches_titles_as_text(page: Any) -> None:
    page.fill("#filter-text", "<script>")
    assert _visible_items(page).evaluate_all("els => [...new Set(els.map(e => e.dataset.sample))]") == [
        "GSM2/GSM2_peaks.bed.gz"
    ]


def test_sorting_by_a_column_orders_the_rows(page: Any) -> None:
    margins = "els => els.map(e => e.rows[0].cells[7].dataset.v)"
    page.click("#review-table th >> text=Margin")
    values = _visible_items(page).evaluate_all(margins)
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and values[-2:] == ["", ""]  # rows without a margin go last
    page.click("#review-table th >> text=Margin")
    values = _visible_items(page).evaluate_all(margins)
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers, reverse=True) and values[-2:] == ["", ""]
    assert page.locator("#review-table th[aria-sort=descending]").inner_text().startswith("Margin")

    page.click("#review-table th >> text=Flag")  # back to urgency order
    urgencies = _visible_items(page).evaluate_all("els => els.map(e => +e.rows[0].cells[8].dataset.v)")
    assert urgencies == sorted(urgencies)


def test_detail_expands_by_click_and_by_keyboard(page: Any, report: Path) -> None:
    first = page.locator("#review-table tbody.item").first
    toggle, detail = first.locator("button.toggle"), first.locator("tr.detail")
    assert detail.is_hidden()
    toggle.click()
    assert detail.is_visible() and toggle.get_attribute("aria-expanded") == "true"
    # the bars are the Parquet's top five of the sample's antibody ranking, best first
    sample = first.get_attribute("data-sample")
    predictions = pq.read_table(report.parent / "predictions.parquet").to_pylist()
    top = [r["label"] for r in sorted(predictions, key=lambda r: r["rank"] or 0)
           if r["sample_id"] == sample and r["group"] == "antibody" and r["rank"] and r["rank"] <= 5]  # fmt: skip
    labels = detail.locator(".rank").first.locator(".bars li:not(.beyond) .bl").all_inner_texts()
    assert [label.split()[0] for label in labels] == top
    widths = detail.locator(".rank").first.locator(".bf").evaluate_all("els => els.map(e => e.offsetWidth)")
    assert widths[0] > widths[-1] > 0  # the bars are drawn (their inline widths are not blocked by the CSP)
    toggle.click()
    assert detail.is_hidden()
    assert page.errors == []

    second = page.locator("#review-table tbody.item").nth(1)
    second.locator("button.toggle").focus()
    page.keyboard.press("Enter")
    assert second.locator("tr.detail").is_visible()
    page.keyboard.press("Space")
    assert second.locator("tr.detail").is_hidden()


def test_untrusted_title_is_text_and_runs_nothing(page: Any) -> None:
    page.click("#expand-all")  # render every detail too, similar samples included
    cells = page.locator("tbody.item[data-sample^='GSM2/'] td.title").all_inner_texts()
    assert cells and all(c == XSS_TITLE for c in cells)
    # every new field that shows metadata: matrix axes and cells, data attributes, similar samples, the CSV block
    axis = page.locator("#matrix svg.confusion text.row-label title").evaluate_all("els => els.map(e => e.textContent)")
    assert XSS_LABEL in axis
    assert page.locator(f"#review-table tbody.item[data-author='{XSS_LABEL}']").count() == 1
    assert page.locator(".neighbours .sid").filter(has_text=XSS_SAMPLE).count() >= 1
    assert page.locator(".neighbours").filter(has_text=XSS_NEIGHBOUR_LABEL).count() >= 1
    assert page.locator("svg[onload], [onerror], [onmouseover]").count() == 0
    assert page.locator("script:not([type='application/json'])").count() == 1  # ours, nothing injected
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__alerts") == [] and page.dialogs == []
    assert page.errors == []
    assert all(url.startswith(("file://", "data:")) for url in page.requests)
    assert len(page.requests) == 1  # the page itself, nothing else


def _matrix_cell(page: Any, group: str, author: str, pred: str) -> Any:
    return page.locator(f"#matrix g.cell[data-group='{group}'][data-author='{author}'][data-pred='{pred}']")


def test_a_matrix_cell_filters_the_table_to_its_rows(page: Any, report: Path) -> None:
    ann = _annotations(report)
    pairs = Counter((r["group"], r["author_label"], r["predicted_label"]) for r in ann
                    if r["author_label"] is not None and r["predicted_label"] is not None)  # fmt: skip
    (group, author, pred), n = next((k, v) for k, v in pairs.items() if k[1] != k[2])  # an off-diagonal cell
    cell = _matrix_cell(page, group, author, pred)
    assert cell.locator("text").text_content() == str(n)
    cell.click()
    js = "els => els.map(e => [e.dataset.group, e.dataset.author, e.dataset.pred])"
    shown = _visible_items(page).evaluate_all(js)
    assert shown == [[group, author, pred]] * n
    assert page.locator("#matrix-filter").is_visible() and author in page.locator("#matrix-filter").inner_text()
    assert page.locator("#filter-group").input_value() == group
    page.click("#matrix-filter-clear")
    assert page.locator("#matrix-filter").is_hidden()
    page.select_option("#filter-group", "")
    assert _visible_items(page).count() == len(ann)

    diagonal = _matrix_cell(page, "antibody", "H3K4me3", "H3K4me3")  # by keyboard, like a button
    diagonal.focus()
    page.keyboard.press("Enter")
    expected = sum(r["group"] == "antibody" and r["author_label"] == r["predicted_label"] == "H3K4me3" for r in ann)
    assert _visible_items(page).count() == expected >= 1
    page.select_option("#filter-flag", "match")  # another filter ends the matrix filter
    assert page.locator("#matrix-filter").is_hidden()
    assert page.errors == []


def _download(page: Any) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    assert download.suggested_filename == "annotator-review.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith("\ufeff")  # so spreadsheets read UTF-8
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    assert reader.fieldnames == list(CSV_COLUMNS)
    return list(reader)


def test_download_csv_holds_exactly_the_rows_shown(page: Any, report: Path) -> None:
    ann = {(r["sample_id"], r["group"]): r for r in _annotations(report)}
    rows = _download(page)
    assert len(rows) == len(ann)
    order = _visible_items(page).evaluate_all("els => els.map(e => [e.dataset.sample, e.dataset.group])")
    assert [[r["sample_id"], r["group"]] for r in rows] == order  # the table's order
    for r in rows:
        a = ann[(r["sample_id"], r["group"])]
        assert r["flag"] == a["flag"] and r["author_label_raw"] == (a["author_label_raw"] or "")
        if a["margin"] is not None:
            assert float(r["margin"]) == pytest.approx(a["margin"], abs=1e-6)
    titles = {r["title"] for r in rows}
    assert XSS_TITLE in titles and RAW_XSS in {r["author_label_raw"] for r in rows}
    assert "'" + FORMULA_TITLE in titles and FORMULA_TITLE not in titles  # a spreadsheet shows it, never runs it

    page.select_option("#filter-flag", "misspelling")
    page.fill("#filter-text", "GSM2")
    rows = _download(page)
    assert [(r["sample_id"], r["group"], r["flag"]) for r in rows] == [("GSM2/GSM2_peaks.bed.gz", "cell_type",
                                                                        "misspelling")]  # fmt: skip
    assert page.errors == []


def test_an_expanded_row_lists_the_most_similar_samples(page: Any) -> None:
    item = page.locator("#review-table tbody.item[data-sample='GSM2/GSM2_peaks.bed.gz'][data-group='antibody']")
    item.locator("button.toggle").click()
    box = item.locator(".similar")
    assert "antibody dimensions" in box.locator("h4").inner_text()
    neighbours = box.locator(".neighbours li")
    assert neighbours.count() == 5  # 7 archived region sets: the 5 nearest others
    first = neighbours.first
    assert first.locator(".sid").inner_text() == XSS_SAMPLE  # the archive-only twin of GSM2
    assert XSS_NEIGHBOUR_LABEL in first.inner_text() and "archive" in first.inner_text()
    cosines = [float(t) for t in box.locator(".cos").all_inner_texts()]
    assert cosines == sorted(cosines, reverse=True) and cosines[0] > 0.9
    assert "GSM2/" not in " ".join(box.locator(".sid").all_inner_texts())  # never its own neighbour
    assert page.errors == []


@pytest.mark.parametrize("width", [1024, 390])
def test_title_and_reason_stay_readable_at_laptop_and_phone_widths(chromium: Any, report: Path, width: int) -> None:
    context = chromium.new_context(viewport={"width": width, "height": 800})
    try:
        tab = context.new_page()
        tab.goto(report.as_uri())
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0  # the page itself never scrolls sideways
        for css in ("td.title", "td.reason"):
            widths = tab.locator(f"#review-table tbody.item:not([hidden]) {css}").evaluate_all(
                "els => els.map(e => e.getBoundingClientRect().width)"
            )
            assert widths and min(widths) >= 120, (css, widths)  # ~16 characters: never a word per line
        title = tab.locator("h1").bounding_box()
        assert title is not None and title["height"] < 60  # the page title fits on one or two lines
        review = tab.locator("#review-table").bounding_box()
        assert review is not None and review["x"] + review["width"] <= width + 1  # the table fits the screen
    finally:
        context.close()


def _variant(tmp_path: Path, make_report_workdir: Any, table: str = "samples", **columns: Any) -> Path:
    """The fixture run with some columns of `table` replaced (`name=function(table) -> array`), rendered."""
    workdir = make_report_workdir(tmp_path / "work")
    data = pq.read_table(workdir / f"{table}.parquet")
    for name, make in columns.items():
        data = data.set_column(data.schema.get_field_index(name), name, make(data))
    pq.write_table(data, workdir / f"{table}.parquet")
    return render_report(workdir, model=_tiny_model())


def test_a_night_whose_downloads_failed_opens_with_a_banner_naming_the_cause(
    chromium: Any, report: Path, tmp_path: Path, make_report_workdir: Any
) -> None:
    cause = "cannot reach GEO (ftp.ncbi.nlm.nih.gov: name lookup failed (Name or service not known))"
    failed = _variant(tmp_path, make_report_workdir,
                      download_status=lambda t: pa.array(["failed" if s else "not_attempted"
                                                          for s in t["selected"].to_pylist()]),
                      download_error=lambda t: pa.array([f"{cause}: not attempted tonight" if s else None
                                                         for s in t["selected"].to_pylist()]))  # fmt: skip
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        tab = context.new_page()
        tab.goto(failed.as_uri())
        banner = tab.locator("[role=alert][data-stat=problem]")
        assert banner.is_visible()
        assert banner.inner_text() == f"Night failed: every download failed (7 of 7 selected files): {cause}: not " \
                                      "attempted tonight"  # fmt: skip
        box, summary = banner.bounding_box(), tab.locator("#summary").bounding_box()
        assert box is not None and summary is not None and box["y"] + box["height"] <= summary["y"]  # above it all
        assert box["y"] < 800  # on the first screen
        tab.goto(report.as_uri())
        assert tab.locator("[data-stat=problem]").count() == 0  # a night that went well has none
    finally:
        context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_summary_tables_fit_the_screen_and_accessions_never_break(
    chromium: Any, tmp_path: Path, make_report_workdir: Any, width: int
) -> None:
    def long_ids(t: pa.Table) -> pa.Array:  # ENCODE file names as accessions (no GEO link): one long word each
        return pa.array([f"wgEncodeBroadHistoneHepg2H3k{gsm[3:]}me3StdPk" for gsm in t["gsm"].to_pylist()])

    report = _variant(tmp_path, make_report_workdir, "annotations", gsm=long_ids)
    context = chromium.new_context(viewport={"width": width, "height": 800})
    try:
        tab = context.new_page()
        tab.goto(report.as_uri())
        cut = tab.evaluate("""() => [...document.querySelectorAll(
              '#summary .cards, #agreement .scroll-x, #agreement table, #flags .scroll-x, #flags table')]
            .filter(e => e.scrollWidth > e.clientWidth).map(e => e.className + ': ' + e.scrollWidth)""")
        assert cut == []  # no summary table cut off or scrolled sideways
        heights = tab.locator("#review-table td.acc a, #review-table td.acc .no-link").evaluate_all(
            "els => els.map(e => [e.textContent, e.getClientRects().length, e.getBoundingClientRect().height,"
            " parseFloat(getComputedStyle(e).lineHeight)])"
        )
        assert len(heights) >= 7 and any(text.startswith("wgEncode") for text, *_ in heights)
        broken = [text for text, rects, height, line in heights if rects != 1 or height > 1.5 * line]
        assert broken == []  # each accession on one line: never split mid-ID
    finally:
        context.close()
