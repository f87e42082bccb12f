"""Standard identifiers for what authors write: cell lines (Cellosaurus), primary cells (Cell Ontology), tissues
(UBERON) and protein targets (HGNC).

The look-up tables ship as package data (``identifiers.sqlite``, built offline by ``scripts/build_vocabulary.py``;
its sources, versions and licences are in ``identifiers_sources.tsv``). SQLite is read in place, read-only, on the
first look-up, so that reading one string costs a few index probes and no table is loaded into memory.

A name is compared by its `identifier_key`: lower case, letters and digits only, each word's plural ``s`` dropped
(``Hep G2`` = ``HEPG2``, ``T cells`` = ``T cell``). A key can name several terms: a bare ``H9`` is a human
embryonic stem-cell line and a T-cell line. Then the words around it decide (``H9 hESC``); when they do not, the
reading is *ambiguous*: no identifier, and every candidate is reported (`Identification.candidates`).

Inside free text only *distinctive* names are read (flag `FREE`, set at build time): names of four or more
characters that mix letters and digits and are no gene symbol (``Huh7``, ``OVCAR-3``), longer names that are no
ordinary word, multi-word ontology labels (``prefrontal cortex``), and the hand-written table's names. Others
(``Beta``, ``JM``, ``293``) are read only as a whole cell-type value (``cell line: Beta``). A primary cell type
or tissue is not read from a text that says the sample is diseased (``breast tumor``: the organ of origin is not
what the sample is), nor right after a marker the name leaves out (``CD8+ T cells`` are no plain T cells). Work per
string is bounded: at most `MAX_CHARS` characters and `MAX_WORDS` words are read.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.errors import ModelError
from annotator.labels.records import EXACT, NORMALISED, SCORE_EXACT, SCORE_NORMALISED, CellTypeLabel

if TYPE_CHECKING:
    import sqlite3

VOCABULARY_FILE = "identifiers.sqlite"
SOURCES_FILE = "identifiers_sources.tsv"
NOTICE_FILE = "identifiers_NOTICE.txt"  # attribution and licence texts of the sources
PINNED_FILE = "identifiers_pinned.tsv"  # the table's rows for the hand-written names and the targets
FREE = 1  # names flag: may be read inside free text
BEFORE_CELLS = 2  # names flag: may be read inside free text when "cells" follows (``Kelly cells``)

CELLOSAURUS, CELL_ONTOLOGY, UBERON = "CVCL_", "CL:", "UBERON:"
MAX_WORDS = 200  # words of one string that are read (GEO strings are hostile: bounded work per string)
MAX_CHARS = 10_000  # characters of one string that are read
_MAX_WORD = 64  # longer runs of letters and digits are no names (and are not looked up)
MAX_SPAN = 6  # words one name may span ("CD4-positive, alpha-beta T cell")
_SQL_CHUNK = 900  # bound parameters per query (SQLite's historical limit is 999)

_WORD = re.compile(r"[A-Za-z0-9]+")
_FIELD_BREAK = re.compile(r"[_;:|\n\t]")
#: Cell-type values that say there is none (``cell type: N/A``; NA is also a cell line).
NO_VALUE = frozenset({"", "na", "n/a", "none", "unknown", "not applicable", "not available", "missing", "-"})
_MAX_WHOLE = 200  # characters of a value looked up whole
_CACHED_LENGTH = 300  # texts up to this long are remembered
#: Words saying a sample is diseased tissue: its tissue or cell type of origin is not what it is.
_DISEASE = re.compile(
    r"tumou?r|cancer|carcinoma|sarcoma|lymphoma|leuka?emi|(?-i:\b(?:AML|ALL|CLL|CML)\b)|metasta|neoplas|"
    r"malignan|blastoma|glioma|myeloma|xenograft|\bPDX\b|organoid",
    re.IGNORECASE,
)
_MARKER_BEFORE = re.compile(
    r"\bCD\d+[a-z]?\s*(?:\+|-|pos\w*|neg\w*|hi|lo|high|low|bright|dim)?[\s,/-]*$", re.IGNORECASE
)
_CELL_SUFFIX = re.compile(r"(?:cellline|celllines|cell)$")
_SUFFIX_WORDS = re.compile(r"[ _-]*(cell[ _-]?lines?|cells?)$", re.IGNORECASE)
#: Words around an ambiguous name that decide between its candidates: key -> ((context, identifier), ...).
_CONTEXT: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "h9": (
        (re.compile(r"hES|\bES\b|ESC|embryonic|stem|pluripoten|WA0?9|WiCell", re.IGNORECASE), "CVCL_9773"),
        (re.compile(r"T[ _-]?cell|lymphoma|HuT|HTLV|HIV", re.IGNORECASE), "CVCL_1240"),
    ),
    "h1": ((re.compile(r"hES|\bES\b|ESC|embryonic|stem|pluripoten|WA0?1|WiCell", re.IGNORECASE), "CVCL_9771"),),
}


@dataclass(frozen=True)
class Identification:
    """The identifier a name was resolved to, or the candidates it stays ambiguous between."""

    id: str | None
    label: str | None  # the ontology's label of `id`
    candidates: tuple[str, ...] = ()  # set only when ambiguous: every identifier the name may mean

    @property
    def ambiguous(self) -> bool:
        return self.id is None and len(self.candidates) > 1


@dataclass(frozen=True)
class Match:
    """A name found in a text: its span, its key and what it may mean."""

    start: int
    end: int
    key: str
    ids: tuple[str, ...]
    flags: int

    @property
    def rank(self) -> int:
        """Cell lines before primary cells before tissues: the most specific kind of sample wins."""
        first = self.ids[0]
        return 0 if first.startswith(CELLOSAURUS) else 1 if first.startswith(CELL_ONTOLOGY) else 2


def identifier_key(text: str) -> str:
    """Compare-key of a name: ``'Hep G2'`` -> ``'hepg2'``, ``'CD4+ T cells'`` -> ``'cd4tcell'``."""
    return "".join(_singular(w) for w in _WORD.findall(text.lower()))


def _singular(word: str) -> str:
    if len(word) > 3 and word.isalpha() and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def find_names(text: str) -> list[Match]:
    """Every known name in `text` (spans of up to `MAX_SPAN` words of its first `MAX_WORDS`)."""
    words = [
        (m.start(), m.end(), _singular(m.group().lower()))
        for m in islice(_WORD.finditer(text, 0, MAX_CHARS), MAX_WORDS)
        if m.end() - m.start() <= _MAX_WORD
    ]
    spans: dict[str, list[tuple[int, int]]] = {}
    for i in range(len(words)):
        key = ""
        for j in range(i, min(i + MAX_SPAN, len(words))):
            if j > i and _FIELD_BREAK.search(text, words[j - 1][1], words[j][0]):
                break  # K562_CTCF, SK-N-SH_RA: an underscore separates fields of a title, not words of a name
            key += words[j][2]
            spans.setdefault(key, []).append((words[i][0], words[j][1]))
    found = _names(tuple(spans))
    return [Match(a, b, key, *found[key]) for key in found for a, b in spans[key]]


def _disease(text: str) -> bool:
    return _DISEASE.search(text, 0, MAX_CHARS) is not None


def best_match(text: str, whole: bool = False) -> Match | None:
    """See `_best_match`; short texts (a night's characteristics repeat across a series) are remembered."""
    return _cached_best_match(text, whole) if len(text) <= _CACHED_LENGTH else _best_match(text, whole)


@lru_cache(maxsize=4096)
def _cached_best_match(text: str, whole: bool) -> Match | None:
    return _best_match(text, whole)


def _best_match(text: str, whole: bool = False) -> Match | None:
    """The name `text` is most likely about: a distinctive name anywhere (a cell line before a primary cell before a
    tissue, then the longest, then the first), or with `whole`, any name that is the whole text but a trailing
    ``cells``/``cell line``."""
    if whole and " ".join(text.split()).lower() in NO_VALUE:
        return None
    if whole and len(text) <= _MAX_WHOLE:
        full = identifier_key(text)
        found = _names((full, _CELL_SUFFIX.sub("", full)))
        for key in (full, _CELL_SUFFIX.sub("", full)):
            if key in found:
                match = Match(0, len(text), key, *found[key])
                if match.rank == 0 or not _disease(text):
                    return match
    matches = find_names(text)
    usable = [m for m in matches if m.flags & FREE or _names_a_cell_line(text, m)]
    if _disease(text):  # "breast tumor", "AML cells": the tissue or cell type of origin is not the sample
        usable = [m for m in usable if m.rank == 0]
    # "CD8+ T cells": a marker the name leaves out makes it another, narrower cell type than the one matched
    usable = [m for m in usable if m.rank != 1 or not _MARKER_BEFORE.search(text[max(0, m.start - 24) : m.start])]
    if not usable:
        return None
    return min(usable, key=lambda m: (m.rank, -(m.end - m.start), m.start))


def read_vocabulary(text: str, whole: bool = False) -> CellTypeLabel | None:
    """The cell line, primary cell type or tissue `text` names by the shipped vocabulary (`best_match`), with its
    identifier; the label is the name as written (``Huh7``; with `whole`, all of `text` less a trailing
    ``cells``), the ontology's own name is `CellTypeLabel.ontology_label`."""
    match = best_match(text, whole)
    if match is None:
        return None
    found = resolve(match.key, match.ids, text[:MAX_CHARS])
    if found is None:
        return None
    as_value = whole and len(text) <= _MAX_WHOLE  # a cell-type value is named as written
    raw = " ".join(text.split()) if as_value else text[match.start : match.end]
    # less a trailing "cells" for a line (HepG2 cells), not for a cell type ("T cells" is no "T")
    canonical = (_SUFFIX_WORDS.sub("", raw) or raw) if as_value and match.rank == 0 else raw
    method, score = (EXACT, SCORE_EXACT) if canonical == raw else (NORMALISED, SCORE_NORMALISED)
    return CellTypeLabel(canonical, raw, method, score, (), ontology_id=found.id, ontology_label=found.label,
                         id_candidates=found.candidates)  # fmt: skip


def _names_a_cell_line(text: str, match: Match) -> bool:
    """``HAP1 cells``, ``Kelly cells``: a line named like a gene or a short word reads as a line when ``cells``
    follows it (not ``Beta cells``: an English word is never read so)."""
    return (
        match.rank == 0
        and (any(c.isdigit() for c in match.key) or bool(match.flags & BEFORE_CELLS))
        and re.match(r"[ _-]*cell", text[match.end : match.end + 12], re.IGNORECASE) is not None
    )


def identify(raw: str, context: str = "") -> Identification | None:
    """The identifier of a name as written (``raw``), with the words of `context` to decide between namesakes.

    None when the name is unknown. ``HeLa`` is identified as HeLa, not as the model's HeLa-S3: the identifier
    says what the author wrote.
    """
    if len(raw) > _MAX_WHOLE:
        return None
    context = (context or raw)[:MAX_CHARS]
    return _cached_identify(raw, context) if len(context) <= _CACHED_LENGTH else _identify(raw, context)


@lru_cache(maxsize=4096)
def _cached_identify(raw: str, context: str) -> Identification | None:
    return _identify(raw, context)


def _identify(raw: str, context: str) -> Identification | None:
    key = identifier_key(raw)
    found = _names((key, _CELL_SUFFIX.sub("", key)))
    ids = found.get(key, found.get(_CELL_SUFFIX.sub("", key), ((), False)))[0]
    return resolve(key, ids, context)


def resolve(key: str, ids: Sequence[str], context: str) -> Identification | None:
    """One identifier from the candidates of `key`: the one the words of `context` point to; else an ambiguous
    reading."""
    if not ids:
        return None
    if len(ids) > 1:
        for pattern, term in _CONTEXT.get(key, ()):
            if term in ids and pattern.search(context):
                ids = (term,)
                break
    if len(ids) > 1:
        return Identification(None, None, tuple(ids))
    return Identification(ids[0], term_label(ids[0]))


@lru_cache(maxsize=4096)  # the same terms recur all night: one query each
def term_label(term: str) -> str | None:
    """The ontology's label of a term (``CVCL_0004`` -> ``K-562``)."""
    if term in _pinned().labels:
        return _pinned().labels[term]
    row = _db().execute("SELECT label FROM terms WHERE id = ?", (term,)).fetchone()
    return row[0] if row else None


@lru_cache(maxsize=4096)  # the same terms recur all night: one query each
def related_terms(term: str) -> frozenset[str]:
    """What the ontologies relate a term to: a subline's parent line, a line's tissue and cell type of origin,
    a CL term's ancestors, an origin tissue's ancestors."""
    row = _db().execute("SELECT related FROM terms WHERE id = ?", (term,)).fetchone()
    return frozenset(row[0].split()) if row and row[0] else frozenset()


@lru_cache(maxsize=4096)  # the same terms recur all night: one query each
def hgnc_id(symbol: str) -> str | None:
    """HGNC ID of an approved HGNC symbol (``CTCF`` -> ``HGNC:13723``); None for anything else."""
    if symbol in _pinned().hgnc:
        return _pinned().hgnc[symbol]
    row = _db().execute("SELECT id FROM hgnc WHERE symbol = ?", (symbol,)).fetchone()
    return row[0] if row else None


def vocabulary_path() -> Path:
    """Where the shipped table is (inside the installed package)."""
    return Path(str(resources.files("annotator.labels").joinpath(VOCABULARY_FILE)))


def _names(keys: Iterable[str]) -> dict[str, tuple[tuple[str, ...], int]]:
    """key -> (identifiers, flags) for the keys the table knows."""
    pinned = _pinned().names
    out = {k: pinned[k] for k in keys if k in pinned}
    keys = [k for k in dict.fromkeys(keys) if len(k) >= 2 and k not in out]
    if not keys:
        return out  # the usual names: no database opened
    db = _db()
    for n in range(0, len(keys), _SQL_CHUNK):
        chunk = keys[n : n + _SQL_CHUNK]
        query = f"SELECT key, ids, flags FROM names WHERE key IN ({','.join('?' * len(chunk))})"
        for key, ids, flags in db.execute(query, chunk):
            out[key] = (tuple(ids.split()), flags)
    return out


@dataclass(frozen=True)
class _Pinned:
    """The table's rows for the hand-written names and the targets (``identifiers_pinned.tsv``)."""

    names: dict[str, tuple[tuple[str, ...], int]]
    labels: dict[str, str]
    hgnc: dict[str, str]


@lru_cache(maxsize=1)
def _pinned() -> _Pinned:
    text = resources.files("annotator.labels").joinpath(PINNED_FILE).read_text(encoding="utf-8")
    pinned = _Pinned({}, {}, {})
    for line in text.splitlines():
        kind, key, value, flags = [*line.split("\t"), "", "", ""][:4]
        if kind == "name":
            pinned.names[key] = (tuple(value.split()), int(flags or 0))
        elif kind == "term":
            pinned.labels[key] = value
        elif kind == "hgnc":
            pinned.hgnc[key] = value
    return pinned


_local = threading.local()


def _db() -> sqlite3.Connection:
    """The shipped table, opened read-only in place on first use: one connection per thread and process (a
    connection must not cross a fork)."""
    import sqlite3  # imported on first use: most strings are read without it

    opened: tuple[int, sqlite3.Connection] | None = getattr(_local, "db", None)
    if opened is None or opened[0] != os.getpid():
        uri = _vocabulary_uri()
        try:
            db = sqlite3.connect(uri, uri=True)
            db.execute("SELECT 1 FROM names LIMIT 1")
        except sqlite3.Error as exc:
            raise ModelError(f"the identifier vocabulary {uri} cannot be read ({exc}): reinstall annotator") from exc
        opened = _local.db = (os.getpid(), db)
    return opened[1]


@lru_cache(maxsize=1)
def _vocabulary_uri() -> str:
    return vocabulary_path().resolve().as_uri() + "?mode=ro&immutable=1"
