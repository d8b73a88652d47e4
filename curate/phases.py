"""A run as a sequence of phases, each one datatrove executor run of independent tasks.

A pipeline without a GlobalStage (curate/stages/base.py) is one phase: reader -> stages -> ShardWriter. Each
GlobalStage (dedup, decontamination) cuts the run where it stands:

    01-stream    reader -> stages -> G:observe -> spill        T tasks (one per input part)
    02-G-...     G's reduce steps                               each phase its own task count, tasks independent
    03-stream    unspill -> G (decides) -> stages -> writer     T tasks: task r reads back what task r spilled

Every phase keeps datatrove's logs, stats and completion markers in OUT/logs/<phase>/, so re-running the same command
skips the tasks (of every phase) that finished and resumes the rest; a phase starts only when the one before it has
completed all its tasks. Locally and on Ray the phases run one after the other on the run's workers (the same
processes for every phase: curate/executors.py); on Slurm they are submitted at once as jobs that depend on each
other (datatrove's `depends`).

Each task also records its wall time and peak RSS (OUT/logs/<phase>/resources/<rank>.json) for the manifest, and
the documents that reached the end of its phase so far (OUT/logs/<phase>/progress/<rank>.json) for the progress line.
"""

import collections
import json
import threading
import time
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
from datatrove.io import DataFolder, get_datafolder
from datatrove.pipeline.base import PipelineStep

from curate.dedup.clusters import peak_rss_mb, reset_peak_rss
from curate.io.spill import SpillReader, SpillTexts, SpillWriter
from curate.funnel import is_rejected
from curate.stages.base import GlobalStage, ObserveStep


class PhaseFailed(RuntimeError):
    """A phase ended with tasks that did not complete; the phases after it did not run."""


@dataclass
class Phase:
    name: str  # also its log folder: OUT/logs/<name>/
    steps: list[PipelineStep]
    tasks: int

    def task_steps(self, logging_dir: str | None) -> list[PipelineStep]:
        """What a task of the phase runs: its steps, the progress count before the last one (when documents
        stream through it), and the task's resources record."""
        steps = self.steps if len(self.steps) == 1 else [*self.steps[:-1], TaskProgress(logging_dir), self.steps[-1]]
        return [*steps, TaskResources(logging_dir)]

    @property
    def step_names(self) -> list[str]:
        """The names of a task's steps, in the order of its stats."""
        return [step.name for step in self.task_steps(None)]


def plan_phases(reader: PipelineStep, stages: list[PipelineStep], writer: PipelineStep, tasks: int, work_dir: str,
                columns: dict[str, pa.DataType]) -> list[Phase]:
    """Cut reader -> stages -> writer into phases at each GlobalStage. Sets each GlobalStage's `work_dir` (its files),
    `spill_dir` (the documents of the phase before it) and `spill_texts` (their texts, by rank and position).
    `columns`: every declared column, for the spill files."""
    phases: list[Phase] = []
    head: list[PipelineStep] = [reader]
    for stage in stages:
        if not isinstance(stage, GlobalStage):
            head.append(stage)
            continue
        name = f"{len(phases) + 1:02d}-stream"
        spill = f"{work_dir}/spill/{name}"
        stage.work_dir, stage.spill_dir, stage.spill_texts = f"{work_dir}/{stage.name}", spill, SpillTexts(spill)
        phases.append(Phase(name, [*head, ObserveStep(stage), SpillWriter(spill, columns)], tasks))
        for part, part_tasks, step in stage.reduce_steps(tasks):
            phases.append(Phase(f"{len(phases) + 1:02d}-{stage.name}-{part}", [step], part_tasks))
        head = [SpillReader(spill, name), stage]
    phases.append(Phase(f"{len(phases) + 1:02d}-stream", [*head, writer], tasks))
    return phases


