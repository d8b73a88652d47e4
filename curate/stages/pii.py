"""`pii`: find personal data with presidio and redact it, offline, at pipeline speed.

presidio-analyzer's recognizers (e-mail with its suffix check, credit cards with Luhn, IBANs with their checksum, IPv4
and IPv6, US SSNs, Bitcoin wallets with their checksum, MAC addresses) plus our phone recognizer run in a presidio
AnalyzerEngine on a blank spaCy pipeline: nothing is downloaded, and tldextract reads its bundled public-suffix list
(curate/stages/pii_recognizers.py). presidio only sees windows of text around candidate characters, which finds the
same spans as presidio on the full text (curate/stages/pii_detector.py says why; `curate eval pii` and the tests
check it) at several times its speed on web text. Any other presidio pattern entity (UK_NHS, ES_NIF, ...) and
regex recognizers written in the YAML can be added; with `ner: true` and an installed spaCy model, PERSON, LOCATION
and ORGANIZATION too (on full texts, at spaCy's speed).

Modes:
  - `placeholder` (default): each span becomes `<ENTITY_TYPE>`;
  - `hash`: each span becomes `<ENTITY_TYPE:16 hex digits>`, an HMAC-SHA256 of the value keyed with `hash_salt`, so
    a value maps to the same token everywhere the salt is the same (a run, or runs sharing the salt) and a document
    keeps its structure ("write to <EMAIL_ADDRESS:3f..> or <EMAIL_ADDRESS:3f..>" is one person);
  - `drop_document`: documents with more than `max_pii` spans (default 0) are rejected, the others kept unchanged.
In every mode `max_pii` rejects documents above that count (reason `too_much_pii`); a rejected document's text is
redacted with placeholders too, so no detected value reaches OUT/rejected/. Text outside the spans is left
byte-identical.

Signals: `pii_<entity>` (one int64 count per configured entity type) and `pii_total`. The funnel counts spans per
entity (`entities/<ENTITY>`). `span_log` writes every span (document id, entity, offsets in the original text,
score, recognizer; the value itself only with `span_log_values: true`) to FOLDER/NNNNN.jsonl, one file per task:
an audit trail kept out of the shards.
"""

import hashlib
import hmac
import json

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline

from curate.stages.base import CurateStep, Rejection
from curate.stages.nlp_imports import without_deep_learning

with without_deep_learning():  # presidio and spaCy, not torch and transformers (seconds of start-up, unused)
    from curate.stages.pii_detector import DEFAULT_ENTITIES, NER_ENTITIES, CustomPattern, PiiDetector, Span

MODES = ("placeholder", "hash", "drop_document")
HASH_HEX_DIGITS = 16  # 64 bits: collisions are unlikely below ~4 billion distinct values (birthday bound)


