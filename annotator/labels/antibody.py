"""Antibody targets: histone marks (`annotator.labels.marks`), non-histone proteins, assays and input/IgG controls.

Non-histone targets (transcription factors, chromatin proteins) and assays (``DNase-seq``, ``ATAC-seq``) are read
from the shared vocabulary (`annotator.labels.vocabulary`, ``targets.tsv``) and its aliases (``Pol II`` -> POLR2A,
``p300`` -> EP300, ``NFkB`` -> RELA), plus any non-mark label of the model's antibody vocabulary. Aliases are
compared by their letters and digits (``Pol II``, ``Pol-II`` and ``PolII`` are one alias) and must cover whole
words, where ``_``, ``-``, ``.`` and brackets separate words (``K562_MAFK_peaks``, ``GM12878-JunD``, ``EBF1
(sc-137065)``). Aliases with a digit or of five characters or more match in any case; shorter ones only as written
or in capitals, so that ``ar``, ``rest``, ``max`` and ``Jun`` (the month) are not read as AR, REST, MAX and JUN.
Greek letters are read as their Latin initials (``ERα`` = ``ERa``, ``NF-κB`` = ``NF-kB``); ``Max Planck`` is an
institute, and ``DNase`` followed by ``free``/``treated``/``digestion`` is a reagent, not the assay.

An assay is not an antibody: it is reported with kind ``assay`` (see `annotator.labels.extract` for how a sample's
assay is reported). When one text names several targets, the winner is, in this order: a strong control word
(``input``, ``WCE``, ``whole cell extract``, ``no antibody``; an input sample is often titled after the ChIP it
controls, as in ``GM12878_H3K27ac_input``), a histone mark, a non-histone target, an assay, then ``IgG`` (which
also appears in antibody descriptions such as ``rabbit polyclonal IgG``). Within one kind the first in the text
wins. A control named as the background of the ChIP (``H3K27ac vs input``, ``input-normalised``,
``input-subtracted``) does not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from annotator.config import Config
from annotator.labels.marks import find_marks, mark_lexicon
from annotator.labels.records import (
    ASSAY,
    CONTROL,
    EXACT,
    NON_HISTONE,
    NORMALISED,
    SCORE_EXACT,
    SCORE_NORMALISED,
    AntibodyLabel,
)
from annotator.labels.ucsc import split_identifiers
from annotator.labels.vocabulary import ASSAY as ASSAY_KIND
from annotator.labels.vocabulary import CHROMATIN_PROTEIN, TF, targets

DEFAULT_ANTIBODY_FUZZY_THRESHOLD: float = Config.antibody_fuzzy_threshold

#: Non-histone targets (HGNC symbol) and how authors write them, from the shared vocabulary.
NON_HISTONE_TARGETS: dict[str, tuple[str, ...]] = {
    t.symbol: t.aliases for t in targets() if t.kind in (TF, CHROMATIN_PROTEIN)
}
#: Assays (not antibodies): ``DNase-seq``, ``ATAC-seq`` and how authors write them, from the shared vocabulary.
ASSAYS: dict[str, tuple[str, ...]] = {t.symbol: t.aliases for t in targets() if t.kind == ASSAY_KIND}

_STRONG_CONTROL = re.compile(
    r"(?<![a-z0-9])(?:input(?:[ _-]?dna)?|inputs|WCE|whole[ _-]cell[ _-]extracts?|no[ _-]?antibody|no[ _-]?ab)"
    r"(?![a-z0-9])",
    re.IGNORECASE,
)
_IGG = re.compile(r"(?<![a-z0-9])IgG(?![a-z0-9])", re.IGNORECASE)
#: A control named as the *background* of a ChIP ("H3K27ac vs input", "input-normalised peaks") is not the target.
_CONTROL_AS_BACKGROUND = re.compile(
    r"(?:\b(?:vs\.?|versus|over|against|minus|relative[ _-]to|normali[sz]ed[ _-](?:to|by|against|with))"
    r"[ _-]*(?:the[ _-]+)?(?:input|WCE|IgG)(?![a-z0-9]))"
    r"|(?:(?<![a-z0-9])(?:input|WCE|IgG)[ _-]?(?:normali[sz]ed|normali[sz]ation|subtracted|corrected|matched))",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9]+")
#: Lengths of the aliases matched as prefixes of UCSC identifier words: 2-letter ones (AR, GR) begin too many words.
_SHORTEST_PREFIX, _LONGEST_PREFIX = 3, 40
#: One-to-one (so spans keep their positions): Greek letters authors use in target names -> Latin initials.
_GREEK = str.maketrans("αβγδκΑΒΓΔΚ", "abgdkABGDK")
#: Capitalised words that are not targets here: blanked (same length) before aliases are looked up.
_NOT_TARGETS = re.compile(r"\bMax[ _-]+(?:Planck|Delbr\w*)", re.IGNORECASE)
#: ``DNase`` as a reagent (``DNase-free``, ``DNase I treatment``), not the assay: the words right after the span.
_REAGENT_USE = re.compile(r"[ _-]*(?:free|treat|digest)", re.IGNORECASE)


@dataclass(frozen=True)
class _Targets:
    """Target and assay aliases keyed by their words joined (``Pol II`` -> ``PolII``), and the model's spellings."""

    any_case: dict[str, str]  # lower-cased key -> canonical
    as_written: dict[str, str]  # key as written or upper-cased -> canonical
    max_words: int
    prefixes: frozenset[str]  # lower-cased prefixes of every key
    renames: dict[str, str]  # canonical spelling -> the model's spelling when they differ
    assays: frozenset[str]  # canonical names that are assays
    prefix_keys: dict[str, str]  # lower-cased key of 3+ characters -> canonical, for words of UCSC identifiers

    def finditer(self, text: str, identifiers: tuple[tuple[int, int], ...] = ()) -> Iterator[tuple[str, str]]:
        """(canonical, raw span) of every target named in `text`, in order; the longest alias wins at a position.

        Words inside `identifiers` (spans of split ``wgEncode…`` names) match by their longest prefix."""
        plain = _NOT_TARGETS.sub(lambda m: " " * len(m.group()), text.translate(_GREEK))
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(plain)]
        i = 0
        while i < len(words):
            if any(a <= words[i][0] < b for a, b in identifiers):
                if found := self._prefix(words[i][2]):
                    yield found[0], text[words[i][0] : words[i][0] + found[1]]
                i += 1
                continue
            key, hit, last = "", None, i
            for j in range(i, min(i + self.max_words, len(words))):  # grow while an alias can still start so
                key += words[j][2]
                canonical = self.as_written.get(key) or self.any_case.get(key.lower())
                if canonical is not None:
                    hit, last = canonical, j
                if key.lower() not in self.prefixes:
                    break
            if hit is not None and not (hit in self.assays and _REAGENT_USE.match(plain, words[last][1])):
                yield hit, text[words[i][0] : words[last][1]]
                i = last + 1
            else:
                i += 1

    def _prefix(self, word: str) -> tuple[str, int] | None:
        """(canonical, length) of the longest alias that begins `word` (``Ebf1sc137065`` -> EBF1, 4)."""
        lowered = word.lower()
        for n in range(min(len(lowered), _LONGEST_PREFIX), _SHORTEST_PREFIX - 1, -1):
            if canonical := self.prefix_keys.get(lowered[:n]):
                return canonical, n
        return None


