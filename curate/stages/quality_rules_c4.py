"""C4's page rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning...", §2.2), as datatrove's
C4QualityFilter applies them (datatrove/pipeline/filters/c4_filters.py, after tensorflow_datasets c4_utils.py).

Lines are kept only if they end in terminal punctuation, have at least 3 words, no word over 1,000 characters, no
"javascript" and no cookie/terms-of-use phrase; a page is dropped if a kept line has "lorem ipsum" or a curly
bracket, or if fewer than 5 sentences remain. The bad-words rule is the `harmful` stage's.

Language-aware where datatrove is English-only: terminal punctuation includes the sentence ends of other scripts
(。！？ । ...) and the closing quotes of other languages („...“, «...»); in zh/ja/th "words" are the tokenizer's,
not whitespace-separated chunks (a whole Chinese line is one chunk). Sentences are counted from the tokens the
page was split into once, with spaCy's Sentencizer rule, not by tokenizing every line again.
"""

import re

import pyarrow as pa
from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, ELLIPSIS, END_PUNCTUATION, POLICY_SUBSTRINGS
from datatrove.utils.text import TERMINAL_PUNCTUATION

from curate.stages.language_words import UNSPACED_LANGUAGES

# C4's own set for English (c4_filters.END_PUNCTUATION: . ? ! " '); other languages add every Unicode sentence
# terminal (datatrove.utils.text.TERMINAL_PUNCTUATION) and closing quotation marks.
OTHER_END_PUNCTUATION = tuple(sorted(set(END_PUNCTUATION) | TERMINAL_PUNCTUATION | set("”“»«」』’")))

# Scripts that end sentences with a space, not a mark: the terminal-punctuation line rule would remove every line
NO_SENTENCE_PUNCTUATION = frozenset({"th", "lo"})

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


def measure(text: str, splitter, tokens, min_words_per_line: int, max_word_length: int) -> tuple[dict, list[str], int]:
    """C4 values of `text`, the lines C4 keeps, and the number of words in them (datatrove's split_into_words of
    the rewritten page; -1 when unknown). `tokens`: the page's spaCy tokens with offsets, or None."""
    lang = splitter.lang
    end_punctuation = END_PUNCTUATION if lang == "en" else OTHER_END_PUNCTUATION
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
            removed += 1
            continue
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
            sentences += splitter.line_sentences(line, line_tokens)
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
