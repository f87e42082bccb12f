"""The HTML report in a real headless Chromium: numbers, filters, sorting, details, and no script from titles.

One browser per module (the `chromium` fixture); each test opens the same rendered report in a fresh page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import XSS_TITLE

from annotator.flags import Flag
from annotator.report.html import render_report
from annotator.report.view import NOT_MAPPABLE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, make_report_workdir: Any) -> Path:
    return render_report(make_report_workdir(tmp_path_factory.mktemp("browser") / "work"))


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

    for group in {r["group"] for r in ann}:
        rows = [r for r in ann if r["group"] == group]
        mappable = [r for r in rows if r["author_label"] is not None and r["flag"] not in NOT_MAPPABLE]
        agree = sum(r["flag"] == "match" for r in mappable)
        row = page.locator(f"#agreement tr[data-group={group}]")
        assert int(row.locator("[data-stat=n_mappable]").inner_text()) == len(mappable)
        assert int(row.locator("[data-stat=n_match]").inner_text()) == agree
        assert row.locator("[data-stat=share_agree]").inner_text() == f"{100 * agree / len(mappable):.0f}%"
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
    page.click("#expand-all")  # render every detail too
    cells = page.locator("tbody.item[data-sample^='GSM2/'] td.title").all_inner_texts()
    assert cells and all(c == XSS_TITLE for c in cells)
    assert page.locator("script:not([type='application/json'])").count() == 1  # ours, nothing injected
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__alerts") == [] and page.dialogs == []
    assert page.errors == []
    assert all(url.startswith(("file://", "data:")) for url in page.requests)
    assert len(page.requests) == 1  # the page itself, nothing else
