"""The bottom layer every step shares: rejecting without dropping, counting the funnel, and THE document loop.

A rejected document is not dropped from the stream: it is marked (`rejected_by`, `reason`, ...) and flows on,
untouched by later stages, to the shard writer at the end of the pipeline, which routes it to `OUT/rejected/`.
Nothing vanishes, and the order of documents (and so the output) never depends on where they were rejected.

Every step counts, through datatrove's `stat_update`, the documents, bytes and tokens that enter it, leave it, and
are rejected by it (by reason). datatrove saves these per task; the manifest adds them up into the funnel.

`FunnelCounting.document_loop` is the one loop every stage shape runs on (one document at a time, a filter's
batches, pii's batches, chunk's one-in-many-out, a GlobalStage's decide half, a stage under limits): skip the
rejected, count in, decide, turn one document's exception into a rejection, count out, keep the order.

Both curate/io (readers, the shard writer, the manifest) and curate/stages import this module; it imports neither.
"""

import re
import time
from contextlib import contextmanager
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.utils.batching import batched

REJECTED_BY = "rejected_by"
REASON = "reason"
REASON_VALUE = "reason_value"
REASON_DETAIL = "reason_detail"
# The columns of a rejected shard beyond the kept ones. A rejection names the stage, a snake_case reason and, where
# there is one, the measured value that decided it (for example the language score) and a human-readable detail.
REJECTION_COLUMNS: dict[str, pa.DataType] = {
    REJECTED_BY: pa.string(),
    REASON: pa.string(),
    REASON_VALUE: pa.float64(),
    REASON_DETAIL: pa.string(),
}

# The values of the `split` column (written by the split stage) that route a kept document to OUT/<split>/.
SPLITS = ("train", "val", "test")

# stat names: the manifest reads these back (curate/io/manifest.py)
DOCS_IN, BYTES_IN, TOKENS_IN = "funnel/docs_in", "funnel/bytes_in", "funnel/tokens_in"
DOCS_OUT, BYTES_OUT, TOKENS_OUT = "funnel/docs_out", "funnel/bytes_out", "funnel/tokens_out"
REJECTED_DOCS, REJECTED_BYTES, REJECTED_TOKENS = "funnel/rejected_docs/", "funnel/rejected_bytes/", "funnel/rejected_tokens/"
DOCS_CREATED = "funnel/docs_created"  # documents a stage adds (chunk: the blocks beyond the first of a document)
CPU_SECONDS = "funnel/cpu_seconds"  # CPU time inside the step (datatrove's own timing, `seconds`, is wall time)

# Characters of scripts written without spaces (Thai, Lao, Tibetan, Myanmar, Khmer, kana, Han): each is one token.
# [start, end) ranges: Thai, Lao, Tibetan, Myanmar; Khmer; kana; CJK extension A; CJK; compatibility ideographs;
# half-width katakana; CJK extensions B-H
_SPACELESS_RANGES = ((0x0E00, 0x10A0), (0x1780, 0x1800), (0x3040, 0x3100), (0x3400, 0x4DC0), (0x4E00, 0xA000),
                     (0xF900, 0xFB00), (0xFF66, 0xFFA0), (0x20000, 0x31350))
_SPACELESS = re.compile("[" + "".join(f"{chr(start)}-{chr(end - 1)}" for start, end in _SPACELESS_RANGES) + "]")
_SPACELESS_BOUNDS = np.array([bound for pair in _SPACELESS_RANGES for bound in pair])


class Rejection(NamedTuple):
    """Why a stage rejects a document: a snake_case `reason`, the measured `value` that decided, a `detail`."""

    reason: str
    value: float | None = None
    detail: str | None = None


def is_rejected(doc: Document) -> bool:
    return REJECTED_BY in doc.metadata


def count_tokens(text: str) -> int:
    """The funnel's token count, independent of any model's tokenizer: whitespace-separated words, plus one per
    character of a script written without spaces (zh, ja, th, ...), whose words a whitespace split cannot see.
    For English web text a GPT-2 BPE token count is about 1.3x this."""
    if not text:
        return 0
    if len(text) >= _LONG_TEXT:  # (the same count, from the text's UTF-8: 2x faster on a page of HTML)
        return count_tokens_utf8(text.encode("utf-8", "surrogatepass"))
    words = len(text.split())
    return words if text.isascii() else words + len(_SPACELESS.findall(text))


