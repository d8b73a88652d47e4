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
_SPACELESS = re.compile("[\u0E00-\u0EFF\u0F00-\u0FFF\u1000-\u109F\u1780-\u17FF\u3040-\u30FF\u3400-\u4DBF"
                        "\u4E00-\u9FFF\uF900-\uFAFF\uFF66-\uFF9F\U00020000-\U0003134F]")


class Rejection(NamedTuple):
    """Why a stage rejects a document: a snake_case `reason`, the measured `value` that decided, a `detail`."""

    reason: str
    value: float | None = None
    detail: str | None = None


def is_rejected(doc: Document) -> bool:
    return REJECTED_BY in doc.metadata


def text_bytes(doc: Document) -> int:
    text = doc.text
    if isinstance(text, bytes):  # not decoded yet (extract decodes a page that arrives as bytes)
        return len(text)
    if not text:
        return 0
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def count_tokens(text: str) -> int:
    """The funnel's token count, independent of any model's tokenizer: whitespace-separated words, plus one per
    character of a script written without spaces (zh, ja, th, ...), whose words a whitespace split cannot see.
    For English web text a GPT-2 BPE token count is about 1.3x this."""
    if not text:
        return 0
    words = len(text.split())
    return words if text.isascii() else words + len(_SPACELESS.findall(text))


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
    decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    size = Size(text_bytes(doc), count_tokens(decoded))
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
