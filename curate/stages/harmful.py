"""`harmful`: the LDNOOBW bad-word filter, per document language, with whole-word matching.

C4 (Raffel et al. 2020, §2.2) "removed any page that contained any word on the List of Dirty, Naughty, Obscene or
Otherwise Bad Words". That rule (`mode: any` here) drops many harmless pages: one medical or ambiguous word is enough
(the lists hold "penis", "nackt", "anal", ...), and Dodge et al. 2021 (Documenting Large Webtext Corpora, the
section on what C4's filters exclude) found it removes text by and about minorities disproportionately. So the
default is a ratio rule, as in the BigScience ROOTS pipeline (Laurençon et al. 2022, "flagged words" filter): drop a
document when more than `max_badword_ratio` of its words are on the list (ROOTS keeps `ratio <= cutoff`). Default
0.01, the English cut-off of ROOTS (bigscience-workshop/data-preparation,
preprocessing/training/01b_oscar_cleaning_and_filtering/parameters_filtering.py,
`parameters_filtering_en["flagged_words_max_cutoff"]`); ROOTS used its own flagged-word lists, applying its cut-off
to the LDNOOBW lists is our choice. RedPajama-V2 ships the same count as a signal
(`rps_doc_ldnoobw_words`) for users to threshold; here `badword_count`/`badword_ratio` are written for every checked
document, kept or not, so any rule can be re-applied from the Parquet columns.

Matching (lower-cased text, whitespace runs read as one space, so multi-word entries match across line breaks):
  - an entry must not continue a longer word: it must not be preceded or followed by a letter, digit or combining
    mark of a script written with spaces. "ass" does not fire in "class" or "assessment", "cunt" not in "Scunthorpe".
  - an entry end that is a Han, kana or Thai character needs no boundary: zh, ja and th are written without spaces,
    so substring matching is all that is possible (what C4 and datatrove's C4BadWordsFilter do for these three).
    Latin entries in those lists ("cs", "13.") still need their Latin boundary.
  - entries datatrove allow-lists for ja/zh (each filters >10% of pages of its language) are left out.
  - one compiled regex per language, built as a trie so the engine tries a few branches per word, not hundreds.
The ratio's denominator is the number of whitespace-separated words; for zh, ja and th it is the number of
non-space characters (a per-character ratio, lower than a per-word one by the mean word length, ~1.5-2).

Ambiguous entries (issue 17): for English, the entries that are ordinary vocabulary of news, health, science and
literature ("sex", "anal", "rape", "pedophile", "nude"), or that have a common sense that is not obscene ("dick",
"cock", "snatch", "xxx") are listed in data/badwords_ambiguous/en, with the reason for each group. They are counted
apart (`badword_ambiguous_count`) and, unless `count_ambiguous`, not towards the count and ratio that decide: a
report on blood-donation rules or on a paedophile scandal was dropped for its "sex", "anal", "pedophile" at 1.1-3% of
its words, while pornographic text keeps dozens of unambiguous entries. Languages without such a file count every
entry (C4's and ROOTS's behaviour).

The document language is `metadata["lang"]` (the langid stage), else `default_language`. A language without a list
is not checked: the document is kept with null `badword_*` columns, counted under `not_checked/<lang>`.
"""

import os
import re
from pathlib import Path

import pyarrow as pa
from datatrove.data import Document

from curate.stages.base import CurateFilter, Rejection

BUNDLED_LISTS = Path(__file__).parent / "data" / "badwords"
AMBIGUOUS_LISTS = Path(__file__).parent / "data" / "badwords_ambiguous"  # one file per language, "#" comments

# datatrove pipeline/filters/c4_filters.py `_BADWORDS_ALLOWLIST`: "common subwords in languages without spaces.
# These each filter >10% of documents of their language when disallowed."
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}

# language codes of the langid stage (fastText lid.176) that name a list under another tag
LANGUAGE_ALIASES = {"nb": "no", "tl": "fil"}

