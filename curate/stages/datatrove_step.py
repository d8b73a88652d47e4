"""Any datatrove PipelineStep in a curate pipeline, with nothing lost.

datatrove's filters and extractors drop documents (a filter can hand them to an exclusion writer; an extractor
that times out just skips them). Wrapped here, a filter's decision becomes a rejection with its reason, and for any
other step a document that goes in and does not come out is caught and rejected with the step's own stat as the
reason (for the Trafilatura extractor: `timeout`, `clean_error`, ...). Already-rejected documents go around the step.
"""

from collections import OrderedDict, deque

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from curate.funnel import FunnelCounting, Rejection, is_rejected

# datatrove stats that count documents passing through, not why one was dropped
_NEUTRAL_STATS = {"total", "forwarded", "dropped", "extracted", "doc_len", "doc_len_tokens", "batches"}


def reason_code(text: str) -> str:
    """A snake_case reason code from a datatrove stat or filter reason."""
    code = "".join(ch if ch.isalnum() else "_" for ch in str(text).lower()).strip("_")
    while "__" in code:
        code = code.replace("__", "_")
    return code or "dropped"


def _with_code(result):
    if isinstance(result, tuple) and len(result) == 2 and not result[0] and result[1] is not None:
        reason = result[1]
        reason = reason._replace(reason=reason_code(reason.reason)) if isinstance(reason, Rejection) else reason_code(reason)
        return False, reason
    return result


class DatatroveStep(FunnelCounting, PipelineStep):
    """Runs a datatrove step inside a curate pipeline. `columns` declares the metadata it writes (name -> type)."""

    type = "🧩 - DATATROVE"

    def __init__(self, step: PipelineStep, name: str, columns: dict[str, pa.DataType] | None = None):
        self.name = name  # before PipelineStep.__init__, which names the stats after it
        super().__init__()
        self.step = step
        self._columns = dict(columns or {})

    def columns(self) -> dict[str, pa.DataType]:
        return self._columns

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if isinstance(self.step, BaseFilter):
            yield from self._run_filter(data)
        else:
            yield from self._run_step(data, rank, world_size)
        self._merge_inner_stats()

    def _run_filter(self, data: DocumentsPipeline) -> DocumentsPipeline:
        # Call the filter's decision directly, so its reason is ours and nothing reaches its exclusion writer;
        # datatrove's reasons ("dup_line_frac", ...) become snake_case codes.
        def decide(docs):
            return [_with_code(result) for result in self.step.filter_batch(docs)]

        yield from self.filter_stream(data, self.step.batch_size, decide)

    def _run_step(self, data: DocumentsPipeline, rank: int, world_size: int) -> DocumentsPipeline:
        in_flight: OrderedDict[int, tuple[Document, int]] = OrderedDict()
        bypass: deque[Document] = deque()
        last_counts = self._inner_counts()

        def feed():
            for doc in data:
                if is_rejected(doc):
                    bypass.append(doc)
                    continue
                in_flight[id(doc)] = (doc, self.count_in(doc))
                yield doc

        def dropped_until(stop_key: int | None):
            """Documents fed before `stop_key` (all, if None) that the step did not return."""
            nonlocal last_counts
            lost = []
            while in_flight:
                key = next(iter(in_flight))
                if key == stop_key:
                    break
                lost.append(in_flight.pop(key))
            if lost:
                counts = self._inner_counts()
                changed = [k for k, v in counts.items() if v > last_counts.get(k, 0) and k not in _NEUTRAL_STATS]
                last_counts = counts
                reason = reason_code(changed[0]) if len(changed) == 1 else f"dropped_by_{reason_code(self.name)}"
                detail = f"{self.name} did not return this document" + (f" (its stats: {', '.join(changed)})" if changed else "")
                for doc, size in lost:
                    yield self.reject(doc, Rejection(reason, detail=detail), size)

        for out in self.step.run(feed(), rank, world_size):
            while bypass:
                yield bypass.popleft()
            key = id(out)
            if key in in_flight:
                yield from dropped_until(key)
                in_flight.pop(key)
            if is_rejected(out):  # a step may also mark rejections itself
                yield out
                continue
            self.count_out(out)
            yield out
        yield from dropped_until(None)
        while bypass:
            yield bypass.popleft()

    def _inner_counts(self) -> dict[str, float]:
        return {key: stat.total for key, stat in self.step.stats.stats.items()}

    def _merge_inner_stats(self) -> None:
        for key, stat in self.step.stats.stats.items():
            self.stats[f"step/{key}"] = self.stats.stats[f"step/{key}"] + stat
        self.stats.time_stats = self.stats.time_stats + self.step.stats.time_stats
        self.step.stats = type(self.step.stats)(str(self.step))
