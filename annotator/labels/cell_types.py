"""Cell types: the model's cell-type vocabulary plus a synonym table of common lines, matched after normalisation,
then by rapidfuzz for near misses.

Normalisation (`normalise_cell_type`) lower-cases, drops every character that is not a letter or digit and drops a
trailing ``cell(s)``/``cell line``: ``Hep G2 cells``, ``HEPG2`` and ``hep-g2`` all become ``hepg2``. A text is
scanned as runs of one to four neighbouring words; the longest known name wins (``HeLa-S3`` over ``HeLa``).

Fuzzy matching (rapidfuzz `fuzz.ratio`, threshold `Config.cell_type_fuzzy_threshold`, 88 by default) only
considers normalised names of at least `_MIN_FUZZY_LENGTH` characters. Since the ratio of two names differing by
one substitution is ``1 - 1/n``, 88 accepts one inserted or dropped character in names of six or more characters
(``GM1287`` -> GM12878) but a substitution only in names of nine or more, so sibling lines such as GM12891 and
GM12892 are never confused. Near matches are only sought among runs that do not cut a name at a hyphen or dot
(``Kasumi`` of ``Kasumi-3`` is one character from Kasumi-1), and a near match gets an identifier only when no other
name is within `_CLEAR_FUZZY_LEAD` of it.

Names the table lacks (``Huh7``, ``T cells``, ``liver``) are read from the shipped vocabulary, and every reading
carries the standard identifier of what was written (`annotator.labels.identifiers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from annotator.config import Config
from annotator.labels.identifiers import CELLOSAURUS, best_match, identify, read_vocabulary, resolve
from annotator.labels.records import (
    EXACT,
    FUZZY,
    NORMALISED,
    SCORE_EXACT,
    SCORE_NORMALISED,
    CellTypeLabel,
)
from annotator.labels.ucsc import split_identifiers

DEFAULT_CELL_TYPE_FUZZY_THRESHOLD: float = Config.cell_type_fuzzy_threshold

#: Canonical name (ENCODE spelling) -> other ways authors write it. Names equal after normalisation need no entry.
CELL_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "K562": (), "GM12878": (), "GM12891": (), "GM12892": (), "HepG2": (), "HeLa-S3": ("HeLa", "HeLa S3"),
    "H1-hESC": ("H1", "H1 ESC", "H1 ES", "H1 hES", "H1 hESCs", "WA01"), "H9": ("H9 hESC", "WA09"), "MCF-7": (),
    "MCF 10A": (), "A549": (), "IMR-90": (), "HCT116": (), "LNCaP": ("LNCaP clone FGC",), "VCaP": (),
    "22Rv1": ("CWR22Rv1",), "PC-3": (), "DU145": (), "HUVEC": ("human umbilical vein endothelial cells",),
    "NHEK": ("normal human epidermal keratinocytes",), "HSMM": ("skeletal muscle myoblasts",),
    "HSMMtube": ("HSMM tube", "HSMMt", "HSMM myotubes", "skeletal muscle myotubes"),
    "NHLF": ("normal human lung fibroblasts",), "HMEC": ("human mammary epithelial cells",),
    "NH-A": ("normal human astrocytes",), "NHDF-Ad": ("NHDF", "adult normal human dermal fibroblasts"),
    "Osteoblast": ("Osteoblasts", "Osteobl", "Osteo", "NHOst"), "DND-41": (),
    "CD20+": ("CD20+ B cells", "CD20 positive B cells"),
    "SK-N-SH": (), "HEK293": (), "HEK293T": ("293T",), "Jurkat": (), "MDA-MB-231": (), "T47D": (),
    "HL-60": (), "THP-1": (), "U2OS": (), "Ishikawa": (), "Caco-2": (), "HT-29": (), "LoVo": (), "SW480": (),
    "Panc1": ("PANC-1",), "NCI-H460": (), "Karpas-422": (), "OCI-LY1": (), "OCI-LY3": (), "OCI-LY7": (),
    "Kasumi-1": (), "MOLM-13": (), "MV4-11": (), "NB4": (), "U937": (), "Raji": (), "HUES64": (),
    "CD14+ monocytes": ("CD14+ monocyte", "CD14 positive monocytes", "Monocytes-CD14+", "Mono CD14"),
    "CD4+ T cells": ("CD4 T cells",), "CD34+ HSPCs": ("CD34+",),
}  # fmt: skip

_SUFFIXES = ("cellline", "celllines", "cells", "cell")
_WORD = re.compile(r"[A-Za-z0-9]+")
_JOINERS = re.compile(r"[-.]+")  # what may stand inside one cell-line name (MCF-7, HeLa-S3)
_MAX_WORDS = 4
_MIN_FUZZY_LENGTH = 6
_SUBLINE_JOINERS = frozenset("-/.+([")  # what joins a subline's suffix or prefix to a name (MCF-7/ADR, NCI-H460)
_CLEAR_FUZZY_LEAD = 3.0  # a near match gets an identifier only this far ahead of the next other name


@dataclass(frozen=True)
class _Index:
    """Normalised name -> the label to report for it."""

    names: dict[str, str]
    prefixes: frozenset[str]  # every prefix of every name: where a growing span can stop looking
    fuzzy_keys: tuple[str, ...]
    shortest: int  # length of the shortest and longest fuzzy key
    longest: int


def normalise_cell_type(text: str) -> str:
    """Compare-key of a cell-type name: ``'Hep G2 cells'`` -> ``'hepg2'``."""
    key = "".join(_WORD.findall(text.lower()))
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


def parse_cell_type(
    text: str,
    vocabulary: Sequence[str] = (),
    fuzzy_threshold: float = DEFAULT_CELL_TYPE_FUZZY_THRESHOLD,
    ontologies: bool = True,
    whole: bool = False,
) -> CellTypeLabel | None:
    """Read the cell type an author's text names, in the spelling of the model's vocabulary, with its identifier.

    The table's names come first, then a cell line the shipped vocabulary knows (`annotator.labels.identifiers`),
    then a near match of the table's names, then a primary cell type or tissue the vocabulary knows. Every reading
    carries the identifier of what the author wrote (``HeLa`` -> Cellosaurus HeLa, though it is reported as the
    table's ``HeLa-S3``), or the candidates of an ambiguous name.

    Parameters
    ----------
    text
        Untrusted author text: a title, a characteristic value …
    vocabulary
        The model's cell-type labels. A synonym-table entry that normalises like a vocabulary label is reported
        with the vocabulary's spelling (``MCF7`` when the model says so).
    fuzzy_threshold
        Minimum rapidfuzz ratio (0-100) for a near match (``Config.cell_type_fuzzy_threshold``).
    ontologies
        Also read names only the shipped vocabulary knows (``Huh7``, ``prefrontal cortex``).
    whole
        `text` is one cell-type value (``cell line: Beta``): any vocabulary name that is all of it is read, not
        only the distinctive ones.

    Returns
    -------
    CellTypeLabel | None
        None when no known cell type is named.

    Examples
    --------
    >>> parse_cell_type("VCap shCt AR peaks").canonical
    'VCaP'
    """
    index = _index(tuple(vocabulary))
    text, _ = split_identifiers(text, digits=True)  # wgEncodeBroadHistoneHelas3H3k4me3 -> … Helas3 H3k4me3
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    for i in range(len(words)):  # grow a span while it can still become a known name; keep the longest hit
        key, last, canonical = "", None, ""
        for j in range(i, min(i + _MAX_WORDS, len(words))):
            key += words[j][2]
            if key in index.names:
                last, canonical = j, index.names[key]
            if key not in index.prefixes:
                break
        if last is not None:
            if last + 1 < len(words) and words[last + 1][2] in ("cell", "cells"):  # the raw span keeps "cells"
                last += 1
                if last + 1 < len(words) and words[last][2] == "cell" and words[last + 1][2] in ("line", "lines"):
                    last += 1
            raw = text[words[i][0] : words[last][1]]
            method, score = (EXACT, SCORE_EXACT) if raw == canonical else (NORMALISED, SCORE_NORMALISED)
            label = _identified(CellTypeLabel(canonical, raw, method, score), text)
            return _subline(label, text, words[i][0], words[last][1], whole)
    near = _fuzzy(text, words, index, fuzzy_threshold)
    found = read_vocabulary(text, whole) if ontologies or near is not None else None
    if found is not None and (found.ontology_id or found.id_candidates[0]).startswith(CELLOSAURUS):
        # a cell line the table lacks beats a near match of one it has (GM12873 is not GM12878); without
        # `ontologies` the caller reads the vocabulary itself, in its own order of fields
        return found if ontologies else None
    if not ontologies:
        found = None
    return _identified(near, text) if near is not None else found


def _subline(label: CellTypeLabel, text: str, start: int, end: int, whole: bool) -> CellTypeLabel:
    """A table name that is part of a longer cell-line name (``MCF-7`` of ``MCF-7/ADR``) keeps its name but takes the
    identifier of the longer one: the author named the subline."""
    joined = text[end : end + 1] in _SUBLINE_JOINERS or (whole and end < len(text.rstrip()))
    if not joined and not (start > 0 and text[start - 1] in _SUBLINE_JOINERS):
        return label  # nothing is joined on: no longer name to look for
    longer = best_match(text, whole)
    if longer is None or longer.rank != 0 or not longer.start <= start < end <= longer.end:
        return label
    if longer.end - longer.start <= end - start:
        return label
    if not (whole or longer.end - longer.start == len(text)) and text[end : end + 1].isspace():
        return label  # in a title, only a name joined on (MCF-7/ADR), not the next word (HCT116 p53 ChIP)
    found = resolve(longer.key, longer.ids, text)
    if found is None:
        return label
    return replace(label, ontology_id=found.id, ontology_label=found.label, id_candidates=found.candidates)


def _identified(label: CellTypeLabel, text: str) -> CellTypeLabel:
    """`label` with the identifier of the name as written, or of its correction when it is a clear near match."""
    if label.method == FUZZY:
        found = identify(label.canonical, text) if not label.candidates else None
    else:
        found = identify(label.raw, text) or identify(label.canonical, text)
    if found is None:
        return label
    return replace(label, ontology_id=found.id, ontology_label=found.label, id_candidates=found.candidates)


def _fuzzy(text: str, words: list[tuple[int, int, str]], index: _Index, fuzzy_threshold: float) -> CellTypeLabel | None:
    """The best near match among spans of whole names (never cut at a hyphen or dot, so that "Kasumi" of
    "Kasumi-3" is not read as Kasumi-1)."""
    from rapidfuzz import fuzz, process  # only for a name no table spells so: `annotator labels` starts without it

    whole = [i == 0 or not _JOINERS.fullmatch(text[words[i - 1][1] : words[i][0]]) for i in range(len(words))]
    whole.append(True)
    # ratio >= t needs the shorter string to be at least t / (200 - t) of the longer: skip hopeless spans
    stretch = max(fuzzy_threshold, 1.0) / (200.0 - min(fuzzy_threshold, 199.0))
    shortest, longest = max(_MIN_FUZZY_LENGTH, index.shortest * stretch), index.longest / stretch
    spans, keys = [], []
    for i in range(len(words)):
        key = ""
        for j in range(i, min(i + _MAX_WORDS, len(words))):
            key += words[j][2]
            if len(key) > longest:
                break
            if whole[i] and whole[j + 1] and len(key) >= shortest and words[j][2] not in _SUFFIXES:
                spans.append((i, j))
                keys.append(key)
    if not keys or not index.fuzzy_keys:
        return None
    scores = process.cdist(keys, index.fuzzy_keys, scorer=fuzz.ratio, score_cutoff=fuzzy_threshold, workers=1)
    span, name = divmod(int(scores.argmax()), scores.shape[1])
    best = scores[span, name]
    if best < fuzzy_threshold or best == 0:
        return None
    i, j = spans[span]
    canonical = index.names[index.fuzzy_keys[name]]
    rivals = sorted(  # other names nearly as close: the correction is not clearly one of them
        {index.names[key] for key, score in zip(index.fuzzy_keys, scores.max(axis=0), strict=True)
         if score >= best - _CLEAR_FUZZY_LEAD and score > 0 and index.names[key] != canonical}
    )
    candidates = (canonical, *rivals) if rivals else ()
    return CellTypeLabel(canonical, text[words[i][0] : words[j][1]], FUZZY, round(float(best), 1), candidates)


@lru_cache(maxsize=16)
def _index(vocabulary: tuple[str, ...]) -> _Index:
    """Look-up of every synonym and vocabulary label; the vocabulary's spelling wins."""
    names: dict[str, str] = {}
    for canonical, synonyms in CELL_TYPE_SYNONYMS.items():
        for name in (canonical, *synonyms):
            names.setdefault(normalise_cell_type(name), canonical)
    renames: dict[str, str] = {}
    for label in vocabulary:
        builtin = names.get(normalise_cell_type(label))
        if builtin is not None and builtin != label:
            renames[builtin] = label
        names[normalise_cell_type(label)] = label
    names = {key: renames.get(value, value) for key, value in names.items()}
    fuzzy_keys = tuple(key for key in names if len(key) >= _MIN_FUZZY_LENGTH)
    prefixes = frozenset(key[:n] for key in names for n in range(1, len(key) + 1))
    lengths = [len(key) for key in fuzzy_keys] or [0]
    return _Index(names, prefixes, fuzzy_keys, min(lengths), max(lengths))
