"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A, Table A1), measured
as datatrove measures them (datatrove/pipeline/filters/gopher_quality_filter.py, gopher_repetition_filter.py),
on words shared with the other rule sets.

Rewritten here rather than calling datatrove's filters because those only decide (they return at the first
failing rule and keep no value), and each splits the text into words again; the n-gram counting is also faster
(one C-level pass with Counter over word tuples instead of a Python loop of string joins). The values are the
same as datatrove's: tests/stages/test_quality.py checks it on real pages.
"""

import itertools
import re
from bisect import bisect_right

import numpy as np
import pyarrow as pa
from datatrove.utils.text import PUNCTUATION_SET

TOP_NGRAM_SIZES = (2, 3, 4)  # Table A1: "top 2-gram / 3-gram / 4-gram character fraction"
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)  # Table A1: "duplicate 5-gram ... 10-gram character fraction"

# (column, "max" or "min", the QualityRules parameter holding its threshold), in the order the rules are decided:
# datatrove's order (repetition before quality, as in the chain), each within its filter's own order.
REPETITION_RULES = [
    ("gopher_dup_para_frac", "max", "gopher_max_dup_para_frac"),
    ("gopher_dup_para_char_frac", "max", "gopher_max_dup_para_char_frac"),
    ("gopher_dup_line_frac", "max", "gopher_max_dup_line_frac"),
    ("gopher_dup_line_char_frac", "max", "gopher_max_dup_line_char_frac"),
    *[(f"gopher_top_{n}_gram_char_frac", "max", f"gopher_max_top_{n}_gram_char_frac") for n in TOP_NGRAM_SIZES],
    *[(f"gopher_dup_{n}_gram_char_frac", "max", f"gopher_max_dup_{n}_gram_char_frac") for n in DUP_NGRAM_SIZES],
]
QUALITY_RULES = [
    ("gopher_word_count", "min", "gopher_min_words"),
    ("gopher_word_count", "max", "gopher_max_words"),
    ("gopher_mean_word_length", "min", "gopher_min_mean_word_length"),
    ("gopher_mean_word_length", "max", "gopher_max_mean_word_length"),
    ("gopher_hash_word_ratio", "max", "gopher_max_symbol_word_ratio"),
    ("gopher_ellipsis_word_ratio", "max", "gopher_max_symbol_word_ratio"),
    ("gopher_bullet_lines_ratio", "max", "gopher_max_bullet_lines_ratio"),
    ("gopher_ellipsis_lines_ratio", "max", "gopher_max_ellipsis_lines_ratio"),
    ("gopher_alpha_words_ratio", "min", "gopher_min_alpha_words_ratio"),
    ("gopher_stop_words", "min", "gopher_min_stop_words"),
]
RULES = REPETITION_RULES + QUALITY_RULES
# measured without words: these stay when a language has no word tokenizer
LINE_COLUMNS = {"gopher_dup_para_frac", "gopher_dup_para_char_frac", "gopher_dup_line_frac",
                "gopher_dup_line_char_frac", "gopher_bullet_lines_ratio", "gopher_ellipsis_lines_ratio"}
COLUMNS: dict[str, pa.DataType] = {column: pa.float64() for column, _, _ in RULES}
COLUMNS["gopher_word_count"] = pa.int64()
COLUMNS["gopher_stop_words"] = pa.int64()

_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile("\n+")


# A repeated line or paragraph this short is page structure, not repeated content: an interview's speaker labels
# ("Anne:" 8 times in a 36-line interview), image captions ("Photo" 21 times), "Bild anzeigen" buttons, "Reklama"
# markers, separators. On a short page a few of them pushed Gopher's count-based fractions past 0.3 (the real
# trafilatura-eval interview scored 0.42). They still count for the character fractions (by their few characters)
# and for FineWeb's short-line rule. 30 characters: FineWeb's short line (Penedo et al. 2024 §3.6).
STRUCTURE_LINE_CHARS = 30


def find_duplicates(items: list[str], min_chars: int = 0) -> tuple[int, int]:
    """(duplicate items, their characters): every occurrence after the first counts, as datatrove's
    find_duplicates; with `min_chars`, only items longer than that count as duplicates."""
    seen: set[str] = set()
    elements = chars = 0
    for item in items:
        if item in seen:
            if len(item) > min_chars:
                elements += 1
            chars += len(item)
        else:
            seen.add(item)
    return elements, chars


def word_ids(words: list[str]) -> np.ndarray:
    """Each word as the index of its first occurrence: equal words, equal ids (int64)."""
    first: dict[str, int] = {}
    return np.fromiter(map(first.setdefault, words, itertools.count()), dtype=np.int64, count=len(words))


def first_occurrences(keys: np.ndarray) -> np.ndarray:
    """For each element of `keys`, the index of the first element equal to it (a stable sort puts it first among
    its equals; np.unique's return_index and return_inverse cost twice as much)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.ones(len(keys), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    first = np.empty_like(order)
    first[order] = order[starts][np.cumsum(starts) - 1]
    return first


def has_repeats(keys: np.ndarray) -> bool:
    ordered = np.sort(keys)
    return bool((ordered[1:] == ordered[:-1]).any())


def top_ngram_chars(words: list[str], sizes=TOP_NGRAM_SIZES) -> dict[int, int]:
    """n -> characters covered by the most frequent n-gram of words: len(" ".join(ngram)) * count (datatrove's
    find_top_duplicate), where n-grams are tuples of words. Among n-grams as frequent, the first seen counts (as
    Counter.most_common over datatrove's joined n-grams). Each n-gram is an integer: the first position of the
    (n-1)-gram it starts with, paired with its last word's id (a C-level sort per size, no tuple per n-gram)."""
    ids = word_ids(words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    chars, grams = {}, ids
    for n in range(2, max(sizes) + 1):
        if len(words) < n:  # no n-gram at all: datatrove skips the rule
            chars.update((size, 0) for size in sizes if size >= n)
            break
        grams = first_occurrences(grams[:-1] * len(words) + ids[n - 1:])  # the n-gram at each position
        if n in sizes:
            counts = np.bincount(grams)  # indexed by first position: the first seen of the most frequent is first
            top = int(np.argmax(counts))
            chars[n] = (int(lengths[top:top + n].sum()) + n - 1) * int(counts[top])
    return chars


def dup_ngram_chars(words: list[str]) -> dict[int, int]:
    """n -> characters in repeated n-grams for each n of DUP_NGRAM_SIZES, skipping the n words of a repeat
    (datatrove's find_all_duplicate, which compares an n-gram's words joined with no separator: kept, so the values
    stay equal: ("ab", "c") repeats ("a", "bc")).

    The joined n-grams are never built: each is a span of the words' concatenation, and equal spans are found by a
    polynomial hash of their characters (numpy, one pass per size), each match then checked on the text itself; a
    hash collision (never seen, but possible) falls back to comparing the joined strings."""
    joined = "".join(words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    hashes = _span_hasher(joined)
    chars = {}
    for n in DUP_NGRAM_SIZES:
        count = len(words) - n + 1
        if count <= 0:
            chars[n] = 0
            continue
        starts, ends = offsets[:count], offsets[n:]
        keys = hashes(starts, ends)
        if not has_repeats(keys):  # the common case
            chars[n] = 0
            continue
        first = first_occurrences(keys)
        repeats = np.flatnonzero(first != np.arange(count))
        origins = first[repeats]
        spans = zip(starts[repeats].tolist(), ends[repeats].tolist(), starts[origins].tolist(), ends[origins].tolist())
        if all(joined[a:b] == joined[c:d] for a, b, c, d in spans):
            first = dict(zip(repeats.tolist(), origins.tolist()))
            repeats = list(first)
        else:  # a hash collision: the joined strings decide
            grams = ["".join(words[i:i + n]) for i in range(count)]
            first = dict(enumerate(map({}.setdefault, grams, itertools.count())))
            repeats = [i for i in range(count) if first[i] != i]
        chars[n] = _repeated_chars(first, repeats, (offsets[n:] - offsets[:-n]).tolist(), n)
    return chars


_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible modulo 2**64
_HASH_BASE_INVERSE = np.uint64(pow(int(_HASH_BASE), -1, 2**64))


def _span_hasher(text: str):
    """hash(start, end) of text[start:end] for arrays of spans, equal for equal strings wherever they stand:
    sum(c[start + t] * B**-t) modulo 2**64 (prefix sums of c[j] * B**-j, brought back by B**start), mixed with the
    span's length."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        inverse_powers = np.cumprod(np.full(len(codes) + 1, _HASH_BASE_INVERSE, dtype=np.uint64))
        inverse_powers = np.concatenate(([np.uint64(1)], inverse_powers[:-1]))
        powers = np.cumprod(np.full(len(codes) + 1, _HASH_BASE, dtype=np.uint64))
        powers = np.concatenate(([np.uint64(1)], powers[:-1]))
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(codes * inverse_powers[:-1], dtype=np.uint64)))

    def hashes(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            spans = (prefix[ends] - prefix[starts]) * powers[starts]
            return spans ^ ((ends - starts).astype(np.uint64) * _HASH_BASE)

    return hashes


def _repeated_chars(first: dict[int, int], repeats: list[int], chars: list[int], n: int) -> int:
    """datatrove's find_all_duplicate walk over n-grams, given each one's first equal n-gram: an n-gram seen before
    adds its characters and skips the next n-1, which are then never seen. Only the positions in `repeats` (those
    with an equal n-gram before them) can be a repeat, so only they are visited here: at one of them, its n-gram was
    seen when its first occurrence was not skipped, or when another of its copies was visited and not a repeat."""
    repeated = 0
    hits: list[int] = []  # the repeats found, in order; each skipped the n-1 positions after it
    seen_again: set[int] = set()  # first occurrences (skipped) whose n-gram a later visited copy added
    free = 0  # the next position not skipped
    for position in repeats:
        if position < free:
            continue
        origin = first[position]
        last_hit = bisect_right(hits, origin) - 1
        if last_hit < 0 or origin >= hits[last_hit] + n or origin in seen_again:
            repeated += chars[position]
            hits.append(position)
            free = position + n
        else:
            seen_again.add(origin)
    return repeated


def alphabetic_words(text: str, words: list[str], unspaced: bool) -> list[str]:
    """The words Gopher's alphabetic-words rule counts (Rae et al. 2021, App. A.1.1: "80% of words in a document
    contain at least one alphabetic character"): whitespace-separated words, so "Hello," is one word and contains a
    letter. datatrove counts its tokenizer's words, where every punctuation mark is a word without a letter, and
    ordinary prose scored 0.70-0.79. In a script written without spaces a whitespace-separated chunk is a phrase
    (Thai) or a line (Chinese), and a date or a time between two phrases would be a fifth of the "words": there the
    tokenizer's words count, punctuation marks left out (in a spaced script they belong to the word before them)."""
    if not unspaced:
        return text.split()
    return list(itertools.filterfalse(PUNCTUATION_SET.issuperset, words))


def measure(text: str, words: list[str] | None, stop_words: frozenset[str] | None,
            alpha_words: list[str] | None = None, datatrove_compatible: bool = False) -> dict:
    """Every Gopher value of `text` (non-empty). Word values are None when `words` is None (no tokenizer);
    gopher_stop_words is None when the language has no stop-list. `alpha_words`: the words the alphabetic-words
    ratio counts (None: `words`, as datatrove; see alphabetic_words). `datatrove_compatible`: short repeated lines
    count as duplicates too (STRUCTURE_LINE_CHARS)."""
    values: dict = {}
    paragraphs = _PARAGRAPH_BREAK.split(text.strip())
    min_chars = 0 if datatrove_compatible else STRUCTURE_LINE_CHARS
    dup_paragraphs, dup_paragraph_chars = find_duplicates(paragraphs, min_chars)
    values["gopher_dup_para_frac"] = dup_paragraphs / len(paragraphs)
    values["gopher_dup_para_char_frac"] = dup_paragraph_chars / len(text)
    lines = _LINE_BREAKS.split(text)
    dup_lines, dup_line_chars = find_duplicates(lines, min_chars)
    values["gopher_dup_line_frac"] = dup_lines / len(lines)
    values["gopher_dup_line_char_frac"] = dup_line_chars / len(text)

    split_lines = text.splitlines() or [""]
    stripped = [(line.lstrip(), line.rstrip()) for line in split_lines]
    values["gopher_bullet_lines_ratio"] = sum(left.startswith(("•", "-")) for left, _ in stripped) / len(stripped)
    values["gopher_ellipsis_lines_ratio"] = sum(right.endswith(("...", "…")) for _, right in stripped) / len(stripped)
    if words is None:
        for column in COLUMNS:
            values.setdefault(column, None)
        return values

    for n, chars in top_ngram_chars(words).items():
        values[f"gopher_top_{n}_gram_char_frac"] = chars / len(text)
    for n, chars in dup_ngram_chars(words).items():
        values[f"gopher_dup_{n}_gram_char_frac"] = chars / len(text)

    n_words = len(words)
    non_symbol = list(itertools.filterfalse(PUNCTUATION_SET.issuperset, words))
    values["gopher_word_count"] = len(non_symbol)
    # no words: datatrove divides by zero; here the ratios are null and the word-count rule decides
    values["gopher_mean_word_length"] = sum(map(len, non_symbol)) / len(non_symbol) if non_symbol else None
    values["gopher_hash_word_ratio"] = text.count("#") / n_words if n_words else None
    values["gopher_ellipsis_word_ratio"] = (text.count("...") + text.count("…")) / n_words if n_words else None
    alpha_words = words if alpha_words is None else alpha_words
    # (w.isalpha() first: most words are letters only, and a C-level test settles them)
    values["gopher_alpha_words_ratio"] = (sum(1 for w in alpha_words if w.isalpha() or any(map(str.isalpha, w)))
                                          / len(alpha_words) if n_words and alpha_words else None)
    # datatrove: len(stop_words & set(words)) — distinct stop words, case-sensitive as in its code
    values["gopher_stop_words"] = len(stop_words.intersection(words)) if stop_words is not None else None
    return values