class TaskProgress(PipelineStep):
    """Before the last step of a phase that streams documents: how many reached it, and how many of them are
    rejected, rewritten at most every `every_s` seconds and when the task ends (what `curate run` shows)."""

    name = "progress"
    type = "📈 - PROGRESS"

    def __init__(self, logging_dir: str, every_s: float = 0.5):
        super().__init__()
        self.logging_dir, self.every_s = logging_dir, every_s

    def run(self, data, rank: int = 0, world_size: int = 1):
        counts = {"docs": 0, "rejected": 0}
        last = time.monotonic()
        for doc in data or ():
            counts["docs"] += 1
            counts["rejected"] += is_rejected(doc)
            if time.monotonic() - last > self.every_s:
                self._write(rank, counts)
                last = time.monotonic()
            yield doc
        self._write(rank, counts)

    def _write(self, rank: int, counts: dict) -> None:
        folder = get_datafolder(self.logging_dir)
        with folder.open(f"progress/{rank:05d}.json.tmp", "wt") as f:
            json.dump(counts, f)
        folder.mv(f"progress/{rank:05d}.json.tmp", f"progress/{rank:05d}.json")


def read_progress(logs: DataFolder, phase: "Phase") -> dict:
    """The documents through `phase` so far (all tasks), and its completed tasks."""
    counts = {"docs": 0, "rejected": 0, "tasks_done": 0}
    for path in logs.glob(f"{phase.name}/progress/*.json"):
        with logs.open(path, "rt") as f:
            task = json.load(f)
        counts["docs"] += task.get("docs", 0)
        counts["rejected"] += task.get("rejected", 0)
    counts["tasks_done"] = len(logs.glob(f"{phase.name}/completions/*"))
    return counts


class TaskResources(PipelineStep):
    """Last step of every phase: drains the chain and records the task's wall time and peak RSS."""

    name = "resources"
    type = "📏 - RESOURCES"

    def __init__(self, logging_dir: str):
        super().__init__()
        self.logging_dir = logging_dir

    def run(self, data, rank: int = 0, world_size: int = 1):
        # a pool worker runs several tasks one after the other: restart the peak so it is this task's
        reset_peak_rss()
        started = time.time()
        collections.deque(data or (), maxlen=0)  # drain the pipeline: the steps before this one do the work
        record = {"started": started, "finished": time.time(), "peak_rss_mb": round(peak_rss_mb(), 1)}
        with get_datafolder(self.logging_dir).open(f"resources/{rank:05d}.json", "wt") as f:
            json.dump(record, f)
        yield from ()


ExecutorFactory = Callable[..., object]  # (pipeline, tasks, logging_dir, depends) -> a datatrove executor


@dataclass
class PhaseRun:
    phase: Phase
    executor: object
    already_done: int


def run_phases(phases: list[Phase], make_executor: ExecutorFactory, logs: DataFolder, submit_only: bool = False,
               on_phase: Callable[[int, Phase], None] | None = None,
               after_phase: Callable[[Phase], None] | None = None) -> list[PhaseRun]:
    """Run the phases in order (or, `submit_only`, hand the whole chain to the executor of the last phase, which
    submits its dependencies first: Slurm). Raises PhaseFailed naming the first phase that did not complete.
    `after_phase(phase)`: called when a phase this call ran has completed all its tasks."""
    runs: list[PhaseRun] = []
    previous = None
    for phase in phases:
        logging_dir = logs.resolve_paths(phase.name)
        executor = make_executor(phase.task_steps(logging_dir), tasks=phase.tasks,
                                 logging_dir=logging_dir, depends=previous if submit_only else None)
        runs.append(PhaseRun(phase, executor, phase.tasks - len(executor.get_incomplete_ranks())))
        previous = executor
    if submit_only:
        if any(run.already_done < run.phase.tasks for run in runs):
            previous.run()  # submits the phases that have work left, each depending on the one before
        return runs
    for index, run in enumerate(runs):
        if on_phase:
            on_phase(index, run.phase)
        if run.already_done < run.phase.tasks:
            run.executor.run()
        incomplete = run.executor.get_incomplete_ranks()
        if incomplete:
            raise PhaseFailed(f"phase {run.phase.name}: task(s) {incomplete[:10]} did not complete (see "
                              f"{logs.resolve_paths(run.phase.name)}/logs/); re-run the same command to resume")
        if after_phase and run.already_done < run.phase.tasks:
            after_phase(run.phase)
    return runs


