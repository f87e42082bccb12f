"""Shape the pipeline's tables into the view model the HTML report renders (pure: tables in, plain dicts out).

Everything a curator sees is computed here, so the browser tests can compare the page with numbers derived from
the same Parquet files and the templates only lay things out. The loops here run once per sample or per label,
never per region.

Counting conventions (also explained on the page):

* A *sample* in the review table is one region set (`sample_id`, i.e. one peak file of a GSM); a GSM with two
  peak files is reviewed twice.
* "Maps to the model vocabulary" (the BEDspace paper's Fig. 5B denominator): the author label was found
  (`author_label` not null) and the flag is not out_of_vocabulary or missing_author_label; a row without a
  prediction (no_prediction: the file failed to download or project) maps when its author label is one of the
  model's labels (the model's vocabulary is needed for that; without it such rows do not map).
* "Agrees": flag == match, among the rows that map *and* have a prediction. A misspelling is counted as mappable but
  *not* as agreement, because the author text had to be corrected first; the share including misspellings is
  reported next to it.
* Sample counts are the run's (`run_finished`): GSMs without the series' own rows, files as the rows that name a
  file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from annotator.demo import DEMO_GSE
from annotator.flags import Flag
from annotator.report.curate import (
    CSV_COLUMNS,
    confusion_matrices,
    csv_row,
    pair_counts,
)
from annotator.report.details import evidence_thresholds, group_title, parse_json, sample_details
from annotator.report.summary import (
    NOT_MAPPABLE as NOT_MAPPABLE,
)
from annotator.report.summary import (
    agreements,
    calibration,
    flag_counts,
    night_banner,
    skip_reasons,
    summary_counts,
)

GEO_URL = "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc={acc}"
_ACCESSION = re.compile(r"GS[EM][1-9][0-9]{0,9}")
#: Series the offline demo invents (its SOFT says "synthetic"): their accessions must not link to real GEO pages.
SYNTHETIC_SERIES = frozenset({DEMO_GSE})

#: Review-table rows left out because nothing in them needs a curator: an assay that agrees with the model (nights
#: harvest ChIP-Seq by default, so every sample would get one more `match` row) and the assay row of a sample without
#: prediction (its other rows say why). Counts, charts and annotations.parquet keep them.
QUIET_ROWS = frozenset({("assay", Flag.MATCH.value), ("assay", Flag.NO_PREDICTION.value)})
#: The annotations columns every count of the report is computed from (`build_view`'s ``review`` holds the rest).
LIGHT_COLUMNS = ("sample_id", "gsm", "group", "flag", "author_label", "predicted_label", "margin", "confident",
                 "model_digest", "swapped_with")  # fmt: skip

#: Groups the curators know best come first; any other group follows alphabetically.
_GROUP_ORDER = ("antibody", "cell_type")


def build_view(
    samples: pa.Table,
    annotations: pa.Table,
    predictions: pa.Table | None = None,
    runs: pa.Table | None = None,
    *,
    top_k: int = 5,
    generated_at: datetime | None = None,
    max_rows: int | None = None,
    similar: dict[str, dict[str, list[dict[str, Any]]]] | None = None,
    review: pa.Table | None = None,
    vocabulary: Mapping[str, Sequence[str]] | None = None,
    calibrated: bool | None = None,
) -> dict[str, Any]:
    """Turn the pipeline's tables into the report's view model.

    Parameters
    ----------
    samples, annotations
        The `samples` and `annotations` tables (schemas in `annotator.schema`).
    predictions
        The `predictions` table, or None when the run wrote none; the detail bars then come from the
        annotations' evidence JSON and the projection counts are shown as unavailable.
    runs
        The `runs` table, or None; the most recently started run is described in the page header.
    top_k
        How many labels per group the detail bars show.
    generated_at
        When the report is rendered (shown in the header); None leaves it out.
    max_rows
        Review-table rows kept, most urgent first (None: all). Counts, the agreement view and the flag chart
        always cover every row; only the table and its details are cut, so a huge night stays a page a browser
        can open and memory does not grow with it.
    similar
        sample_id -> {space: nearest samples} (`annotator.report.similar.similar_samples`), or None when the
        workdir has no embeddings archive for the model; shown in each expanded row.
    review
        The whole rows of ``most_urgent(annotations, max_rows)``, most urgent first, when `annotations` holds only
        the `LIGHT_COLUMNS` (`annotator.report.html.read_report_tables`): every count is computed in Arrow from
        the light columns, so only the shown rows are ever Python objects.
    vocabulary
        The model's labels per group (None: unknown), so a sample without a prediction still counts as mapping when
        its author label is one of them.
    calibrated
        Whether the model decides ✓ with calibrated probabilities (None: as the predictions say); the page states
        the one definition of ✓ it uses.

    Returns
    -------
    dict
        Keys: ``run`` (dict or None), ``margin_threshold`` (float or None), ``generated_at`` (str or None),
        ``problem`` (one line when the night failed or most of it did, else None), ``summary``, ``skip_reasons``,
        ``groups`` (list of {name, title}), ``flags`` (flag-count rows for the chart), ``agreement`` (Fig. 5B rows
        per group), ``rows`` (review-table rows, most urgent first) and
        ``details`` (sample_id -> `annotator.report.details.sample_details` entry plus ``similar``, JSON-ready),
        ``matrices`` and ``calibration`` (`annotator.report.curate`), ``csv_columns`` and ``csv_rows`` (row key ->
        values, for "Download CSV") and ``has_similar``.
    """
    groups = _ordered_groups(pc.unique(annotations.column("group")).to_pylist())
    candidates = (review if review is not None else most_urgent(annotations, max_rows)).to_pylist()
    shown = [r for r in candidates if (r["group"], r["flag"]) not in QUIET_ROWS]
    n_quiet = int(pc.sum(pc.cast(_quiet(annotations), pa.int64())).as_py() or 0)
    run = _run_info(runs)
    synthetic = set(SYNTHETIC_SERIES) | ({r["gse"] for r in shown} if run and run["is_demo"] else set())
    rows = _link_swaps(sorted((_review_row(r, synthetic) for r in shown), key=_urgency_key))
    if predictions is not None and max_rows is not None and len(shown) < annotations.num_rows:
        shown_ids = pa.array(sorted({r["sample_id"] for r in shown}), pa.string())
        detail_predictions = predictions.filter(pc.is_in(predictions.column("sample_id"), shown_ids))
    else:
        detail_predictions = predictions
    summary = summary_counts(samples, annotations, predictions)
    summary.update(n_rows_shown=len(rows), n_rows_quiet=n_quiet, rows_cut=len(rows) < annotations.num_rows - n_quiet)
    details = sample_details(shown, detail_predictions, groups, top_k)
    for sample_id, detail in details.items():
        detail["similar"] = (similar or {}).get(sample_id)
    margin_threshold = _margin_threshold(run, shown)
    calibrated = _calibrated(predictions) if calibrated is None else calibrated
    return {
        "run": run,
        "problem": night_banner(run, samples, summary),
        "margin_threshold": margin_threshold,
        "calibrated": calibrated,
        "generated_at": generated_at.strftime("%Y-%m-%d %H:%M UTC") if generated_at else None,
        "summary": summary,
        "skip_reasons": skip_reasons(samples),
        "groups": [{"name": g, "title": group_title(g)} for g in groups],
        "flags": flag_counts(annotations, groups),
        "agreement": agreements(annotations, groups, vocabulary),
        "rows": rows,
        "details": details,
        "matrices": confusion_matrices(pair_counts(annotations), groups),
        "calibration": calibration(annotations, predictions, groups, None if calibrated else margin_threshold),
        "csv_columns": list(CSV_COLUMNS),
        "csv_rows": {r["key"]: csv_row(r) for r in rows},
        "has_similar": similar is not None,
    }


def most_urgent(annotations: pa.Table, max_rows: int | None) -> pa.Table:
    """The `max_rows` most urgent rows, chosen in Arrow by the same order as `_urgency_key` (all when None);
    `QUIET_ROWS` come after every other row."""
    if max_rows is None or annotations.num_rows <= max_rows:
        return annotations
    return annotations.take(urgency_order(annotations)[:max_rows])


def _quiet(annotations: pa.Table) -> pa.ChunkedArray:
    """Whether each row is one of `QUIET_ROWS` (null where group or flag is null)."""
    pairs = pc.binary_join_element_wise(annotations.column("group"), annotations.column("flag"), "/")
    return pc.is_in(pairs, value_set=pa.array(sorted(f"{g}/{f}" for g, f in QUIET_ROWS), pa.string()))


def urgency_order(annotations: pa.Table) -> pa.Array:
    """Row indices of `annotations`, most urgent first (`_urgency_key`'s order), computed in Arrow."""
    order = pa.array([f.value for f in Flag], pa.string())
    margin = pc.fill_null(pc.cast(annotations.column("margin"), pa.float64()), float("-inf"))
    quiet = _quiet(annotations)
    keys = pa.table(
        {
            "quiet": pc.fill_null(quiet, False),  # last, so they never take the place of a row to review
            "urgency": pc.index_in(annotations.column("flag"), value_set=order),
            "unconfident": pc.invert(pc.fill_null(annotations.column("confident"), False)),
            "neg_margin": pc.negate(margin),
            "gsm": pc.fill_null(annotations.column("gsm"), ""),
            "sample_id": annotations.column("sample_id"),
            "group": annotations.column("group"),
        }
    )
    return pc.sort_indices(keys, sort_keys=[(name, "ascending") for name in keys.column_names])


def geo_url(accession: str) -> str:
    """GEO accession page of a GSM or GSE."""
    return GEO_URL.format(acc=accession)


def _ordered_groups(names: Any) -> list[str]:
    seen = set(names)
    known = [g for g in _GROUP_ORDER if g in seen]
    return known + sorted(seen - set(known))


def _link_swaps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each row of a swapped pair ``swap``: the partner's name, and its 1-based position in the table
    (None when the partner's row is not shown), so the page links the two rows; the partner's row is moved right
    after the pair's first row, so a curator reads the two together."""
    by_key = {r["key"]: r for r in rows}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    for r in rows:
        if r["key"] in placed:
            continue
        partner = f"{r['swapped_with']}|{r['group']}" if r.get("swapped_with") else None
        pair = [r, by_key[partner]] if partner in by_key and partner not in placed else [r]
        ordered += pair
        placed.update(p["key"] for p in pair)
    rows = ordered
    position = {r["key"]: i + 1 for i, r in enumerate(rows)}
    for r in rows:
        partner = r.get("swapped_with")
        r["swap"] = None
        if partner:
            key = f"{partner}|{r['group']}"
            other = by_key.get(key)
            r["swap"] = {"key": key, "index": position.get(key), "name": (other["gsm"] if other else None) or partner,
                         "label": other["author_label"] if other else None}  # fmt: skip
    return rows


def is_real_accession(accession: str | None, gse: str | None, synthetic: set[str] | frozenset[str]) -> bool:
    """A GEO accession worth linking: GSM/GSE digits, and not from a series the demo made up."""
    return bool(accession and _ACCESSION.fullmatch(accession) and gse not in synthetic and accession not in synthetic)


def _review_row(r: Mapping[str, Any], synthetic: set[str] | frozenset[str] = SYNTHETIC_SERIES) -> dict[str, Any]:
    flag = Flag(r["flag"])
    return {
        **r,
        "key": f"{r['sample_id']}|{r['group']}",
        "geo_url": geo_url(r["gsm"]) if is_real_accession(r["gsm"], r["gse"], synthetic) else None,
        "group_title": group_title(r["group"]),
        "flag_label": flag.value.replace("_", " "),
        "flag_description": flag.description,
        "urgency": flag.urgency,
        **_author_identifier(r),
    }


def _author_identifier(r: Mapping[str, Any]) -> dict[str, Any]:
    """The standard identifier of the row's author label, shown beside the name: the cell type's Cellosaurus /
    CL / UBERON ID, the antibody target's HGNC ID; the candidates when the name is ambiguous."""
    if r["group"] == "cell_type":
        return {"author_id": r.get("cell_type_id"), "author_id_label": r.get("cell_type_label"),
                "author_id_candidates": r.get("cell_type_id_candidates") or []}  # fmt: skip
    if r["group"] == "antibody":
        return {"author_id": r.get("antibody_id"), "author_id_label": None, "author_id_candidates": []}
    return {"author_id": None, "author_id_label": None, "author_id_candidates": []}


def _urgency_key(row: Mapping[str, Any]) -> tuple:
    """Most urgent flag first; within a flag the most confident call first, then by accession."""
    margin = row["margin"] if row["margin"] is not None else float("-inf")
    return (row["urgency"], not row["confident"], -margin, row["gsm"] or "", row["sample_id"], row["group"])


def _run_info(runs: pa.Table | None) -> dict[str, Any] | None:
    if runs is None or runs.num_rows == 0:
        return None
    latest = runs.take([int(pc.index(runs.column("started_at"), pc.max(runs.column("started_at"))).as_py())])
    run = latest.to_pylist()[0]
    thresholds = parse_json(run["thresholds"])
    return {
        **run,
        "started": run["started_at"].strftime("%Y-%m-%d %H:%M UTC"),
        "status_text": str(run["status"]).replace("_", " "),
        "finished": run["finished_at"].strftime("%Y-%m-%d %H:%M UTC") if run["finished_at"] else None,
        "digest_short": (run["model_digest"] or "").removeprefix("sha256:")[:12] or None,
        "thresholds": thresholds if isinstance(thresholds, dict) else {},
        "n_runs": runs.num_rows,
        "is_demo": "demo" in (run["inputs"] or []),
    }


def _calibrated(predictions: pa.Table | None) -> bool:
    """True when the predictions carry calibrated probabilities (format-2 models decide `confident` with them)."""
    if predictions is None or "probability" not in predictions.column_names:
        return False
    return predictions.column("probability").null_count < predictions.num_rows


def _margin_threshold(run: Mapping[str, Any] | None, ann: Sequence[Mapping[str, Any]]) -> float | None:
    """The confidence threshold used: from the run's thresholds, else from the first row's evidence."""
    sources = [run["thresholds"]] if run else []
    sources += [evidence_thresholds(r["evidence"]) for r in ann[:1]]
    for thresholds in sources:
        for key in ("margin_threshold", "margin"):
            value = thresholds.get(key) if isinstance(thresholds, dict) else None
            if isinstance(value, int | float):
                return float(value)
    return None
