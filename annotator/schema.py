"""The pyarrow schema of every Parquet table annotator writes, with one schema version.

This module is the single source of truth for downstream users: `docs/schemas.md` is generated from it
(`python -m annotator.schema > docs/schemas.md`) and a test fails when the two drift. Column names are snake_case and
stable; a change that renames or retypes a column bumps `SCHEMA_VERSION`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

SCHEMA_VERSION = "2"
#: Versions this annotator reads: a later version only adds nullable columns (`ADDED_COLUMNS`), which read as null
#: from an older file, so a workdir keeps working across an upgrade (journal, archive, tables of earlier nights).
READABLE_SCHEMA_VERSIONS = frozenset({"1", SCHEMA_VERSION})
#: Columns added after version 1, per table.
_IDENTIFIER_COLUMNS = ("cell_type_id", "cell_type_label", "cell_type_id_candidates", "antibody_id")
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "samples": _IDENTIFIER_COLUMNS,
    "predictions": ("p_wrong",),
    "annotations": ("swapped_with", *_IDENTIFIER_COLUMNS, "author_p_wrong"),
}
SCHEMA_VERSION_KEY = b"annotator.schema_version"
TABLE_NAME_KEY = b"annotator.table"

_KV = pa.struct([pa.field("key", pa.string()), pa.field("value", pa.string())])


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={b"doc": doc.encode()})


#: Standard identifiers of the author's labels (`annotator.labels.identifiers`), in samples and annotations.
_IDENTIFIERS = [
    _f("cell_type_id", pa.string(), "Identifier of the author's cell type as written: Cellosaurus (CVCL_0004) for "
       "a cell line, Cell Ontology (CL:0001054) for a primary cell, UBERON (UBERON:0002107) for a tissue; null "
       "when unknown or ambiguous."),
    _f("cell_type_label", pa.string(), "The ontology's label of cell_type_id (K-562, liver)."),
    _f("cell_type_id_candidates", pa.list_(pa.string()), "Every identifier an ambiguous cell-type name may mean "
       "(a bare H9: an embryonic stem-cell line or a T-cell line); null unless ambiguous."),
    _f("antibody_id", pa.string(), "HGNC ID of the author's protein target (HGNC:13723 for CTCF); null for "
       "histone marks, assays, controls and no target."),
]  # fmt: skip

SAMPLES = pa.schema(
    [
        _f("gsm", pa.string(), "GEO sample accession (GSM…); the series (GSE…) for a series file of no sample.", False),
        _f("gse", pa.string(), "GEO series accession the sample was harvested through.", False),
        _f("title", pa.string(), "!Sample_title as the authors wrote it."),
        _f("source_name", pa.string(), "!Sample_source_name_ch1."),
        _f("organism", pa.string(), "!Sample_organism_ch1 (e.g. 'Homo sapiens')."),
        _f("library_strategy", pa.string(), "!Sample_library_strategy (e.g. 'ChIP-Seq')."),
        _f("characteristics", pa.list_(_KV), "All !Sample_characteristics_ch1 lines as key/value pairs, in order."),
        _f("description", pa.string(), "!Sample_description lines joined by newlines."),
        _f("data_processing", pa.string(), "!Sample_data_processing lines joined by newlines."),
        _f("genome_build", pa.string(), "Normalised build: hg19, hg38, mm10, …, 'ambiguous' or 'unknown'."),
        _f("build_evidence", pa.string(), "Where the build came from (field and text), or why it is ambiguous."),
        _f("file_url", pa.string(), "Supplementary file URL; null when the sample lists none."),
        _f("file_name", pa.string(), "Base name of the supplementary file; null when none."),
        _f("file_kind", pa.string(), "bed, narrowPeak, broadPeak, peaks_table, bigwig, bigbed, tar, other or none."),
        _f("selected", pa.bool_(), "True when the file is chosen for projection.", False),
        _f("skip_reason", pa.string(), "Why the row was not selected (null when selected)."),
        _f("local_path", pa.string(), "Downloaded file path relative to the workdir; null if not downloaded."),
        _f("file_size", pa.int64(), "Size in bytes of the downloaded file."),
        _f("sha256", pa.string(), "SHA-256 of the downloaded file."),
        _f(
            "download_status",
            pa.string(),
            "not_attempted (download_error says when deferred to the next night), downloaded (tonight or earlier), "
            "failed or not_bed_like.",
        ),
        _f("download_error", pa.string(), "Reason of the last failed download or content check."),
        _f("sample_id", pa.string(), "Key of the region set downstream: '<gsm>/<file_name>'.", False),
        *_IDENTIFIERS,
    ]
)

PREDICTIONS = pa.schema(
    [
        _f("sample_id", pa.string(), "Region-set key ('<gsm>/<file_name>' in a run, file stem for `project`).", False),
        _f("file", pa.string(), "Path of the projected file."),
        _f("file_sha256", pa.string(), "SHA-256 of the projected file when known (pipeline runs); reuse key."),
        _f("group", pa.string(), "Label group (e.g. antibody, cell_type); labels only compete within a group."),
        _f("rank", pa.int32(), "1 = best label of the group; null when status is not ok."),
        _f("label", pa.string(), "Label name; null when status is not ok."),
        _f("score", pa.float32(), "Cosine similarity between region-set and label vectors."),
        _f("margin", pa.float32(), "Top-1 minus top-2 score of the group (same on every rank of the group)."),
        _f("confident", pa.bool_(), "Calibrated models: probability >= the group's threshold, enough tokens and a "
           "known label fits (see confidence_reason); uncalibrated models: margin >= margin_threshold."),
        _f("probability", pa.float32(), "Calibrated probability that the rank-1 label is right (rank 1 only; null "
           "for other ranks and for models without calibration)."),
        _f("confidence_reason", pa.string(), "Why the group's call is not confident: few_tokens (too little signal), "
           "low_probability, no_known_label (no label of the vocabulary fits), assay_not_chip (the file looks like "
           "DNase-seq, no antibody target); null when confident or the model has no calibration."),
        _f("p_wrong", pa.float32(), "The verdict: probability that this label, were it an author's label, is wrong "
           "(annotator.model.verdict); null for models without a verdict and groups it does not cover. Added in "
           "schema version 2."),
        _f("coverage", pa.float32(), "Regions that hit the universe / valid regions read."),
        _f("n_regions", pa.int64(), "Valid regions read from the file."),
        _f("n_regions_hit", pa.int64(), "Regions overlapping at least one universe token."),
        _f("n_tokens", pa.int64(), "Distinct universe tokens hit that the model knows."),
        _f("n_skipped", pa.int64(), "Lines skipped as invalid (see skipped_by_reason)."),
        _f("skipped_by_reason", pa.string(), "JSON object: skip reason -> count."),
        _f(
            "status",
            pa.string(),
            "ok, no_overlap, wrong_build (the file's content is not on the model's genome build) or failed.",
            False,
        ),
        _f("reason", pa.string(), "Why status is not ok."),
        _f("model_digest", pa.string(), "Digest of the model that made the prediction.", False),
    ]
)

ANNOTATIONS = pa.schema(
    [
        _f("sample_id", pa.string(), "Region-set key, as in predictions.", False),
        _f("gsm", pa.string(), "GEO sample accession."),
        _f("gse", pa.string(), "GEO series accession."),
        _f("title", pa.string(), "Sample title (untrusted author text)."),
        _f("group", pa.string(), "Label group.", False),
        _f("author_label_raw", pa.string(), "The author's text span the label was read from."),
        _f("author_label", pa.string(), "Canonical author label (e.g. H3K4me3, K562); null when none found."),
        _f("author_source", pa.string(), "Field the author label came from (characteristics:<key>, title, …)."),
        _f("author_method", pa.string(), "exact, normalised, fuzzy or inferred."),
        _f("author_label_score", pa.float32(), "Confidence of the extraction, 0-100."),
        _f("author_label_kind", pa.string(), "histone_mark, non_histone, assay, control, cell_type or none."),
        _f("predicted_label", pa.string(), "Model's top label in this group."),
        _f("predicted_score", pa.float32(), "Cosine score of the top label."),
        _f("margin", pa.float32(), "Top-1 minus top-2 score."),
        _f("confident", pa.bool_(), "margin >= margin_threshold."),
        _f("author_rank", pa.int32(), "Rank of the author label in the model's ranking (null if not ranked)."),
        _f("author_score", pa.float32(), "Model score of the author label (null if not in the vocabulary)."),
        _f("author_p_wrong", pa.float32(), "The verdict's probability that the author label is wrong (null when the "
           "model has no verdict for the group or the label is not among the stored ranks); confident_mismatch when "
           "it reaches the model's threshold — for a label the model knows from one context only, when its class's "
           "does too (evidence.verdict). Added in schema version 2."),
        _f("flag", pa.string(), "One of annotator.reconcile.Flag.", False),
        _f("reason", pa.string(), "One-line human explanation of the flag.", False),
        _f("evidence", pa.string(), "JSON: the extraction candidates and the model's top labels with scores."),
        _f("model_digest", pa.string(), "Digest of the model used."),
        _f("swapped_with", pa.string(), "When this sample's and another sample's labels look swapped (same series, "
           "each label fits the other's data far better; flag confident_mismatch): the partner's sample_id; else "
           "null. Added in schema version 2."),
        *_IDENTIFIERS,
    ]
)

RUNS = pa.schema(
    [
        _f("run_id", pa.string(), "Unique id of the run (UTC timestamp + random suffix).", False),
        _f("started_at", pa.timestamp("us", tz="UTC"), "When the run started.", False),
        _f("finished_at", pa.timestamp("us", tz="UTC"), "When the run ended."),
        _f("status", pa.string(), "ok, finished_with_failures or failed.", False),
        _f("exit_code", pa.int32(), "0 all good, 1 finished with failed samples, 2 could not run."),
        _f("model_name", pa.string(), "Name of the model used."),
        _f("model_digest", pa.string(), "Digest of the model used."),
        _f("inputs", pa.list_(pa.string()), "Series accessions, GSE file or --since-days given."),
        _f("counts", pa.string(), "JSON object of counts (series, samples, selected, projected, failed, flags …)."),
        _f("thresholds", pa.string(), "JSON object of the thresholds used (margin, fuzzy scores, near-miss top-k)."),
        _f("config", pa.string(), "JSON of the whole resolved configuration."),
        _f("software_version", pa.string(), "annotator version that wrote the run."),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "samples": SAMPLES,
    "predictions": PREDICTIONS,
    "annotations": ANNOTATIONS,
    "runs": RUNS,
}

#: File metadata key of an embeddings part: JSON {group: [dimension indices of the group's block]}.
LABEL_BLOCKS_KEY = b"annotator.label_blocks"
_DOC_TYPE = b"doc_type"  # the type as documented, where the real one depends on the model (vector lengths)


def embeddings_schema(dim: int, blocks: Mapping[str, int] | None = None) -> pa.Schema:
    """Schema of the `embeddings` archive for a model of `dim` dimensions; `blocks` = group -> block size.

    The archive is a folder of Parquet parts per model digest (`WORKDIR/embeddings/<digest>/part-*.parquet`, see
    `annotator.embeddings`), so each part has the fixed vector length of the one model that wrote it.
    """
    fields = [
        _f("sample_id", pa.string(), "Region-set key, as in predictions.", False),
        _f("file_sha256", pa.string(), "SHA-256 of the projected file when known; with sample_id, the key."),
        _f("model_digest", pa.string(), "Digest of the model whose space the vector lives in.", False),
        pa.field(
            "vector",
            pa.list_(pa.float32(), dim),
            nullable=False,
            metadata={
                b"doc": b"Unit-length region-set vector (L2-normalised sum of its tiles' vectors); dot = cosine.",
                _DOC_TYPE: b"fixed_size_list<float32>[model dim]",
            },
        ),
    ]
    for group, size in (blocks or {}).items():
        doc = (
            "Only for models whose label groups own disjoint dimensions: the dimensions of one group's block, unit "
            "length (neighbours within that group's label space). One column per group: vector_antibody …"
        )
        fields.append(
            pa.field(
                f"vector_{group}",
                pa.list_(pa.float32(), size),
                metadata={b"doc": doc.encode(), _DOC_TYPE: b"fixed_size_list<float32>[block dim]"},
            )
        )
    return pa.schema(fields)


#: Archives: folders of parts that accumulate across nights (documented with the tables).
ARCHIVES: dict[str, pa.Schema] = {"embeddings": embeddings_schema(1, {"group": 1})}
_ARCHIVE_NOTES = {
    "embeddings": (
        "`WORKDIR/embeddings/<model digest>/part-*.parquet`: every projected region set's vector, per model, "
        "accumulated across nights (one row per sample_id and file_sha256). Block columns are named "
        "`vector_<group>`; the `annotator.label_blocks` metadata gives their dimensions. DuckDB: "
        "`SELECT * FROM read_parquet('WORKDIR/embeddings/<model digest>/part-*.parquet')` "
        "(one model per folder: vector lengths differ between models)."
    )
}


def schemas_markdown() -> str:
    """Markdown tables of every schema: the documentation downstream users read."""
    lines = [
        "# Parquet schemas",
        "",
        f"Generated from `annotator/schema.py` (schema version {SCHEMA_VERSION}); do not edit by hand.",
        "Every file carries `annotator.schema_version` and `annotator.table` in its key/value metadata.",
        "",
    ]
    for name, schema in TABLES.items():
        lines += [f"## `{name}`", "", "| column | type | nullable | meaning |", "|---|---|---|---|"]
        for fld in schema:
            doc = (fld.metadata or {}).get(b"doc", b"").decode()
            lines.append(f"| `{fld.name}` | `{fld.type}` | {'yes' if fld.nullable else 'no'} | {doc} |")
        lines.append("")
    for name, schema in ARCHIVES.items():
        lines += [f"## `{name}` (archive)", "", _ARCHIVE_NOTES[name], ""]
        lines += ["| column | type | nullable | meaning |", "|---|---|---|---|"]
        for fld in schema:
            meta = fld.metadata or {}
            name_doc = "vector_<group>" if fld.name == "vector_group" else fld.name
            type_doc = meta.get(_DOC_TYPE, str(fld.type).encode()).decode()
            doc = meta.get(b"doc", b"").decode()
            lines.append(f"| `{name_doc}` | `{type_doc}` | {'yes' if fld.nullable else 'no'} | {doc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(schemas_markdown(), end="")
