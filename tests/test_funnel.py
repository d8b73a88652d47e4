"""The funnel's token count of a page that arrives as bytes is the count of its decoded text, without decoding it,
and a long text's count (taken from its UTF-8) is the definition's: on real pages in many languages, on every
character the count treats specially, and on fuzzed bytes."""

import gzip
import random

from curate.funnel import _SPACELESS, _UTF8_SPACES_2, _UTF8_SPACES_3, count_tokens, count_tokens_utf8
from pipeline_helpers import shared


def by_definition(text: str) -> int:
    """Whitespace-separated words, plus one per character of a script written without spaces."""
    return len(text.split()) + len(_SPACELESS.findall(text))


def decoded_count(raw: bytes) -> int:
    return by_definition(raw.decode("utf-8", "replace"))


def test_equal_to_the_decoded_count_on_real_pages():
    pages = sorted(shared("extraction", "trafilatura-eval").glob("*/*.html.gz"))
    pages += sorted(shared("extraction", "readability-testpages", "test", "test-pages").glob("*/source.html.gz"))
    assert len(pages) > 1100
    for page in pages:
        raw = gzip.decompress(page.read_bytes())
        assert count_tokens_utf8(raw) == decoded_count(raw), page
        text = raw.decode("utf-8", "replace")
        assert len(text) < 8192 or count_tokens(text) == by_definition(text), page  # (long: counted in UTF-8)


def test_equal_in_75_languages_and_their_scripts():
    spaceless = 0
    for sentences in sorted(shared("langid", "lingua", "sentences").glob("*.txt")):
        text = sentences.read_text(encoding="utf-8")[:20_000]
        raw = text.encode()
        assert count_tokens_utf8(raw) == count_tokens(text) == by_definition(text), sentences.name
        spaceless += bool(_SPACELESS.search(text))
    assert spaceless >= 3  # Chinese, Japanese, Thai among them


def test_every_whitespace_and_spaceless_boundary_character():
    spaces = {chr(c).encode() for c in range(0x80, 0x110000) if chr(c).isspace()}
    listed = {code.to_bytes(2, "big") for code in _UTF8_SPACES_2.tolist()}
    listed |= {code.to_bytes(3, "big") for code in _UTF8_SPACES_3.tolist()}
    assert listed == spaces
    special = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    for start, end in [(0x0E00, 0x10A0), (0x1780, 0x1800), (0x3040, 0x3100), (0x3400, 0x4DC0), (0x4E00, 0xA000),
                       (0xF900, 0xFB00), (0xFF66, 0xFFA0), (0x20000, 0x31350)]:
        special += [chr(start - 1), chr(start), chr(end - 1), chr(end)]
    for char in special:
        for text in (char, f"a{char}b", f"{char}{char}x {char}", f"word{char}"):
            assert count_tokens_utf8(text.encode()) == by_definition(text), repr(text)
            long = (text + " ") * (8192 // len(text) + 1)
            assert count_tokens(long) == by_definition(long), repr(text)
    lone_surrogates = "a\ud800 b\udfff\u4e00 " * 2000  # (text decoded with surrogateescape has them)
    assert count_tokens(lone_surrogates) == by_definition(lone_surrogates)


def test_equal_on_fuzzed_bytes():
    """Truncated and corrupted UTF-8: what decodes to U+FFFD never counts as whitespace or spaceless."""
    rng = random.Random(18)
    alphabet = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    alphabet += ["a", "é", "’", "中", "ก", "ア", "\U00020001", "\U00031349", "\ufffd", "Ω", "ﾀ", "\ufeff", "\x00"]
    for _ in range(20_000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))).encode()
        for _ in range(rng.randint(0, 3)):  # a byte replaced, dropped or inserted
            if raw:
                at = rng.randrange(len(raw))
                raw = rng.choice([raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1:], raw[:at] + raw[at + 1:],
                                  raw[:at] + bytes([rng.choice([0x80, 0xBF, 0xC2, 0xE2, 0xF0])]) + raw[at:]])
        assert count_tokens_utf8(raw) == decoded_count(raw), raw


def test_doc_size_of_a_page_as_bytes_and_as_text():
    from datatrove.data import Document

    from curate.decoding import decode_bytes
    from curate.funnel import doc_size

    for page in sorted(shared("extraction", "trafilatura-eval").glob("eval/*.html.gz"))[:200]:
        raw = gzip.decompress(page.read_bytes())
        text = decode_bytes(raw, html=True)[0]
        for content in (raw, text, text[:3000]):
            decoded = content if isinstance(content, str) else content.decode("utf-8", "replace")
            size = doc_size(Document(text=content, id="x"))
            assert size.tokens == by_definition(decoded), page
            assert size.bytes == (len(content) if isinstance(content, bytes) else len(content.encode())), page