def parse_antibody(
    text: str,
    vocabulary: Sequence[str] = (),
    fuzzy_threshold: float = DEFAULT_ANTIBODY_FUZZY_THRESHOLD,
    controls: bool = True,
    assays: bool = True,
) -> AntibodyLabel | None:
    """Read the antibody target (histone mark, non-histone protein, assay or control) an author's text names.

    Parameters
    ----------
    text
        Untrusted author text: a title, a characteristic value, a file name …
    vocabulary
        The model's antibody labels: its marks are known even if not built in, its other labels are read as
        non-histone targets, and labels are returned in the model's spelling.
    fuzzy_threshold
        Minimum rapidfuzz ratio (0-100) for a typo to be corrected (``Config.antibody_fuzzy_threshold``).
    controls
        Read control words (``input``, ``IgG`` …). False for free prose (descriptions), where "input" is usually
        the background the peaks were called against, not what was pulled down.
    assays
        Read assays (``DNase-seq``, ``ATAC-seq``). False for free prose, which often names the assays a ChIP was
        compared with.

    Returns
    -------
    AntibodyLabel | None
        None when the text names no target (``H3`` alone, ``K562``, gene names outside the target table,
        accession and catalogue numbers).

    Examples
    --------
    >>> parse_antibody("IgE H3K3me3 peaks").canonical
    'H3K4me3'
    >>> parse_antibody("VCap shCt AR peaks").kind
    'non_histone'
    >>> parse_antibody("GM12878-JunD").canonical
    'JUND'
    >>> parse_antibody("K562 DNase-seq").kind
    'assay'
    """
    vocab = tuple(vocabulary)
    targets = _targets(vocab)
    text, identifiers = split_identifiers(text)
    label = _choose(text, identifiers, vocab, targets, fuzzy_threshold, controls, assays)
    if label is None or not targets.renames:
        return label
    rename = targets.renames.get
    return AntibodyLabel(
        rename(label.canonical, label.canonical),
        label.raw,
        label.kind,
        label.method,
        label.score,
        tuple(rename(c, c) for c in label.candidates),
    )


