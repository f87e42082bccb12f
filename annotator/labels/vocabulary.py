"""The shared target vocabulary: every antibody target, assay and control annotator knows, with its aliases.

The single source is the package data file ``annotator/labels/targets.tsv`` (its header comment states the format
and the matching rules). The author-label extractor builds its tables from it (`annotator.labels.marks`,
`annotator.labels.antibody`), and a model card derives what a model knows from it (`targets`, `kind_of`), so the
two cannot drift. Label strings are the canonical symbols: HGNC symbols for proteins (CTCF, POLR2A, EP300 …), the
usual names for histone marks (H3K4me3, H2A.Z), ``DNase-seq`` and ``ATAC-seq`` for assays (not antibodies), and
``input`` and ``IgG`` for controls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

HISTONE, TF, CHROMATIN_PROTEIN, ASSAY, CONTROL = "histone", "tf", "chromatin-protein", "assay", "control"
KINDS: tuple[str, ...] = (HISTONE, TF, CHROMATIN_PROTEIN, ASSAY, CONTROL)
DNASE_SEQ, ATAC_SEQ = "DNase-seq", "ATAC-seq"

_TARGETS_FILE = "targets.tsv"
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Target:
    """One label of the vocabulary: its canonical symbol, what kind of thing it is, and how authors write it."""

    symbol: str
    kind: str  # histone | tf | chromatin-protein | assay | control
    aliases: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def targets() -> tuple[Target, ...]:
    """Every target, assay and control in the vocabulary, in file order (histone marks most profiled first).

    Examples
    --------
    >>> next(t for t in targets() if t.symbol == "REST").aliases
    ('NRSF', 'Nrsf')
    """
    text = resources.files("annotator.labels").joinpath(_TARGETS_FILE).read_text(encoding="utf-8")
    return parse_targets(text)


def symbols(*kinds: str) -> tuple[str, ...]:
    """Canonical symbols of the given kinds (all kinds when none is given), in file order."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown target kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    return tuple(t.symbol for t in targets() if not kinds or t.kind in kinds)


def kind_of(symbol: str) -> str | None:
    """Kind of a canonical symbol (``"tf"`` for ``"CTCF"``); None when the vocabulary does not know it."""
    return _kinds().get(symbol)


def parse_targets(text: str) -> tuple[Target, ...]:
    """Parse the vocabulary file's text: ``symbol<TAB>kind<TAB>alias|alias…`` per line, ``#`` comments.

    Raises
    ------
    ValueError
        A malformed line, an unknown kind, or a symbol or alias claimed twice (an alias must name one target).
    """
    out: list[Target] = []
    owner: dict[str, str] = {}  # alias key (letters and digits, lower case) -> symbol
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or not fields[0].strip():
            raise ValueError(f"{_TARGETS_FILE}:{number}: expected 'symbol<TAB>kind<TAB>aliases', got {line!r}")
        symbol, kind, alias_field = (f.strip() for f in fields)
        if kind not in KINDS:
            raise ValueError(f"{_TARGETS_FILE}:{number}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        aliases = tuple(a.strip() for a in alias_field.split("|") if a.strip())
        for name in (symbol, *aliases):
            key = "".join(_WORD.findall(name)).lower()
            if owner.get(key, symbol) != symbol:
                raise ValueError(f"{_TARGETS_FILE}:{number}: {name!r} already names {owner[key]}")
            owner[key] = symbol
        out.append(Target(symbol, kind, aliases))
    return tuple(out)


@lru_cache(maxsize=1)
def _kinds() -> dict[str, str]:
    return {t.symbol: t.kind for t in targets()}