DISK_FILE = "disk.json"  # OUT/logs/<phase>/disk.json: the work folder's and the output's bytes when the phase ended


def record_disk(logs: DataFolder, phase: Phase, folders: dict[str, str]) -> None:
    """Bytes under each of `folders` (name -> path, any fsspec URL; a missing folder is 0) as the phase ends, a
    folder inside another (OUT/.work in OUT) not counted in the outer one: the work folder holds every spill and
    stage file written so far (nothing is deleted before the run ends), so the largest value over the phases is the
    run's peak work disk."""
    sizes, paths = {}, {}
    for name, path in folders.items():
        try:
            folder = get_datafolder(path)
            paths[name] = folder.path.rstrip("/")
            sizes[name] = int(folder.fs.du(folder.path, total=True)) if path and folder.isdir("") else 0
        except OSError:
            sizes[name] = None
    for outer, outer_path in paths.items():
        for inner, inner_path in paths.items():
            if inner != outer and inner_path.startswith(outer_path + "/") and sizes[outer] and sizes[inner]:
                sizes[outer] -= sizes[inner]
    with logs.open(f"{phase.name}/{DISK_FILE}", "wt") as f:
        json.dump(sizes, f)


def phase_resources(logs: DataFolder, phase: Phase) -> dict:
    """Wall time (first task start to last task end), summed task time and the largest peak RSS of a phase."""
    records = []
    for path in sorted(logs.glob(f"{phase.name}/resources/*.json")):
        with logs.open(path, "rt") as f:
            records.append(json.load(f))
    disk = {}
    if logs.isfile(f"{phase.name}/{DISK_FILE}"):
        with logs.open(f"{phase.name}/{DISK_FILE}", "rt") as f:
            disk = {f"{name}_bytes": value for name, value in json.load(f).items()}
    if not records:
        return {"name": phase.name, "tasks": phase.tasks, **disk}
    return {"name": phase.name, "tasks": phase.tasks,
            "wall_seconds": round(max(r["finished"] for r in records) - min(r["started"] for r in records), 3),
            "task_seconds": round(sum(r["finished"] - r["started"] for r in records), 3),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in records), **disk}


@dataclass
class Progress:
    """What `run` reports while it runs (the CLI draws it): the phase running, its completed tasks, and the
    documents that reached the end of the phase so far, live (`kept`) and rejected. A phase of reduce steps
    (dedup buckets, clusters, the decontamination index) moves documents through none: its tasks move."""

    kept: int = 0
    rejected: int = 0
    tasks_done: int = 0
    tasks: int = 0
    phase: str = ""  # the phase running, when the run has more than one (dedup, decontamination)
    phase_number: int = 1
    phases: int = 1
    phase_done: bool = False  # the last report of a phase, sent when it has completed


class ProgressPoller:
    """Twice a second, and once more when a phase completes: the phase running, its completed tasks (completion
    markers) and its documents so far (OUT/logs/<phase>/progress/, written by each task: curate/phases.py)."""

    def __init__(self, logs, phases: list[Phase], callback):
        self.logs, self.phases, self.callback = logs, phases, callback
        self.phase_index = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def set_phase(self, index: int, phase: Phase) -> None:
        if self.callback and index:
            self._poll(index - 1, done=True)
        self.phase_index = index

    def __enter__(self):
        if self.callback:
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.callback:
            self.thread.join()
            self._poll(self.phase_index, done=exc[0] is None)

    def _loop(self):
        while not self.stop.wait(0.5):
            self._poll(self.phase_index)

    def _poll(self, index: int, done: bool = False):
        phase = self.phases[index]
        try:
            counts = read_progress(self.logs, phase)
        except (OSError, ValueError):
            return  # a file being renamed: next poll
        with self.lock:  # the last report of a phase after its last poll
            self.callback(Progress(kept=counts["docs"] - counts["rejected"], rejected=counts["rejected"],
                                   tasks_done=counts["tasks_done"], tasks=phase.tasks,
                                   phase=phase.name if len(self.phases) > 1 else "", phase_number=index + 1,
                                   phases=len(self.phases), phase_done=done))