_LONG_TEXT = 8192  # characters from which counting in UTF-8 with numpy is faster than str.split and a regex


# Byte classes for counting words in UTF-8 without decoding it: an ASCII byte str.split() splits on (bytes.split()
# misses U+001C-001F); the lead byte of a multi-byte character str.split() splits on; the lead byte of a character
# of _SPACELESS (U+0E00-0FFF: E0, U+1000-17FF: E1, U+3040-9FFF: E3-E9, U+F900-FF9F: EF, U+20000-3134F: F0)
_ASCII_SPACE, _SPACE_LEAD, _SPACELESS_LEAD = 1, 2, 4
_BYTE_CLASS = np.zeros(256, dtype=np.uint8)
_BYTE_CLASS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = _ASCII_SPACE
_BYTE_CLASS[[0xC2, 0xE1, 0xE2, 0xE3]] |= _SPACE_LEAD
_BYTE_CLASS[[0xE0, 0xE1, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEF, 0xF0]] |= _SPACELESS_LEAD
_BYTE_CLASSES = _BYTE_CLASS.tobytes()  # a bytes.translate table: each byte to its class, at memcpy speed
# the other whitespace str.split() splits on, its UTF-8 bytes as one integer, 2 bytes long (U+0085, U+00A0) or 3
# (U+1680, U+2000-200A, U+2028-2029, U+202F, U+205F, U+3000); tests/test_funnel.py checks the lists
_UTF8_SPACES_2 = np.array([0xC285, 0xC2A0])
_UTF8_SPACES_3 = np.array([0xE19A80, *range(0xE28080, 0xE2808B), 0xE280A8, 0xE280A9, 0xE280AF, 0xE2819F, 0xE38080])


def count_tokens_utf8(raw: bytes) -> int:
    """count_tokens(raw.decode("utf-8", "replace")), without decoding. A page of HTML (before extraction, as
    bytes or as text) is the largest text the funnel counts: in UTF-8, with numpy, it costs half what str.split()
    and a regex do, and a page that arrives as bytes is not decoded at all. Equal by construction: every lead byte
    starts a character of its own in Python's decoder (a lead byte is never a continuation byte), a valid sequence
    decodes to its own character wherever it stands, and an invalid one to U+FFFD, neither whitespace nor
    spaceless; tests/test_funnel.py checks it on real pages and fuzzed bytes."""
    if not raw:
        return 0
    classes = np.frombuffer(raw.translate(_BYTE_CLASSES), dtype=np.uint8)
    space = (classes & _ASCII_SPACE).astype(bool)
    space_leads = np.flatnonzero(classes & _SPACE_LEAD)
    spaceless_leads = np.flatnonzero(classes & _SPACELESS_LEAD)
    data = np.frombuffer(raw + b"\0\0\0", dtype=np.uint8)  # (every lead has 3 bytes after it)
    if len(space_leads):
        first, second, third = (data[space_leads + k].astype(np.int64) for k in range(3))
        two = space_leads[np.isin(first << 8 | second, _UTF8_SPACES_2)]
        three = space_leads[np.isin(first << 16 | second << 8 | third, _UTF8_SPACES_3)]
        for width, at in ((2, two), (3, three)):
            for k in range(width):
                space[at + k] = True  # (a match has no padding byte: no whitespace's UTF-8 has a zero byte)
    words = int(not space[0]) + int(np.count_nonzero(space[:-1] & ~space[1:]))
    if not len(spaceless_leads):
        return words
    lead, second, third, fourth = (data[spaceless_leads + k].astype(np.int64) for k in range(4))
    continues = [(byte & 0xC0) == 0x80 for byte in (second, third, fourth)]
    four_bytes = lead == 0xF0
    valid = continues[0] & continues[1] & (~four_bytes | (continues[2] & (second >= 0x90)))  # (F0 8x: overlong)
    code = np.where(four_bytes, (second & 0x3F) << 12 | (third & 0x3F) << 6 | fourth & 0x3F,
                    (lead & 0x0F) << 12 | (second & 0x3F) << 6 | third & 0x3F)
    inside = np.searchsorted(_SPACELESS_BOUNDS, code, side="right") % 2 == 1
    return words + int(np.count_nonzero(valid & inside))


