"""C4's page rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning...", §2.2), as datatrove's
C4QualityFilter applies them (datatrove/pipeline/filters/c4_filters.py, after tensorflow_datasets c4_utils.py).

Lines are kept only if they end in terminal punctuation, have at least 3 words, no word over 1,000 characters, no
"javascript" and no cookie/terms-of-use phrase; a page is dropped if a kept line has "lorem ipsum" or a curly
bracket, or if fewer than 5 sentences remain. The bad-words rule is the `harmful` stage's.

Language-aware where datatrove is English-only: terminal punctuation includes the sentence ends of other scripts
(。！？ । ...) and the closing quotes of other languages („...“, «...»); in zh/ja/th "words" are the tokenizer's,
not whitespace-separated chunks (a whole Chinese line is one chunk). Sentences are counted from the tokens the
page was split into once, with spaCy's Sentencizer rule, not by tokenizing every line again.

Two changes to what counts as a line that ends a sentence (both off with `datatrove_compatible`):
  - a sentence's final mark may be followed by closing quotes and brackets: `."`, `?)`, `!»`, `。」`, `۔‘` (Urdu
    closes quotes with U+2018). datatrove's English set accepts a line ending in a straight quote, but not `?)` or
    `.”`; its terminal set has no closing marks at all.
  - a line holding several sentences whose last one has no final mark loses that unterminated tail only, not the
    whole line. C4 drops lines without a final mark to drop menus, headings and bylines, which are one fragment a
    line; a paragraph of sentences (or a whole article on one line, as text from many extraction benchmarks and
    sentence corpora comes) is prose, and dropping it for its last fragment dropped pages of good text to zero
    sentences (c4_sentence_count).
"""

import re
import unicodedata
from collections import deque

import pyarrow as pa
from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, ELLIPSIS, END_PUNCTUATION, POLICY_SUBSTRINGS
from datatrove.utils.text import TERMINAL_PUNCTUATION

from curate.stages.language_words import UNSPACED_LANGUAGES

# C4's own set for English (c4_filters.END_PUNCTUATION: . ? ! " '); other languages add every Unicode sentence
# terminal (datatrove.utils.text.TERMINAL_PUNCTUATION) and closing quotation marks.
OTHER_END_PUNCTUATION = tuple(sorted(set(END_PUNCTUATION) | TERMINAL_PUNCTUATION | set("”“»«」』’")))

# Scripts that end sentences with a space, not a mark: the terminal-punctuation line rule would remove every line
NO_SENTENCE_PUNCTUATION = frozenset({"th", "lo"})

# Closing quotes and brackets that may follow a sentence's final mark: Unicode's close punctuation (Pe: ) ] 」 ）),
# final and initial quotes (Pf, Pi: ” » ’ and “ ‘ «, which German, Urdu and others use as closing quotes), the
# straight quotes
_CLOSING_CATEGORIES = frozenset({"Pe", "Pf", "Pi"})
ENGLISH_TERMINALS = (".", "?", "!")  # C4's own marks (tfds c4_utils `_END_MARKS`, less the quote)
OTHER_TERMINALS = tuple(sorted(TERMINAL_PUNCTUATION))


def without_closing_marks(line: str) -> str:
    """`line` without the closing quotes and brackets at its end."""
    end = len(line)
    while end and (line[end - 1] in "\"'" or unicodedata.category(line[end - 1]) in _CLOSING_CATEGORIES):
        end -= 1
    return line[:end]


def ends_sentence(line: str, terminals: tuple[str, ...]) -> bool:
    """The line ends with a sentence's final mark, possibly followed by closing quotes and brackets."""
    return line.endswith(terminals) or without_closing_marks(line).endswith(terminals)


def sentence_end_pattern(terminals: tuple[str, ...]) -> re.Pattern:
    """A final mark (and its closing marks) followed by whitespace: where a sentence inside a line ends."""
    marks = "".join(re.escape(t) for t in terminals)
    return re.compile(rf"[{marks}]+[\"'\)\]\}}\u00bb\u2019\u201d\u201c\u2018\u00ab\u300d\u300f\uff09]*(?=\s)")


_SENTENCE_END = {terminals: sentence_end_pattern(terminals) for terminals in (ENGLISH_TERMINALS, OTHER_TERMINALS)}


