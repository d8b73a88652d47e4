"""spaCy's tokenizer, remembered chunk by chunk: the same tokens as tokenizing the whole text, for less.

spaCy's `Tokenizer.__call__` (spacy/tokenizer.pyx, `_tokenize_affixes`) cuts a text into chunks: maximal runs of
non-whitespace characters, and the whitespace between them less the one space that follows a word (that space is
the token's `whitespace_`, not a token). Each chunk is tokenized on its own (prefixes, suffixes, infixes, special
cases; spaCy's own cache is keyed by the chunk), then one text-wide pass, `_apply_special_cases`, re-applies special
cases that affix splitting hid. Real text repeats its chunks ("the", "und", "."), so once spaCy has seen them most
of the time goes into building its Doc and one Python Token object per token, which the quality rules then read
back as strings.

`ChunkTokenizer` keeps, for every chunk seen, spaCy's own tokens of that chunk (offset, text, is_punct) and puts a
text's tokens together from them. The result equals `tokenizer(text)` when no special case spans two chunks:
- a language whose special cases contain whitespace inside them (Spanish "EE. UU.", Russian "т.е. ...") is not
  handled here at all (`ChunkTokenizer.usable` is False, the caller tokenizes the whole text);
- the text-wide pass could also match a special case's tokens across the single space between two chunks (its rule
  then does not apply, as the span's text has a space, but the match can hide another overlapping one). A text
  where a special case's tokens run across such a space (": -)" for ":-)") is handed back (None), and the caller
  tokenizes it whole (4% of the trafilatura-eval pages, mostly through emoticons such as "):" and ":-)").
tests/stages/test_spacy_chunks.py checks the equality on real text in 7 languages; tests/stages/test_quality.py
checks the quality values against datatrove's.

Measured on the 1,026 extracted trafilatura-eval pages (quality stage, CPU ms/page, lid.176 languages): the first
pass, every chunk new to spaCy too, 9.8 -> 8.7 (creating spaCy's lexemes for new words dominates it); a second pass
over the same pages 7.8 -> 4.5.
"""

import re
from bisect import bisect_left
from typing import NamedTuple

# Runs of whitespace or of non-whitespace: Python's \s is exactly str.isspace(), which spaCy splits on
_CHUNKS = re.compile(r"\s+|\S+")
MAX_CHUNKS = 200_000  # chunks remembered per language before the memo starts afresh (~60 MB)
# spaCy's tokenizer searches a whitespace-free run for a suffix once per character it splits off, each search
# scanning the run: quadratic (10,000 emoji in a row: 8 s; the fuzz tests found a page that took 8 minutes). A run
# this long is no word of any language; it is kept as one token (not punctuation), and the rest is tokenized as usual.
MAX_RUN_CHARS = 1000
_LONG_RUN = re.compile(r"\S{%d,}" % MAX_RUN_CHARS)


class Tokens(NamedTuple):
    """A text's tokens as columns (whitespace tokens included, as spaCy makes them)."""

    starts: list[int]  # character offset in the text
    texts: list[str]
    punct: list[bool]  # spaCy's is_punct

    def between(self, start: int, end: int) -> "Tokens":
        """The tokens that start at offsets in [start, end)."""
        i, j = bisect_left(self.starts, start), bisect_left(self.starts, end)
        return Tokens(self.starts[i:j], self.texts[i:j], self.punct[i:j])


def spacy_tokens(tokenizer, text: str) -> Tokens:
    """spaCy's tokens of `text`, read as arrays (no Python Token object per token); a whitespace-free run of
    MAX_RUN_CHARS or more is one token."""
    if text and _LONG_RUN.search(text):
        starts, texts, punct, offset = [], [], [], 0
        for run in _LONG_RUN.finditer(text):
            before = spacy_tokens(tokenizer, text[offset:run.start()])
            starts += [offset + s for s in before.starts]
            texts += before.texts
            punct += before.punct
            starts.append(run.start())
            texts.append(run.group())
            punct.append(False)
            offset = run.end()
        rest = spacy_tokens(tokenizer, text[offset:])
        return Tokens(starts + [offset + s for s in rest.starts], texts + rest.texts, punct + rest.punct)
    from spacy.attrs import IDX, IS_PUNCT, LENGTH

    columns = tokenizer(text).to_array([IDX, LENGTH, IS_PUNCT]).tolist() if text else []
    starts = [start for start, _, _ in columns]
    return Tokens(starts, [text[start:start + length] for start, length, _ in columns],
                  [bool(punct) for _, _, punct in columns])


def _learnable(chunk: str) -> bool:
    """A word chunk short enough for spaCy (a longer run is one token, see MAX_RUN_CHARS)."""
    return not chunk[0].isspace() and len(chunk) < MAX_RUN_CHARS


