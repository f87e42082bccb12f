"""The self-contained HTML curator report: read the workdir's tables (edge), shape them (`view`), render (Jinja2).

The page is opened from shared drives and e-mail, so it carries its CSS, script and SVG charts inline and loads
nothing. GEO titles and labels are untrusted author text: the Jinja environment autoescapes everything, and a
Content-Security-Policy allows only the page's own script (by hash), so even a missed escape could not run code.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
from markupsafe import Markup

from annotator import __version__
from annotator.errors import InputError
from annotator.report.view import build_view
from annotator.tables import atomic_path, read_table

REPORT_NAME = "report.html"


#: Review-table rows in a report: about 6 MB of HTML that a laptop browser opens in a few seconds.
DEFAULT_MAX_ROWS = 3000


def render_report(
    workdir: Path, out: Path | None = None, *, top_k: int = 5, max_rows: int | None = DEFAULT_MAX_ROWS
) -> Path:
    """Render the curator report of a workdir into one self-contained HTML file.

    Parameters
    ----------
    workdir
        Folder holding ``samples.parquet`` and ``annotations.parquet`` (required) and ``predictions.parquet`` and
        ``runs.parquet`` (optional: without predictions the detail bars come from the annotations' evidence).
    out
        Where to write the page; default ``WORKDIR/report.html``. Written atomically.
    top_k
        Labels per group shown as bars in each sample's detail.
    max_rows
        Most urgent review rows shown (None: all); the page says when rows were left out, and every row stays in
        ``annotations.parquet``.

    Returns
    -------
    Path
        The written HTML file.

    Raises
    ------
    InputError
        The workdir does not exist.
    SchemaError
        A required table is missing, or a table has another schema version.
    """
    tables = read_report_tables(workdir)
    view = build_view(**tables, top_k=top_k, generated_at=datetime.now(UTC), max_rows=max_rows)
    return _write_atomic(out if out is not None else Path(workdir) / REPORT_NAME, to_html(view))


def read_report_tables(workdir: Path) -> dict[str, pa.Table | None]:
    """The tables the report needs, keyed like `build_view`'s arguments; optional ones are None when absent."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise InputError(f"workdir {workdir} does not exist: pass the --workdir of a finished run")
    tables: dict[str, pa.Table | None] = {
        name: read_table(name, workdir / f"{name}.parquet") for name in ("samples", "annotations")
    }
    for name in ("predictions", "runs"):
        path = workdir / f"{name}.parquet"
        tables[name] = read_table(name, path) if path.exists() else None
    return tables


def to_html(view: dict[str, Any]) -> str:
    """Render a view model (see `annotator.report.view.build_view`) to the report's HTML text."""
    env = _environment()
    script = env.get_template("report.js").render().strip()
    style = env.get_template("report.css").render().strip()
    # Only our own script and stylesheet (by hash) apply: an injected <script>, event handler, <style> or style
    # attribute would be inert even if escaping failed. No fetches, frames, images or forms.
    csp = (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return env.get_template("report.html").render(
        view=view, script=Markup(script), style=Markup(style), csp=csp, version=__version__
    )


def _sha256(text: str) -> str:
    """CSP source expression for an inline element whose content is exactly `text`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("annotator.report", "templates"),
        autoescape=True,  # every template, whatever its extension: GEO metadata is untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # the details' JSON block: compact, and non-ASCII kept as is (it is never executed, so U+2028 is harmless)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["count"] = _count
    return env


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _write_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
