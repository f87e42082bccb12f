"""The one CSV-injection escaper: text a spreadsheet would run as a formula gets a leading apostrophe.

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage
return before one) as a formula, and accept the fullwidth and small forms of those signs (`＝ ＋ － ＠`,
`﹦ ﹢ ﹣ ﹫`) as well. Every CSV annotator writes — `export --format csv`, `project --out x.csv`, `search --format
csv` and the report's "Download CSV" — passes its text through here, so GEO text such as `=HYPERLINK(…)` reaches
the spreadsheet as text. Only text cells are touched: numbers stay numbers, and the apostrophe is what spreadsheets
show for "this is text", so the visible value is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = "=+-@\t\r\n" + "\uff1d\uff0b\uff0d\uff20" + "\ufe66\ufe62\ufe63\ufe6b"
_PATTERN = "^([" + "".join(f"\\x{{{ord(c):x}}}" for c in FORMULA_STARTS) + "])"


def escape_cell(value: Any) -> Any:
    """`value` with an apostrophe in front when it is text a spreadsheet would run; anything else unchanged."""
    if isinstance(value, str) and value[:1] and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


def escape_table(table: pa.Table) -> pa.Table:
    """`table` with every text cell escaped by `escape_cell` (vectorised; other columns untouched)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = pc.replace_substring_regex(column, pattern=_PATTERN, replacement="'\\1", max_replacements=1)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)
