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
import pyarrow.compute as pc
from markupsafe import Markup

from annotator import __version__
from annotator.embeddings import EMBEDDINGS_DIR
from annotator.errors import InputError
from annotator.model.format import BedspaceModel
from annotator.report import REPORT_NAME
from annotator.report.display import DIGITS, clip, clip_columns, rounded
from annotator.report.similar import model_of_run, similar_samples
from annotator.report.view import LIGHT_COLUMNS, build_view, most_urgent, urgency_order
from annotator.tables import atomic_path, read_columns, read_rows_matching, read_table

#: Author text columns the page shows (clipped on reading; the tables keep everything).
_AUTHOR_TEXT = ("title", "author_label_raw", "reason", "skip_reason", "source_name", "description", "download_error")

#: Samples columns the report counts (its summary and skip reasons).
_SAMPLE_COLUMNS = ("gse", "gsm", "selected", "download_status", "download_error", "skip_reason", "file_kind")
#: Predictions columns kept for the samples the review table does not show (status counts, probabilities).
_STATUS_COLUMNS = ("sample_id", "group", "rank", "status", "probability")

#: Review-table rows in a report: about 6 MB of HTML that a laptop browser opens in a few seconds.
DEFAULT_MAX_ROWS = 3000


def render_report(
    workdir: Path,
    out: Path | None = None,
    *,
    top_k: int = 5,
    max_rows: int | None = DEFAULT_MAX_ROWS,
    model: BedspaceModel | None = None,
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
    model
        The model that made the predictions, for the similar samples of each expanded row (its training samples
        and the workdir's embeddings archive); None: the model the latest run used, when its digest matches.

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
    tables = read_report_tables(workdir, max_rows=max_rows, top_k=top_k)
    model = _model_used(tables, model)
    similar = _similar(Path(workdir), tables, model, max_rows)
    vocabulary = model.groups if model is not None else None  # samples without a prediction still map by it
    calibrated = bool(model.calibration) if model is not None else None
    view = build_view(**tables, top_k=top_k, generated_at=datetime.now(UTC), max_rows=max_rows, similar=similar,
                      vocabulary=vocabulary, calibrated=calibrated)  # fmt: skip
    return _write_atomic(out if out is not None else Path(workdir) / REPORT_NAME, to_html(view))


def read_report_tables(workdir: Path, max_rows: int | None = None, top_k: int = 5) -> dict[str, pa.Table | None]:
    """The tables the report needs, keyed like `build_view`'s arguments; optional ones are None when absent.

    With `max_rows` and more annotations than that, the annotations are read as their `LIGHT_COLUMNS` (every count
    comes from them) plus the whole rows of the shown ones (``review``), the samples as the columns the summary
    counts, and predictions only as the `top_k` ranks of the shown samples (their detail bars and projection
    counts) and one row per sample and group (status and probability) for the rest: a night costs the report a
    few bytes per row, not its evidence JSON nor every label's score.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise InputError(f"workdir {workdir} does not exist: pass the --workdir of a finished run")
    samples_path, annotations_path = workdir / "samples.parquet", workdir / "annotations.parquet"
    runs = workdir / "runs.parquet"
    tables: dict[str, pa.Table | None] = {"runs": read_table("runs", runs) if runs.exists() else None}
    light = read_columns("annotations", annotations_path, list(LIGHT_COLUMNS)) if max_rows is not None else None
    if light is None or light.num_rows <= (max_rows or 0):
        tables.update({name: clip_columns(read_table(name, workdir / f"{name}.parquet"), _AUTHOR_TEXT)
                       for name in ("samples", "annotations")})  # fmt: skip
        tables["review"] = None
    else:
        tables["samples"] = clip_columns(read_columns("samples", samples_path, list(_SAMPLE_COLUMNS)), _AUTHOR_TEXT)
        tables["annotations"] = light
        shown = most_urgent(light, max_rows)
        wanted = _row_keys(shown)
        review = read_rows_matching("annotations", annotations_path, lambda b: pc.is_in(_row_keys(b), wanted))
        tables["review"] = clip_columns(review.take(urgency_order(review)), _AUTHOR_TEXT)
    predictions = workdir / "predictions.parquet"
    if not predictions.exists():
        tables["predictions"] = None
    elif max_rows is None:
        tables["predictions"] = read_table("predictions", predictions)
    else:
        annotations = tables["annotations"]
        assert annotations is not None
        shown_ids = pc.unique(most_urgent(annotations, max_rows).column("sample_id"))
        detail = read_rows_matching(  # what the detail bars and counts show: the top ranks, or the status row
            "predictions",
            predictions,
            lambda b: pc.and_(
                pc.is_in(b.column("sample_id"), value_set=shown_ids),
                pc.or_kleene(pc.less_equal(b.column("rank"), top_k), pc.is_null(b.column("rank"))),
            ),
        )
        status_only = read_rows_matching(  # one row per sample and group: enough for the counts
            "predictions", predictions, _one_row_per_sample, list(_STATUS_COLUMNS)
        )
        status_only = status_only.filter(pc.invert(pc.is_in(status_only.column("sample_id"), value_set=shown_ids)))
        nulls = {f.name: pa.nulls(status_only.num_rows, f.type) for f in detail.schema if f.name not in _STATUS_COLUMNS}
        status_only = pa.table({**{c: status_only.column(c) for c in _STATUS_COLUMNS}, **nulls}).select(
            detail.schema.names
        )
        loose = pa.schema([f.with_nullable(True) for f in detail.schema])  # nulls where only counts are needed
        tables["predictions"] = pa.concat_tables([detail.cast(loose), status_only.cast(loose)])
    return tables


def _row_keys(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """sample_id + group of each annotations row, as one string."""
    return pc.binary_join_element_wise(table.column("sample_id"), table.column("group"), "\x1f")


def _model_used(tables: dict[str, pa.Table | None], model: BedspaceModel | None) -> BedspaceModel | None:
    """The model the annotations were made with: `model` when its digest is theirs, else the latest run's (loaded
    when its digest matches), else None."""
    annotations = tables["annotations"]
    assert annotations is not None
    digests = pc.unique(annotations.column("model_digest").drop_null()).to_pylist()
    digest = digests[0] if len(digests) == 1 else None
    if digest is None:
        return None
    if model is not None and model.digest == digest:
        return model
    return model_of_run(tables["runs"], digest)


def _similar(
    workdir: Path, tables: dict[str, pa.Table | None], model: BedspaceModel | None, max_rows: int | None
) -> dict[str, Any] | None:
    """Nearest samples of the shown samples, or None when the workdir has no archive for the model used."""
    annotations = tables["annotations"]
    assert annotations is not None
    if model is None or not (workdir / EMBEDDINGS_DIR / model.digest).is_dir():
        return None
    review = tables.get("review")
    shown_rows = review if review is not None else most_urgent(annotations, max_rows)
    shown = pc.unique(shown_rows.column("sample_id")).to_pylist()
    return similar_samples(workdir, model, shown)


def _one_row_per_sample(batch: pa.RecordBatch) -> pa.Array:
    """Rank-1 rows and the single status row of a sample that was not projected: enough for the status counts."""
    rank = batch.column("rank")
    return pc.or_kleene(pc.equal(rank, 1), pc.is_null(rank))


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
    env.filters["clip"] = clip
    return env


def _num(value: float | None, digits: int = DIGITS) -> str:
    return "—" if value is None else f"{rounded(value, digits):.{digits}f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _write_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
