"""What every curate stage shares: rejecting without dropping, and counting the funnel.

A rejected document is not dropped from the stream: it is marked (`rejected_by`, `reason`, ...) and flows on,
untouched by later stages, to the shard writer at the end of the pipeline, which routes it to `OUT/rejected/`.
Nothing vanishes, and the order of documents (and so the output) never depends on where they were rejected.

Every stage counts, through datatrove's `stat_update`, the documents, bytes and tokens that enter it, leave it, and
are rejected by it (by reason). datatrove saves these per task; the manifest adds them up into the funnel.

A `GlobalStage` (deduplication, decontamination) cannot decide on one document before it has seen them all: the
pipeline runs it in three parts, in separate phases (curate/phases.py), talking through files in its work folder.
"""

import re
from abc import ABC, abstractmethod
from typing import Callable, NamedTuple

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.batching import batched

REJECTED_BY = "rejected_by"
REASON = "reason"
REASON_VALUE = "reason_value"
REASON_DETAIL = "reason_detail"

# stat names: the manifest reads these back (curate/io/manifest.py)
DOCS_IN, BYTES_IN, TOKENS_IN = "funnel/docs_in", "funnel/bytes_in", "funnel/tokens_in"
DOCS_OUT, BYTES_OUT, TOKENS_OUT = "funnel/docs_out", "funnel/bytes_out", "funnel/tokens_out"
REJECTED_DOCS, REJECTED_BYTES, REJECTED_TOKENS = "funnel/rejected_docs/", "funnel/rejected_bytes/", "funnel/rejected_tokens/"
DOCS_CREATED = "funnel/docs_created"  # documents a stage adds (chunk: the blocks beyond the first of a document)

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
    if isinstance(doc.text, bytes):  # not decoded yet (extract decodes a page that arrives as bytes)
        return len(doc.text)
    return len(doc.text.encode("utf-8", "surrogatepass")) if doc.text else 0


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


def doc_size(doc: Document) -> Size:
    text = doc.text.decode("utf-8", "replace") if isinstance(doc.text, bytes) else doc.text
    return Size(text_bytes(doc), count_tokens(text))


class FunnelCounting:
    """Mixin for PipelineSteps: count documents, bytes and tokens in, out and rejected (by reason)."""

    def count_in(self, doc: Document) -> Size:
        size = doc_size(doc)
        self.stat_update(DOCS_IN)
        self.stat_update(BYTES_IN, value=size.bytes)
        self.stat_update(TOKENS_IN, value=size.tokens)
        return size

    def count_out(self, doc: Document, size: Size | None = None) -> None:
        """`size`: the document's size when the caller knows it has not changed (filters)."""
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

    def filter_stream(self, data: DocumentsPipeline, batch_size: int, filter_batch) -> DocumentsPipeline:
        """Keep or reject each live document by `filter_batch(docs) -> [result]` (datatrove's filter results),
        in input order, passing already-rejected documents through. Shared by CurateFilter and DatatroveStep."""
        for batch in batched(data, batch_size):
            live = [doc for doc in batch if not is_rejected(doc)]
            sizes = [self.count_in(doc) for doc in live]
            with self.track_time("batch" if batch_size > 1 else None):
                try:
                    results = filter_batch(live) if live else []
                except Exception:  # one bad document must not cost the batch: decide them one by one
                    results = [self._one_filtered(filter_batch, doc) for doc in live]
            verdicts = {id(doc): (result, size) for doc, result, size in zip(live, results, sizes)}
            for doc in batch:
                if id(doc) in verdicts:
                    result, size = verdicts[id(doc)]
                    keep, rejection = filter_result(result, self.name)
                    if keep:
                        self.count_out(doc, size)
                    else:
                        self.reject(doc, rejection, size)
                yield doc

    def _one_filtered(self, filter_batch, doc: Document):
        try:
            return filter_batch([doc])[0]
        except Exception as error:
            return False, self.error_rejection(error, doc)

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


class CurateStep(FunnelCounting, PipelineStep):
    """A stage that transforms or annotates documents one at a time (and may reject some).

    Subclasses set `name` (the registry name), implement `process`, and declare the metadata columns they write
    in `columns()`.
    """

    type = "🧹 - CURATE"

    def columns(self) -> dict[str, pa.DataType]:
        return {}

    @abstractmethod
    def process(self, doc: Document) -> Document | Rejection:
        """Return the (possibly changed) document to keep it, or a Rejection."""

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        yield from self.process_stream(data, self.process)

    def process_stream(self, data: DocumentsPipeline, process) -> DocumentsPipeline:
        """Apply `process(doc) -> Document | Rejection` to each live document, counting the funnel; already-rejected
        documents pass through. `run` uses `self.process`; a stage with per-task state (a worker) passes its own."""
        for doc in data:
            if is_rejected(doc):
                yield doc
                continue
            size = self.count_in(doc)
            with self.track_time():
                try:
                    result = process(doc)
                except Exception as error:  # one document's failure: rejected with the error, the run goes on
                    result = self.error_rejection(error, doc)
            if isinstance(result, Rejection):
                yield self.reject(doc, result, size)
            else:
                self.count_out(result)
                yield result


