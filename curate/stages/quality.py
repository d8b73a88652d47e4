"""Stage `quality`: Gopher, C4 and FineWeb heuristic rules, per document language, annotate then decide.

Every rule's measured value is written to a column (gopher_*, c4_*, fineweb_*) for every document, so pages can
be re-thresholded from the Parquet. A page fails a rule when its value is above a `max` / below a `min` threshold;
the reason is the first failing rule's column name, in this order: gopher repetition, gopher quality, c4, fineweb
(the order of the datatrove chain GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter ->
FineWebQualityFilter), each in its datatrove filter's order. All failing rules are listed in `quality_failed_rules`.

The page is split into words once, with its language's tokenizer (curate/stages/language_words.py), and the words
are shared by all rule sets. Rules that need what a language lacks are skipped, never measured wrongly: word rules
for zh/ja/th when their tokenizer is not installed, the stop-word rule for a language with no stop-list;
`quality_skipped_rules` names them and `quality_skip_reason` says why.
"""

import math

import pyarrow as pa
from datatrove.data import Document

from curate.stages import quality_rules_c4 as c4
from curate.stages import quality_rules_fineweb as fineweb
from curate.stages import quality_rules_gopher as gopher
from curate.stages.base import CurateStep, Rejection

RULE_SETS = {"gopher": gopher, "c4": c4, "fineweb": fineweb}
QUALITY_COLUMNS: dict[str, pa.DataType] = {
    "quality_failed_rules": pa.string(),  # every failing rule, comma-separated, in decision order
    "quality_skipped_rules": pa.string(),  # rules not measured for this document, comma-separated
    "quality_skip_reason": pa.string(),  # why (no_word_tokenizer_<lang>, no_stop_words_<lang>)
}
LOGOGRAPHIC_LANGUAGES = frozenset({"zh", "ja"})
WORD_COLUMNS = {*gopher.COLUMNS.keys() - gopher.LINE_COLUMNS, "c4_sentence_count", "fineweb_newline_word_ratio"}


