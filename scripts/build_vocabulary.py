"""Build the identifier vocabulary that ships with annotator (``annotator/labels/identifiers.sqlite``).

Offline, from the public sources in ``../shared/data/vocabularies/`` and the PyPI package
``cellxgene-ontology-guide`` (install the ``vocab`` extra: ``pip install -e ".[vocab]"``):

- Cellosaurus accessions and labels (cellxgene-ontology-guide, MIT; Cellosaurus CC-BY-4.0), joined by name to
  MetaSRA's Cellosaurus synonym sets (BSD-3);
- MetaSRA's Cellosaurus -> CL / UBERON mappings (BSD-3): where a cell line comes from, for reconcile;
- Cell Ontology and UBERON labels, synonyms and ancestors (cellxgene-ontology-guide; CL and UBERON CC-BY-4.0);
- HGNC approved symbols and IDs (CC0), and HGNC symbols and aliases as words that must not read as cell lines;
- the BRENDA tissue ontology (CC-BY-4.0): which cell line is a subline of which (``develops_from``) and which
  lines are well known.

The Roadmap epigenome table is not used: its licence is not stated.

Run: ``python scripts/build_vocabulary.py [--data ../shared/data/vocabularies] [--out annotator/labels]``.
It writes ``identifiers.sqlite`` (the look-up tables), ``identifiers_pinned.tsv`` (its rows for the hand-written
names and the targets), ``identifiers_sources.tsv`` (every source with its version, licence and attribution) and
``identifiers_NOTICE.txt`` (the licence texts BSD-3 and MIT ask to ship; see ``vocabulary_sources.py``).

The curated pins below tie the hand-written cell-type table (`annotator.labels.cell_types.CELL_TYPE_SYNONYMS`) to
identifiers; the build fails if a pin names an unknown term.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sqlite3
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocabulary_sources import write_notice, write_sources  # noqa: E402  (beside this script)

from annotator.labels.cell_types import CELL_TYPE_SYNONYMS  # noqa: E402
from annotator.labels.identifiers import (  # noqa: E402
    BEFORE_CELLS,
    FREE,
    NOTICE_FILE,
    PINNED_FILE,
    SOURCES_FILE,
    VOCABULARY_FILE,
    identifier_key,
)
from annotator.labels.vocabulary import CHROMATIN_PROTEIN, TF  # noqa: E402
from annotator.labels.vocabulary import symbols as target_symbols  # noqa: E402

#: The hand-written cell-type table's canonical names -> identifier (checked against the ontologies at build time).
PINS: dict[str, str] = {
    "K562": "CVCL_0004", "GM12878": "CVCL_7526", "GM12891": "CVCL_9630", "GM12892": "CVCL_9631",
    "HepG2": "CVCL_0027", "HeLa-S3": "CVCL_0058", "H1-hESC": "CVCL_9771", "H9": "CVCL_9773", "MCF-7": "CVCL_0031",
    "MCF 10A": "CVCL_0598", "A549": "CVCL_0023", "IMR-90": "CVCL_0347", "HCT116": "CVCL_0291",
    "LNCaP": "CVCL_1379", "VCaP": "CVCL_2235", "22Rv1": "CVCL_1045", "PC-3": "CVCL_0035", "DU145": "CVCL_0105",
    "HUVEC": "CL:0002618", "NHEK": "CL:0000312", "HSMM": "CL:0000515", "HSMMtube": "CL:0002372",
    "NHLF": "CL:0002553", "HMEC": "CL:0002327", "NH-A": "CL:0000127", "NHDF-Ad": "CL:0002551",
    "Osteoblast": "CL:0000062", "DND-41": "CVCL_2022", "CD20+": "CL:0000236", "SK-N-SH": "CVCL_0531",
    "HEK293": "CVCL_0045", "HEK293T": "CVCL_0063", "Jurkat": "CVCL_0065", "MDA-MB-231": "CVCL_0062",
    "T47D": "CVCL_0553", "HL-60": "CVCL_0002", "THP-1": "CVCL_0006", "U2OS": "CVCL_0042",
    "Ishikawa": "CVCL_2529", "Caco-2": "CVCL_0025", "HT-29": "CVCL_0320", "LoVo": "CVCL_0399",
    "SW480": "CVCL_0546", "Panc1": "CVCL_0480", "NCI-H460": "CVCL_0459", "Karpas-422": "CVCL_1325",
    "OCI-LY1": "CVCL_1879", "OCI-LY3": "CVCL_8800", "OCI-LY7": "CVCL_1881", "Kasumi-1": "CVCL_0589",
    "MOLM-13": "CVCL_2119", "MV4-11": "CVCL_0064", "NB4": "CVCL_0005", "U937": "CVCL_0007", "Raji": "CVCL_0511",
    "HUES64": "CVCL_B199", "CD14+ monocytes": "CL:0001054", "CD4+ T cells": "CL:0000624",
    "CD34+ HSPCs": "CL:0000837",
}  # fmt: skip
#: Synonyms of the table that name a different term than their canonical entry (HeLa is the parent of HeLa-S3),
#: or that stay ambiguous (bare H1 and H9: context decides, see `annotator.labels.identifiers`).
SYNONYM_PINS: dict[str, str] = {
    "HeLa": "CVCL_0030", "H1": "CVCL_9771 CVCL_D4YF CVCL_N541", "H9": "CVCL_9773 CVCL_1240", "NHDF": "CL:0002551",
}  # fmt: skip

#: Well-known lines whose name a namesake also bears (a HAP-1 besides the human near-haploid HAP1).
EXTRA_PINS: dict[str, str] = {"HAP1": "CVCL_Y019"}
#: Terms too general to be an answer (tissue, cell, organ …): never written as an identifier.
_GENERIC = frozenset({
    "CL:0000000", "CL:0000003", "CL:0000548", "CL:0000255", "CL:0002371", "CL:0000010", "CL:0000578",
    "CL:0001034", "CL:0000001", "CL:0000004", "CL:0000080", "CL:0000988", "CL:0000063",
    "UBERON:0000479", "UBERON:0000061", "UBERON:0000062", "UBERON:0000465", "UBERON:0001062",
    "UBERON:0000468", "UBERON:0000467", "UBERON:0010000", "UBERON:0000064", "UBERON:0000475",
    "UBERON:0003100", "UBERON:0003101", "UBERON:0000105",
    "UBERON:0000104", "UBERON:0000466", "UBERON:0034923", "UBERON:0013702", "UBERON:0013701", "UBERON:0007023",
})  # fmt: skip
#: Words of GEO titles that name no biological sample: a Cellosaurus line spelled so is only read as a whole
#: cell-line value, never inside free text.
_NOT_FREE = frozenset({
    "input", "control", "mock", "vehicle", "treated", "untreated", "sample", "replicate", "peaks", "chip", "seq",
    "human", "mouse", "normal", "tumor", "tumour", "cancer", "primary", "culture", "wild", "type", "wildtype",
    "knockdown", "knockout", "overexpression", "empty", "vector", "scramble", "parental", "clone", "pool",
    "total", "nuclear", "nuclei", "nucleus", "whole", "fetal", "adult", "embryo", "embryonic", "stem", "day",
})  # fmt: skip
_SHORT = 3  # names this short are only read as a well-known line
_FIRST_WORD_NOT_NAME = re.compile(
    r"^(?:gsm|gse|gpl|srr|srx|sra|rep|input|chip|seq|day)\d|^(?:chr|hg|mm|grch)\d+$|^h[1234]k\d"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "vocabularies")
    parser.add_argument("--out", type=Path, default=ROOT / "annotator" / "labels")
    args = parser.parse_args(argv)
    from cellxgene_ontology_guide.supported_versions import CXGSchema  # build-time only (the `vocab` extra)

    schema = CXGSchema()
    versions = {name: schema.supported_ontologies[name]["version"] for name in ("CVCL", "CL", "UBERON", "EFO")}
    cvcl = {k: v for k, v in schema.ontology("CVCL").items() if not v.get("deprecated")}
    cl = {k: v for k, v in schema.ontology("CL").items() if not v.get("deprecated")}
    uberon = {k: v for k, v in schema.ontology("UBERON").items() if not v.get("deprecated")}
    efo_lines = _efo_cell_lines({k: v for k, v in schema.ontology("EFO").items() if not v.get("deprecated")})
    hgnc = list(_read_hgnc(args.data / "hgnc_complete_set.txt.gz"))
    gene_symbols = {identifier_key(row["symbol"]) for row in hgnc}
    gene_words = gene_symbols | {identifier_key(w) for row in hgnc for w in row["aliases"]}
    english = _ontology_words((cl, uberon))
    bto = _read_obo(args.data / "brenda_tissue_ontology.obo")
    synonym_sets = json.loads((args.data / "cellosaurus_synonym_sets.json").read_text(encoding="utf-8"))
    mappings = json.loads((args.data / "cellosaurus_to_ontology_terms.json").read_text(encoding="utf-8"))

    names: dict[str, set[str]] = defaultdict(set)  # key -> identifiers
    free: set[str] = set()  # keys that may be read inside free text
    before_cells: set[str] = set()  # keys that may be read inside free text when "cells" follows (Kelly cells)
    labels: dict[str, str] = {}
    by_label: dict[str, set[str]] = defaultdict(set)
    for acc, term in cvcl.items():
        by_label[identifier_key(term["label"])].add(acc)
        if "[" in term["label"]:  # "BJ [Human fibroblast]": Cellosaurus tells namesakes apart in brackets
            by_label[identifier_key(term["label"].split("[")[0])].add(acc)
    bto_lines = _bto_cell_lines(bto, by_label)
    notable = {acc.replace("CVCL:", "CVCL_") for acc in mappings} & cvcl.keys() | set(bto_lines.values())
    notable |= {v for v in (*PINS.values(), *EXTRA_PINS.values()) if v.startswith("CVCL_")}
    for group in efo_lines:  # EFO's cell lines (ArrayExpress, ENCODE): well known, and their synonyms
        accs = {a for name in group for a in by_label.get(identifier_key(name), ())}
        if len(accs) == 1:
            notable |= accs
            synonym_sets.append(group)
    kept = set(notable)  # lines MetaSRA, EFO or BTO name: the ones GEO authors use (and a table under 10 MB)
    for group in synonym_sets:  # MetaSRA sets carry names only: join them by the label they contain
        accs = {a for name in group for a in by_label.get(identifier_key(name), ())}
        kept |= accs
        if len(accs) == 1:
            for name in group:
                names[identifier_key(name)] |= accs
    for acc in kept & cvcl.keys():
        labels[acc] = cvcl[acc]["label"]
        names[identifier_key(cvcl[acc]["label"])].add(acc)
        names[identifier_key(cvcl[acc]["label"].split("[")[0])].add(acc)
    for key, accs in names.items():  # a well-known line beats obscure namesakes
        known = accs & notable
        # E14, MEL: short names have namesakes Cellosaurus may not list; only a well-known line is read for them
        if (len(accs) > 1 and len(known) == 1) or len(key) <= _SHORT:
            names[key] = known
        if _free_cell_line(key, gene_symbols, gene_words, english):
            free.add(key)
        elif key.isalpha() and len(key) >= 4 and key not in english | gene_words | _NOT_FREE:
            before_cells.add(key)
    term_labels: dict[str, set[str]] = defaultdict(set)  # a term's label beats another term's synonym ("lung")
    for ontology in (cl, uberon):
        for term_id, term in ontology.items():
            if term_id in _GENERIC or not term.get("ancestors"):
                continue
            labels[term_id] = term["label"]
            term_labels[identifier_key(term["label"])].add(term_id)
            for i, name in enumerate((term["label"], *term.get("synonyms", ()))):
                key = identifier_key(name)
                if len(key) < 3 or (key in names and any(a.startswith("CVCL_") for a in names[key])):
                    continue
                names[key].add(term_id)
                if (i == 0 or " " in name.strip()) and key not in _NOT_FREE and key not in gene_words:
                    free.add(key)
    for key, terms in term_labels.items():
        if key in names and not any(a.startswith("CVCL_") for a in names[key]):
            names[key] = terms
    _add_pins(names, free, labels)
    for name, term in EXTRA_PINS.items():
        names[identifier_key(name)] = {term}
    related = _relations(bto, bto_lines, mappings, cl, uberon, labels)
    symbols = {row["symbol"]: row["hgnc_id"] for row in hgnc}
    flags = {k: FREE for k in free} | {k: BEFORE_CELLS for k in before_cells - free}
    _write(args.out / VOCABULARY_FILE, names, flags, labels, related, symbols)
    write_sources(args.out / SOURCES_FILE, versions, bto, hgnc)
    _write_pinned(args.out / PINNED_FILE, names, flags, labels, symbols)
    write_notice(args.out / NOTICE_FILE, args.out / SOURCES_FILE)
    size = (args.out / VOCABULARY_FILE).stat().st_size
    print(f"{len(names)} names, {len(labels)} terms, {len(symbols)} HGNC symbols; {size / 1e6:.1f} MB")
    return 0


def _free_cell_line(key: str, gene_symbols: set[str], gene_words: set[str], english: set[str]) -> bool:
    """May this cell-line name be read inside a title? Only a distinctive one: letters and digits, 4+ characters,
    no approved gene symbol; or 6+ letters that are neither a gene symbol or alias nor a word of the ontologies'
    prose."""
    if key in _NOT_FREE or key in gene_symbols or _FIRST_WORD_NOT_NAME.match(key):
        return False
    has_digit, has_alpha = any(c.isdigit() for c in key), any(c.isalpha() for c in key)
    if has_digit and has_alpha:
        return len(key) >= 4
    return has_alpha and len(key) >= 6 and key not in english and key not in gene_words


def _add_pins(names: dict[str, set[str]], free: set[str], labels: dict[str, str]) -> None:
    """The hand-written table's names -> their pinned identifiers; they override the generic look-up."""
    for canonical, synonyms in CELL_TYPE_SYNONYMS.items():
        for name in (canonical, *synonyms):
            pinned = SYNONYM_PINS.get(name, PINS[canonical]).split()
            unknown = [p for p in pinned if p not in labels]
            if unknown:
                raise SystemExit(f"pin {name} -> {unknown}: not a term of the sources")
            names[identifier_key(name)] = set(pinned)
            free.add(identifier_key(name))