class CurateFilter(FunnelCounting, BaseFilter):
    """A stage that keeps or rejects, datatrove-style: implement `filter(doc)` (or `filter_batch`).

    `filter` returns True to keep, False or `(False, reason)` to reject; the reason may be a `Rejection` carrying
    the measured value. Signals go into `doc.metadata` whatever the decision, so thresholds can be re-applied
    later from the Parquet columns.
    """

    type = "🔻 - FILTER"

    def __init__(self, batch_size: int = 1):
        super().__init__(exclusion_writer=None, batch_size=batch_size)

    def columns(self) -> dict[str, pa.DataType]:
        return {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        yield from self.filter_stream(data, self.batch_size, self.filter_batch)


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


class Observer(ABC):
    """What a GlobalStage records in one task of the phase before its barrier: `add` each live document (with its
    position in the task's stream, rejected documents included), then `close` once the stream is exhausted."""

    @abstractmethod
    def add(self, position: int, doc: Document) -> None:
        """Record one live document."""

    @abstractmethod
    def close(self) -> None:
        """Write what was recorded (atomically: a crashed task leaves nothing that looks finished)."""


class GlobalStage(CurateStep):
    """A stage that decides on a document only after it has seen every document of the run (dedup, decontamination).

    The pipeline (curate/phases.py) cuts the run at such a stage into phases that talk through files:

        ... -> stage -> [observe] -> spill      the phase before: `observer(rank)` records each document
        reduce phases                          `reduce_steps(tasks)`: independent tasks between the two halves
        spill -> [decide] -> stage -> ...      the phase after: `decider(rank)(doc, position)`, this step's `run`

    Each task of the phase after reads back exactly the documents its task of the phase before saw, in the same
    order, so `position` (the index in the task's stream) names the same document in both halves. `work_dir` (a
    local or shared folder, set by the pipeline) holds the stage's files; `spill_dir` the spilled documents of the
    phase before (for a reduce step that needs texts). The decide half is the stage's funnel row.
    """

    work_dir: str | None = None
    spill_dir: str | None = None

    @abstractmethod
    def observer(self, rank: int) -> Observer:
        """Records what the stage needs from one task's documents."""

    @abstractmethod
    def reduce_steps(self, tasks: int) -> list[tuple[str, int, PipelineStep]]:
        """The phases between observing and deciding: (name, task count, step run by every task), in order."""

    @abstractmethod
    def decider(self, rank: int) -> Callable[[Document, int], Document | Rejection]:
        """For one task of the phase after: `decide(doc, position)` keeps (possibly annotated) or rejects."""

    def summary(self, counters: dict) -> dict:
        """What the manifest reports about the stage (read from its work folder after the reduce phases), given
        its funnel row's counters (summed over tasks)."""
        return {}

    def process(self, doc: Document) -> Document | Rejection:
        raise TypeError(f"{self.name} decides in its pipeline phase (run), not one document at a time")

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        decide = self.decider(rank)
        position = -1

        def numbered():  # process_stream takes one document at a time, so `position` is the current one's
            nonlocal position
            for position, doc in enumerate(data):
                yield doc

        def decide_or_reject(doc: Document) -> Document | Rejection:
            failure = doc.metadata.pop(OBSERVE_FAILED, None)
            if failure is not None:  # the observe half could not record it: it cannot be decided on
                reason, detail = failure
                return Rejection(reason, detail=detail)
            return decide(doc, position)

        yield from self.process_stream(numbered(), decide_or_reject)


class ObserveStep(PipelineStep):
    """The first half of a GlobalStage, at the end of the phase before its barrier. Counted in the stage's funnel
    row (its time), not as a row of its own."""

    type = "👀 - OBSERVE"

    def __init__(self, stage: GlobalStage):
        self.name = f"{stage.name}{OBSERVE_SUFFIX}"  # before PipelineStep.__init__, which names the stats after it
        super().__init__()
        self.stage = stage

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        observer = self.stage.observer(rank)
        for position, doc in enumerate(data):
            if not is_rejected(doc):
                with self.track_time():
                    try:
                        observer.add(position, doc)
                    except Exception as error:  # one document's failure: the decide half rejects it
                        rejection = self.stage.error_rejection(error, doc)  # logged (once per task) here
                        self.stat_update("failed_to_observe")
                        doc.metadata[OBSERVE_FAILED] = [rejection.reason, rejection.detail]
            yield doc
        with self.track_time():
            observer.close()


OBSERVE_SUFFIX = ":observe"
# metadata key: [reason, detail] of the observe half's failure on a document (travels with it through the spill)
OBSERVE_FAILED = "_observe_failed"
