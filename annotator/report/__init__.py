"""Outputs for people and databases: `export_tables` (Parquet or CSV copies of the run's tables) and
`render_report` (the self-contained HTML page curators review)."""

from annotator.report.export import export_tables
from annotator.report.html import render_report

__all__ = ["export_tables", "render_report"]