def _relations(
    bto: dict[str, dict[str, list[str]]],
    bto_lines: dict[str, str],
    mappings: dict[str, dict[str, list[str]]],
    cl: dict[str, dict],
    uberon: dict[str, dict],
    labels: dict[str, str],
) -> dict[str, set[str]]:
    """term -> related terms: a subline's parent line (BTO develops_from), a line's tissue and cell type of origin
    (MetaSRA), and the ancestors of CL terms and of those origins."""
    out: dict[str, set[str]] = defaultdict(set)
    for bto_id, acc in bto_lines.items():
        for parent in bto[bto_id].get("develops_from", ()):
            if parent in bto_lines and bto_lines[parent] != acc:
                out[acc].add(bto_lines[parent])
    origins: set[str] = set()
    for raw_acc, mapping in mappings.items():
        acc = raw_acc.replace("CVCL:", "CVCL_")
        if acc not in labels:
            continue
        terms = {t for t in mapping.get("mapped_terms", ()) if t.startswith(("CL:", "UBERON:")) and t not in _GENERIC}
        terms = {t for t in terms if t in labels}
        out[acc] |= terms
        origins |= terms
    for term_id, term in cl.items():
        if term_id in labels:
            out[term_id] |= {a for a in term["ancestors"] if a in labels}
    for term_id in origins:
        if term_id in uberon:
            out[term_id] |= {a for a in uberon[term_id]["ancestors"] if a in labels}
    return out


