"""The quality rules keep good text they used to reject (issue 17), each on real text from ../shared/data, and each
checked against `datatrove_compatible=True`, which measures as datatrove's filters (and this stage before) did."""

import gzip
import re
from functools import lru_cache

import pytest
from datatrove.data import Document

from curate.stages.clean import Clean, strip_gutenberg
from curate.stages.quality import QualityRules
from pipeline_helpers import shared


def measure(text, lang="en", **params):
    doc = Document(text=text, id="t", metadata={"lang": lang})
    result = QualityRules(**params).process(doc)
    return doc.metadata, result, doc.text


def failed(meta) -> list[str]:
    return (meta.get("quality_failed_rules") or "").split(",")


@lru_cache(maxsize=None)
def sentences(lang: str) -> list[str]:
    path = shared("langid", "lingua", "sentences", f"{lang}.txt")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=None)
def book_paragraphs(book: str) -> list[str]:
    """A Gutenberg book's paragraphs, unwrapped (as `clean: {unwrap_lines: true}` leaves them)."""
    folder = shared("text", "gutenberg", book)
    text = next(iter(sorted(folder.glob("*.txt")))).read_text(encoding="utf-8", errors="replace")
    text, _ = Clean(unwrap_lines=True).clean_text(strip_gutenberg(text))
    return [p for p in text.split("\n\n") if len(p.split()) >= 8]


def test_alphabetic_words_are_whitespace_words():
    """Gopher: "80% of words contain at least one alphabetic character". Tokenizer words made every comma a word
    without a letter: Alice's dialogue-heavy chapters scored below 0.8."""
    chapter = "\n\n".join(book_paragraphs("11")[480:560])  # the Mock Turtle's and the Gryphon's dialogue
    meta, _, _ = measure(chapter)
    old, _, _ = measure(chapter, datatrove_compatible=True)
    assert old["gopher_alpha_words_ratio"] < 0.8 <= meta["gopher_alpha_words_ratio"]
    assert "gopher_alpha_words_ratio" not in failed(meta)


def test_alphabetic_words_in_thai_are_the_tokenizer_words():
    """In Thai a whitespace chunk is a phrase, and dates and times stand between phrases as chunks of their own."""
    text = " ".join(sentences("th")[:30])
    meta, _, _ = measure(text, "th")
    if meta["gopher_word_count"] is None:
        pytest.skip("no Thai tokenizer installed (the languages extra)")
    assert meta["gopher_alpha_words_ratio"] >= 0.8


def test_closing_quotes_after_the_final_mark_end_a_line():
    """Sherlock Holmes: a paragraph ending in `."` or `?"` was a line without punctuation for FineWeb."""
    quoted = [p for p in book_paragraphs("1661") if re.search(r"[.!?][\"”’']$", p)][:40]
    assert len(quoted) == 40
    for paragraph in quoted:
        meta, _, _ = measure(paragraph, rule_sets=["fineweb"])
        assert meta["fineweb_line_punct_ratio"] == 1.0, paragraph
    old, _, _ = measure(quoted[0], rule_sets=["fineweb"], datatrove_compatible=True)
    assert old["fineweb_line_punct_ratio"] == 0.0


def test_urdu_quotes_close_with_a_turned_comma():
    """Urdu news closes quotes with U+2018 after the full stop (`۔‘`): C4 removed those lines."""
    lines = sentences("ur")
    ending = next(i for i, line in enumerate(lines) if line.endswith("۔‘"))
    paragraph = " ".join(lines[ending - 5:ending + 1])
    meta, result, _ = measure(paragraph, "ur", rule_sets=["c4"])
    old, _, _ = measure(paragraph, "ur", rule_sets=["c4"], datatrove_compatible=True)
    assert old["c4_sentence_count"] == 0 and meta["c4_sentence_count"] >= 3
    assert "c4_sentence_count" not in failed(meta)


