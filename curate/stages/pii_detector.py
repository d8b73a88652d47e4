"""Find PII spans with presidio, showing presidio only the windows of text that could hold one.

    text ─► one compiled regex of anchors (an "@", six digits in a row with separators, an IPv4 or hex-colon group,
            an IBAN or wallet prefix, or any configured pattern) ─► windows: each anchor ± WINDOW_MARGIN characters,
            cut at whitespace, merged ─► presidio AnalyzerEngine on the windows (batched, no tokenizing)
            ─► spans back in document offsets ─► score threshold ─► overlaps resolved

Why the windows lose nothing against presidio on the full text (the evaluation and the tests check it on the
labelled samples and on 1,000 real web pages): every match of every recognizer contains an anchor; a window starts
and ends at whitespace, so each regex's boundary checks (`\\b`, lookarounds on word characters) see the same thing
at a window's edge as in the full text; and a window whose matches (kept or not) come within `WINDOW_MARGIN` of a
cut edge is grown and analysed again, so a match and the context words a recognizer reads around it always lie
inside its window. The one thing that can differ is a match inside a run of more than `SNAP_LIMIT` characters
without whitespace (a window is cut there, mid-token).

Named-entity recognition (PERSON, LOCATION, ORGANIZATION) has no anchors: with `ner` on, a spaCy model runs on the
full text of each document in a language it has a model for.
"""

import re
from dataclasses import dataclass

import regex
import spacy
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer import predefined_recognizers as presidio_recognizers
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from curate.stages.pii_recognizers import (CONTEXT_CHARS_AFTER, CONTEXT_CHARS_BEFORE, PATTERN_LANGUAGE,
                                           CardNumberRecognizer, ContextPatternRecognizer, ContextSsnRecognizer,
                                           OfflineEmailRecognizer, PhoneNumberRecognizer, PublicIpRecognizer)

DEFAULT_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "CRYPTO",
                    "MAC_ADDRESS")
NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION")

# Cheap anchors, one per built-in entity: each is contained in every match of that entity's recognizer.
BUILTIN_ANCHORS = {
    "EMAIL_ADDRESS": r"@",
    "PHONE_NUMBER": r"\d(?:[^\S\n]?[ ().\-/\u2013x+]{0,3}\d){5}",  # the 6 digits a phone needs, with separators
    "US_SSN": r"\d(?:[ .\-]?\d){5}",
    "CREDIT_CARD": r"\d(?:[ \-]?\d){5}",
    "IBAN_CODE": r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}",
    "IP_ADDRESS": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:",
    "CRYPTO": r"(?i:(?:bc1|[13])[a-z0-9]{25})",  # presidio matches this case-insensitively
    "MAC_ADDRESS": r"[0-9A-Fa-f]{2}[:\-][0-9A-Fa-f]{2}[:\-]|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.",
}
# characters a window holds on each side of its anchor. A match (kept or not) closer to a cut edge than the context
# a recognizer reads around it (80 characters before, 40 after) grows its window; 160 leaves room for the part of a
# match before its anchor (an e-mail's local part, an IBAN's country code) without growing most windows.
WINDOW_MARGIN = 160
CASE_INSENSITIVE = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE  # presidio's RecognizerRegistry default
SNAP_LIMIT = 64  # how far a window edge moves to reach whitespace before it cuts a token


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    entity: str
    score: float
    recognizer: str = ""


class NoContextEnhancer(ContextAwareEnhancer):
    """presidio's lemma enhancer needs lemmas a blank pipeline does not make; our recognizers read context
    themselves (`pii_recognizers.TextContext`)."""

    def __init__(self):
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0, context_prefix_count=0,
                         context_suffix_count=0)

    def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
        return raw_results


