"""The sources of the identifier vocabulary (`build_vocabulary.py`): their versions, licences and attribution
(``identifiers_sources.tsv``), and the notices their licences ask to ship (``identifiers_NOTICE.txt``)."""

from __future__ import annotations

import csv
from pathlib import Path

_BSD3_METASRA = """BSD 3-Clause License

Copyright (c) 2023, MetaSRA developers

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""


def write_notice(path: Path, sources: Path) -> None:
    """The attribution and licence texts the shipped table's sources require (CC-BY attribution; the BSD-3 and
    MIT notices of MetaSRA and cellxgene-ontology-guide, whose files the table is derived from)."""
    from importlib.metadata import distribution

    dist = distribution("cellxgene-ontology-guide")
    mit = next(f for f in dist.files or () if "LICENSE" in str(f)).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in sources.read_text(encoding="utf-8").splitlines()[2:]]
    credits = "\n".join(f"- {name} ({version}), {licence}: {credit}" for name, version, licence, credit in rows)
    path.write_text(
        "Notices for identifiers.sqlite and identifiers_pinned.tsv (built by scripts/build_vocabulary.py)\n\n"
        "These tables are derived from the sources below; each is used under its licence.\n\n"
        f"{credits}\n\n"
        "CC-BY-4.0: https://creativecommons.org/licenses/by/4.0/ ; CC-BY-3.0: "
        "https://creativecommons.org/licenses/by/3.0/ ; Apache-2.0: https://www.apache.org/licenses/LICENSE-2.0 ; "
        "the tables were changed from the sources (names normalised, selected and joined).\n\n"
        f"----- MetaSRA (deweylab/MetaSRA-pipeline) -----\n\n{_BSD3_METASRA}\n"
        f"----- cellxgene-ontology-guide -----\n\n{mit}",
        encoding="utf-8",
    )


def write_sources(path: Path, versions: dict[str, str], bto: dict[str, dict], hgnc: list[dict]) -> None:
    from importlib.metadata import version

    cxg = version("cellxgene-ontology-guide")
    rows = [
        ("Cellosaurus", f"release {versions['CVCL']} (via cellxgene-ontology-guide {cxg})", "CC-BY-4.0",
         "Cellosaurus, SIB Swiss Institute of Bioinformatics; Bairoch A. J Biomol Tech 2018;29:25-38"),
        ("Cell Ontology (CL)", f"{versions['CL']} (via cellxgene-ontology-guide {cxg})", "CC-BY-4.0",
         "Cell Ontology, https://obophenotype.github.io/cell-ontology/"),
        ("UBERON", f"{versions['UBERON']} (via cellxgene-ontology-guide {cxg})", "CC-BY-3.0",
         "Uberon multi-species anatomy ontology, https://obophenotype.github.io/uberon/"),
        ("Experimental Factor Ontology (EFO)", f"{versions['EFO']} (via cellxgene-ontology-guide {cxg})",
         "Apache-2.0", "EFO, EMBL-EBI, https://www.ebi.ac.uk/efo/"),
        ("cellxgene-ontology-guide", cxg, "MIT", "Copyright (c) 2021-Present Chan Zuckerberg Initiative (MIT, text "
         "in identifiers_NOTICE.txt); its bundled ontologies are used at build time only"),
        ("MetaSRA Cellosaurus synonym sets and mappings", "deweylab/MetaSRA-pipeline", "BSD-3-Clause",
         "Copyright (c) 2023, MetaSRA developers (BSD-3-Clause, text in identifiers_NOTICE.txt); "
         "Bernstein et al., Bioinformatics 2017;33:2914-2923"),
        ("HGNC complete set", f"{max(r['modified'] for r in hgnc)[:7]}", "CC0", "HUGO Gene Nomenclature Committee"),
        ("BRENDA Tissue Ontology (BTO)", bto["__header__"].get("data-version", ["?"])[0], "CC-BY-4.0",
         "BRENDA Tissue Ontology, Technische Universitaet Braunschweig; https://www.brenda-enzymes.org"),
    ]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("# Sources of identifiers.sqlite (built by scripts/build_vocabulary.py); attribution as required.\n")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(("source", "version", "licence", "attribution"))
        writer.writerows(rows)