def test_an_unterminated_last_sentence_costs_only_itself():
    """A paragraph of sentences whose last one has no final mark was removed whole by C4's line rule (French
    news, a table reference at the end): now only that tail goes."""
    lines = sentences("fr")
    last = next(i for i, line in enumerate(lines) if i > 10 and line.endswith(")") and len(line.split()) > 5)
    paragraph = " ".join(lines[last - 10:last + 1])
    meta, result, text = measure(paragraph, "fr", rule_sets=["c4"])
    old, old_result, _ = measure(paragraph, "fr", rule_sets=["c4"], datatrove_compatible=True)
    assert old["c4_sentence_count"] == 0 and old_result.reason == "c4_sentence_count"
    assert meta["c4_sentence_count"] >= 5
    assert text == " ".join(lines[last - 10:last])  # the kept text: every sentence but the unterminated one


def test_armenian_full_stops_glued_to_words_end_sentences():
    """spaCy's Armenian tokenizer leaves "։" on the word before it; the Sentencizer saw one sentence in thirty."""
    paragraph = " ".join(line for line in sentences("hy")[:60] if line.endswith("։"))
    meta, _, _ = measure(paragraph, "hy", rule_sets=["c4"])
    old, _, _ = measure(paragraph, "hy", rule_sets=["c4"], datatrove_compatible=True)
    assert old["c4_sentence_count"] < 3 <= meta["c4_sentence_count"]


def test_serbian_language_converter_markup_is_cleaned_before_the_curly_bracket_rule():
    lines = [line for line in sentences("sr") if "-{" in line][:20]
    cleaned, changes = Clean().clean_text("\n".join(lines))
    assert "markup" in changes and "{" not in cleaned and "298 m, а минималној 165 m" in cleaned
    meta, _, _ = measure(cleaned, "sr")
    assert "c4_curly_bracket" not in failed(meta)


@lru_cache(maxsize=1)
def extracted_page(name: str) -> str:
    from curate.stages.extract import Extract

    root = shared("extraction", "trafilatura-eval")
    path = next(p for p in (root / "eval" / f"{name}.gz", root / "cache" / f"{name}.gz") if p.is_file())
    return Extract(mode="balanced").extract_text(gzip.decompress(path.read_bytes()).decode("utf-8"))


def test_short_repeated_labels_are_not_duplicated_content():
    """An interview page: the speaker labels "Anne:" and "Sunshine:" repeat; Gopher's duplicate-line fraction
    counted them as repeated lines (0.42 > 0.3)."""
    text, _ = Clean().clean_text(extracted_page("abookshelffullofsunshine.blogspot.com.interview.html"))
    meta, _, _ = measure(text, rule_sets=["gopher"])
    old, _, _ = measure(text, rule_sets=["gopher"], datatrove_compatible=True)
    assert old["gopher_dup_line_frac"] > 0.3 >= meta["gopher_dup_line_frac"]
    assert not {"gopher_dup_line_frac", "gopher_dup_para_frac"} & set(failed(meta))
    repeated = "\n".join(["This sentence is the same on every line of the page."] * 30 + [text])
    assert "gopher_dup_line_frac" in failed(measure(repeated, rule_sets=["gopher"])[0])  # long repeats still count


def test_fineweb_short_lines_are_counted_on_the_page_not_on_c4s_leftovers():
    """A web page's visible text, menus included: its menu lines are what FineWeb's short-line rule is for, but
    C4's line rule removed them before FineWeb measured; measured on the page, the rule fires."""
    from curate.evaluation.corpora import html_paragraphs
    from curate.decoding import decode_bytes

    page = shared("extraction", "trafilatura-eval", "eval", "0af99c85f22b451a93a75bbf99ac412e.html.gz")
    html, _, _ = decode_bytes(gzip.decompress(page.read_bytes()), html=True)
    text, _ = Clean().clean_text(html_paragraphs(html).replace("\n\n", "\n"))
    meta, _, _ = measure(text, "de")
    old, _, _ = measure(text, "de", datatrove_compatible=True)
    assert (old["fineweb_short_line_ratio"] or 0) < 0.67 < meta["fineweb_short_line_ratio"]
    assert "fineweb_short_line_ratio" in failed(meta)