class BlankSpacyEngine(SpacyNlpEngine):
    """presidio's spaCy engine on `spacy.blank(lang)` pipelines (nothing to download), for pattern recognizers only:
    it hands them empty NLP artifacts instead of tokenizing every window. None of our recognizers reads tokens,
    lemmas or entities (presidio's PatternRecognizer matches regexes on the text, `TextContext` reads context from
    the text, and NoContextEnhancer ignores the artifacts), so spaCy's tokenizer was half the detection time for
    nothing, and it raised on a lone surrogate, which cost the document."""

    def __init__(self, languages=(PATTERN_LANGUAGE,)):
        super().__init__(models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in languages])
        self.nlp = {lang: spacy.blank(lang) for lang in languages}

    def get_supported_entities(self) -> list[str]:
        return []

    def _no_artifacts(self, language: str) -> NlpArtifacts:
        return NlpArtifacts(entities=[], tokens=[], tokens_indices=[], lemmas=[], nlp_engine=self, language=language)

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self._no_artifacts(language)

    def process_batch(self, texts, language: str, batch_size: int = 1, n_process: int = 1, as_tuples: bool = False):
        for item in texts:
            if as_tuples:
                text, context = item
                yield text, self._no_artifacts(language), context
            else:
                yield item, self._no_artifacts(language)


@dataclass
class CustomPattern:
    """A regex recognizer from the YAML: `{entity: EMPLOYEE_ID, pattern: "EMP-\\d{6}", score: 0.9, context: [...]}`."""

    entity: str
    pattern: str
    score: float = 0.9
    context: list[str] | None = None


def builtin_recognizers(entities, keep_private_ips: bool) -> list[EntityRecognizer]:
    lang = {"supported_language": PATTERN_LANGUAGE}
    factories = {
        "EMAIL_ADDRESS": lambda: OfflineEmailRecognizer(**lang),
        "PHONE_NUMBER": lambda: PhoneNumberRecognizer(**lang),
        "CREDIT_CARD": lambda: CardNumberRecognizer(**lang),
        # presidio's registry compiles predefined patterns case-insensitively (global_regex_flags); IbanRecognizer
        # built by hand defaults to case-sensitive, missing "gb50mvfc38361978683032"; the checksum still decides
        "IBAN_CODE": lambda: presidio_recognizers.IbanRecognizer(regex_flags=CASE_INSENSITIVE, **lang),
        "IP_ADDRESS": lambda: PublicIpRecognizer(keep_private=keep_private_ips, **lang),
        "US_SSN": lambda: ContextSsnRecognizer(**lang),
        "CRYPTO": lambda: presidio_recognizers.CryptoRecognizer(**lang),
        "MAC_ADDRESS": lambda: presidio_recognizers.MacAddressRecognizer(**lang),
    }
    recognizers = [factories[e]() for e in entities if e in factories]
    others = [e for e in entities if e not in factories]
    if others:
        available = presidio_pattern_recognizers()
        unknown = [e for e in others if e not in available]
        if unknown:
            raise ValueError(f"entities: no pattern recognizer for {unknown}; built in: {sorted(factories)}; from "
                             f"presidio: {sorted(available)}; PERSON/LOCATION/ORGANIZATION need ner: true")
        recognizers += [available[e](supported_language=PATTERN_LANGUAGE) for e in others]
    return recognizers


def presidio_pattern_recognizers() -> dict[str, type]:
    """presidio's predefined regex recognizers (country-specific ids and the like), by the entity each finds."""
    found = {}
    for name in dir(presidio_recognizers):
        cls = getattr(presidio_recognizers, name)
        if isinstance(cls, type) and issubclass(cls, PatternRecognizer):
            try:
                entity = cls(supported_language=PATTERN_LANGUAGE).supported_entities[0]
            except Exception:  # a recognizer that needs arguments of its own
                continue
            found.setdefault(entity, cls)
    return found


def custom_recognizer(custom: CustomPattern) -> PatternRecognizer:
    from presidio_analyzer import Pattern

    return ContextPatternRecognizer(supported_entity=custom.entity, name=f"custom_{custom.entity}",
                                    supported_language=PATTERN_LANGUAGE, context=custom.context,
                                    patterns=[Pattern(custom.entity, custom.pattern, custom.score)])


