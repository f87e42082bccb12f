"""The histone-mark grammar: one compiled regex for every way authors write a mark, and the rules that turn a
match into a canonical mark.

A mark is ``H<histone>K<residue><modification>`` (``H3K4me3``). Authors write it in many ways, all read by
`_MARK`:

- any case and separators: ``h3k4me3``, ``H3K4-me3``, ``H3_K4me3``, ``H3 K4 me3``, ``H3K4Me3``;
- no histone: ``K4me3``, ``k27ac`` (the histone is the one that carries that mark, H3 first);
- ``m3`` for ``me3``, words for the modification: ``tri``/``trimethyl``, ``di``, ``mono``, ``acetyl`` …, before or
  after the residue: ``H3K4 tri``, ``Tri-Methyl-Histone H3 (Lys4)``, ``Histone H3 (acetyl K27)``,
  ``histone H3 lysine 4 trimethylation``;
- antibody strings: ``anti-H3K27ac (Abcam ab4729)`` (the catalogue number is not read);
- no modification (``K27``, ``H3K4``): *inferred*, the most frequently profiled mark on that residue;
- typos (``H3K3me3``, ``H3K27ace``): corrected when exactly one edit away from a known mark (`_typo_distance`,
  where a keyboard neighbour costs half an edit, so ``H3K3me3`` reads as ``H3K4me3`` rather than ``H3K36me3``)
  and the rapidfuzz ratio reaches the fuzzy threshold.

Variants (``H2A.Z``, ``H2AZ``, ``H3.3``) are matched by `_VARIANT`. What is *not* a mark: ``H3`` alone, ``K562``
(a residue no mark sits on), ``H3K27M`` (an oncohistone mutation), gene names (``KDM5A``) and catalogue numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from annotator.labels.records import (
    EXACT,
    FUZZY,
    HISTONE_MARK,
    INFERRED,
    NORMALISED,
    SCORE_EXACT,
    SCORE_INFERRED_AMBIGUOUS,
    SCORE_INFERRED_UNIQUE,
    SCORE_NORMALISED,
    AntibodyLabel,
)
from annotator.labels.vocabulary import HISTONE, symbols
from annotator.model.classes import REPRESSIVE

#: Marks profiled by ChIP-seq (Roadmap Epigenomics and ENCODE), most frequently profiled first: when a bare residue
#: or a typo has several readings, the earliest one is chosen. Read from the shared vocabulary (`targets.tsv`).
KNOWN_MARKS: tuple[str, ...] = tuple(s for s in symbols(HISTONE) if re.match(r"^H(2A|2B|3|4)K\d+[a-z0-9]+$", s))

#: Histone variants, read by `_VARIANT`; canonical spelling -> regex body.
VARIANTS: dict[str, str] = {"H2A.Z": r"H2A[ ._-]?Z|H2AFZ", "H3.3": r"H3\.3|H3F3A"}

#: Marks of repressed or broad domains, which BEDspace predicts with low confidence (paper Fig. S2D).
#: H3K36me3 is not repressive but covers broad gene bodies and behaves the same way in the model.
REPRESSIVE_MARKS: frozenset[str] = REPRESSIVE

#: Residues that may stand alone without a histone (``K27``); ``K562`` and other numbers are not read as marks.
_BARE_RESIDUES = frozenset({4, 9, 20, 27, 36, 79})

#: Spelling of a modification (lower case, separators removed) -> canonical suffix; None = methylated, degree
#: not given.
_MODIFICATIONS: dict[str, str | None] = {
    **{w: "me1" for w in ("me1", "m1", "mono", "monomethyl", "monomethylated", "monomethylation")},
    **{w: "me2" for w in ("me2", "m2", "di", "dimethyl", "dimethylated", "dimethylation")},
    **{w: "me3" for w in ("me3", "m3", "tri", "trimethyl", "trimethylated", "trimethylation")},
    **{w: "ac" for w in ("ac", "acetyl", "acetylated", "acetylation")},
    **{w: "ub1" for w in ("ub", "ub1", "ubiquityl", "ubiquitylated", "ubiquitinated", "ubiquitination")},
    "me": None,
    "methyl": None,
    "methylated": None,
    "methylation": None,
}
_MOD_WORD = r"(?:(?:tri|di|mono)[ _-]?methyl(?:ated|ation)?|acetyl(?:ated|ation)?)"
_SEP = r"[ ._-]{0,2}"  # authors separate the parts with at most a couple of these; never across lines
_START = r"(?:(?<![a-z0-9])|(?<=anti))"  # a mark starts a token; "antiH3K4me3" still counts

_MARK = re.compile(
    _START
    + rf"(?:(?P<pre>{_MOD_WORD})[ _-]{{0,2}})?"  # Tri-Methyl-Histone H3 (Lys4)
    + rf"(?:(?:histone{_SEP})?H(?P<hist>2A|2B|3|4){_SEP}\(?[ ]?)?"
    + rf"(?:(?P<mid>{_MOD_WORD})[ _-]{{0,2}})?"  # Histone H3 (tri methyl K4)
    + rf"(?P<lys>K|lys(?:ine)?){_SEP}(?P<res>\d{{1,3}})(?!\d)(?P<close>\))?"
    + rf"(?:(?P<modsep>{_SEP})(?P<mod>[a-z]+(?:-?[123])?))?",
    re.IGNORECASE,
)
_VARIANT = re.compile(
    _START + "(?:" + "|".join(f"(?P<v{i}>{body})" for i, body in enumerate(VARIANTS.values())) + r")(?![a-z0-9])",
    re.IGNORECASE,
)
_HISTONE_PREFERENCE = ("3", "4", "2A", "2B")  # when the author gives no histone: H3 carries most profiled marks
_MARK_PARTS = re.compile(r"^H(2A|2B|3|4)K(\d+)([a-z0-9]+)$")

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOUR_KEYS = frozenset(frozenset(row[i : i + 2]) for row in _KEYBOARD_ROWS for i in range(len(row) - 1))
_MAX_TYPO_EDITS = 1.0


@dataclass(frozen=True)
class _Lexicon:
    """Known marks (built in plus the model's), indexed for the look-ups the grammar needs."""

    marks: tuple[str, ...]  # most frequently profiled first
    by_lower: dict[str, str]  # "h3k4me3" -> "H3K4me3"
    by_site: dict[tuple[str, int], tuple[str, ...]]  # ("3", 4) -> ("H3K4me3", "H3K4me1", …)
    lowered: tuple[str, ...]  # "h3k4me3", same order as marks
    residue_parts: tuple[str, ...]  # "k4me3": for comparing text that names no histone


@lru_cache(maxsize=16)
def mark_lexicon(extra: tuple[str, ...] = ()) -> _Lexicon:
    """Lexicon of `KNOWN_MARKS` plus the mark-shaped labels in `extra` (a model's antibody vocabulary)."""
    marks = list(KNOWN_MARKS)
    marks += [m for m in extra if _MARK_PARTS.match(m) and m not in marks]
    by_site: dict[tuple[str, int], list[str]] = {}
    for mark in marks:
        hist, res, _ = _MARK_PARTS.match(mark).groups()  # type: ignore[union-attr]  # filtered above
        by_site.setdefault((hist, int(res)), []).append(mark)
    return _Lexicon(
        marks=tuple(marks),
        by_lower={m.lower(): m for m in marks},
        by_site={site: tuple(ms) for site, ms in by_site.items()},
        lowered=tuple(m.lower() for m in marks),
        residue_parts=tuple(m[m.index("K") :].lower() for m in marks),
    )


def find_marks(text: str, lexicon: _Lexicon, fuzzy_threshold: float) -> list[tuple[int, AntibodyLabel]]:
    """Every histone mark and variant in `text` as (position, label), in order of position.

    Parameters
    ----------
    text
        Untrusted author text (title, characteristic value …).
    lexicon
        Known marks, from `mark_lexicon`.
    fuzzy_threshold
        Minimum rapidfuzz ratio (0-100) for a typo correction.
    """
    found = []
    position = 0
    while m := _MARK.search(text, position):
        label = _read_mark(m, lexicon, fuzzy_threshold)
        if label is not None:
            found.append((m.start(), label))
            position = m.end()
        else:  # "K562 H3K27ac": the failed match swallowed the start of the real one, so look again just after
            position = m.start() + 1
    for m in _VARIANT.finditer(text):
        canonical = next(name for i, name in enumerate(VARIANTS) if m.group(f"v{i}"))
        raw = m.group(0)
        method, score = (EXACT, SCORE_EXACT) if raw == canonical else (NORMALISED, SCORE_NORMALISED)
        found.append((m.start(), AntibodyLabel(canonical, raw, HISTONE_MARK, method, score)))
    return sorted(found, key=lambda item: item[0])


def _read_mark(m: re.Match[str], lexicon: _Lexicon, fuzzy_threshold: float) -> AntibodyLabel | None:
    """Canonical mark for one regex match, or None when the match is not a mark after all."""
    hist = m["hist"].upper() if m["hist"] else None
    res = int(m["res"])
    end = m.end()
    mod_text = m["mod"]
    modification: str | None = None
    if mod_text is not None:
        key = mod_text.lower().replace("-", "")
        if key in _MODIFICATIONS:
            modification = _MODIFICATIONS[key] or "me"
        elif m["modsep"]:  # a separate word after the residue ("K27 peaks") is not part of the mark
            mod_text, end = None, m.end("close") if m["close"] else m.end("res")
        else:  # glued to the residue: a typo ("H3K27ace") or not a mark at all ("H3K27M", "K562cells")
            return _correct_typo(m.group(0), hist, res, key, lexicon, fuzzy_threshold)
    if mod_text is None and (word := m["pre"] or m["mid"]):
        modification = _MODIFICATIONS.get(re.sub(r"[ _-]", "", word.lower()))
    raw = m.string[m.start() : end]
    if modification is None or modification == "me":
        return _infer(raw, hist, res, modification, lexicon)
    histones = (hist,) if hist else _HISTONE_PREFERENCE
    readings = [f"H{h}K{res}{modification}" for h in histones if f"H{h}K{res}{modification}" in lexicon.marks]
    if not readings:
        return _correct_typo(raw, hist, res, modification, lexicon, fuzzy_threshold)
    canonical = readings[0]
    if raw == canonical:
        return AntibodyLabel(canonical, raw, HISTONE_MARK, EXACT, SCORE_EXACT)
    if hist is None and len(readings) > 1 and readings[0][:2] != "H3":
        # "K5ac" sits on H2A, H2B and H4: which one the author meant is a guess
        return AntibodyLabel(canonical, raw, HISTONE_MARK, INFERRED, SCORE_INFERRED_AMBIGUOUS, tuple(readings))
    return AntibodyLabel(canonical, raw, HISTONE_MARK, NORMALISED, SCORE_NORMALISED)


def _infer(raw: str, hist: str | None, res: int, modification: str | None, lexicon: _Lexicon) -> AntibodyLabel | None:
    """A mark whose modification (or its degree) was left out: every known mark that fits, most profiled first."""
    if hist is None and res not in _BARE_RESIDUES:
        return None
    histones = (hist,) if hist else _HISTONE_PREFERENCE
    readings = [
        mark
        for h in histones
        for mark in lexicon.by_site.get((h, res), ())
        if modification is None or mark.endswith(("me1", "me2", "me3"))
    ]
    if not readings:
        return None
    readings.sort(key=lexicon.marks.index)
    score = SCORE_INFERRED_UNIQUE if len(readings) == 1 else SCORE_INFERRED_AMBIGUOUS
    return AntibodyLabel(readings[0], raw, HISTONE_MARK, INFERRED, score, tuple(readings))


def _correct_typo(
    raw: str, hist: str | None, res: int, modification: str, lexicon: _Lexicon, fuzzy_threshold: float
) -> AntibodyLabel | None:
    """The known marks at most one edit from what was written, closest (then most profiled) first."""
    from rapidfuzz import fuzz  # only for a mark no table spells so: `annotator labels` starts without it

    written = f"{'h' + hist if hist else ''}k{res}{modification}".lower()
    targets = lexicon.lowered if hist else lexicon.residue_parts  # compare like with like
    closest = _closest(written, targets)
    if not closest:
        return None
    score = float(fuzz.ratio(written, targets[closest[0]]))
    if score < fuzzy_threshold:
        return None
    candidates = tuple(lexicon.marks[i] for i in closest)
    return AntibodyLabel(candidates[0], raw, HISTONE_MARK, FUZZY, round(score, 1), candidates)


@lru_cache(maxsize=4096)
def _closest(written: str, targets: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of `targets` within one typo of `written`, closest first, ties in `targets` order."""
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    # the weighted distance is at least half the plain one, so rapidfuzz's C code can discard the rest first
    scorer = cast(Any, OSA.distance)  # rapidfuzz's stubs type scorers as float-valued; OSA.distance is int-valued
    near = process.extract(written, targets, scorer=scorer, score_cutoff=2 * _MAX_TYPO_EDITS, limit=None)
    scored = sorted((_typo_distance(written, targets[i]), i) for _, _, i in near)
    return tuple(i for distance, i in scored if distance <= _MAX_TYPO_EDITS)


def _typo_distance(a: str, b: str) -> float:
    """Optimal-string-alignment distance in which a keyboard neighbour (3 for 4, n for m) costs half an edit."""
    before: list[float] = []
    previous = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                substitution = 0.0
            elif frozenset((a[i - 1], b[j - 1])) in _NEIGHBOUR_KEYS:
                substitution = 0.5
            else:
                substitution = 1.0
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]
