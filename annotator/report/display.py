"""How untrusted text and scores are shown in the report: clipped text, one rounding.

GEO titles and labels are author text of any length: a 1 MB title made Chromium take minutes to open the page. Table
cells show the first `CELL_CHARS` characters; the full text up to `FULL_CHARS` is one hover away (a `title`
attribute) or in a sample's details; the whole text stays in the Parquet tables. Scores and margins are rounded once,
here, to `DIGITS` decimals, and printed as is by both the table (Jinja) and the details panel (script), so a margin
never reads 0.056 in the row and 0.057 in the panel.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

CELL_CHARS = 300
FULL_CHARS = 1000
DIGITS = 3


def clip(text: Any, limit: int = CELL_CHARS) -> Any:
    """`text` cut to `limit` characters with an ellipsis; None and short text unchanged."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def clip_columns(table: pa.Table, names: Iterable[str], limit: int = FULL_CHARS) -> pa.Table:
    """String columns cut to `limit` + 1 characters before they become Python strings: a night of megabyte titles
    costs the report what a night of short ones does (`clip` then adds the ellipsis)."""
    for name in names:
        if name in table.column_names:
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), pc.utf8_slice_codeunits(table.column(i), 0, limit + 1))
    return table


def clip_all(value: Any, limit: int = FULL_CHARS) -> Any:
    """Every string in a JSON-like value clipped (lists are cut to 50 items as well)."""
    if isinstance(value, str):
        return clip(value, limit)
    if isinstance(value, list):
        return [clip_all(v, limit) for v in value[:50]]
    if isinstance(value, dict):
        return {k: clip_all(v, limit) for k, v in value.items()}
    return value


def rounded(value: float | None, digits: int = DIGITS) -> float | None:
    """The one rounding of a score or margin for display."""
    return None if value is None else round(float(value), digits)
