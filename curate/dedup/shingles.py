"""Text normalisation and n-gram shingles, hashed with numpy in one pass per document.

Normalisation (as datatrove's `simplify_text` with its default `TextNormConfig`, minus diacritics folding and number
rewriting): lowercase; whitespace and every character of datatrove's punctuation set (`datatrove.utils.text.
PUNCTUATION`: ASCII, CJK and typographic punctuation) separate tokens. Letters, digits, combining marks (so Hindi
or Arabic words stay whole) and symbols are token characters.

Tokens (the `words` unit): maximal runs of token characters, except that every character of a script written without
spaces between words -- Thai, Lao, Tibetan, Myanmar, Khmer, Hiragana, Katakana, Han -- is a token of its own. So a
Chinese, Japanese or Thai text is shingled by character n-grams and a mixed text by words and characters; no
dictionary segmenter is needed and the rule is the same on every machine. The `chars` unit takes every character of
the normalised text (tokens joined by one space) as a token.

Short documents: a document with fewer than n tokens (but at least one) has exactly one shingle, its whole token
sequence, so two short documents are duplicates only when their normalised texts are equal. A document with no
token at all (empty, or punctuation only) has no shingle, no signature, and is never a near-duplicate (exact_dedup
handles empty texts).

Hashing, without building any n-gram string: one table lookup per code point lowercases and marks separators; a
token's hash is a polynomial over its code points mod 2^64 (all tokens at once from one prefix sum), mixed by the
MurmurHash3 64-bit finaliser; an n-gram's hash is the same polynomial over its n token hashes, finalised again.
`tokens` and `ngram_strings` are the plain-Python statement of the same rule (tests check the hashes against a
Python transcription). 32-bit shingle hashes (what datasketch's MinHash consumes) are the top 32 bits.
"""

from __future__ import annotations

import re

import numpy as np

# Scripts written without spaces between words, whose every character is one token: Thai, Lao, Tibetan, Myanmar,
# Khmer, Hiragana + Katakana, CJK extension A, CJK unified ideographs, CJK compatibility ideographs, half-width
# Katakana, CJK extensions B-G.
_NO_SPACE_RANGES = [(0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x0F00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF),
                    (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
                    (0x20000, 0x3134F)]
_NO_SPACE_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _NO_SPACE_RANGES)
_SPLIT_CHARS = re.compile(f"([{_NO_SPACE_CLASS}])")
_HAS_SPLIT_CHARS = re.compile(f"[{_NO_SPACE_CLASS}]")

UNITS = ("words", "chars")

# Polynomial hash base: a fixed odd 64-bit constant (odd, so invertible mod 2^64, which lets a span's hash be
# shifted to position 0 by multiplying with the inverse power).
_BASE = 0x9E3779B97F4A7C15
_BASE_INV = pow(_BASE, -1, 1 << 64)
_powers = np.ones(1, dtype=np.uint64)
_inverse_powers = np.ones(1, dtype=np.uint64)


_PUNCTUATION = None


def _punctuation() -> re.Pattern:
    # datatrove's punctuation set (ASCII, CJK and typographic punctuation; datatrove/utils/text.py), so that our
    # normalisation agrees with datatrove's dedup blocks. A regex over the set is ~3x faster than str.translate.
    global _PUNCTUATION
    if _PUNCTUATION is None:
        from datatrove.utils.text import PUNCTUATION

        _PUNCTUATION = re.compile("[" + "".join(re.escape(c) for c in sorted(set(PUNCTUATION))) + "]+")
    return _PUNCTUATION


def normalize(text: str) -> str:
    """Lowercase, punctuation -> space, whitespace runs -> one space, stripped."""
    return " ".join(_punctuation().sub(" ", text.lower()).split())


def tokens(text: str, unit: str = "words") -> list[str]:
    """The tokens of `text` (normalised here) under the module's rule (see the module docstring)."""
    text = _punctuation().sub(" ", text.lower())
    if unit == "chars":
        return list(" ".join(text.split()))
    if unit != "words":
        raise ValueError(f"shingle unit must be one of {UNITS}, got {unit!r}")
    if _HAS_SPLIT_CHARS.search(text):
        text = _SPLIT_CHARS.sub(r" \1 ", text)
    return text.split()


