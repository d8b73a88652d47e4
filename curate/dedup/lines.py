"""Lines (or paragraphs) repeated across documents: the algorithm of `line_dedup`, no pipeline code.

A document is cut into units (lines, or blank-line-separated paragraphs). Each unit is normalised (lowercase, every
digit -> 0, punctuation -> space, whitespace runs -> one space: CCNet's line normalisation, Wenzek et al. 2020 §3.3,
without its accent stripping, which merges distinct words in many languages) and hashed with 64-bit xxh3. A unit
that normalises to nothing (a blank line, a row of dashes) has hash 0 and is never counted nor removed.

Counting is by documents: each document contributes each distinct unit hash once, so a line repeated inside one page
(a list's bullets) does not count as repeated across pages. The counting is partitioned by `hash % partitions`:

    observe (every task)     -> <work>/units/<partition>/<rank>-<chunk>.npy   each document's distinct hashes, spilled
                                <work>/units/_tasks/<rank>.json                 written last: the task is complete
    count (one task a part)  -> <work>/frequent/<partition>.npy                 hashes in >= min_docs documents
    decide (every task)      <- every frequent/*.npy, one sorted array: a unit whose hash is in it is removed

Memory: an observing task holds at most SPILL_HASHES hashes before it writes them out; a count task holds its
partition's hashes (all hashes / partitions); a deciding task holds the frequent hashes (the repeated units only).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from curate.dedup.lsh import PhaseError, atomic_write, save_npy
from curate.dedup.shingles import _punctuation, sorted_distinct

UNITS = ("line", "paragraph")
SPILL_HASHES = 4_000_000  # 32 MB of uint64 per task before a chunk is written out
UNIT_FILES, TASKS, FREQUENT = "units", "_tasks", "frequent"
_DIGITS = re.compile(r"\d")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
SEPARATORS = {"line": "\n", "paragraph": "\n\n"}


def split_units(text: str, unit: str) -> list[str]:
    if unit == "line":
        return text.split("\n")
    if unit == "paragraph":
        return _PARAGRAPH_BREAK.split(text)
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


def normalize_unit(unit: str) -> str:
    return " ".join(_punctuation().sub(" ", _DIGITS.sub("0", unit.lower())).split())


def unit_hashes(units: list[str]) -> np.ndarray:
    """One uint64 per unit; 0 for a unit that normalises to nothing (a real hash of 0 becomes 1)."""
    import xxhash

    hashes = np.zeros(len(units), dtype=np.uint64)
    for i, unit in enumerate(units):
        key = normalize_unit(unit)
        if key:
            hashes[i] = xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass")) or 1
    return hashes


class UnitCounter:
    """The observe half for one task: `add(hashes)` per document, `close()` once. Spills by partition."""

    def __init__(self, work_dir: str | Path, rank: int, partitions: int):
        self.folder, self.rank, self.partitions = Path(work_dir) / UNIT_FILES, rank, partitions
        self.buffer: list[np.ndarray] = []
        self.buffered = self.chunks = self.documents = 0

    def add(self, hashes: np.ndarray) -> None:
        distinct = sorted_distinct(hashes[hashes != 0])
        self.documents += 1
        if len(distinct):
            self.buffer.append(distinct)
            self.buffered += len(distinct)
            if self.buffered >= SPILL_HASHES:
                self._spill()

    def _spill(self) -> None:
        hashes = np.concatenate(self.buffer) if self.buffer else np.empty(0, dtype=np.uint64)
        part_of = hashes % np.uint64(self.partitions)
        for part in range(self.partitions):
            chunk = hashes[part_of == part]
            path = self.folder / f"{part:05d}" / f"{self.rank:05d}-{self.chunks:05d}.npy"
            atomic_write(path, lambda tmp, a=chunk: save_npy(tmp, a))
        self.chunks += 1
        self.buffer, self.buffered = [], 0

    def close(self) -> None:
        self._spill()  # always at least one chunk, even empty: every partition has a file of every task
        record = {"chunks": self.chunks, "documents": self.documents, "partitions": self.partitions}
        atomic_write(self.folder / TASKS / f"{self.rank:05d}.json", lambda tmp: tmp.write_text(json.dumps(record)))


def task_records(work_dir: str | Path, observe_tasks: int, partitions: int) -> list[dict]:
    """Every observing task's record, checked: all present, written with the same partitioning."""
    folder = Path(work_dir) / UNIT_FILES / TASKS
    records = []
    for rank in range(observe_tasks):
        path = folder / f"{rank:05d}.json"
        if not path.exists():
            raise PhaseError(f"{path} is missing: task {rank} of the phase before line_dedup did not finish; re-run "
                             "the same command to resume it")
        record = json.loads(path.read_text())
        if record["partitions"] != partitions:
            raise PhaseError(f"{path}: written with {record['partitions']} partitions, this run has {partitions}; "
                             "start over with --force")
        records.append(record)
    return records


def count_partition(work_dir: str | Path, part: int, observe_tasks: int, partitions: int, min_docs: int) -> dict:
    """The count half for one partition: the hashes found in >= `min_docs` documents, sorted, to frequent/."""
    records = task_records(work_dir, observe_tasks, partitions)
    folder = Path(work_dir) / UNIT_FILES / f"{part:05d}"
    parts = [np.load(folder / f"{rank:05d}-{chunk:05d}.npy")
             for rank, record in enumerate(records) for chunk in range(record["chunks"])]
    hashes = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
    distinct, counts = np.unique(hashes, return_counts=True)
    frequent = distinct[counts >= min_docs]
    atomic_write(Path(work_dir) / FREQUENT / f"{part:05d}.npy", lambda tmp: save_npy(tmp, frequent))
    return {"distinct_units": int(len(distinct)), "frequent_units": int(len(frequent)),
            "frequent_occurrences": int(counts[counts >= min_docs].sum())}


def load_frequent(work_dir: str | Path, partitions: int) -> np.ndarray:
    folder = Path(work_dir) / FREQUENT
    missing = [p for p in range(partitions) if not (folder / f"{p:05d}.npy").exists()]
    if missing:
        raise PhaseError(f"{folder}: partitions {missing[:10]} were not counted: the line_dedup count phase did not "
                         "finish; re-run the same command (or start over with --force if the work folder was deleted)")
    arrays = [np.load(folder / f"{p:05d}.npy") for p in range(partitions)]
    return np.sort(np.concatenate(arrays)) if arrays else np.empty(0, dtype=np.uint64)


def repeated_mask(hashes: np.ndarray, frequent: np.ndarray) -> np.ndarray:
    """True for each unit whose hash is a frequent one (never for hash 0)."""
    if not len(frequent) or not len(hashes):
        return np.zeros(len(hashes), dtype=bool)
    found = np.searchsorted(frequent, hashes)
    found[found == len(frequent)] = 0
    return (frequent[found] == hashes) & (hashes != 0)