class QualityRules(CurateStep):
    name = "quality"

    def __init__(
        self,
        rule_sets: list[str] = ("gopher", "c4", "fineweb"),
        default_language: str = "en",  # when the document has no `lang` (the langid stage writes it)
        stop_words_top_k: int = 8,  # non-English stop words: the k most frequent of justext's list (0: all of it)
        # Gopher, Rae et al. 2021 App. A Table A1 (repetition) and App. A.1.1 (quality); = datatrove's defaults
        gopher_max_dup_line_frac: float | None = 0.30,
        gopher_max_dup_para_frac: float | None = 0.30,
        gopher_max_dup_line_char_frac: float | None = 0.20,
        gopher_max_dup_para_char_frac: float | None = 0.20,
        gopher_max_top_2_gram_char_frac: float | None = 0.20,
        gopher_max_top_3_gram_char_frac: float | None = 0.18,
        gopher_max_top_4_gram_char_frac: float | None = 0.16,
        gopher_max_dup_5_gram_char_frac: float | None = 0.15,
        gopher_max_dup_6_gram_char_frac: float | None = 0.14,
        gopher_max_dup_7_gram_char_frac: float | None = 0.13,
        gopher_max_dup_8_gram_char_frac: float | None = 0.12,
        gopher_max_dup_9_gram_char_frac: float | None = 0.11,
        gopher_max_dup_10_gram_char_frac: float | None = 0.10,
        gopher_min_words: int | None = 50,  # "between 50 and 100,000 words"
        gopher_max_words: int | None = 100_000,
        gopher_min_mean_word_length: float | None = 3,  # "mean word length ... 3 to 10 characters"
        gopher_max_mean_word_length: float | None = 10,
        gopher_max_symbol_word_ratio: float | None = 0.1,  # "symbol-to-word ratio greater than 0.1" (# and ...)
        gopher_max_bullet_lines_ratio: float | None = 0.9,  # "more than 90% of lines starting with a bullet"
        gopher_max_ellipsis_lines_ratio: float | None = 0.3,  # "more than 30% ending with an ellipsis"
        gopher_min_alpha_words_ratio: float | None = 0.8,  # "80% of words ... at least one alphabetic character"
        gopher_min_stop_words: int | None = 2,  # "at least two of the following English words"
        # C4, Raffel et al. 2020 §2.2: "discarded any page with fewer than 3 sentences and only retained lines that
        # contained at least 5 words" (and tensorflow_datasets c4_utils.py: _MIN_NUM_SENTENCES = 3,
        # _MIN_WORDS_PER_LINE = 5, _MAX_WORD_LENGTH = 1000). datatrove's C4QualityFilter swaps the two (5 sentences,
        # 3 words): the paper's values are the defaults here.
        c4_min_sentences: int | None = 3,
        c4_min_words_per_line: int = 5,
        c4_max_word_length: int = 1000,
        c4_max_lorem_ipsum: int | None = 0,  # "removed any page where the phrase 'lorem ipsum' appeared"
        c4_max_curly_bracket: int | None = 0,  # "removed any pages that contained a curly bracket"
        c4_remove_lines: bool = True,  # C4 rewrites a kept page to its kept lines (as datatrove's filter does)
        # FineWeb, Penedo et al. 2024 §3.6
        fineweb_min_line_punct_ratio: float | None = 0.12,  # "fraction of lines ending with punctuation <= 0.12"
        fineweb_max_short_line_ratio: float | None = 0.67,  # "fraction of lines shorter than 30 characters >= 0.67"
        fineweb_short_line_length: int = 30,
        # "fraction of characters in duplicated lines >= 0.1" (§3.6). datatrove's FineWebQualityFilter default is
        # 0.01 (char_duplicates_ratio): the paper's 0.1 is the default here.
        fineweb_max_char_dup_ratio: float | None = 0.1,
        # newlines / words > 0.3 ("list_ratio"): not in the paper, datatrove fineweb_quality_filter.py new_line_ratio
        fineweb_max_newline_word_ratio: float | None = 0.3,
        # True: measure words, line ends and sentences exactly as datatrove's filters do, false rejections included
        # (for comparisons with datatrove; README "quality": what the defaults change and why)
        datatrove_compatible: bool = False,
    ):
        super().__init__()
        unknown = [name for name in rule_sets if name not in RULE_SETS]
        if unknown or not rule_sets:
            raise ValueError(f"quality: rule_sets {list(rule_sets)!r}: allowed values are {', '.join(RULE_SETS)}")
        self.rule_sets = [name for name in RULE_SETS if name in rule_sets]  # always decided in the documented order
        self.default_language = default_language
        self.stop_words_top_k = stop_words_top_k
        self.datatrove_compatible = datatrove_compatible
        params = {name: value for name, value in locals().items() if name.startswith(("gopher_", "c4_", "fineweb_"))}
        self.params = params
        # (column, max/min, threshold) of every active rule, in decision order
        self.rules = [(column, kind, params[param]) for name in self.rule_sets
                      for column, kind, param in RULE_SETS[name].RULES if params[param] is not None]

    def columns(self) -> dict[str, pa.DataType]:
        columns: dict[str, pa.DataType] = {}
        for name in self.rule_sets:
            columns.update(RULE_SETS[name].COLUMNS)
        return {**columns, **QUALITY_COLUMNS}

    def measure(self, text: str, lang: str) -> tuple[dict, str | None]:
        """Every value of the selected rule sets for `text`, and the text C4's line rules leave (None: no C4)."""
        from curate.stages.language_words import UNSPACED_LANGUAGES, stop_words, word_splitter

        splitter = word_splitter(lang)
        split = splitter.split(text)
        values: dict = {}
        skipped: dict[str, str] = {}
        if split.skip_reason:
            skipped.update((column, split.skip_reason) for column in sorted(WORD_COLUMNS))
        if "gopher" in self.rule_sets:
            stops = stop_words(lang, self.stop_words_top_k)
            alpha_words = None
            if split.words is not None and not self.datatrove_compatible:
                alpha_words = gopher.alphabetic_words(text, split.words, splitter.lang in UNSPACED_LANGUAGES)
            values.update(gopher.measure(text, split.words, stops, alpha_words, self.datatrove_compatible))
            if stops is None and not split.skip_reason:
                skipped["gopher_stop_words"] = f"no_stop_words_{splitter.lang}"
            if splitter.lang in LOGOGRAPHIC_LANGUAGES and not split.skip_reason:
                # a word is 1-2 characters in Chinese and Japanese: Gopher's 3-10 range is an English one
                skipped["gopher_mean_word_length"] = f"logographic_script_{splitter.lang}"
        c4_text = None
        n_words = page_words = len(split.words) if split.words is not None else None
        if "c4" in self.rule_sets:
            c4_values, kept_lines, kept_words = c4.measure(text, splitter, split.tokens,
                                                           self.params["c4_min_words_per_line"],
                                                           self.params["c4_max_word_length"],
                                                           self.datatrove_compatible)
            values.update(c4_values)
            if splitter.lang in c4.NO_SENTENCE_PUNCTUATION:
                skipped["c4_terminal_punctuation"] = f"no_sentence_punctuation_{splitter.lang}"
            if self.params["c4_remove_lines"]:
                c4_text = "\n".join(kept_lines).strip()
                if kept_words is not None and kept_words < 0:  # no token offsets: split the new text again
                    kept_words = len(splitter.words(c4_text))
                n_words = kept_words
        if "fineweb" in self.rule_sets and splitter.lang in c4.NO_SENTENCE_PUNCTUATION:
            skipped["fineweb_line_punct_ratio"] = f"no_sentence_punctuation_{splitter.lang}"
        if "fineweb" in self.rule_sets:
            # FineWeb's line rules describe the page's lines, and were set on pages C4's terminal-punctuation filter
            # had not rewritten (FineWeb ran C4 with filter_no_terminal_punct=False: datatrove examples/fineweb.py):
            # measured on the page as it comes. datatrove's chain measures them on the page C4 leaves, where no
            # unterminated or short line is left for them to count (datatrove_compatible).
            on_c4_text = self.datatrove_compatible and c4_text is not None
            values.update(fineweb.measure(c4_text if on_c4_text else text, n_words if on_c4_text else page_words,
                                          self.params["fineweb_short_line_length"], self.datatrove_compatible))
        values = {column: values.get(column) for column in self.columns() if column not in QUALITY_COLUMNS}
        for column in skipped:
            if column in values:
                values[column] = None
        values["quality_skipped_rules"] = ",".join(dict.fromkeys(skipped)) or None
        values["quality_skip_reason"] = ",".join(dict.fromkeys(skipped.values())) or None
        return values, c4_text

    def failed_rules(self, values: dict) -> list[tuple[str, float, str]]:
        failed = []
        for column, kind, threshold in self.rules:
            value = values.get(column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if (value > threshold) if kind == "max" else (value < threshold):
                failed.append((column, value, f"{column} {value:.4g} {'>' if kind == 'max' else '<'} {threshold}"))
        return failed

    def process(self, doc: Document) -> Document | Rejection:
        if not doc.text or not doc.text.strip():
            doc.metadata["quality_failed_rules"] = "quality_empty_text"
            return Rejection("quality_empty_text")
        lang = doc.metadata.get("lang") or self.default_language
        values, c4_text = self.measure(doc.text, lang)
        doc.metadata.update(values)
        failed = self.failed_rules(values)
        for column, _, _ in failed:
            self.stat_update(f"quality/failed/{column}")
        if values["quality_skip_reason"]:
            self.stat_update(f"quality/skipped/{values['quality_skip_reason']}")
        if failed:
            doc.metadata["quality_failed_rules"] = ",".join(dict.fromkeys(column for column, _, _ in failed))
            column, value, detail = failed[0]
            return Rejection(column, float(value), detail)
        if c4_text is not None and c4_text != doc.text:
            doc.text = c4_text
        return doc
