"""decontaminate: remove from `train` every document that shares an n-gram with the evaluation side.

The evaluation side is the `val` and `test` documents of this run (the split stage must come before) and,
optionally, benchmark files you name (JSONL/Parquet with a text field, or plain text whose blank-line-separated
paragraphs are the items: for example a held-out evaluation set). The default n-gram is 13 words, the GPT-3 rule
(Brown et al. 2020, Appendix C: "13-gram overlap"), also used by the Pile/Dolma decontamination; words are those of
curate/dedup/shingles.py (lowercased, punctuation removed), and every character of a script written without
spaces (zh, ja, th) is a word, so those languages are matched by 13-character n-grams. An evaluation document or
item shorter than `ngram` words is indexed as one n-gram, its whole text, which can only match an equally short
training text: such items are counted (`short_items`) so their share is visible.

A GlobalStage (curate/stages/base.py): the phase before it hashes the n-grams of every evaluation-side document
(64-bit hashes, one file per task), one `index` task merges them with the benchmark files' into one sorted array of
distinct hashes per source (`<work>/index/<source>.npy`, 8 bytes an n-gram), and every task of the phase after
memory-maps those arrays (shared through the page cache, never copied per task) and looks up each training
document's n-grams with a binary search.

Columns: `contamination_ngrams` (int64: n-grams shared with the first matching source; 0 for a clean document,
null where not checked), `contamination_source`. Rejection: `contaminated`, value = the shared n-grams, detail = the
source. The manifest reports, per source, the indexed n-grams and items, the checked and contaminated documents and
their rate.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from curate.dedup.lsh import atomic_write, save_npy
from curate.dedup.shingles import UNITS, shingle_hashes, sorted_distinct, tokens
from curate.funnel import timed
from curate.stages.base import GlobalStage, Observer, ReduceStep, Rejection

EVAL_SPLITS = ("val", "test")
INDEX = "index"
SUMMARY = "_SUCCESS.json"


def ngram_set(text: str, ngram: int, unit: str) -> np.ndarray:
    return sorted_distinct(shingle_hashes(text or "", ngram, unit))


def is_short(hashes: np.ndarray, text: str, ngram: int, unit: str) -> bool:
    """Fewer tokens (words, or characters for zh/ja/th) than one n-gram: the item is a single n-gram of all of it.
    Tokenized only when there is one hash, the only case where it can be short."""
    return len(hashes) == 1 and len(tokens(text or "", unit)) < ngram


class EvalNgrams(Observer):
    """Phase before: the distinct n-gram hashes of this task's val/test documents, one file per split."""

    def __init__(self, stage: "Decontaminate", rank: int):
        self.stage, self.rank = stage, rank
        self.hashes = {split: [] for split in EVAL_SPLITS}
        self.counts = {split: {"items": 0, "short_items": 0} for split in EVAL_SPLITS}

    def add(self, position: int, doc: Document) -> None:
        split = doc.metadata.get("split")
        if split in self.hashes:
            hashes = ngram_set(doc.text, self.stage.ngram, self.stage.unit)
            self.hashes[split].append(hashes)
            self.counts[split]["items"] += 1
            self.counts[split]["short_items"] += int(is_short(hashes, doc.text, self.stage.ngram, self.stage.unit))

    def close(self) -> None:
        folder = Path(self.stage.work_dir) / "ngrams"
        for split, parts in self.hashes.items():
            merged = sorted_distinct(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)
            atomic_write(folder / f"{split}-{self.rank:05d}.npy", lambda tmp, a=merged: save_npy(tmp, a))
        atomic_write(folder / f"counts-{self.rank:05d}.json", lambda tmp: tmp.write_text(json.dumps(self.counts)))


class BuildIndex(ReduceStep):
    """One task: per source, the sorted distinct n-gram hashes (val, test from the task files; each benchmark file)."""

    type = "🗂️ - INDEX"
    part = "index"

    def __init__(self, stage: "Decontaminate", observe_tasks: int):
        super().__init__(stage.name, observe_tasks)
        self.stage = stage

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        work = Path(self.stage.work_dir)
        summary = {}
        with timed(self):
            for split in EVAL_SPLITS:
                parts, counts = [], {"items": 0, "short_items": 0}
                for task in range(self.observe_tasks):
                    path = work / "ngrams" / f"{split}-{task:05d}.npy"
                    if not path.exists():
                        raise FileNotFoundError(f"{path} is missing: the phase before {self.stage.name} did not "
                                                f"finish task {task}; re-run the same command to resume it")
                    parts.append(np.load(path))
                    task_counts = json.loads((work / "ngrams" / f"counts-{task:05d}.json").read_text())[split]
                    counts = {k: counts[k] + task_counts[k] for k in counts}
                summary[split] = self._write(split, sorted_distinct(np.concatenate(parts)), counts)
            for path in self.stage.benchmarks:
                items = list(benchmark_items(path, self.stage.text_key))
                hashes = [ngram_set(text, self.stage.ngram, self.stage.unit) for text in items]
                short = sum(is_short(h, t, self.stage.ngram, self.stage.unit) for h, t in zip(hashes, items))
                merged = sorted_distinct(np.concatenate(hashes)) if hashes else np.empty(0, dtype=np.uint64)
                summary[path] = self._write(path, merged, {"items": len(items), "short_items": int(short)})
        atomic_write(work / INDEX / SUMMARY, lambda tmp: tmp.write_text(json.dumps(summary, indent=1)))
        yield from ()

    def _write(self, source: str, hashes: np.ndarray, counts: dict) -> dict:
        name = index_name(source)
        atomic_write(Path(self.stage.work_dir) / INDEX / f"{name}.npy", lambda tmp: save_npy(tmp, hashes))
        self.stat_update(f"indexed_ngrams/{name}", value=len(hashes))
        return {"index": f"{name}.npy", "ngrams": int(len(hashes)), **counts}