class PiiDetector:
    """presidio on candidate windows (or on full texts, `windows=False`), returning non-overlapping spans."""

    def __init__(self, entities=DEFAULT_ENTITIES, custom: list[CustomPattern] = (), score_threshold: float = 0.5,
                 keep_private_ips: bool = True, windows: bool = True, ner_models: dict[str, str] | None = None):
        self.entities = [e for e in entities if e not in NER_ENTITIES]
        self.ner_entities = [e for e in entities if e in NER_ENTITIES]
        self.score_threshold = score_threshold
        self.windows = windows
        recognizers = builtin_recognizers(self.entities, keep_private_ips)
        recognizers += [custom_recognizer(c) for c in custom]
        self.entity_order = [r.supported_entities[0] for r in recognizers] + self.ner_entities
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[PATTERN_LANGUAGE])
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=BlankSpacyEngine(),
                                     supported_languages=[PATTERN_LANGUAGE], context_aware_enhancer=NoContextEnhancer())
        self.batch = BatchAnalyzerEngine(self.engine)
        self.anchors = self._anchor_regexes(recognizers)
        self.ner = NerAnalyzer(ner_models, self.ner_entities) if self.ner_entities else None

    def _anchor_regexes(self, recognizers) -> list[re.Pattern]:
        builtin = {r.supported_entities[0] for r in recognizers if r.supported_entities[0] in BUILTIN_ANCHORS
                   and not isinstance(r, ContextPatternRecognizer)}
        anchors = [re.compile("|".join(f"(?:{BUILTIN_ANCHORS[e]})" for e in sorted(builtin)))] if builtin else []
        for r in recognizers:  # presidio's country-specific and custom recognizers: their own patterns
            if r.supported_entities[0] not in builtin or isinstance(r, ContextPatternRecognizer):
                anchors += [regex.compile(p.regex, r.global_regex_flags) for p in r.patterns]
        return anchors

    # ---- windows ---------------------------------------------------------------------------------------------
    def candidate_windows(self, text: str, margin: int = WINDOW_MARGIN) -> list[tuple[int, int]]:
        """Merged (start, end) windows around every anchor, edges moved out to whitespace."""
        hits = sorted((m.start(), m.end()) for anchor in self.anchors for m in anchor.finditer(text))
        windows: list[list[int]] = []
        for start, end in hits:
            start, end = snap_start(text, start - margin), snap_end(text, end + margin)
            if windows and start <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], end)
            else:
                windows.append([start, end])
        return [(s, e) for s, e in windows]

    # ---- detection -------------------------------------------------------------------------------------------
    def detect(self, text: str, lang: str | None = None) -> list[Span]:
        return self.detect_batch([text], [lang])[0]

    def detect_batch(self, texts: list[str], langs: list[str | None] | None = None) -> list[list[Span]]:
        """Spans per text: pattern entities from the windows (or full texts), NER entities from full texts."""
        pieces = []  # (text index, offset, piece)
        for index, text in enumerate(texts):
            if self.windows:
                pieces += [(index, s, e) for s, e in self.candidate_windows(text)]
            elif text:
                pieces.append((index, 0, len(text)))
        found: list[list[Span]] = [[] for _ in texts]
        while pieces:
            results = self.batch.analyze_iterator([texts[i][s:e] for i, s, e in pieces], language=PATTERN_LANGUAGE,
                                                  batch_size=64, score_threshold=0.0)
            retry = []
            for (index, start, end), piece_results in zip(pieces, results):
                text = texts[index]
                if self.windows and self._too_close_to_edge(piece_results, start, end, len(text)):
                    retry.append((index, snap_start(text, start - WINDOW_MARGIN), snap_end(text, end + WINDOW_MARGIN)))
                    continue
                found[index] += [Span(start + r.start, start + r.end, r.entity_type, r.score, _recognizer(r))
                                 for r in piece_results]
            pieces = _merge_pieces(retry)
        if self.ner:
            for index, (text, lang) in enumerate(zip(texts, langs or [None] * len(texts))):
                found[index] += self.ner.detect(text, lang)
        return [self.resolve(spans) for spans in found]

    @staticmethod
    def _too_close_to_edge(results: list[RecognizerResult], start: int, end: int, length: int) -> bool:
        """A match (or the context words read around it) may reach past a cut edge of its window."""
        return any((start > 0 and r.start < CONTEXT_CHARS_BEFORE)
                   or (end < length and (end - start) - r.end < CONTEXT_CHARS_AFTER) for r in results)

    def resolve(self, spans: list[Span]) -> list[Span]:
        """Spans at or above the threshold, overlaps resolved: higher score, then longer, then entity order."""
        rank = {entity: i for i, entity in enumerate(self.entity_order)}
        kept: list[Span] = []
        candidates = sorted((s for s in spans if s.score >= self.score_threshold),
                            key=lambda s: (-s.score, -(s.end - s.start), rank.get(s.entity, len(rank)), s.start))
        for span in candidates:
            if all(span.end <= k.start or k.end <= span.start for k in kept):
                kept.append(span)
        return sorted(kept)


