"""UCSC/ENCODE camel-case identifiers (``wgEncodeAwgTfbsHaibGm12878Ebf1sc137065Pcr1xUniPk``) read as words.

ENCODE's files carry these names into GEO (``GSM803404_hg19_wgEncodeHaibTfbsGm12878Ebf1sc137065…``) and into
sample titles. As one word they name nothing; split before each capital that follows a lower-case letter or a digit
they read ``Gm12878``, ``Ebf1sc137065``, ``Pcr1x``. Inside such a word the target is followed by a catalogue or
clone number without a separator (``Ebf1sc137065``, ``Ezh239875``, ``Stat5asc74442``), so target aliases are matched
there as the longest prefix of the word (`annotator.labels.antibody`), and cell types also split where a digit meets
a lower-case letter (``Cd20ro01794`` -> ``Cd20 ro01794``). Only words that start with ``wgEncode`` are split:
ordinary camel case (``McGill``, ``ChIPseq``) is left alone.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9])wgEncode[A-Za-z0-9]+")
_CAPITAL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DIGIT_BOUNDARY = re.compile(r"(?<=[0-9])(?=[a-z])")


def split_identifiers(text: str, digits: bool = False) -> tuple[str, tuple[tuple[int, int], ...]]:
    """`text` with every ``wgEncode…`` word split into words by spaces, and the spans the split words occupy.

    Parameters
    ----------
    text
        Untrusted author text.
    digits
        Also split where a digit meets a lower-case letter (for cell types: ``H1hesc`` -> ``H1 hesc``).

    Examples
    --------
    >>> split_identifiers("GSM1_wgEncodeSydhTfbsK562MaxIggrabPk.gz")[0]
    'GSM1_wg Encode Sydh Tfbs K562 Max Iggrab Pk.gz'
    """
    if "wgEncode" not in text:
        return text, ()
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position, length = 0, 0
    for m in _IDENTIFIER.finditer(text):
        parts.append(text[position : m.start()])
        length += m.start() - position
        spaced = _CAPITAL_BOUNDARY.sub(" ", m.group())
        if digits:
            spaced = _DIGIT_BOUNDARY.sub(" ", spaced)
        spans.append((length, length + len(spaced)))
        parts.append(spaced)
        length += len(spaced)
        position = m.end()
    parts.append(text[position:])
    return "".join(parts), tuple(spans)