def index_name(source: str) -> str:
    """A file name for a source: the split name, or the benchmark file's name made safe."""
    if source in EVAL_SPLITS:
        return source
    return "bench-" + "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in Path(source).name)


def benchmark_items(path: str, text_key: str = "text"):
    """The texts of a benchmark file: JSONL (`text_key` of each line), Parquet (`text_key` column) or plain text
    (blank-line-separated paragraphs). A bad line stops with its file and line number: an index that silently
    skipped part of a benchmark would let its contamination through."""
    import fsspec

    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb") as handle:
            table = pq.read_table(handle)
        if text_key not in table.column_names:
            raise ValueError(f"{path}: no {text_key!r} column (columns: {', '.join(table.column_names)})")
        yield from (t for t in table.column(text_key).to_pylist() if t)
        return
    with fsspec.open(path, "rt", compression="infer", encoding="utf-8") as handle:
        if path.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst", ".json")):
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    text = json.loads(line)[text_key]
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f"{path}:{number}: no string {text_key!r} field ({error})") from None
                if isinstance(text, str) and text.strip():
                    yield text
        else:
            yield from (p for p in handle.read().split("\n\n") if p.strip())


class Decontaminate(GlobalStage):
    name = "decontaminate"

    def __init__(self, ngram: int = 13, unit: str = "words", benchmarks: list[str] | None = None,
                 text_key: str = "text", min_matches: int = 1):
        """`ngram` 13: GPT-3's decontamination n-gram (Brown et al. 2020, App. C). `benchmarks`: extra evaluation
        files (JSONL/Parquet/text) whose n-grams train must not contain. `min_matches`: shared n-grams from which
        a training document is contaminated (1: any, as GPT-3)."""
        super().__init__()
        if ngram < 1 or min_matches < 1 or unit not in UNITS:
            raise ValueError(f"ngram and min_matches must be >= 1 and unit one of {UNITS}")
        self.ngram, self.unit, self.text_key, self.min_matches = ngram, unit, text_key, min_matches
        self.benchmarks = list(benchmarks or [])
        for path in self.benchmarks:
            import fsspec

            fs, local = fsspec.core.url_to_fs(path)
            if not fs.isfile(local):
                raise ValueError(f"benchmarks: {path!r} is not a file")

    def columns(self) -> dict[str, pa.DataType]:
        return {"contamination_ngrams": pa.int64(), "contamination_source": pa.string()}

    def observer(self, rank: int) -> Observer:
        return EvalNgrams(self, rank)

    def reduce_steps(self, tasks: int) -> list[tuple[str, int, PipelineStep]]:
        return [("index", 1, BuildIndex(self, tasks))]

    def decider(self, rank: int):
        work = Path(self.work_dir) / INDEX
        if not (work / SUMMARY).exists():
            raise FileNotFoundError(f"{work / SUMMARY} is missing: the {self.name} index phase has not finished; "
                                    "re-run the same command (or start over with --force if the work folder was deleted)")
        sources = [(source, np.load(work / entry["index"], mmap_mode="r"))
                   for source, entry in json.loads((work / SUMMARY).read_text()).items()]

        def decide(doc: Document, position: int) -> Document | Rejection:
            if doc.metadata.get("split") in EVAL_SPLITS:
                return doc
            hashes = ngram_set(doc.text, self.ngram, self.unit)
            self.stat_update("checked")
            doc.metadata["contamination_ngrams"] = 0
            for source, index in sources:
                if not len(index) or not len(hashes):
                    continue
                found = np.searchsorted(index, hashes)
                found[found == len(index)] = 0
                shared = int(np.count_nonzero(index[found] == hashes))
                if shared >= self.min_matches:
                    doc.metadata["contamination_ngrams"] = shared
                    doc.metadata["contamination_source"] = source
                    self.stat_update(f"contaminated/{index_name(source)}")
                    return Rejection("contaminated", value=shared,
                                     detail=f"shares {shared} {self.ngram}-gram(s) with {source}")
            return doc

        return decide

    def summary(self, counters: dict) -> dict:
        path = Path(self.work_dir or "") / INDEX / SUMMARY
        if not self.work_dir or not path.exists():
            return {}
        checked = int(counters.get("checked", 0))
        sources = json.loads(path.read_text())
        for source, entry in sources.items():
            contaminated = int(counters.get(f"contaminated/{index_name(source)}", 0))
            entry.update(contaminated_docs=contaminated, rate=round(contaminated / checked, 6) if checked else 0.0)
        return {"ngram": self.ngram, "unit": self.unit, "min_matches": self.min_matches, "checked_docs": checked,
                "sources": sources}
