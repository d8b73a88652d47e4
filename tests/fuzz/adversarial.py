"""Hypothesis strategies for random and adversarial inputs, shared by the fuzz tests.

Texts are built from pieces: any Unicode, real sentences in several scripts (so that the stages take their deep
paths: language-specific tokenizers, stop words, PII recognizers), zero-width and bidi characters, lone surrogates,
NUL and other control characters, broken and deeply nested markup, and enormous lines. Files are random bytes,
texts in mixed encodings (one file, several codecs), with or without a BOM, empty, or cut short.

Every fuzz test runs derandomized (a fixed seed, no example database): CI sees the same examples on every run.
"""

import gzip
from functools import lru_cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pipeline_helpers import shared


def fuzz_settings(max_examples: int) -> settings:
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202e", "\u2066"]
CONTROLS = ["\x00", "\x01", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9b", "\r", "\r\n", "\u2028", "\u2029", "\x0c"]
LONE_SURROGATES = ["\ud800", "\udfff", "\udc80"]
ODD = ["\ufffd", "\U0010ffff", "\ufdd0", "\U0001f469\u200d\U0001f469\u200d\U0001f467", "\U0001f1fa\U0001f1f8",
       "e\u0301\u0301\u0301\u0301", "ﬁ", "Ａ", "İ", "ß", "ǅ", "\u0e01\u0e34\u0e19", "A" * 300]
TAGS = ["<html>", "<body>", "</body>", "<div>", "</div>", "<p>", "</p>", "<script>", "</script>", "<style>",
        "<!--", "-->", "<![CDATA[", "]]>", "<table><tr><td>", "<br/>", "<a href='", "\">", "&nbsp;", "&#0;",
        "&#xD800;", "&#1114112;", "&amp", "&#x1F600;", '<meta charset="shift_jis">', "<meta charset=nope>",
        "<?xml version='1.0' encoding='utf-16'?>", "<svg><math>", "<title>", "</title>", "<noscript>",
        "<iframe src=x>", "<", ">", "</", "<p", "<!DOCTYPE html>", "<pre>", "<textarea>", "<template>"]
CODECS = ["utf-8", "latin-1", "cp1252", "shift_jis", "euc-jp", "gb18030", "big5", "koi8-r", "utf-16", "utf-16-be",
          "utf-32", "iso-8859-7", "cp1251"]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]
LANGUAGES = ["en", "de", "fr", "ru", "ar", "zh", "ja", "th", "hi", "el", "ko", "he", "vi", "tr"]


@lru_cache(maxsize=None)
def sentences() -> list[str]:
    """A few real sentences per language (lingua's test sentences) and a paragraph of a Gutenberg book."""
    found = []
    for lang in LANGUAGES:
        found += shared("langid", "lingua", "sentences", f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:5]
    book = shared("text", "gutenberg", "1342", "1342.txt").read_text(encoding="utf-8")
    found.append(book[20_000:24_000])
    # text the PII stage reacts to
    found += ["Mail jane.doe@example.org or call +1 (415) 555-0132.", "IBAN DE89 3704 0044 0532 0130 00, "
              "card 4111 1111 1111 1111, IP 8.8.8.8, SSN 078-05-1120"]
    return found


def real_sentences():
    return st.sampled_from(sentences())


def _repeated(piece: str, times: int) -> str:
    return piece * times


def text_pieces(allow_surrogates: bool = True):
    pieces = [st.text(max_size=60), real_sentences(), st.sampled_from(ZERO_WIDTH + CONTROLS + ODD),
              st.sampled_from(TAGS), st.sampled_from([" ", "\n", "\n\n", "\t", "  "])]
    if allow_surrogates:
        pieces.append(st.sampled_from(LONE_SURROGATES))
    return st.one_of(*pieces)


def enormous_line():
    """One line of 20k-200k characters: a word without spaces, a repeated word, or repeated real text."""
    piece = st.one_of(st.sampled_from(["a", "ab", "xyz ", "漢", "💩", "-", "<b>"]), real_sentences())
    return st.builds(lambda p, n: _repeated(p, max(1, n // max(1, len(p)))), piece, st.integers(20_000, 200_000))


def nested_markup(text=None):
    tag = st.sampled_from(["div", "span", "b", "table", "ul", "li", "a", "section", "p"])
    inner = text if text is not None else st.one_of(real_sentences(), st.text(max_size=40))
    return st.builds(lambda t, n, body: f"<{t}>" * n + body + f"</{t}>" * n, tag, st.integers(50, 3000), inner)


def texts(allow_surrogates: bool = True, large: bool = True):
    """Adversarial text for a document; mostly short, sometimes enormous or deeply nested."""
    short = st.lists(text_pieces(allow_surrogates), max_size=12).map("".join)
    options = [short, short, short, nested_markup(short)]
    if large:
        options.append(st.builds(lambda a, b, c: a + b + c, short, enormous_line(), short))
    return st.one_of(*options)


def broken_html(allow_surrogates: bool = False):
    piece = st.one_of(st.sampled_from(TAGS), text_pieces(allow_surrogates))
    return st.one_of(st.lists(piece, max_size=40).map("".join), nested_markup())


def mixed_encoding_bytes():
    """One byte string whose parts are encoded with different codecs (what a badly assembled page looks like)."""
    part = st.tuples(st.one_of(real_sentences(), st.text(max_size=40)), st.sampled_from(CODECS))
    return st.builds(lambda bom, parts: bom + b"".join(t.encode(codec, "replace") for t, codec in parts),
                     st.sampled_from(BOMS), st.lists(part, min_size=1, max_size=6))


def file_bytes(html: bool = False):
    """The content of an input file: random bytes, mixed encodings, adversarial text as UTF-8 (or UTF-8 with
    escaped surrogates), empty, or any of these cut short or gzipped."""
    text = broken_html() if html else texts(allow_surrogates=False, large=False)
    content = st.one_of(
        st.binary(max_size=2000),
        mixed_encoding_bytes(),
        text.map(lambda t: t.encode("utf-8")),
        texts(large=False).map(lambda t: t.encode("utf-8", "surrogatepass")),  # invalid UTF-8: encoded surrogates
        st.just(b""),
        enormous_line().map(lambda t: t.encode("utf-8")),
    )
    return st.one_of(content, content, st.builds(lambda data, cut: data[:cut], content, st.integers(0, 500)))


def gzipped(data: bytes, cut: int | None) -> bytes:
    packed = gzip.compress(data, mtime=0)
    return packed if cut is None else packed[:cut]
