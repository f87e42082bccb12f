"""The rendered HTML report (without a browser) and the `report`/`export` commands."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import RAW_XSS, XSS_LABEL, XSS_TITLE
from typer.testing import CliRunner

from annotator.cli import app
from annotator.errors import InputError, SchemaError
from annotator.report.html import render_report


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script> and <style>, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag in ("script", "style")
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_report_is_written_into_the_workdir_atomically(report_workdir: Path) -> None:
    path = render_report(report_workdir)
    assert path == report_workdir / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert not [p.name for p in report_workdir.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_out_path_is_honoured(report_workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "share" / "night.html"
    assert render_report(report_workdir, out) == out and out.exists()
    assert not (report_workdir / "report.html").exists()


def test_report_loads_nothing_from_the_network(report_workdir: Path) -> None:
    tags = _parse(render_report(report_workdir).read_text(encoding="utf-8")).tags
    names = [t for t, _ in tags]
    assert "link" not in names and "iframe" not in names and "img" not in names
    assert all("src" not in attrs for tag, attrs in tags if tag == "script")
    external = {attrs["href"] for tag, attrs in tags if tag == "a" and (attrs.get("href") or "").startswith("http")}
    assert external and all(h.startswith("https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GS") for h in external)
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert [a.get("type") for a in scripts] == ["application/json", "application/json", None]  # data, one program


def test_untrusted_text_is_escaped(report_workdir: Path) -> None:
    html = render_report(report_workdir).read_text(encoding="utf-8")
    assert XSS_TITLE not in html and "<b>GSM2</b>" not in html  # the title, and markup in a reason
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    assert "onerror=" not in "".join(str(a) for _, a in _parse(html).tags)
    # author text inside the JSON blocks cannot close them early, and decodes back to the exact text
    assert html.count("</script") == 3
    block = html.split('<script type="application/json" id="report-details">', 1)[1].split("</script>", 1)[0]
    raws = {g["evidence"]["raw"] for d in json.loads(block).values() for g in d["rankings"]}
    assert RAW_XSS in raws
    rows = html.split('<script type="application/json" id="report-rows">', 1)[1].split("</script>", 1)[0]
    csv_rows = json.loads(rows)["rows"].values()
    assert XSS_TITLE in {r[3] for r in csv_rows} and RAW_XSS in {r[5] for r in csv_rows}
    assert XSS_LABEL not in html and "&lt;svg onload=alert(4)&gt;BRD4" in html  # matrix axis and data attributes


def test_content_security_policy_allows_exactly_the_page_script_and_style(report_workdir: Path) -> None:
    html = render_report(report_workdir).read_text(encoding="utf-8")
    parsed = _parse(html)
    csp = next(a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp and "unsafe-inline" not in csp
    style, script = parsed.scripts[0], parsed.scripts[-1]  # <style> in the head, the program at the end

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(script)}';" in csp
    assert f"style-src 'sha256-{digest(style)}';" in csp


def test_summary_and_rows_are_rendered(report_workdir: Path) -> None:
    html = render_report(report_workdir).read_text(encoding="utf-8")
    assert re.search(r'data-stat="n_gsm">9<', html) and re.search(r'data-stat="n_projected">6<', html)
    assert html.count('<tbody class="item"') == 14
    assert "20240514T020000Z-ab12" in html and "tiny-model" in html


def test_a_night_with_files_on_another_build_says_so_at_the_top(report_workdir: Path) -> None:
    html = render_report(report_workdir).read_text(encoding="utf-8")
    assert 'data-stat="wrong_build_notice"' not in html and re.search(r'data-stat="n_wrong_build">0<', html)
    path = report_workdir / "predictions.parquet"
    predictions = pq.read_table(path)
    status = [("wrong_build" if s == "failed" else s) for s in predictions["status"].to_pylist()]
    index = predictions.schema.get_field_index("status")
    pq.write_table(predictions.set_column(index, predictions.schema.field(index), pa.array(status)), path)
    html = render_report(report_workdir).read_text(encoding="utf-8")
    header = " ".join(html[html.index("<header") : html.index("</header>")].split())
    assert 'data-stat="wrong_build_notice"' in header and "1 peak file not on the model's genome build" in header
    assert re.search(r'data-stat="n_wrong_build">1<', html) and re.search(r'data-stat="n_failed">0<', html)


def test_report_without_predictions_or_runs_says_what_is_missing(tmp_path: Path, make_report_workdir) -> None:
    workdir = make_report_workdir(tmp_path / "w", predictions=False, runs=False)
    html = render_report(workdir).read_text(encoding="utf-8")
    assert "No <code>runs.parquet</code>" in html
    assert re.search(r'data-stat="n_projected">n/a<', html)


def test_missing_annotations_is_a_schema_error_naming_the_file(tmp_path: Path, make_report_workdir) -> None:
    workdir = make_report_workdir(tmp_path / "w")
    (workdir / "annotations.parquet").unlink()
    with pytest.raises(SchemaError, match=r"annotations\.parquet does not exist"):
        render_report(workdir)


def test_missing_workdir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        render_report(tmp_path / "nope")


def test_every_template_says_what_it_renders() -> None:
    templates = [t for t in files("annotator.report").joinpath("templates").iterdir() if t.is_file()]
    assert len(templates) >= 5
    for t in templates:
        assert t.read_text(encoding="utf-8").startswith("{# renders "), t.name


runner = CliRunner()


def test_cli_report_prints_the_written_path(report_workdir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "--workdir", str(report_workdir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout and out.exists()


def test_cli_report_on_a_missing_workdir_exits_2_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--workdir", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "error:" in result.output and "does not exist" in result.output


def test_cli_export_writes_each_table(report_workdir: Path, tmp_path: Path) -> None:
    to = tmp_path / "out"
    result = runner.invoke(app, ["export", "--workdir", str(report_workdir), "--to", str(to), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in to.iterdir()) == ["annotations.csv", "predictions.csv", "runs.csv", "samples.csv"]


def test_cli_export_rejects_an_unknown_format(report_workdir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--workdir", str(report_workdir), "--to", str(tmp_path), "--format", "x"])
    assert result.exit_code != 0 and not list(tmp_path.glob("*.x"))


@pytest.mark.parametrize("command", ["report", "export"])
def test_commands_have_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--workdir" in result.output
