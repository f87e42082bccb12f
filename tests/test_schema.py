"""The schema module is the documentation downstream users read: it must be complete and match docs/schemas.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from annotator.schema import SCHEMA_VERSION, TABLES, schemas_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def test_docs_are_generated_from_the_schema_module() -> None:
    assert DOCS.read_text(encoding="utf-8") == schemas_markdown(), (
        "docs/schemas.md is stale: run `python -m annotator.schema > docs/schemas.md`"
    )


def test_the_documented_command_writes_exactly_the_docs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "annotator.schema"], capture_output=True, text=True, check=True, encoding="utf-8"
    ).stdout
    assert out == schemas_markdown()


def test_the_pipeline_tables_all_have_schemas() -> None:
    assert set(TABLES) == {"samples", "predictions", "annotations", "runs"}
    assert SCHEMA_VERSION in schemas_markdown()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_columns_are_snake_case_typed_and_documented(name: str) -> None:
    schema = TABLES[name]
    assert len(set(schema.names)) == len(schema.names)
    for field in schema:
        assert _SNAKE.match(field.name), field.name
        assert not pa.types.is_null(field.type), f"{name}.{field.name} has no type"
        doc = (field.metadata or {}).get(b"doc", b"").decode()
        assert doc.strip(), f"{name}.{field.name} has no doc"
        assert "|" not in doc, f"{name}.{field.name}: a '|' would break the Markdown table"


def test_every_column_appears_in_the_docs() -> None:
    text = schemas_markdown()
    for name, schema in TABLES.items():
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| `")]
        assert [r.split("`")[1] for r in rows] == schema.names
