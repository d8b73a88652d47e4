"""The reference text's two halves (filters' development set, the ablation's neutral text) never share a document."""

from curate.evaluation.corpora import HALVES, LINGUA_DEV_LINES, half_of, lingua_docs, reference_docs
from pipeline_helpers import shared


def test_halves_are_disjoint_and_cover_every_source():
    data = shared()
    halves = {h: reference_docs(data, h, sources=("readability", "gutenberg", "lingua", "wikipedia")) for h in HALVES}
    keys = {h: {d.key for d in docs} for h, docs in halves.items()}
    texts = {h: {d.text for d in docs} for h, docs in halves.items()}
    assert not keys["dev"] & keys["neutral"]
    assert not texts["dev"] & texts["neutral"], "the same text in both halves"
    for h, docs in halves.items():
        assert {d.source for d in docs} == {"readability", "gutenberg", "lingua", "wikipedia"}, h
        assert all(d.half == h for d in docs)


def test_lingua_paragraphs_respect_the_line_boundary_and_lengths():
    docs = lingua_docs(shared(), languages=["de", "ur"])
    for doc in docs:
        start, end = map(int, doc.key.rsplit("/", 1)[1].split("-"))
        assert 20 <= end - start <= 69  # 20-50, a short remainder merged into the last paragraph
        assert (start < LINGUA_DEV_LINES) == (end <= LINGUA_DEV_LINES), doc.key
        assert half_of(doc.key) == ("dev" if start < LINGUA_DEV_LINES else "neutral")
    assert docs == lingua_docs(shared(), languages=["de", "ur"]), "not deterministic"