class Size(NamedTuple):
    """A document's size as the funnel counts it."""

    bytes: int
    tokens: int


# The size of the last texts measured, by the identity of the text object: a document's text is counted as it
# enters and leaves every stage, and most stages leave it unchanged, so most counts are look-ups. The entry holds
# the text itself, so an id is never reused while its entry lives. Bounded: a batch of documents (pii's 64) fits.
_SIZES: dict[int, tuple[object, Size]] = {}
_SIZES_KEPT = 512


def doc_size(doc: Document) -> Size:
    text = doc.text
    cached = _SIZES.get(id(text))
    if cached is not None and cached[0] is text:
        return cached[1]
    if isinstance(text, bytes):  # not decoded yet (extract decodes a page that arrives as bytes)
        size = Size(len(text), count_tokens_utf8(text))
    elif not text:
        size = Size(0, 0)
    elif text.isascii():
        size = Size(len(text), count_tokens(text))
    else:  # the UTF-8 gives both the bytes and, for a long text, the tokens
        encoded = text.encode("utf-8", "surrogatepass")
        size = Size(len(encoded), count_tokens_utf8(encoded) if len(text) >= _LONG_TEXT else count_tokens(text))
    if len(_SIZES) >= _SIZES_KEPT:
        del _SIZES[next(iter(_SIZES))]  # the oldest entry (dicts keep insertion order)
    _SIZES[id(text)] = (text, size)
    return size


@contextmanager
def timed(step, unit: str | None = None):
    """Time a block of `step`'s work: wall time (datatrove's track_time, the funnel's `seconds`) and the CPU time
    of this thread (the funnel's `cpu_seconds`: on a loaded machine wall time counts the waiting too)."""
    started = time.thread_time()
    with step.track_time(unit):
        yield
    step.stat_update(CPU_SECONDS, value=time.thread_time() - started)


def filter_result(result, stage_name: str) -> tuple[bool, Rejection | None]:
    """A datatrove filter result (True, False, or (False, reason)) as (keep, Rejection)."""
    if isinstance(result, tuple) and not isinstance(result, Rejection):
        keep, reason = result
    else:
        keep, reason = result, None
    if keep:
        return True, None
    if reason is None:
        return False, Rejection(f"{stage_name}_filtered")
    return False, reason if isinstance(reason, Rejection) else Rejection(str(reason))


# What a stage's decision on one live document may be: the document to keep (the same or a changed one; None keeps
# it as it is), a Rejection, an Exception (the stage failed on it: rejected with the error), or a list of documents
# (one in, several out: chunk).
Outcome = Document | Rejection | Exception | list[Document] | None
BatchDecision = Callable[[list[Document]], Sequence[Outcome]]