class PiiRedaction(CurateStep):
    """Count PII spans per entity type; redact them (placeholder or salted hash) or drop the document."""

    name = "pii"

    def __init__(
        self,
        entities: list[str] | None = None,  # None: DEFAULT_ENTITIES (+ PERSON, LOCATION, ORGANIZATION with ner)
        mode: str = "placeholder",  # placeholder | hash | drop_document
        max_pii: int | None = None,  # reject documents with more spans; None: never (drop_document: 0)
        # presidio names its pattern strengths weak (<= 0.3) / medium (0.5) / strong; 0.5 keeps medium and up
        # (us_ssn_recognizer.py "SSN5 (medium)", email_recognizer.py "Email (Medium)") and a weak match only when a
        # context word lifts it (+0.35, presidio's LemmaContextAwareEnhancer factor)
        score_threshold: float = 0.5,
        keep_private_ips: bool = True,  # private, loopback, documentation ranges and public DNS resolvers kept (BigCode)
        hash_salt: str | None = None,  # the HMAC key of mode hash (required there); keep it secret
        custom_recognizers: list[dict] | None = None,  # [{entity, pattern, score: 0.9, context: [...]}]
        ner: bool = False,  # PERSON, LOCATION, ORGANIZATION from an installed spaCy model (nothing is downloaded)
        ner_models: dict[str, str] | None = None,  # language -> spaCy model or folder; None: {en: en_core_web_sm}
        span_log: str | None = None,  # folder for the audit log of spans (never the shards)
        span_log_values: bool = False,  # write each span's text into the audit log too
        prefilter: bool = True,  # False: presidio on full texts (for comparisons; same spans, slower)
        batch_size: int = 64,  # documents whose windows go through presidio's batch engine together
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "hash" and not hash_salt:
            raise ValueError("mode hash needs hash_salt (a secret string): unsalted hashes of phone numbers and "
                             "e-mails are reversed by trying every value")
        if max_pii is not None and max_pii < 0:
            raise ValueError(f"max_pii must be >= 0, got {max_pii}")
        if not 0 <= score_threshold <= 1:
            raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        entities = list(entities) if entities is not None else [*DEFAULT_ENTITIES, *(NER_ENTITIES if ner else ())]
        if not entities and not custom_recognizers:
            raise ValueError("entities is empty and there are no custom_recognizers: nothing to find")
        ner_entities = [e for e in entities if e in NER_ENTITIES]
        if ner_entities and not ner:
            raise ValueError(f"entities {ner_entities} need ner: true and a spaCy model")
        self.mode = mode
        self.max_pii = 0 if mode == "drop_document" and max_pii is None else max_pii
        self.hash_salt = hash_salt
        self.span_log = span_log
        self.span_log_values = span_log_values
        self.batch_size = batch_size
        custom = [_custom_pattern(item, i) for i, item in enumerate(custom_recognizers or [])]
        self._detector_args = (tuple(entities), tuple(custom), score_threshold, keep_private_ips, prefilter,
                               tuple(sorted((ner_models or {"en": "en_core_web_sm"}).items())) if ner else None)
        self._detector = shared_detector(self._detector_args)  # built here: a bad entity is a config error now
        self.entity_types = list(dict.fromkeys(self.detector.entity_order))

    @property
    def detector(self) -> PiiDetector:
        if self._detector is None:  # a task's copy of the stage: the process's detector, built on first use
            self._detector = shared_detector(self._detector_args)
        return self._detector

    def __getstate__(self) -> dict:
        # the detector stays out of the pickled stage: every task would unpickle presidio's engine and its spaCy
        # pipeline again; a worker builds one per settings instead and keeps it for every task and phase
        return {**self.__dict__, "_detector": None}

    def columns(self) -> dict[str, pa.DataType]:
        return {**{column_name(e): pa.int64() for e in self.entity_types}, "pii_total": pa.int64()}

    # ---- running ---------------------------------------------------------------------------------------------
    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        log = self._open_span_log(rank)
        try:
            # a batch the detector fails on is detected again one document at a time (the document loop's rule)
            yield from self.document_loop(data, lambda live: self._decide_batch(live, log), self.batch_size)
        finally:
            if log is not None:
                log.close()

    def _decide_batch(self, live: list[Document], log) -> list[Document | Rejection | Exception]:
        """Detect the spans of a batch, then redact each document; a document the redaction fails on gets its error
        (its own outcome: the others are not redacted again)."""
        found = self.detector.detect_batch([doc.text or "" for doc in live], [doc.metadata.get("lang") for doc in live])
        outcomes = []
        for doc, spans in zip(live, found):
            try:
                outcomes.append(self.apply(doc, spans, log) or doc)
            except Exception as error:
                outcomes.append(error)
        return outcomes

    def process(self, doc: Document) -> Document | Rejection:
        """One document on its own (the batched `run` is what pipelines use)."""
        [spans] = self.detector.detect_batch([doc.text or ""], [doc.metadata.get("lang")])
        rejection = self.apply(doc, spans, None)
        return doc if rejection is None else rejection

    def apply(self, doc: Document, spans: list[Span], log) -> Rejection | None:
        """Write the counts, log the spans, redact or decide to reject."""
        counts = dict.fromkeys(self.entity_types, 0)
        for span in spans:
            counts[span.entity] = counts.get(span.entity, 0) + 1
        doc.metadata.update({column_name(e): n for e, n in counts.items()}, pii_total=len(spans))
        for entity, n in counts.items():
            if n:
                self.stat_update(f"entities/{entity}", value=n)
        if spans:
            self.stat_update("docs_with_pii")
        if log is not None:
            self._log_spans(log, doc, spans)
        too_many = self.max_pii is not None and len(spans) > self.max_pii
        if too_many or self.mode == "placeholder":
            doc.text = redact(doc.text, spans, placeholder)
        elif self.mode == "hash":
            doc.text = redact(doc.text, spans, self.hashed)
        if too_many:
            found = ", ".join(f"{n} {e}" for e, n in counts.items() if n)
            return Rejection("too_much_pii", len(spans), f"{found} (above max_pii {self.max_pii})")
        return None

    def hashed(self, entity: str, value: str) -> str:
        digest = hmac.new(self.hash_salt.encode("utf-8"), value.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<{entity}:{digest.hexdigest()[:HASH_HEX_DIGITS]}>"

    # ---- audit log -------------------------------------------------------------------------------------------
    def _open_span_log(self, rank: int):
        if not self.span_log:
            return None
        from datatrove.io import get_datafolder

        folder = get_datafolder(self.span_log)
        folder.makedirs("", exist_ok=True)
        return folder.open(f"{rank:05d}.jsonl", "wt", encoding="utf-8")

    def _log_spans(self, log, doc: Document, spans: list[Span]) -> None:
        for span in spans:
            record = {"id": doc.id, "entity": span.entity, "start": span.start, "end": span.end,
                      "score": round(span.score, 3), "recognizer": span.recognizer}
            if self.span_log_values:
                record["value"] = doc.text[span.start:span.end]
            log.write(json.dumps(record, ensure_ascii=False) + "\n")


_DETECTORS: dict[str, PiiDetector] = {}


def shared_detector(args: tuple) -> PiiDetector:
    """One detector per process and settings (presidio's AnalyzerEngine and its recognizers take seconds)."""
    key = repr(args)  # (custom patterns are dataclasses: not hashable, but their repr is their value)
    if key not in _DETECTORS:
        entities, custom, score_threshold, keep_private_ips, windows, ner_models = args
        _DETECTORS[key] = PiiDetector(list(entities), list(custom), score_threshold=score_threshold,
                                       keep_private_ips=keep_private_ips, windows=windows,
                                       ner_models=dict(ner_models) if ner_models else None)
    return _DETECTORS[key]


def column_name(entity: str) -> str:
    return "pii_" + entity.lower()


def placeholder(entity: str, value: str) -> str:
    return f"<{entity}>"


def redact(text: str, spans: list[Span], replacement) -> str:
    """`text` with each (non-overlapping, sorted) span replaced by `replacement(entity, value)`; the rest as is."""
    if not spans:
        return text
    parts, position = [], 0
    for span in spans:
        parts += [text[position:span.start], replacement(span.entity, text[span.start:span.end])]
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


def _custom_pattern(item: dict, index: int) -> CustomPattern:
    """A `custom_recognizers` entry from the YAML, checked: entity (UPPER_SNAKE), pattern (compiles), score."""
    import regex

    where = f"custom_recognizers[{index}]"
    if not isinstance(item, dict) or not {"entity", "pattern"} <= set(item):
        raise ValueError(f"{where}: expected {{entity: NAME, pattern: REGEX, score: 0.9, context: [...]}}, got {item!r}")
    unknown = set(item) - {"entity", "pattern", "score", "context"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: entity, pattern, score, context")
    entity = str(item["entity"])
    if not entity.replace("_", "").isalnum() or entity.upper() != entity:
        raise ValueError(f"{where}.entity: {entity!r} must be UPPER_SNAKE_CASE (it becomes a column name)")
    try:
        regex.compile(item["pattern"])
    except regex.error as error:
        raise ValueError(f"{where}.pattern: {item['pattern']!r} does not compile: {error}") from None
    score = float(item.get("score", 0.9))
    if not 0 < score <= 1:
        raise ValueError(f"{where}.score must be in (0, 1], got {score}")
    return CustomPattern(entity, item["pattern"], score, item.get("context"))