def _choose(
    text: str,
    identifiers: tuple[tuple[int, int], ...],
    vocab: tuple[str, ...],
    targets: _Targets,
    fuzzy_threshold: float,
    controls: bool,
    assays: bool,
) -> AntibodyLabel | None:
    """The target `text` names, by the precedence in the module docstring."""
    if controls:
        text_controls = _CONTROL_AS_BACKGROUND.sub(" ", text)
    control = _STRONG_CONTROL.search(text_controls) if controls else None
    if control:
        return _control("input", control.group(0))
    marks = find_marks(text, mark_lexicon(vocab), fuzzy_threshold)
    if marks:
        return marks[0][1]
    found = list(targets.finditer(text, identifiers))
    target = next((hit for hit in found if hit[0] not in targets.assays), None)
    assay = next((hit for hit in found if hit[0] in targets.assays), None) if assays else None
    if target or assay:
        canonical, raw = target or assay  # type: ignore[misc]  # one of them is set
        method, score = (EXACT, SCORE_EXACT) if raw == canonical else (NORMALISED, SCORE_NORMALISED)
        return AntibodyLabel(canonical, raw, NON_HISTONE if target else ASSAY, method, score)
    if controls and (m := _IGG.search(text_controls)):
        return _control("IgG", m.group(0))
    return None


def _control(canonical: str, raw: str) -> AntibodyLabel:
    method, score = (EXACT, SCORE_EXACT) if raw == canonical else (NORMALISED, SCORE_NORMALISED)
    return AntibodyLabel(canonical, raw, CONTROL, method, score)


@lru_cache(maxsize=16)
def _targets(vocab: tuple[str, ...]) -> _Targets:
    """Alias look-ups for the built-in targets and assays plus the model's non-mark labels."""
    lexicon = mark_lexicon(vocab)
    aliases = {name: (name, *extra) for name, extra in (*NON_HISTONE_TARGETS.items(), *ASSAYS.items())}
    builtin = {_key(alias).lower(): name for name, names in aliases.items() for alias in names}
    renames: dict[str, str] = {}
    for label in vocab:
        reading = find_marks(label, lexicon, 100.0)
        if reading and reading[0][1].raw == label:  # the whole label is a mark, perhaps spelt differently
            if reading[0][1].canonical != label:
                renames[reading[0][1].canonical] = label
            continue
        same = builtin.get(_key(label).lower())
        if same is None:
            aliases[label] = (label,)
        elif same != label:
            renames[same] = label
    any_case: dict[str, str] = {}
    as_written: dict[str, str] = {}
    for canonical, names in aliases.items():
        for alias in names:
            key = _key(alias)
            if any(c.isdigit() for c in alias) or len(alias) >= 5:
                any_case.setdefault(key.lower(), canonical)
            else:  # short words: "AR" is a receptor, "ar" is not; "REST" is a protein, "rest" a word
                as_written.setdefault(key, canonical)
                as_written.setdefault(key.upper(), canonical)
    max_words = max(len(_WORD.findall(alias)) for names in aliases.values() for alias in names)
    prefixes = frozenset(key.lower()[:n] for key in (*any_case, *as_written) for n in range(1, len(key) + 1))
    prefix_keys = {key.lower(): name for key, name in (*as_written.items(), *any_case.items()) if len(key) >= 3}
    return _Targets(any_case, as_written, max_words, prefixes, renames, frozenset(ASSAYS), prefix_keys)


def _key(alias: str) -> str:
    """Letters and digits of an alias: ``Pol II``, ``Pol-II`` and ``PolII`` share one key."""
    return "".join(_WORD.findall(alias))
