"""GEO harvest: SOFT parsing (`soft`), genome-build detection (`build`), file classification (`files`) and
selection (`select`) are pure; `fetch` (geofetch, SOFT files), `download` and `ledger` are the edges; `harvest`
strings them together into `WORKDIR/samples.parquet`."""