def sentence_part(line: str, terminals: tuple[str, ...]) -> str | None:
    """What the line-end rule keeps of a line that does not end in C4's marks: all of it when it ends a sentence
    with closing marks after the final one; the part up to its last complete sentence when only an unterminated
    (or ellipsis-ended) tail follows it; None when it holds no complete sentence."""
    if ends_sentence(line, terminals) and not line.endswith(ELLIPSIS):
        return line
    last = deque(_SENTENCE_END[terminals].finditer(line), maxlen=1)  # the last sentence end
    return line[:last[0].end()] if last else None

RULES = [
    ("c4_lorem_ipsum", "max", "c4_max_lorem_ipsum"),
    ("c4_curly_bracket", "max", "c4_max_curly_bracket"),
    ("c4_sentence_count", "min", "c4_min_sentences"),
]
COLUMNS: dict[str, pa.DataType] = {
    "c4_lorem_ipsum": pa.int64(),  # 1 when a kept line has "lorem ipsum"
    "c4_curly_bracket": pa.int64(),  # 1 when a kept line has "{"
    "c4_sentence_count": pa.int64(),  # sentences in the kept lines
    "c4_lines_removed": pa.int64(),  # lines C4's line rules removed (not a rule: the page is rewritten)
}
_SPACES = re.compile(r"\s")


def measure(text: str, splitter, tokens, min_words_per_line: int, max_word_length: int,
            datatrove_compatible: bool = False) -> tuple[dict, list[str], int]:
    """C4 values of `text`, the lines C4 keeps, and the number of words in them (datatrove's split_into_words of
    the rewritten page; -1 when unknown). `tokens`: the page's spaCy tokens with offsets, or None."""
    lang = splitter.lang
    end_punctuation = END_PUNCTUATION if lang == "en" else OTHER_END_PUNCTUATION
    terminals = ENGLISH_TERMINALS if lang == "en" else OTHER_TERMINALS
    unspaced = lang in UNSPACED_LANGUAGES
    lorem = curly = sentences = removed = 0
    kept: list[str] = []
    kept_words = 0 if tokens is not None else -1
    offset = 0
    for raw, with_end in zip(text.splitlines(), text.splitlines(keepends=True)):
        line_start = offset + len(raw) - len(raw.lstrip())
        offset += len(with_end)
        line = raw.strip()
        line_tokens = None
        if tokens is not None and line:
            line_tokens = tokens.between(line_start, line_start + len(line))
        if not unspaced:
            words = line.split()
        elif splitter.skip_reason is not None:  # no tokenizer: the word rules cannot be measured, so not applied
            words = None
        elif line_tokens is not None:
            words = [t for t in line_tokens.texts if t.strip()]
        else:
            words = splitter.words(line) if line else []
        if words is not None and max_word_length != -1 and any(len(word) > max_word_length for word in words):
            removed += 1
            continue
        cited = CITATION_REGEX.sub("", line)
        if cited != line:  # the tokens of the page no longer match this line
            line, line_tokens = cited, None
        if lang not in NO_SENTENCE_PUNCTUATION and (not line.endswith(end_punctuation) or line.endswith(ELLIPSIS)):
            cut = None if datatrove_compatible else sentence_part(line, terminals)
            if cut is None:
                removed += 1
                continue
            if cut != line:  # an unterminated tail cut off: these words and tokens are the line's no longer
                line, line_tokens = cut, None
                if words is not None:
                    words = splitter.words(line) if unspaced else line.split()
        if words is not None and len(words) < min_words_per_line:
            removed += 1
            continue
        lowered = line.lower()
        lorem = lorem or int("lorem ipsum" in lowered)
        if "javascript" in lowered:
            removed += 1
            continue
        curly = curly or int("{" in line)
        if any(phrase in lowered for phrase in POLICY_SUBSTRINGS):
            removed += 1
            continue
        if splitter.skip_reason is None:  # else no sentence count (set to None below)
            if line_tokens is None:
                line_tokens = splitter.split(line).tokens
            sentences += splitter.line_sentences(line, line_tokens, glued_marks=not datatrove_compatible)
            if kept_words >= 0 and line_tokens is not None:
                kept_words += sum(1 for t in line_tokens.texts if t.strip())
            elif line_tokens is None:
                kept_words = -1
        kept.append(line)
    if splitter.skip_reason is not None:
        sentences = kept_words = None
    values = {"c4_lorem_ipsum": lorem, "c4_curly_bracket": curly, "c4_sentence_count": sentences,
              "c4_lines_removed": removed}
    return values, kept, kept_words
