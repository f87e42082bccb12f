"""Outputs for people and databases: `annotator.report.export` (Parquet or CSV copies of the run's tables) and
`annotator.report.html` (the self-contained HTML page curators review). Importing the package loads neither:
jinja2 is slow to import, and `csvsafe` is used by commands that draw no page."""

#: The page's file name in a workdir.
REPORT_NAME = "report.html"
