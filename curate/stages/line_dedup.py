"""line_dedup: remove the lines (or paragraphs) that repeat across documents: a site's navigation, cookie banner,
footer and "related articles" block that survive main-text extraction.

Peers: CCNet's line dedup (Wenzek et al. 2020 §3.3: normalised lines hashed, every repeated line removed), Dolma's
paragraph Bloom filter, DCLM's BFF, datatrove's sentence_dedup. Unlike Dolma and BFF, which keep a unit's first
occurrence in the order they happen to read documents, every occurrence of a repeated unit is removed: a template
has no "original", and the result does not depend on the order, the task count or the worker count.

A unit is repeated when its normalised form (curate/dedup/lines.py) occurs in at least `min_docs` distinct
documents. Counting is by document, so a line repeated inside one page does not count.

Where it goes: after exact_dedup and minhash_dedup. Copies of one page share all their lines; counted before
document dedup, a page syndicated to three sites would have every line "repeated" and be emptied on all three
sites, where document dedup keeps one copy. After it, a count is a count of distinct documents.

A GlobalStage (curate/stages/base.py): the phase before it hashes every document's units into partitioned files,
one `count` task per partition keeps the hashes found in `min_docs` documents or more, and the phase after removes
the matching units. Columns (mode `remove`): `line_dup_removed_lines`, `line_dup_removed_chars` (characters of the
removed units, separators not counted). Mode `mark` removes nothing and writes `line_dup_marked_lines`,
`line_dup_marked_chars`. Rejection: `empty_after_line_dedup`, value = the tokens left, when a document this stage
shortened has fewer than `min_tokens` tokens (the funnel's count: whitespace words, plus one per character of a
script written without spaces) left.
"""

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from curate.dedup.lines import (FREQUENT, SEPARATORS, UNITS, UnitCounter, count_partition, load_frequent, repeated_mask,
                                split_units, unit_hashes)
from curate.funnel import count_tokens
from curate.stages.base import GlobalStage, Observer, ReduceStep, Rejection

DEFAULT_MAX_PARTITIONS = 64


class LineHashes(Observer):
    def __init__(self, stage: "LineDedup", rank: int):
        self.stage = stage
        self.counter = UnitCounter(stage.work_dir, rank, stage.partitions)

    def add(self, position: int, doc: Document) -> None:
        self.counter.add(unit_hashes(split_units(doc.text or "", self.stage.unit)))

    def close(self) -> None:
        self.counter.close()


class CountUnits(ReduceStep):
    """One task per partition: the unit hashes of that partition found in >= min_docs documents."""

    type = "🧮 - COUNT"
    part = "count"

    def __init__(self, stage: "LineDedup", observe_tasks: int):
        super().__init__(stage.name, observe_tasks)
        self.stage = stage

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        with self.track_time():
            counts = count_partition(self.stage.work_dir, rank, self.observe_tasks, self.stage.partitions,
                                     self.stage.min_docs)
        for key, value in counts.items():
            self.stat_update(key, value=value)
        yield from ()


class LineDedup(GlobalStage):
    name = "line_dedup"

    def __init__(self, unit: Literal["line", "paragraph"] = "line", min_docs: int = 3, min_tokens: int = 50,
                 mode: Literal["remove", "mark"] = "remove", max_partitions: int = DEFAULT_MAX_PARTITIONS):
        """`min_docs` 3: a unit in two documents may be a quotation or one syndicated paragraph (exact and near
        copies of whole documents are gone by now); in three distinct documents it is a template. CCNet removes a
        line from its second occurrence on within a shard; we remove every occurrence, so we ask for one more.
        `min_tokens` 50: Gopher's minimum document length (Rae et al. 2021, App. A, 50 words), applied only to a
        document this stage shortened. `max_partitions`: count tasks (one per pipeline task, at most this many)."""
        super().__init__()
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
        if mode not in ("remove", "mark"):
            raise ValueError(f"mode must be 'remove' or 'mark', got {mode!r}")
        if min_docs < 2 or min_tokens < 0 or max_partitions < 1:
            raise ValueError("min_docs must be >= 2, min_tokens >= 0 and max_partitions >= 1")
        self.unit, self.min_docs, self.min_tokens, self.mode = unit, min_docs, min_tokens, mode
        self.max_partitions = max_partitions
        self.partitions = 1  # set by reduce_steps from the run's task count, before any task runs

    @property
    def column_names(self) -> tuple[str, str]:
        verb = "removed" if self.mode == "remove" else "marked"
        return f"line_dup_{verb}_lines", f"line_dup_{verb}_chars"

    def columns(self) -> dict[str, pa.DataType]:
        return {name: pa.int64() for name in self.column_names}

    def observer(self, rank: int) -> Observer:
        return LineHashes(self, rank)

    def reduce_steps(self, tasks: int) -> list[tuple[str, int, PipelineStep]]:
        self.partitions = max(1, min(tasks, self.max_partitions))
        return [("count", self.partitions, CountUnits(self, tasks))]

    def decider(self, rank: int):
        frequent = load_frequent(self.work_dir, self.partitions)
        lines_column, chars_column = self.column_names
        separator = SEPARATORS[self.unit]

        def decide(doc: Document, position: int) -> Document | Rejection:
            units = split_units(doc.text or "", self.unit)
            repeated = repeated_mask(unit_hashes(units), frequent)
            count = int(repeated.sum())
            doc.metadata[lines_column] = count
            doc.metadata[chars_column] = sum(len(u) for u, r in zip(units, repeated) if r)
            if not count or self.mode == "mark":
                return doc
            self.stat_update("docs_shortened")
            self.stat_update("removed_units", value=count)
            self.stat_update("removed_chars", value=doc.metadata[chars_column])
            doc.text = separator.join(u for u, r in zip(units, repeated) if not r).strip()
            left = count_tokens(doc.text)
            if left < self.min_tokens:
                return Rejection("empty_after_line_dedup", value=left,
                                 detail=f"{count} repeated {self.unit}(s) removed, {left} tokens left")
            return doc

        return decide

    def summary(self, counters: dict) -> dict:
        if not self.work_dir:
            return {}
        frequent = Path(self.work_dir) / FREQUENT
        if not frequent.is_dir():
            return {}
        return {"unit": self.unit, "min_docs": self.min_docs, "min_tokens": self.min_tokens, "mode": self.mode,
                "partitions": self.partitions, "repeated_units": int(sum(len(np.load(p, mmap_mode="r"))
                                                                         for p in frequent.glob("*.npy"))),
                **{key: int(counters.get(key, 0)) for key in ("docs_shortened", "removed_units", "removed_chars")}}
