"""The two shapes of a curate stage: one document at a time (CurateStep, CurateFilter), or all of them first
(GlobalStage). Rejecting, counting and the document loop they all run on live in curate/funnel.py.

A `GlobalStage` (deduplication, decontamination) cannot decide on one document before it has seen them all: the
pipeline runs it in three parts, in separate phases (curate/phases.py), talking through files in its work folder.
"""

from abc import ABC, abstractmethod
from typing import Callable

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from curate.funnel import FunnelCounting, Rejection, is_rejected, timed  # noqa: F401 - stages import them here


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
    phase before, and `spill_texts` reads their texts back by (rank, position) keys, for a reduce step that needs
    texts. The decide half is the stage's funnel row.
    """

    work_dir: str | None = None
    spill_dir: str | None = None
    spill_texts: Callable[[list[tuple[int, int]]], list[str]] | None = None  # set by the pipeline with spill_dir

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

    def decide_all(self, docs: list[Document], work_dir: str) -> list[Document | Rejection]:
        """The three parts on `docs` in this process, as one task (observe, every reduce step, decide), with its files
        in `work_dir`: the stage used alone, on documents in memory. A run cuts them into phases instead. Not for a
        stage whose reduce step reads the spilled texts back (`spill_texts`: minhash_dedup's verification)."""
        self.work_dir = work_dir
        steps = self.reduce_steps(1)
        observer = self.observer(0)
        for position, doc in enumerate(docs):
            observer.add(position, doc)
        observer.close()
        for _, tasks, step in steps:
            for rank in range(tasks):
                list(step.run(None, rank, tasks))
        decide = self.decider(0)
        return [decide(doc, position) for position, doc in enumerate(docs)]

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


class ReduceStep(PipelineStep):
    """A GlobalStage's step between its two halves, a phase of its own (candidate pairs, clusters, unit counts, an
    index, domain ranks): named `<stage>:<part>`, the name its stats, logs and phase carry."""

    part = "reduce"

    def __init__(self, stage_name: str, observe_tasks: int):
        self.name = f"{stage_name}:{self.part}"  # before PipelineStep.__init__, which names the stats after it
        super().__init__()
        self.observe_tasks = observe_tasks  # the observe half's task count: the files this step must find


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
                with timed(self):
                    try:
                        observer.add(position, doc)
                    except Exception as error:  # one document's failure: the decide half rejects it
                        rejection = self.stage.error_rejection(error, doc)  # logged (once per task) here
                        self.stat_update("failed_to_observe")
                        doc.metadata[OBSERVE_FAILED] = [rejection.reason, rejection.detail]
            yield doc
        with timed(self):
            observer.close()


OBSERVE_SUFFIX = ":observe"
# metadata key: [reason, detail] of the observe half's failure on a document (travels with it through the spill)
OBSERVE_FAILED = "_observe_failed"
