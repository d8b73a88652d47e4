"""What every curate stage shares: rejecting without dropping, and counting the funnel.

A rejected document is not dropped from the stream: it is marked (`rejected_by`, `reason`, ...) and flows on,
untouched by later stages, to the shard writer at the end of the pipeline, which routes it to `OUT/rejected/`.
Nothing vanishes, and the order of documents (and so the output) never depends on where they were rejected.

Every stage counts, through datatrove's `stat_update`, the documents and bytes that enter it, leave it, and are
rejected by it (by reason). datatrove saves these per task; the manifest adds them up into the funnel.
"""

from abc import abstractmethod
from typing import NamedTuple

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
DOCS_IN, BYTES_IN = "funnel/docs_in", "funnel/bytes_in"
DOCS_OUT, BYTES_OUT = "funnel/docs_out", "funnel/bytes_out"
REJECTED_DOCS, REJECTED_BYTES = "funnel/rejected_docs/", "funnel/rejected_bytes/"


class Rejection(NamedTuple):
    """Why a stage rejects a document: a snake_case `reason`, the measured `value` that decided, a `detail`."""

    reason: str
    value: float | None = None
    detail: str | None = None


def is_rejected(doc: Document) -> bool:
    return REJECTED_BY in doc.metadata


def text_bytes(doc: Document) -> int:
    return len(doc.text.encode("utf-8", "surrogatepass")) if doc.text else 0


class FunnelCounting:
    """Mixin for PipelineSteps: count documents and bytes in, out and rejected (by reason)."""

    def count_in(self, doc: Document) -> int:
        nbytes = text_bytes(doc)
        self.stat_update(DOCS_IN)
        self.stat_update(BYTES_IN, value=nbytes)
        return nbytes

    def count_out(self, doc: Document, nbytes: int | None = None) -> None:
        """`nbytes`: the document's size when the caller knows it has not changed (filters)."""
        self.stat_update(DOCS_OUT)
        self.stat_update(BYTES_OUT, value=text_bytes(doc) if nbytes is None else nbytes)

    def reject(self, doc: Document, rejection: Rejection | str, bytes_in: int | None = None) -> Document:
        """Mark `doc` as rejected by this stage and count it. `bytes_in`: its size when it entered the stage."""
        if isinstance(rejection, str):
            rejection = Rejection(rejection)
        doc.metadata[REJECTED_BY] = self.name
        doc.metadata[REASON] = rejection.reason
        if rejection.value is not None:
            doc.metadata[REASON_VALUE] = float(rejection.value)
        if rejection.detail is not None:
            doc.metadata[REASON_DETAIL] = rejection.detail
        self.stat_update(REJECTED_DOCS + rejection.reason)
        self.stat_update(REJECTED_BYTES + rejection.reason, value=text_bytes(doc) if bytes_in is None else bytes_in)
        return doc

    def filter_stream(self, data: DocumentsPipeline, batch_size: int, filter_batch) -> DocumentsPipeline:
        """Keep or reject each live document by `filter_batch(docs) -> [result]` (datatrove's filter results),
        in input order, passing already-rejected documents through. Shared by CurateFilter and DatatroveStep."""
        for batch in batched(data, batch_size):
            live = [doc for doc in batch if not is_rejected(doc)]
            sizes = [self.count_in(doc) for doc in live]
            with self.track_time("batch" if batch_size > 1 else None):
                results = filter_batch(live) if live else []
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
            nbytes = self.count_in(doc)
            with self.track_time():
                result = process(doc)
            if isinstance(result, Rejection):
                yield self.reject(doc, result, nbytes)
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