class NerAnalyzer:
    """PERSON, LOCATION, ORGANIZATION from an installed spaCy model per language, on full texts."""

    def __init__(self, models: dict[str, str] | None, entities: list[str]):
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        if not models:
            raise ValueError("ner: true needs ner_models, e.g. {en: en_core_web_sm}")
        for lang, model in models.items():
            if not (spacy.util.is_package(model) or _is_model_dir(model)):
                raise ValueError(f"ner_models.{lang}: spaCy model {model!r} is not installed (nothing is downloaded; "
                                 f"install it first, e.g. `python -m spacy download {model}`)")
        engine = SpacyNlpEngine(models=[{"lang_code": lang, "model_name": model} for lang, model in models.items()])
        registry = RecognizerRegistry(recognizers=[SpacyRecognizer(supported_language=lang, supported_entities=entities)
                                                   for lang in models], supported_languages=list(models))
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=list(models))
        self.languages = set(models)
        self.entities = entities

    def detect(self, text: str, lang: str | None) -> list[Span]:
        lang = (lang or "").split("-")[0].lower()
        if lang not in self.languages or not text:
            return []
        return [Span(r.start, r.end, r.entity_type, r.score, _recognizer(r))
                for r in self.engine.analyze(text, language=lang, entities=self.entities)]


def _is_model_dir(model: str) -> bool:
    from pathlib import Path

    return (Path(model) / "config.cfg").is_file()


def _recognizer(result: RecognizerResult) -> str:
    return (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")


def _merge_pieces(pieces: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    merged: list[list[int]] = []
    for index, start, end in sorted(pieces):
        if merged and merged[-1][0] == index and start <= merged[-1][2]:
            merged[-1][2] = max(merged[-1][2], end)
        else:
            merged.append([index, start, end])
    return [tuple(p) for p in merged]


def snap_start(text: str, position: int) -> int:
    """`position` moved back to just after whitespace (at most SNAP_LIMIT characters), or 0."""
    if position <= 0:
        return 0
    floor = max(0, position - SNAP_LIMIT)
    for i in range(position, floor - 1, -1):
        if i == 0 or text[i - 1].isspace():
            return i
    return position


def snap_end(text: str, position: int) -> int:
    """`position` moved forward to the next whitespace (at most SNAP_LIMIT characters), or len(text)."""
    length = len(text)
    if position >= length:
        return length
    ceiling = min(length, position + SNAP_LIMIT)
    for i in range(position, ceiling + 1):
        if i == length or text[i].isspace():
            return i
    return position