def _power_tables(length: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE^k and BASE^-k mod 2^64 for k < length, cached and grown by doubling."""
    global _powers, _inverse_powers
    if len(_powers) < length:
        size = max(length, 2 * len(_powers))
        with np.errstate(over="ignore"):
            _powers = np.cumprod(np.full(size, _BASE, dtype=np.uint64), dtype=np.uint64)
            _powers = np.concatenate([[np.uint64(1)], _powers[:-1]])
            _inverse_powers = np.cumprod(np.full(size, _BASE_INV, dtype=np.uint64), dtype=np.uint64)
            _inverse_powers = np.concatenate([[np.uint64(1)], _inverse_powers[:-1]])
    return _powers, _inverse_powers


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that spreads every input bit over the output)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


_TABLES = None


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(fold, own_token) tables indexed by code point. fold: 1 + the lowercase code point (one-to-one simple case
    mapping, as str.lower except for U+0130, whose lowercase is two characters and which stays as it is), or 0
    for whitespace and datatrove's punctuation (the +1 is the polynomial's, folded in here to save a pass).
    own_token: scripts whose every character is a token."""
    global _TABLES
    if _TABLES is None:
        from datatrove.utils.text import PUNCTUATION

        fold = np.arange(0x110000, dtype=np.uint32)
        # lowercase every code point below U+20000 (none above is cased) in one str.lower call; U+0130 is the only
        # one whose lowercase is longer, so it is left out, and capital sigma gets its non-final form
        everything = "".join(map(chr, range(0x20000))).replace("\u0130", "\x00")
        lowered = np.frombuffer(everything.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        assert len(lowered) == 0x20000, "a lowercase mapping longer than one code point besides U+0130"
        fold[:0x20000] = lowered
        fold[0x130] = 0x130
        fold[0x3A3] = 0x3C3
        fold += 1
        fold[[ord(c) for c in set(PUNCTUATION)]] = 0
        fold[[cp for cp in range(0x3001) if chr(cp).isspace()]] = 0
        own = np.zeros(0x110000, dtype=bool)
        for lo, hi in _NO_SPACE_RANGES:
            own[lo:hi + 1] = True
        _TABLES = fold, own
    return _TABLES


def _prefix_hash(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Polynomial hash sum_k (v_k + 1) * BASE^(k - start) mod 2^64 of each span [start, end) of `values`
    (v_k * BASE^(k - start) when the values already carry their +1)."""
    powers, inverse = _power_tables(len(values) + 1)
    prefix = np.empty(len(values) + 1, dtype=np.uint64)
    prefix[0] = 0
    terms = np.multiply(values, powers[:len(values)], dtype=np.uint64, out=prefix[1:])
    if plus_one:
        terms += powers[:len(values)]
    np.cumsum(terms, out=terms)
    return (prefix[ends] - prefix[starts]) * inverse[starts]


def shingle_hashes(text: str, n: int = 5, unit: str = "words") -> np.ndarray:
    """64-bit hashes (uint64, with repeats, in text order) of the n-gram shingles of `text`.

    The tokens are those of `tokens(text, unit)`, found here with numpy on the code points (one table lookup does
    lowercase and separators). A token's hash is a polynomial over its characters; an n-gram's hash a polynomial
    over its n token hashes. Empty when the text has no token; one hash (the whole token sequence) when it has
    fewer than n tokens.
    """
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    if unit not in UNITS:
        raise ValueError(f"shingle unit must be one of {UNITS}, got {unit!r}")
    fold, own = _tables()
    codes = fold[np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)]
    word = codes != 0
    if not word.any():
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if unit == "chars":
            # every character is a token; separator runs become one space, none at either end
            keep = word.copy()
            keep[1:] |= word[:-1] & ~word[1:]
            chars = np.where(word, codes, np.uint32(33))[keep]  # 33: a space, +1
            if chars[-1] == 33:
                chars = chars[:-1]
            token_hashes = fmix64((chars - np.uint32(1)).astype(np.uint64) * np.uint64(_BASE) + np.uint64(1))
        else:
            # a token starts at a word character after a separator (or at the start), ends before a separator
            # (or at the end); a character of a no-space script is a token of its own
            before = np.empty_like(word)
            before[0] = False
            before[1:] = word[:-1]
            after = np.empty_like(word)
            after[-1] = False
            after[:-1] = word[1:]
            begin = word & ~before
            end = word & ~after
            if codes.max() > _NO_SPACE_RANGES[0][0]:
                alone = own[codes - word]  # codes - 1 on word characters, 0 (not a no-space script) elsewhere
                begin |= alone
                end |= alone
                begin[1:] |= alone[:-1] & word[1:]
                end[:-1] |= alone[1:] & word[:-1]
            starts = np.flatnonzero(begin)
            ends = np.flatnonzero(end) + 1
            token_hashes = _prefix_hash(codes, starts, ends, plus_one=False)
            token_hashes ^= (ends - starts).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
            token_hashes = fmix64(token_hashes)
        count = len(token_hashes)
        width = min(n, count)
        first = np.arange(count - width + 1)
        return fmix64(_prefix_hash(token_hashes, first, first + width))


def shingle_hashes32(text: str, n: int = 5, unit: str = "words") -> np.ndarray:
    """32-bit shingle hashes (uint32): the top half of `shingle_hashes`."""
    return (shingle_hashes(text, n, unit) >> np.uint64(32)).astype(np.uint32)


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique of a 1-D array, by sorting. numpy 2.3+ answers a plain np.unique of integers with a hash table that
    is slow on hash-like values: on 64-bit hashes, 4.5x slower than sorting at 10,000 values and 16x at 2 M (numpy
    2.4.6, this machine); sorting, then keeping each value that differs from the one before, is what numpy did before.
    Every set of hashes in curate (shingles, n-grams, line hashes, candidate nodes) goes through here."""
    values = np.sort(np.ravel(values))
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def shingle_set(text: str, n: int = 5, unit: str = "words") -> np.ndarray:
    """The sorted distinct 64-bit shingle hashes: the set the ground truth Jaccard is computed on."""
    return sorted_distinct(shingle_hashes(text, n, unit))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct hash arrays (from `shingle_set`); 0 when both are empty."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def ngram_strings(text: str, n: int = 5, unit: str = "words") -> list[str]:
    """The shingles as strings (the slow reference path: tests and the datasketch baseline in the benchmark)."""
    toks = tokens(text, unit)
    if not toks:
        return []
    sep = "" if unit == "chars" else " "
    if len(toks) < n:
        return [sep.join(toks)]
    return [sep.join(toks[i:i + n]) for i in range(len(toks) - n + 1)]
