"""Language-aware words, sentences and stop words, for the rules that count them (quality, and later helpers).

Words come from the tokenizer datatrove assigns to each language (datatrove/assets/tokenizer_assignment.csv:
spaCy blank pipelines for most languages, jieba through spaCy for zh, SudachiPy through spaCy for ja, pythainlp
for th), so a rule measures here what datatrove's filters measure. Where that tokenizer cannot be loaded (its
package is not installed, or datatrove assigns none), a language written with spaces falls back to datatrove's
WhitespaceTokenizer (spaCy's multi-language `xx` rules, what datatrove itself assigns to most minor languages);
a language written without spaces between words (zh, ja, th, ...) gets no words at all (`TextWords.skip_reason`
says why) rather than one "word" per line.

spaCy tokenizers are run once per document, keeping each token's offset, so per-line word and sentence counts
(C4's rules) are read off the same tokens instead of tokenizing every line again, as datatrove does; and chunk by
chunk from memory where that gives the same tokens (curate/stages/spacy_chunks.py).
"""

from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from curate.stages.nlp_imports import shared_charsets, without_deep_learning
from curate.stages.spacy_chunks import ChunkTokenizer, Tokens, spacy_tokens

# Scripts that do not separate words with spaces: without a real tokenizer, no word-based rule can be measured.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "jv_Java"})

# Gopher's stop words (Rae et al. 2021, App. A.1.1: "the, be, to, of, and, that, have, with"), the same list as
# datatrove/pipeline/filters/gopher_quality_filter.py STOP_WORDS.
GOPHER_ENGLISH_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

# ISO 639-1 -> the file name of justext's stop-list (justext/stoplists/<Name>.txt, BSD licence; one word a line,
# most frequent first, built from Wikipedia).
JUSTEXT_STOPLISTS = {
    "af": "Afrikaans", "sq": "Albanian", "ar": "Arabic", "an": "Aragonese", "hy": "Armenian", "ast": "Asturian",
    "az": "Azerbaijani", "eu": "Basque", "be": "Belarusian", "bn": "Bengali", "bs": "Bosnian", "br": "Breton",
    "bg": "Bulgarian", "ca": "Catalan", "ceb": "Cebuano", "cv": "Chuvash", "hr": "Croatian", "cs": "Czech",
    "da": "Danish", "nl": "Dutch", "en": "English", "eo": "Esperanto", "et": "Estonian", "fi": "Finnish",
    "fr": "French", "gl": "Galician", "ka": "Georgian", "de": "German", "el": "Greek", "gu": "Gujarati",
    "ht": "Haitian", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "is": "Icelandic", "io": "Ido", "ig": "Igbo",
    "id": "Indonesian", "ga": "Irish", "it": "Italian", "jv": "Javanese", "kn": "Kannada", "kk": "Kazakh",
    "ko": "Korean", "ku": "Kurdish", "ky": "Kyrgyz", "la": "Latin", "lv": "Latvian", "lt": "Lithuanian",
    "lmo": "Lombard", "nds": "Low_Saxon", "lb": "Luxembourgish", "mk": "Macedonian", "ms": "Malay",
    "ml": "Malayalam", "mt": "Maltese", "mr": "Marathi", "nap": "Neapolitan", "ne": "Nepali", "new": "Newar",
    "nb": "Norwegian_Bokmal", "no": "Norwegian_Bokmal", "nn": "Norwegian_Nynorsk", "oc": "Occitan", "fa": "Persian",
    "pms": "Piedmontese", "pl": "Polish", "pt": "Portuguese", "qu": "Quechua", "ro": "Romanian", "ru": "Russian",
    "sr": "Serbian", "sh": "Serbo_Croatian", "scn": "Sicilian", "sk": "Slovak", "sl": "Slovenian", "es": "Spanish",
    "su": "Sundanese", "sw": "Swahili", "sv": "Swedish", "tl": "Tagalog", "ta": "Tamil", "te": "Telugu",
    "tr": "Turkish", "tk": "Turkmen", "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese",
    "vo": "Volapuk", "wa": "Walloon", "war": "Waray_Waray", "cy": "Welsh", "fy": "West_Frisian", "pnb": "Western_Panjabi",
    "yo": "Yoruba",
}


def base_language(lang: str) -> str:
    """'de', 'de-AT', 'de_Latn' and 'DE' all mean German here."""
    return lang.replace("-", "_").split("_")[0].lower() if lang else lang