UNSEGMENTED_LANGUAGES = {"zh", "ja", "th"}  # written without spaces between words: C4/datatrove substring matching

# Characters that need no word boundary: Thai, kana, CJK ideographs, half-width katakana.
_UNSEGMENTED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
# Combining marks that are part of words but not `\w` to Python's re (which has no \p{M}): combining diacritics,
# Arabic harakat, Devanagari signs (hi).
_MARKS = "\u0300-\u036f\u064b-\u065f\u0670\u0900-\u097f"
_NOT_AFTER_WORD = rf"(?<![^\W{_UNSEGMENTED}])(?<![{_MARKS}])"
_NOT_BEFORE_WORD = rf"(?![^\W{_UNSEGMENTED}])(?![{_MARKS}])"
_UNSEGMENTED_CHAR = re.compile(f"[{_UNSEGMENTED}]")


class HarmfulContent(CurateFilter):
    """Count LDNOOBW words in the document's language; reject above a ratio (default) or on any match (C4)."""

    name = "harmful"

    def __init__(
        self,
        mode: str = "ratio",  # "ratio": drop above max_badword_ratio (ROOTS); "any": drop on any match (C4 §2.2)
        max_badword_ratio: float = 0.01,  # ROOTS parameters_filtering_en flagged_words_max_cutoff
        default_language: str = "en",  # datatrove C4BadWordsFilter's default_language
        lists_dir: str | None = None,  # a folder of word lists named by language tag, instead of the bundled LDNOOBW
        # entries with ordinary senses (data/badwords_ambiguous/<lang>) count towards the decision too (C4, ROOTS)
        count_ambiguous: bool = False,
    ):
        super().__init__()
        if mode not in ("ratio", "any"):
            raise ValueError(f"mode must be 'ratio' or 'any', got {mode!r}")
        if not 0 <= max_badword_ratio <= 1:
            raise ValueError(f"max_badword_ratio must be between 0 and 1, got {max_badword_ratio}")
        directory = Path(lists_dir) if lists_dir else BUNDLED_LISTS
        if not directory.is_dir():
            raise ValueError(f"lists_dir {str(directory)!r} is not a folder")
        self.mode = mode
        self.max_badword_ratio = max_badword_ratio
        self.default_language = default_language
        self.lists_dir = str(directory)
        self.count_ambiguous = count_ambiguous
        # list files are named by language tag, without extension (LICENSE and README.md sit beside them)
        self.available = {name.lower(): name for name in os.listdir(directory) if "." not in name and name != "LICENSE"}
        self._patterns: dict[str, re.Pattern | None] = {}
        self._ambiguous_entries: dict[str, frozenset[str]] = {}

    def columns(self) -> dict[str, pa.DataType]:
        return {
            "badword_list": pa.string(),  # the list the document was checked against; null: not checked
            "badword_count": pa.int64(),  # matches (non-overlapping) of the entries that decide
            "badword_ambiguous_count": pa.int64(),  # matches of entries with ordinary senses (not deciding by default)
            "badword_ratio": pa.float64(),  # matches per word (per non-space character for zh/ja/th)
            "badwords_found": pa.list_(pa.string()),  # the distinct entries matched, for auditing
        }

    def list_for(self, lang: str | None) -> str | None:
        """The list name for a language code ("pt-BR" -> "pt", "nb" -> "no"), or None when there is none."""
        code = (lang or self.default_language or "").strip().lower().replace("_", "-")
        for candidate in (code, code.split("-")[0], LANGUAGE_ALIASES.get(code.split("-")[0])):
            if candidate and candidate in self.available:
                return candidate
        return None

    def filter(self, doc: Document) -> bool | tuple[bool, Rejection]:
        list_name = self.list_for(doc.metadata.get("lang"))
        meta = doc.metadata
        if list_name is None:
            meta.update(badword_list=None, badword_count=None, badword_ambiguous_count=None, badword_ratio=None,
                        badwords_found=None)
            self.stat_update(f"not_checked/{doc.metadata.get('lang') or self.default_language}")
            return True
        count, ambiguous, words, found = self.count(doc.text or "", list_name)
        ratio = count / words if words else 0.0
        meta.update(badword_list=list_name, badword_count=count, badword_ambiguous_count=ambiguous,
                    badword_ratio=ratio, badwords_found=found)
        self.stat_update(f"checked/{list_name}")
        if count:
            self.stat_update("with_badwords")
        detail = f"{count} match(es) of the {list_name} list in {words} words: {', '.join(found[:5])}"
        if self.mode == "any" and count:
            return False, Rejection("badwords", count, detail)
        if self.mode == "ratio" and ratio > self.max_badword_ratio:
            return False, Rejection("badwords", ratio, f"{detail} (ratio above {self.max_badword_ratio})")
        return True

    def count(self, text: str, list_name: str) -> tuple[int, int, int, list[str]]:
        """(matches that decide, matches of ambiguous entries, words, distinct entries found) of `text` against one
        list. Every entry is matched by one regex, so overlapping entries resolve as before; the ambiguous ones are
        then counted apart (towards the first number too when `count_ambiguous`)."""
        normalised = " ".join(text.lower().split())
        if not normalised:
            return 0, 0, 0, []
        spaces = normalised.count(" ")
        words = len(normalised) - spaces if list_name.split("-")[0] in UNSEGMENTED_LANGUAGES else spaces + 1
        pattern = self._pattern(list_name)
        matches = pattern.findall(normalised) if pattern else []
        ambiguous_entries = self._ambiguous(list_name)
        ambiguous = sum(match in ambiguous_entries for match in matches)
        deciding = len(matches) if self.count_ambiguous else len(matches) - ambiguous
        return deciding, ambiguous, words, sorted(set(matches))

    def _pattern(self, list_name: str) -> re.Pattern | None:
        if list_name not in self._patterns:
            self._patterns[list_name] = compile_list(self.load_list(list_name))
        return self._patterns[list_name]

    def _ambiguous(self, list_name: str) -> frozenset[str]:
        if list_name not in self._ambiguous_entries:
            path = AMBIGUOUS_LISTS / list_name.split("-")[0]
            lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
            self._ambiguous_entries[list_name] = frozenset(
                " ".join(line.lower().split()) for line in lines if line.strip() and not line.startswith("#"))
        return self._ambiguous_entries[list_name]

    def load_list(self, list_name: str) -> list[str]:
        path = Path(self.lists_dir) / self.available[list_name]
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read word list {path}: {error}") from None
        entries = {" ".join(line.lower().split()) for line in lines}
        return sorted(entries - {""} - ALLOWLIST.get(list_name.split("-")[0], set()))


