"""Per-document time and memory limits for any stage that decides one document at a time.

    stages:
      - quality: {rule_sets: [gopher], limits: {seconds: 10, memory_mb: 2048}}

The stage then runs in one long-lived worker process per task (datatrove's ExtractorSandbox, as the extract stage
uses it): each document is sent to the worker, and
- a document that takes longer than `seconds` is rejected as `time_limit` (the worker is killed and restarted, the
  run goes on);
- a document whose processing needs more than `memory_mb` megabytes beyond what the worker holds when it starts is
  rejected as `memory_limit` (the worker's address space is capped with RLIMIT_AS, so Python raises MemoryError in
  the worker, not the kernel's OOM killer in the pipeline);
- a worker that dies (a crash in native code) costs only that document: `worker_died`.

One-time costs are not charged to a document: a new worker first runs the stage on a short warm-up text (loading
its models) before its memory is capped, and the first document a new worker processes may take up to
`WARMUP_SECONDS` (the stage may load more, e.g. another language's tokenizer). The price is a pickle of each document
there and back (tens of microseconds for a web page) and one process per task. The counters the stage keeps for each
document are sent back with it, so the funnel and counters are the same as without limits.
"""

import resource

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.extractors.base import ExtractorSandbox

from curate.funnel import FunnelCounting, Rejection, filter_result
from curate.processes import die_with_parent
from curate.stages.base import CurateFilter, CurateStep

WARMUP_SECONDS = 120.0  # a new worker's first document: model loading is not the document's fault
WARMUP_TEXT = "This is a short warm-up text. It loads what the stage needs before the first real document."


def _virtual_memory_bytes() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class StageCall:
    """What the worker process runs: one document through the stage, with the counters it updated."""

    def __init__(self, stage: CurateStep | CurateFilter, memory_mb: int | None):
        self.stage, self.memory_mb = stage, memory_mb

    def __call__(self, *payload):  # the sandbox unpacks a tuple into arguments
        if payload == (None,):  # the worker's warm-up call: load the stage's models, then cap the memory
            self(None, WARMUP_TEXT, {})
            current = _virtual_memory_bytes()
            if self.memory_mb and current:
                limit = current + self.memory_mb * 2**20
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            return None
        doc_id, text, metadata = payload
        doc = Document(text=text, id=doc_id, metadata=metadata)
        counters = []
        # the stage's stat_update calls are recorded and replayed by the parent, which owns the task's stats
        self.stage.stat_update = lambda *keys, value=1, unit=None: counters.append((keys, value, unit))
        try:
            if isinstance(self.stage, CurateFilter):
                keep, rejection = filter_result(self.stage.filter(doc), self.stage.name)
                result = None if keep else rejection
            else:
                result = self.stage.process(doc)
        except MemoryError:
            counters.clear()
            return Rejection("memory_limit", detail=f"needed more than {self.memory_mb} MB beyond the worker's start"), None, None, []
        except Exception as error:  # returned, not raised: an exception raised here would cost a worker restart
            return Rejection("stage_error", detail=f"{type(error).__name__}: {error}"[:1000]), None, None, counters
        if isinstance(result, Rejection):
            return result, doc.text, doc.metadata, counters
        doc = result or doc
        return None, doc.text, doc.metadata, counters


class LimitedStep(FunnelCounting, PipelineStep):
    """A stage run under `limits`: the funnel row keeps the stage's name."""

    type = "⏱️ - LIMITED"

    def __init__(self, stage: CurateStep | CurateFilter, seconds: float | None = None, memory_mb: int | None = None):
        self.name = stage.name  # before PipelineStep.__init__, which names the stats after it
        super().__init__()
        if not isinstance(stage, (CurateStep, CurateFilter)) or type(stage).run not in (CurateStep.run,
                                                                                          CurateFilter.run):
            raise ValueError(f"{stage.name}: limits apply to stages that decide one document at a time; this one "
                             "runs its own loop" + (" (extract has its own `timeout`)" if stage.name == "extract" else ""))
        if seconds is not None and seconds <= 0 or memory_mb is not None and memory_mb <= 0:
            raise ValueError("limits.seconds and limits.memory_mb must be positive")
        self.stage, self.seconds, self.memory_mb = stage, seconds, memory_mb
        self._warm_worker = None  # the worker process that has already processed a document

    def columns(self) -> dict[str, pa.DataType]:
        return self.stage.columns()

    def summary(self, counters: dict) -> dict:
        """The stage's own manifest summary (split's fractions and seed, ...), limits or not."""
        return self.stage.summary(counters) if hasattr(self.stage, "summary") else {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # no time limit: a day, so that only memory and crashes are caught
        with _Sandbox(timeout=self.seconds or 86400.0, warmup_text=None) as sandbox:
            yield from CurateStep.process_stream(self, data, lambda doc: self.limited(sandbox, doc))

    def limited(self, sandbox, doc: Document) -> Document | Rejection:
        call = StageCall(self.stage, self.memory_mb)
        fresh = sandbox.process is None or sandbox.process is not self._warm_worker
        sandbox.timeout = max(self.seconds or 0, WARMUP_SECONDS) if fresh else (self.seconds or 86400.0)
        try:
            rejection, text, metadata, counters = sandbox.process_document((doc.id, doc.text, doc.metadata), call)
            self._warm_worker = sandbox.process
        except TimeoutError:
            return Rejection("time_limit", value=self.seconds, detail=f"{self.name} took more than {self.seconds} s")
        except EOFError:
            return Rejection("worker_died", detail=f"{self.name}'s worker process died on this document")
        for keys, value, unit in counters:
            self.stat_update(*keys, value=value, unit=unit)
        if text is not None:
            doc.text, doc.metadata = text, metadata
        return rejection or doc



class _Sandbox(ExtractorSandbox):
    """datatrove's sandbox, whose worker exits when the task's process dies (kill -9 of the run), also when the
    task runs in a process that did not call curate.processes.children_die_with_this_process."""

    def _worker(self, conn, extract_fn):
        die_with_parent()
        super()._worker(conn, extract_fn)