class ChunkTokenizer:
    """`tokenizer(text)`'s tokens, put together from remembered chunks; see the module docstring."""

    def __init__(self, tokenizer):
        from spacy.tokenizer import Tokenizer

        self.tokenizer = tokenizer
        rules = tokenizer.rules or {}
        self.usable = not any(not rule.isspace() and any(c.isspace() for c in rule) for rule in rules)
        # neighbouring tokens inside a special case, as the text-wide pass sees it (affix splitting only, no rules)
        affixes_only = Tokenizer(tokenizer.vocab, rules=None, prefix_search=tokenizer.prefix_search,
                                 suffix_search=tokenizer.suffix_search, infix_finditer=tokenizer.infix_finditer,
                                 token_match=tokenizer.token_match, url_match=tokenizer.url_match)
        # (token, next token) -> [(the special case's tokens, where the pair splits them)]
        self.special_neighbours: dict[tuple[str, str], list[tuple[tuple[str, ...], int]]] = {}
        for rule in rules:
            texts = tuple(token.text for token in affixes_only(rule))
            for split in range(1, len(texts)):
                self.special_neighbours.setdefault(texts[split - 1:split + 1], []).append((texts, split))
        self.memo: dict[str, tuple[tuple[int, ...], tuple[str, ...], tuple[bool, ...]]] = {}

    def learn(self, chunks: list[str]) -> None:
        """Remember spaCy's tokens of new word chunks, tokenized in one call with a newline between them: a newline
        is a token of its own that no special case contains (`usable`), so each chunk's tokens are its own."""
        joined = "\n".join(chunks)
        tokens = spacy_tokens(self.tokenizer, joined)
        ends, position = [], -1
        for chunk in chunks:
            position += len(chunk) + 1
            ends.append(position)  # the offset of the newline after the chunk (one past the end for the last)
        columns = [([], [], []) for _ in chunks]
        index = 0
        for start, text, punct in zip(tokens.starts, tokens.texts, tokens.punct):
            while start >= ends[index]:
                index += 1
            if index and start == ends[index - 1]:
                continue  # the newline between two chunks
            base = ends[index - 1] + 1 if index else 0
            starts, texts, puncts = columns[index]
            starts.append(start - base)
            texts.append(text)
            puncts.append(punct)
        for chunk, (starts, texts, puncts) in zip(chunks, columns):
            self.memo[chunk] = (tuple(starts), tuple(texts), tuple(puncts))

    def __call__(self, text: str) -> Tokens | None:
        """The tokens of `text`, or None when a special case might span two of its chunks."""
        chunks = _CHUNKS.findall(text)
        distinct = set(chunks)
        new = [chunk for chunk in distinct.difference(self.memo) if _learnable(chunk)]
        if len(self.memo) + len(new) > MAX_CHUNKS:
            self.memo.clear()
            new = [chunk for chunk in distinct if _learnable(chunk)]
        if new:
            self.learn(new)
        memo = self.memo
        starts: list[int] = []
        texts: list[str] = []
        punct: list[bool] = []
        offset = 0
        after_word = False  # the previous chunk was a word: one following space belongs to it
        last_text = None  # the last token of the previous chunk, when it ended one space before this one
        suspects = []  # token indices where a single space separates two tokens that neighbour in a special case
        for chunk in chunks:
            start = offset
            offset += len(chunk)
            if chunk[0].isspace():
                if after_word and chunk[0] == " ":
                    last_text = texts[-1] if len(chunk) == 1 else None
                    chunk, start = chunk[1:], start + 1
                after_word = False
                if not chunk:
                    continue
                entry = memo.get(chunk)
                if entry is None:  # whitespace runs: few, learnt one at a time
                    tokens = spacy_tokens(self.tokenizer, chunk)
                    entry = memo[chunk] = (tuple(tokens.starts), tuple(tokens.texts), tuple(tokens.punct))
            else:
                after_word = True
                entry = memo[chunk] if len(chunk) < MAX_RUN_CHARS else ((0,), (chunk,), (False,))
            chunk_starts, chunk_texts, chunk_punct = entry
            if last_text is not None and (last_text, chunk_texts[0]) in self.special_neighbours:
                suspects.append(len(texts))
            last_text = None
            starts.extend([start + s for s in chunk_starts] if start else chunk_starts)
            texts.extend(chunk_texts)
            punct.extend(chunk_punct)
        if any(self.special_across(texts, at) for at in suspects):
            return None
        return Tokens(starts, texts, punct)

    def special_across(self, texts: list[str], at: int) -> bool:
        """Whether a special case's tokens run across the space before token `at`."""
        for tokens, split in self.special_neighbours[texts[at - 1], texts[at]]:
            if at >= split and tuple(texts[at - split:at + len(tokens) - split]) == tokens:
                return True
        return False