def _write(
    path: Path,
    names: dict[str, set[str]],
    flags: dict[str, int],
    labels: dict[str, str],
    related: dict[str, set[str]],
    symbols: dict[str, str],
) -> None:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA page_size = 4096;
        CREATE TABLE names (key TEXT PRIMARY KEY, ids TEXT NOT NULL, flags INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE terms (id TEXT PRIMARY KEY, label TEXT NOT NULL, related TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE hgnc (symbol TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
        """
    )
    db.executemany(
        "INSERT INTO names VALUES (?, ?, ?)",
        sorted((k, " ".join(sorted(v)), flags.get(k, 0)) for k, v in names.items() if v and len(k) >= 2),
    )
    db.executemany(
        "INSERT INTO terms VALUES (?, ?, ?)",
        sorted((t, label, " ".join(sorted(related.get(t, ())))) for t, label in labels.items()),
    )
    db.executemany("INSERT INTO hgnc VALUES (?, ?)", sorted(symbols.items()))
    db.commit()
    db.execute("VACUUM")
    db.close()


def _write_pinned(
    path: Path, names: dict[str, set[str]], flags: dict[str, int], labels: dict[str, str], symbols: dict[str, str]
) -> None:
    """The rows of the table that the hand-written names and the targets need, as a small text file: reading one
    string of the usual kind (``K562 CTCF``) then opens no database (`annotator.labels.identifiers`)."""
    keys = sorted({identifier_key(n) for c, syn in CELL_TYPE_SYNONYMS.items() for n in (c, *syn)} | set(
        identifier_key(n) for n in EXTRA_PINS))  # fmt: skip
    rows = [("name", k, " ".join(sorted(names[k])), str(flags.get(k, 0))) for k in keys]
    terms = sorted({t for k in keys for t in names[k]})
    rows += [("term", t, labels[t], "") for t in terms]
    rows += [("hgnc", s, symbols[s], "") for s in target_symbols(TF, CHROMATIN_PROTEIN)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("# Rows of identifiers.sqlite for the hand-written cell-type table and the target vocabulary\n")
        fh.write("# (built by scripts/build_vocabulary.py): kind<TAB>key<TAB>value<TAB>flags.\n")
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(rows)


def _read_hgnc(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["status"] != "Approved" or row["locus_group"] != "protein-coding gene":
                continue
            aliases = [a for field in ("alias_symbol", "prev_symbol") for a in row[field].split("|") if a]
            yield {
                "hgnc_id": row["hgnc_id"],
                "symbol": row["symbol"],
                "aliases": aliases,
                "modified": row["date_modified"] or "",
            }


def _ontology_words(ontologies: Iterable[dict[str, dict]]) -> set[str]:
    """Lower-case words of the ontologies' labels and definitions: ordinary English and anatomy."""
    words: set[str] = set()
    for ontology in ontologies:
        for term in ontology.values():
            for text in (term.get("label", ""), term.get("description", "") or ""):
                words.update(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    return words


def _read_obo(path: Path) -> dict[str, dict[str, list[str]]]:
    """BTO terms: id -> {"name": [...], "synonym": [...], "is_a": [...], "develops_from": [...]}."""
    terms: dict[str, dict[str, list[str]]] = {"__header__": defaultdict(list)}
    current: dict[str, list[str]] = terms["__header__"]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line == "[Term]" or line == "[Typedef]":
            current = defaultdict(list)
            continue
        tag, _, value = line.partition(": ")
        if tag == "id" and "id" not in current:
            terms[value] = current
        if tag == "relationship":
            kind, _, target = value.partition(" ")
            current[kind].append(target.split(" ")[0])
        elif tag == "synonym":
            current[tag].append(value.split('"')[1] if '"' in value else value)
        else:
            current[tag].append(value.split(" ! ")[0])
    return terms


def _efo_cell_lines(efo: dict[str, dict]) -> list[list[str]]:
    """Names (label and synonyms) of every EFO cell line (a term under an EFO term named ``… cell line``)."""
    roots = {term_id for term_id, term in efo.items() if term["label"].endswith("cell line")}
    return [
        [term["label"], *term.get("synonyms", ())]
        for term_id, term in efo.items()
        if term_id not in roots and roots & set(term.get("ancestors", ()))
    ]


def _bto_cell_lines(bto: dict[str, dict[str, list[str]]], by_label: dict[str, set[str]]) -> dict[str, str]:
    """BTO id -> Cellosaurus accession, where the BTO term's name without ``cell`` is one line's label."""
    out = {}
    for bto_id, term in bto.items():
        if not bto_id.startswith("BTO:") or not term.get("name"):
            continue
        name = re.sub(r"\s+cells?$", "", term["name"][0])
        accs = by_label.get(identifier_key(name), set())
        if len(accs) == 1:
            out[bto_id] = next(iter(accs))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
