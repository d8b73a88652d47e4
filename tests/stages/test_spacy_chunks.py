"""`ChunkTokenizer` gives spaCy's own tokens of a whole text, or hands the text back: checked on real text in the
languages of the trafilatura-eval pages, with the whitespace web pages have (blank lines, runs of spaces, tabs)."""

import random

import pytest

from curate.stages.language_words import word_splitter
from curate.stages.spacy_chunks import ChunkTokenizer, spacy_tokens
from pipeline_helpers import shared

SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", " \n", "\t", "\xa0", " - "]


def real_text(lang: str, sentences: int = 400) -> str:
    """lingua's test sentences in `lang` (real web sentences), joined by the whitespace of extracted pages."""
    lines = shared("langid", "lingua", "sentences", f"{lang}.txt").read_text(encoding="utf-8").splitlines()
    rng = random.Random(lang)
    return "".join(line + rng.choice(SEPARATORS) for line in lines[:sentences])


@pytest.mark.parametrize("lang", ["en", "de", "fr", "pl", "pt", "it", "nl"])
def test_tokens_equal_spacy_on_the_whole_text(lang):
    tokenizer = word_splitter(lang)._spacy.tokenizer
    chunks = ChunkTokenizer(tokenizer)
    assert chunks.usable
    text = real_text(lang)
    pieces = [text[i:i + 3000] for i in range(0, len(text), 3000)] + [text, " " + text[:500] + "  "]
    exact = 0
    for piece in pieces:  # the memo fills up as it goes: later pieces mostly reuse remembered chunks
        tokens = chunks(piece)
        if tokens is not None:
            assert tokens == spacy_tokens(tokenizer, piece)
            exact += 1
    # handed back: a few pieces where a special case's tokens run across a space (French "T2) : 329" reads
    # as the emoticon "):", Portuguese "e /ou" as "e/ou")
    assert exact >= 3 * len(pieces) // 4 and len(chunks.memo) > 500


def test_hands_back_what_it_cannot_put_together_exactly():
    # Spanish has special cases with a space inside ("EE. UU."): chunk by chunk is not spaCy's tokenization
    assert not ChunkTokenizer(word_splitter("es")._spacy.tokenizer).usable
    # two chunks that meet with tokens neighbouring inside a special case (":)" is one): the whole text is needed
    english = ChunkTokenizer(word_splitter("en")._spacy.tokenizer)
    assert ((":", ")"), 1) in english.special_neighbours[":", ")"]
    assert english("Nice one : ) see you") is None
    assert english("Nice one :) see you") is not None
    assert english("In 2001) - and later") is not None  # ")" then "-" begin ")-:", but no ":" follows
    # and the splitter then tokenizes it whole: the same words as spaCy's
    split = word_splitter("en").split("Nice one : ) see you")
    assert split.tokens == spacy_tokens(english.tokenizer, "Nice one : ) see you")


def test_shared_charsets_compile_spacy_s_patterns_to_the_same_code():
    """Inside shared_charsets() Python's regex compiler gives every pattern of real spaCy tokenizers (French's
    TOKEN_MATCH repeats its letter classes hundreds of times) the same compiled program as outside it."""
    try:
        from re import _compiler as compiler
        from re import _parser as parser
    except ImportError:  # Python 3.10
        import sre_compile as compiler
        import sre_parse as parser

    from curate.stages.nlp_imports import shared_charsets

    patterns = []
    for lang in ("fr", "de", "en", "xx"):
        tokenizer = word_splitter(lang)._spacy.tokenizer
        for search in (tokenizer.prefix_search, tokenizer.suffix_search, tokenizer.infix_finditer,
                       tokenizer.token_match, tokenizer.url_match):
            if search is not None:
                patterns.append(search.__self__)
    assert len(patterns) >= 12 and max(len(p.pattern) for p in patterns) > 100_000  # French's TOKEN_MATCH

    def programs():
        return [compiler._code(parser.parse(p.pattern, p.flags), p.flags) for p in patterns]

    outside = programs()
    with shared_charsets():
        inside = programs()
        assert compiler._optimize_charset.shares_charsets
    assert inside == outside
    assert not getattr(compiler._optimize_charset, "shares_charsets", False)  # put back