class FunnelCounting:
    """Mixin for PipelineSteps: count documents, bytes and tokens in, out and rejected (by reason), and run the
    document loop."""

    def count_in(self, doc: Document) -> Size:
        size = doc_size(doc)
        self.stat_update(DOCS_IN)
        self.stat_update(BYTES_IN, value=size.bytes)
        self.stat_update(TOKENS_IN, value=size.tokens)
        return size

    def count_out(self, doc: Document, size: Size | None = None) -> None:
        """`size`: the document's size when the caller knows it (measuring again is a cache look-up anyway)."""
        size = doc_size(doc) if size is None else size
        self.stat_update(DOCS_OUT)
        self.stat_update(BYTES_OUT, value=size.bytes)
        self.stat_update(TOKENS_OUT, value=size.tokens)

    def count_created(self, docs: int) -> None:
        """This stage turned documents into more documents: the funnel's conservation law adds them."""
        self.stat_update(DOCS_CREATED, value=docs)

    def reject(self, doc: Document, rejection: Rejection | str, size_in: Size | None = None) -> Document:
        """Mark `doc` as rejected by this stage and count it. `size_in`: its size when it entered the stage."""
        if isinstance(rejection, str):
            rejection = Rejection(rejection)
        doc.metadata[REJECTED_BY] = self.name
        doc.metadata[REASON] = rejection.reason
        if rejection.value is not None:
            doc.metadata[REASON_VALUE] = float(rejection.value)
        if rejection.detail is not None:
            doc.metadata[REASON_DETAIL] = rejection.detail
        size_in = doc_size(doc) if size_in is None else size_in
        self.stat_update(REJECTED_DOCS + rejection.reason)
        self.stat_update(REJECTED_BYTES + rejection.reason, value=size_in.bytes)
        self.stat_update(REJECTED_TOKENS + rejection.reason, value=size_in.tokens)
        return doc

    def error_rejection(self, error: Exception, doc: Document) -> Rejection:
        """A document this stage failed on: rejected with the error, and the run goes on (the first failure of a
        task is logged with its traceback in the task's log)."""
        if not getattr(self, "_logged_error", False):
            from datatrove.utils.logging import logger

            logger.opt(exception=error).warning(f"{self.name} failed on document {doc.id!r}; rejected as "
                                                f"stage_error (later failures of this task are only counted)")
            self._logged_error = True
        reason = "out_of_memory" if isinstance(error, MemoryError) else "stage_error"
        return Rejection(reason, detail=f"{type(error).__name__}: {error}"[:1000])

    def document_loop(self, data: DocumentsPipeline, decide: BatchDecision, batch_size: int = 1) -> DocumentsPipeline:
        """THE document loop. `decide(live_documents) -> [Outcome]`, one per live document, in order (see Outcome).
        Already-rejected documents pass through where they stand; every live document is counted in, and then out,
        rejected (with the reason), or cut into several. A batch whose `decide` raises is decided again one document
        at a time, so one bad document costs only itself: its exception becomes its rejection."""
        unit = "batch" if batch_size > 1 else None
        batches = ([doc] for doc in data) if batch_size <= 1 else batched(data, batch_size)
        for batch in batches:
            live = [doc for doc in batch if not is_rejected(doc)]
            if not live:
                yield from batch
                continue
            sizes = {id(doc): self.count_in(doc) for doc in live}
            with timed(self, unit):
                outcomes = self._decided(decide, live)
            verdicts = {id(doc): outcome for doc, outcome in zip(live, outcomes)}
            for doc in batch:
                key = id(doc)
                if key not in sizes:
                    yield doc
                    continue
                yield from self._settle(doc, verdicts[key], sizes[key])

    def _decided(self, decide: BatchDecision, live: list[Document]) -> Sequence[Outcome]:
        try:
            outcomes = decide(live)
        except Exception as error:
            if len(live) == 1:
                return [error]
            return [self._decided(decide, [doc])[0] for doc in live]
        if len(outcomes) != len(live):
            raise RuntimeError(f"{self.name}: decided {len(outcomes)} outcomes for {len(live)} documents")
        return outcomes

    def _settle(self, doc: Document, outcome: Outcome, size: Size):
        if isinstance(outcome, Exception):
            outcome = self.error_rejection(outcome, doc)
        if isinstance(outcome, Rejection):
            yield self.reject(doc, outcome, size)
        elif isinstance(outcome, list):
            if not outcome:
                yield self.reject(doc, self.error_rejection(ValueError("the stage returned no document"), doc), size)
                return
            if len(outcome) > 1:
                self.count_created(len(outcome) - 1)
            for piece in outcome:
                self.count_out(piece)
                yield piece
        else:
            kept = doc if outcome is None else outcome
            self.count_out(kept)
            yield kept

    def process_stream(self, data: DocumentsPipeline, process: Callable[[Document], Outcome]) -> DocumentsPipeline:
        """The document loop with a decision on one document at a time (`process(doc) -> Outcome`)."""
        return self.document_loop(data, lambda live: [process(live[0])])

    def filter_stream(self, data: DocumentsPipeline, batch_size: int, filter_batch) -> DocumentsPipeline:
        """The document loop over a datatrove filter's `filter_batch(docs) -> [True | False | (False, reason)]`."""
        def decide(live):
            outcomes = []
            for doc, result in zip(live, filter_batch(live)):
                keep, rejection = filter_result(result, self.name)
                outcomes.append(doc if keep else rejection)
            return outcomes

        return self.document_loop(data, decide, batch_size)
