"""How an author's cell type and a model's label relate in the ontologies, for reconcile.

Two different names are not always a disagreement: an author's ``HeLa`` and a model's ``HeLa-S3`` are a line and
its subline (Cellosaurus/BTO "derived from"), an author's ``T cells`` and a model's ``CD4+ T cells`` a cell type and
a kind of it (Cell Ontology), an author's ``liver`` and a model's ``HepG2`` a tissue and a line derived from it
(MetaSRA's Cellosaurus -> UBERON mapping, with UBERON's ancestors). Everything else is unrelated: in particular a
tissue and a cell line are compared only where the ontologies tie the line to that tissue (or a part of it).
"""

from __future__ import annotations

from annotator.labels.identifiers import CELL_ONTOLOGY, CELLOSAURUS, UBERON, identify, related_terms, term_label
from annotator.labels.records import AuthorLabel

_MAX_LINEAGE = 4  # sublines of sublines: how far up "derived from" is followed


def relation(author: AuthorLabel, model_label: str) -> str | None:
    """Why the author's cell type and the model's label are related, in words; None when they are not or when
    either has no identifier. Two names of one term (``B cells`` and a model's ``CD20+``) are related as the same.

    Examples: ``"HeLa (CVCL_0030) is the parent line of the model's HeLa-S3 (CVCL_0058)"``.
    """
    if author.group != "cell_type" or author.ontology_id is None:
        return None
    model = identify(model_label)
    if model is None or model.id is None:
        return None
    if model.id == author.ontology_id:
        return f"both name {_name(model.id)}"
    return relate(author.ontology_id, model.id, model_label)


def relate(author_id: str, model_id: str, model_label: str = "") -> str | None:
    """The relation of two identifiers (see `relation`)."""
    a, m = _name(author_id), f"the model's {model_label or term_label(model_id)} ({model_id})"
    if author_id.startswith(CELLOSAURUS) and model_id.startswith(CELLOSAURUS):
        up_a, up_m = _lineage(author_id), _lineage(model_id)
        if model_id in up_a:
            return f"{a} is derived from {m}"
        if author_id in up_m:
            return f"{a} is the parent line of {m}"
        shared = sorted((up_a & up_m) - {author_id, model_id})
        return f"{a} and {m} both derive from {_name(shared[0])}" if shared else None
    if model_id.startswith(CELLOSAURUS) and author_id.startswith((UBERON, CELL_ONTOLOGY)):
        for line in sorted(_lineage(model_id)):
            for origin in sorted(t for t in related_terms(line) if not t.startswith(CELLOSAURUS)):
                if origin == author_id or author_id in related_terms(origin):
                    return f"{m} is a line derived from {_name(origin)}, which is (part of) {a}"
        return None
    same_ontology = author_id.split(":")[0] == model_id.split(":")[0]
    if same_ontology and model_id in related_terms(author_id):
        return f"{a} is a kind or part of {m}"
    if same_ontology and author_id in related_terms(model_id):
        return f"{m} is a kind or part of {a}"
    return None


def _lineage(line: str) -> set[str]:
    """A cell line and the lines it derives from, up to `_MAX_LINEAGE` steps."""
    seen, frontier = {line}, {line}
    for _ in range(_MAX_LINEAGE):
        frontier = {p for t in frontier for p in related_terms(t) if p.startswith(CELLOSAURUS)} - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def _name(term: str) -> str:
    return f"{term_label(term) or term} ({term})"
