"""`curate plan PIPELINE.yaml`: a run's time, memory, disk and output, forecast before it from two small samples.

    choose files   the input files in a seeded hash order, until they hold FILE_BYTES_FACTOR x the sample's share
                   of the input's bytes and at least MIN_FILES files (or all): the I/O the plan pays is bounded by these
    count          the reader alone over those files: records, so documents per byte and the input's documents (N)
    two samples    the real pipeline on a seeded record sample of those files (`input.sample`) at rate r/2 and r,
                   nested (the smaller is a subset of the larger), the larger with at least `min_docs` documents;
                   the run's own workers, one task per worker
    fit            per phase, wall time and peak RSS as a line in the documents read (two points); work disk,
                   output disk, kept documents and tokens per output folder as lines through the origin
    forecast       the lines at N; the wall time also for a cluster (the per-document part divided among the
                   workers, the fixed part, mostly start-up, not)

What a sample cannot see, and how the plan treats it:
- duplicates that span the input: a pair of copies is in a sample at rate r with probability r^2, so a sample finds
  too few. The dedup stages' share of removed documents is fitted against the rate (two points) and extrapolated to
  rate 1 (at most the larger sample's share divided by its rate); the kept documents are lowered by the difference;
- start-up that every node of a cluster pays, skew between tasks, a reduce step whose memory grows faster than
  linearly: the fixed part is this machine's, and a phase's peak RSS is extrapolated linearly.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from curate.io.input_files import MAX_TASK_BYTES, MIN_TASK_BYTES, InputFile

MIN_FILES = 8  # a sample drawn from fewer files than this sees one corner of a crawl
FILE_BYTES_FACTOR = 4  # the files read hold this many times the sample's share of the bytes
DEDUP_STAGES = ("exact_dedup", "minhash_dedup", "line_dedup")
STREAM_SUFFIX = "-stream"  # streaming phases; the others are a GlobalStage's reduce steps, whose memory grows


def hashed_order(files: list[InputFile], seed: int) -> list[InputFile]:
    return sorted(files, key=lambda f: hashlib.sha1(f"{seed}:{f.source}".encode()).hexdigest())


def choose_files(files: list[InputFile], fraction: float, seed: int) -> list[InputFile]:
    """A prefix of the seeded order holding FILE_BYTES_FACTOR x `fraction` of the bytes, at least MIN_FILES files."""
    total = sum(f.size for f in files)
    chosen, size = [], 0
    for file in hashed_order(files, seed):
        if len(chosen) >= MIN_FILES and size >= FILE_BYTES_FACTOR * fraction * total:
            break
        chosen.append(file)
        size += file.size
    return chosen


@dataclass(frozen=True)
class Line:
    """y = intercept + slope * x."""

    intercept: float
    slope: float

    @classmethod
    def through(cls, x0: float, y0: float, x1: float, y1: float) -> Line:
        """Through two points; a cost never falls as documents grow (a negative slope is the load's noise)."""
        slope = max(0.0, (y1 - y0) / (x1 - x0)) if x1 != x0 else 0.0
        return cls(max(0.0, y1 - slope * x1), slope)

    @classmethod
    def proportional(cls, x: float, y: float) -> Line:
        return cls(0.0, y / x if x else 0.0)

    def __call__(self, x: float) -> float:
        return self.intercept + self.slope * x


@dataclass
class Sample:
    """One sample run: its rate, its documents, its wall time (the whole command: start-up included), its manifest."""

    rate: float
    wall_seconds: float
    manifest: dict

    @property
    def docs(self) -> int:
        return self.manifest["conservation"]["read"]

    @property
    def phases(self) -> dict[str, dict]:
        return {p["name"]: p for p in self.manifest["phases"]}

    def disk(self, name: str) -> int:
        """The largest `<name>_bytes` over the phases: work disk peaks before the end, output at it."""
        return max((p.get(f"{name}_bytes") or 0 for p in self.manifest["phases"]), default=0)

    def dedup_share(self) -> float:
        removed = sum(sum(r["docs"] for r in step["rejected"].values())
                      for step in self.manifest["funnel"] if step["step"].split("#")[0] in DEDUP_STAGES)
        return removed / self.docs if self.docs else 0.0


def forecast(small: Sample, large: Sample, docs: float, input_bytes: int, workers: int, nodes: int = 1,
             cpus_per_node: int | None = None, ram_gb: float | None = None) -> dict:
    """The run at `docs` documents, from the two samples (see the module docstring)."""
    n0, n1 = small.docs, large.docs
    phases, stream_rss, reduce_rss = [], 0.0, 0.0
    for name, p1 in large.phases.items():
        p0 = small.phases.get(name, p1)
        wall = Line.through(n0, p0.get("wall_seconds", 0.0), n1, p1.get("wall_seconds", 0.0))
        grows = not name.endswith(STREAM_SUFFIX)  # a reduce step holds its share of every document's hashes
        rss = (Line.through(n0, p0.get("peak_rss_mb", 0.0), n1, p1.get("peak_rss_mb", 0.0))(docs) if grows
               else max(p0.get("peak_rss_mb", 0.0), p1.get("peak_rss_mb", 0.0)))
        phases.append({"name": name, "tasks": p1["tasks"], "wall_seconds": round(wall(docs), 1),
                       "fixed_seconds": round(wall.intercept, 2), "seconds_per_1k_docs": round(1000 * wall.slope, 3),
                       "peak_rss_mb": round(rss, 1), "rss_grows_with_input": grows})
        if grows:
            reduce_rss = max(reduce_rss, rss)
        else:
            stream_rss = max(stream_rss, rss)
    # the command's time outside the phases (start-up, planning, the manifest) does not grow with the documents
    outside = min(s.wall_seconds - sum(p.get("wall_seconds", 0.0) for p in s.phases.values()) for s in (small, large))
    fixed = max(0.0, outside) + sum(p["fixed_seconds"] for p in phases)
    per_doc = sum(p["seconds_per_1k_docs"] for p in phases) / 1000
    dedup = [small.dedup_share(), large.dedup_share()]
    dedup_full = dedup[1] if large.rate >= 1 else min(Line.through(small.rate, dedup[0], large.rate, dedup[1])(1.0),
                                                       dedup[1] / large.rate, 1.0)
    unseen_dedup = max(0.0, dedup_full - dedup[1])  # documents the whole input's dedup removes beyond the sample's
    scale = docs / n1 if n1 else 0.0
    kept = large.manifest["conservation"]["kept"]
    kept_factor = max(0.0, kept / n1 - unseen_dedup) / (kept / n1) if kept else 0.0
    output = {}
    for kind, totals in large.manifest["output"].items():
        factor = scale * (kept_factor if kind != "rejected" else 1.0)
        output[kind] = {"docs": round(totals["docs"] * factor), "tokens": round(totals.get("tokens", 0) * factor)}
    if "rejected" in output:  # what dedup removes beyond the sample goes to rejected/
        output["rejected"]["docs"] += round(unseen_dedup * docs)
    return {
        "input": {"bytes": input_bytes, "docs": round(docs)},
        "samples": [{"rate": round(s.rate, 6), "docs": s.docs, "wall_seconds": round(s.wall_seconds, 1),
                     "work_bytes": s.disk("work"), "output_bytes": s.disk("output")} for s in (small, large)],
        "wall_seconds": round(fixed + per_doc * docs, 1),
        "fixed_seconds": round(fixed, 1),
        "workers": workers,
        "phases": phases,
        "peak_rss_mb": {"worker": round(stream_rss, 1), "reduce_step": round(reduce_rss, 1)},
        "disk_bytes": {name: round(Line.proportional(n1, large.disk(name))(docs)) for name in ("work", "output")},
        "kept_docs": sum(v["docs"] for k, v in output.items() if k != "rejected"),
        "output": output,
        "dedup_removed_share": {"samples": [round(d, 4) for d in dedup], "forecast": round(dedup_full, 4)},
        "recommend": recommend(input_bytes, stream_rss, reduce_rss, fixed, per_doc * docs * workers, nodes,
                               cpus_per_node, ram_gb),
    }


def recommend(input_bytes: int, worker_rss_mb: float, reduce_rss_mb: float, fixed_seconds: float,
              work_seconds: float, nodes: int, cpus_per_node: int | None, ram_gb: float | None) -> dict:
    """Workers that fit in memory (80% of it) and tasks for them, for `nodes` nodes of `cpus_per_node` CPUs and
    `ram_gb` GB (default: this machine). Tasks as curate sizes them (io/input_files.py): none under MIN_TASK_BYTES of
    input (a task would cost less than its worker's start-up) nor over MAX_TASK_BYTES, and, within that, two per
    worker so that one slow task does not leave the others idle. `work_seconds`: the per-document part of the wall
    time times the workers it was measured with: the same work, spread over the recommended workers."""
    cpus = cpus_per_node or os.cpu_count() or 1
    ram_mb = ram_gb * 1024 if ram_gb else _ram_mb()
    per_node = max(1, min(cpus, int(0.8 * ram_mb // max(worker_rss_mb, 1.0))))
    most = max(1, math.ceil(input_bytes / MIN_TASK_BYTES))
    tasks = min(most, max(2 * per_node * nodes, math.ceil(input_bytes / MAX_TASK_BYTES)))
    workers = min(per_node * nodes, tasks)
    advice = {"nodes": nodes, "cpus_per_node": cpus, "ram_mb_per_node": round(ram_mb), "workers_per_node": per_node,
              "workers": workers, "tasks": tasks, "wall_seconds": round(fixed_seconds + work_seconds / workers, 1)}
    if workers < per_node * nodes:
        advice["note"] = f"the input is small: {tasks} task(s) of at least {MIN_TASK_BYTES // 2**20} MiB keep " \
                         f"{workers} worker(s) busy"
    elif per_node < cpus:
        advice["note"] = f"memory, not CPUs, limits the workers: each needs about {worker_rss_mb:,.0f} MB"
    if reduce_rss_mb > 0.8 * ram_mb:
        advice["warning"] = (f"a reduce step is forecast to need {reduce_rss_mb:,.0f} MB, over 80% of a node's "
                             f"{ram_mb:,.0f} MB: raise the task count (minhash_dedup spreads its bands over the tasks, "
                             "line_dedup its partitions) or use nodes with more memory")
    return advice


def _ram_mb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return 8192.0


def plan(pipeline, fraction: float = 0.005, min_docs: int = 300, seed: int = 0, workers: int | None = None,
         nodes: int = 1, cpus_per_node: int | None = None, ram_gb: float | None = None, log=print) -> dict:
    """Run the two samples of `pipeline` (a curate Pipeline) into a temporary folder and forecast the whole run."""
    from curate.pipeline import Pipeline

    fmt, files = pipeline.resolve_inputs()
    input_bytes = sum(f.size for f in files)
    chosen = choose_files(files, fraction, seed)
    chosen_bytes = sum(f.size for f in chosen) or 1
    records = pipeline.count_records(fmt, chosen)
    docs = records * input_bytes / chosen_bytes
    # a record sample at rate r reads a binomial number of records: 3 standard deviations above `min_docs` make
    # the larger sample read fewer than min_docs about once in 700 plans
    wanted = min_docs + 3 * math.sqrt(min_docs)
    rate = min(1.0, max(fraction * input_bytes / chosen_bytes, wanted / max(records, 1)))
    workers = workers or pipeline.config.executor.workers
    log(f"plan: {len(files):,} files, {input_bytes / 2**20:,.1f} MB, about {docs:,.0f} documents; samples of "
        f"{rate / 2:.2%} and {rate:.2%} of the records of {len(chosen)} files ({chosen_bytes / 2**20:,.1f} MB)")
    samples = []
    with tempfile.TemporaryDirectory(prefix="curate-plan-") as tmp:
        for sample_rate in (rate / 2, rate):
            config = pipeline.config.model_copy(deep=True)
            config.input.paths = [f.url for f in chosen]
            config.input.format = fmt
            config.input.sample, config.input.sample_seed = sample_rate, seed
            config.executor.tasks = workers
            config.executor.work_dir = None  # the samples' work files go under their own output
            started = time.perf_counter()
            result = Pipeline(config, source=pipeline.source, format_forced=True).run(
                output=str(Path(tmp) / f"sample-{len(samples)}"), workers=workers, force=True)
            samples.append(Sample(sample_rate, time.perf_counter() - started, result.manifest))
            log(f"plan: sample at {sample_rate:.2%}: {samples[-1].docs:,} documents in "
                f"{samples[-1].wall_seconds:.1f} s")
    result = forecast(samples[0], samples[1], docs, input_bytes, workers, nodes, cpus_per_node, ram_gb)
    result["cannot_see"] = ["duplicates across the whole input (extrapolated from the two samples' rates)",
                            "per-node start-up and task skew on a cluster", "phases whose memory grows faster than "
                            "linearly with the input"]
    return result