def compile_list(entries: list[str]) -> re.Pattern | None:
    """One regex for a word list: entries grouped by whether each end needs a word boundary, each group a trie."""
    groups: dict[tuple[bool, bool], list[str]] = {}
    for entry in entries:
        needs_start = not _UNSEGMENTED_CHAR.match(entry[0]) and _is_word_char(entry[0])
        needs_end = not _UNSEGMENTED_CHAR.match(entry[-1]) and _is_word_char(entry[-1])
        groups.setdefault((needs_start, needs_end), []).append(entry)
    if not groups:
        return None
    branches = []
    for (needs_start, needs_end), group in sorted(groups.items(), reverse=True):
        before, after = _NOT_AFTER_WORD if needs_start else "", _NOT_BEFORE_WORD if needs_end else ""
        branches.append(before + _trie(group) + after)
    return re.compile("|".join(f"(?:{b})" for b in branches))


def _is_word_char(char: str) -> bool:
    return bool(re.match(rf"[\w{_MARKS}]", char))


def _trie(entries: list[str]) -> str:
    """A regex matching any of `entries`, longest first, with shared prefixes factored out ("ass(?:hole)?")."""
    root: dict = {}
    for entry in entries:
        node = root
        for char in entry:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        # a space inside an entry matches the one space the text's whitespace runs were turned into
        alternatives = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)