@lru_cache(maxsize=None)
def stop_words(lang: str, top_k: int = 8) -> frozenset[str] | None:
    """The stop words Gopher's rule counts in `lang`: Gopher's own list for English; otherwise the `top_k` most
    frequent words of justext's stop-list (all of it when top_k is 0), lowercased. None when there is none.

    Gopher's rule asks for 2 of 8 very frequent function words; the top 8 of a frequency-ranked list is the same
    test in another language (German: der, und, die, in, von, den, des, im).
    """
    lang = base_language(lang)
    if lang == "en":
        return frozenset(GOPHER_ENGLISH_STOP_WORDS)
    name = JUSTEXT_STOPLISTS.get(lang)
    if name is None:
        return None
    import justext

    path = Path(justext.__file__).parent / "stoplists" / f"{name}.txt"
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip().lower()
        if word and word not in words:
            words.append(word)
        if top_k and len(words) == top_k:
            break
    return frozenset(words)


VOCAB_LIMIT = 1_000_000  # spaCy lexemes kept before a pipeline is reloaded (a few hundred MB at most)


def _is_punct(word: str) -> bool:
    import unicodedata

    return bool(word) and all(unicodedata.category(c).startswith("P") for c in word)


class TextWords(NamedTuple):
    """The words of one text (datatrove's `split_into_words`), and the tokens with offsets when spaCy made them."""

    words: list[str] | None  # None: no tokenizer for this language; word rules are skipped
    tokens: Tokens | None  # spaCy's (or jieba's) tokens, whitespace tokens included, for per-line counts
    skip_reason: str | None = None


class WordSplitter:
    """Words and sentences of texts in one language."""

    def __init__(self, lang: str):
        self.lang = base_language(lang) or "en"
        self.skip_reason: str | None = None
        self._spacy = None  # a spaCy Language, when words come from one
        self._datatrove = None  # datatrove's WordTokenizer for the language
        self._chunked = False
        self._jieba = None
        self._chunks: ChunkTokenizer | None = None  # spaCy's tokens from remembered chunks, where exact
        self._own_pipeline = False  # the language's own spaCy pipeline (not the shared `xx` rules)
        self._punct_chars: frozenset[str] = frozenset()
        self._glued_marks: frozenset[str] = frozenset()
        self._load()

    def _load(self) -> None:
        # spaCy's thinc would import torch (seconds, unused); its patterns repeat the same letter classes
        with without_deep_learning(), shared_charsets():  # (both: nlp_imports.py)
            self._load_tokenizer()

    def _load_tokenizer(self) -> None:
        from datatrove.utils.word_tokenizers import SpaCyTokenizer, WhitespaceTokenizer, load_word_tokenizer

        if self.lang == "zh":
            # jieba directly: datatrove 0.10.1's load_word_tokenizer("zh") gives a spaCy pipeline that does not
            # segment (a whole run of Han characters comes back as one token)
            try:
                import jieba
            except ImportError:
                self.skip_reason = "no_word_tokenizer_zh"
                return
            import logging

            from spacy.pipeline.sentencizer import Sentencizer

            jieba.setLogLevel(logging.WARNING)
            self._jieba = jieba
            self._punct_chars = frozenset(Sentencizer.default_punct_chars)
            return
        try:
            tokenizer = load_word_tokenizer(self.lang)
            if isinstance(tokenizer, SpaCyTokenizer):
                tokenizer.tokenizer  # noqa: B018 — loads it now: a missing package fails here, not mid-run
            else:
                tokenizer.word_tokenize("probe")
                tokenizer.sent_tokenize("probe")  # pythainlp's needs python-crfsuite
        except (ImportError, ValueError, OSError) as error:  # package missing, or no tokenizer assigned
            if self.lang in UNSPACED_LANGUAGES:
                self.skip_reason = f"no_word_tokenizer_{self.lang}"
                self._error = str(error)
                return
            tokenizer = WhitespaceTokenizer()
        self._sentences = tokenizer  # datatrove's sentence splitting for this language, used when not spaCy's
        self._chunked = getattr(tokenizer, "language", None) == "ja"  # SudachiPy input is chunked (as datatrove)
        if type(tokenizer) is WhitespaceTokenizer:
            # datatrove splits its words with spaCy's `xx` rules (and its sentences with a regex)
            self._spacy = tokenizer._spacy_xx.tokenizer
        elif isinstance(tokenizer, SpaCyTokenizer):
            from spacy.pipeline.sentencizer import Sentencizer

            self._spacy = tokenizer.tokenizer
            self._punct_chars = frozenset(Sentencizer.default_punct_chars)
            self._own_pipeline = True
        self._glued_marks = self._punct_chars - {".", "!", "?"}
        self._datatrove = tokenizer

    def split(self, text: str) -> TextWords:
        if self.skip_reason:
            return TextWords(None, None, self.skip_reason)
        if self._jieba is not None:
            pieces = list(self._jieba.tokenize(text))
            tokens = Tokens([start for _, start, _ in pieces], [word for word, _, _ in pieces],
                            [_is_punct(word) for word, _, _ in pieces])
        elif self._spacy is None or self._chunked:
            return TextWords(self._datatrove.word_tokenize(text), None)
        else:
            tokens = self.spacy_split(text)
        # datatrove's strip_strings: whitespace tokens out, the rest stripped
        return TextWords(list(filter(None, map(str.strip, tokens.texts))), tokens)

    def spacy_split(self, text: str) -> Tokens:
        nlp, own_pipeline = self._spacy, self._own_pipeline  # (no max_length: only Language.__call__ checks it)
        # No memory_zone for a language's own pipeline (datatrove's choice): it throws spaCy's lexeme cache away
        # after every page, and re-creating lexemes is most of the tokenizing time. The vocabulary grows instead, so
        # the pipeline is loaded anew past VOCAB_LIMIT strings. The shared `xx` one gets a zone: its vocabulary
        # would otherwise grow with every new string of every page of every minor language.
        if own_pipeline and len(nlp.vocab) > VOCAB_LIMIT:
            self._datatrove._tokenizer = None
            nlp = self._spacy = self._datatrove.tokenizer
            self._chunks = None
        if self._chunks is None:
            self._chunks = ChunkTokenizer(nlp.tokenizer)
        with nullcontext() if own_pipeline else nlp.memory_zone():
            tokens = self._chunks(text) if self._chunks.usable else None
            return spacy_tokens(nlp.tokenizer, text) if tokens is None else tokens

    def words(self, text: str) -> list[str] | None:
        return self.split(text).words

    def count_sentences(self, tokens: Tokens, glued_marks: bool = True) -> int:
        """Sentences in a run of spaCy tokens, by spaCy's Sentencizer rule (what datatrove's split_into_sentences
        uses): a sentence starts at the first non-punctuation token after a sentence-final character.

        `glued_marks`: a token that ends in a sentence-final character other than ".", "!" and "?" ends a sentence
        too. spaCy splits a final mark off the word before it only after letters of the scripts its character
        classes know; Armenian's "։" stays glued ("է։"), and the Sentencizer then saw one sentence in a paragraph
        of thirty (c4_sentence_count rejected Armenian news). "." stays as spaCy's rule has it: glued, it is as
        often an abbreviation ("e.g.", "Dr.") as a sentence end."""
        if not tokens.texts:
            return 1  # as split_into_sentences, which returns the whole (empty) text as one part
        count, seen_period, punct_chars = 1, False, self._punct_chars
        glued = self._glued_marks if glued_marks else frozenset()
        for text, is_punct in zip(tokens.texts, tokens.punct):
            in_punct_chars = text in punct_chars or (len(text) > 1 and text[-1] in glued)
            if seen_period and not is_punct and not in_punct_chars:
                count += 1
                seen_period = False
            elif in_punct_chars:
                seen_period = True
        return count

    def line_sentences(self, text: str, tokens: Tokens | None, glued_marks: bool = True) -> int:
        """sentence_count(text), from `text`'s tokens when the Sentencizer rule applies."""
        if tokens is not None and self._punct_chars and not self._chunked:  # spaCy's or jieba's tokens
            return self.count_sentences(tokens, glued_marks)
        return self.sentence_count(text, glued_marks)

    def sentence_count(self, text: str, glued_marks: bool = True) -> int:
        """Sentences in `text`, as len(datatrove.utils.text.split_into_sentences(text, lang)) (with glued final
        marks counted, see count_sentences)."""
        if self._punct_chars and not self._chunked:
            return self.count_sentences(self.split(text).tokens, glued_marks)
        return max(1, len(self._sentences.span_tokenize(text)))


@lru_cache(maxsize=None)
def word_splitter(lang: str) -> WordSplitter:
    """One splitter per language and process (loading a spaCy pipeline takes a while)."""
    return WordSplitter(lang)
