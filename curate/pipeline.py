"""Build the datatrove steps from a config, pick the executor, run, write the manifest.

    reader -> stage -> stage -> ... -> ShardWriter        (one chain per task; tasks run on the chosen executor)

The Python API and `curate run` are the same code:

    from curate import Pipeline
    result = Pipeline.from_yaml("pipelines/web.yaml").run(output="out/web", workers=2)
    assert result.manifest["conservation"]["ok"]
"""

import hashlib
import json
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pyarrow as pa
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from curate.config import (FORMATS, ConfigError, CurateWarning, PipelineConfig, StageConfig, load_pipeline_config,
                           validate_config)
from curate.executors import make_executor, quiet_logs, worker_pool
from curate.io.file_readers import FileReader
from curate.io.input_files import (PARTED_FORMATS, TASK_LAYOUT, InputError, InputFile, InputPath, default_tasks,
                                   reads, resolve_inputs)
from curate.io.manifest import build_manifest, kept_tokenized, nothing_kept, package_versions
from curate.io.mediawiki_reader import MediaWikiReader
from curate.io.reader_base import RecordSample
from curate.io.record_readers import HuggingFaceReader, JsonlReader, ParquetReader
from curate.io.schema import RESERVED_INPUT_FIELDS, parse_type
from curate.io.shard_writer import OUTPUT_KINDS, ShardWriter
from curate.io.token_files import TOKENS_DIR
from curate.io.warc_reader import WarcReader
from curate.phases import Phase, Progress, ProgressPoller, plan_phases, record_disk, run_phases
from curate.stages import resolve_step_class
from curate.stages.base import GlobalStage
from curate.stages.datatrove_step import DatatroveStep
from curate.stages.limits import LimitedStep

WORK_DIR = ".work"  # OUT/.work: GlobalStages' files and spilled documents; deleted when a run completes


class RunConflict(ConfigError):
    """The output folder holds a run of another pipeline or input."""


@dataclass
class RunResult:
    output: str
    manifest: dict
    tasks: int
    skipped_tasks: int
    submitted_only: bool = False  # slurm: jobs submitted, not yet run

    @property
    def ok(self) -> bool:
        return self.submitted_only or self.manifest["conservation"]["ok"]


class Pipeline:
    def __init__(self, config: PipelineConfig | dict, source: str | None = None, format_forced: bool = False):
        """`format_forced`: input.format was chosen for this run (`--format`, `--set input.format=...`): every file
        is read in that format, whatever its name says."""
        self.config = config if isinstance(config, PipelineConfig) else validate_config(config, source=source)
        self.source = source
        self.format_forced = format_forced
        self.input_paths: list[InputPath] = []
        self.warnings: list[str] = []  # CurateWarnings raised while planning; the manifest keeps them

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict | None = None) -> "Pipeline":
        return cls(load_pipeline_config(path, overrides), source=str(path),
                   format_forced="input.format" in (overrides or {}))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            warnings.warn(message, CurateWarning, stacklevel=3)

    # ---- planning -------------------------------------------------------------------------------------------
    def resolve_inputs(self) -> tuple[str, list[InputFile]]:
        """The input format and every input file. What each path matched is left in `self.input_paths`."""
        cfg = self.config.input
        try:
            files, self.input_paths = resolve_inputs(cfg.paths, directory_listing=cfg.format != "hf")
        except InputError as error:
            raise ConfigError([f"input.paths: {error}"], self.source) from None
        fmt = cfg.format if self.format_forced else self._format_of(files, cfg.format)
        if fmt is None:
            raise ConfigError([f"input.format: cannot tell the format from {cfg.paths}; set one of {', '.join(FORMATS)}"],
                              self.source)
        return fmt, files

    def _format_of(self, files: list[InputFile], configured: str | None) -> str | None:
        """The configured format, unless no file's name fits it and the names agree on another one: then theirs,
        with a warning (`text.yaml --input x.jsonl` reads JSON lines, not the whole file as one document). Names
        that fit no single reader are a ConfigError; files named for another format than the one chosen are
        rejected by the reader as `wrong_format`."""
        found = Counter(f.format for f in files if f.format)
        if not found or configured == "hf":
            return configured
        if configured and any(reads(configured, name) for name in found):
            others = {name: n for name, n in found.items() if not reads(configured, name)}
            if others:
                self.warn(f"input: {_counted(others)} named for another format than {configured}: rejected as "
                          f"wrong_format (leave them out with a glob, or read them as {configured} with --format)")
            return configured
        fits = [fmt for fmt, _ in found.most_common() if all(reads(fmt, name) for name in found)]
        if not fits:
            wanted = f"the pipeline reads {configured}; " if configured else ""
            raise ConfigError([f"input.format: {wanted}the input files are {_counted(found)}: choose one with "
                               f"--format, or narrow input.paths with a glob"], self.source)
        if configured:
            self.warn(f"input: the files are {fits[0]} ({_counted(found)}), not {configured} as input.format says: "
                      f"reading them as {fits[0]} (--format {configured} reads them as {configured})")
        return fits[0]

    def make_reader(self, fmt: str, files: list[InputFile], limit: int, sampled: bool = True) -> PipelineStep:
        """The reader of `fmt`; with `input.sample`, reading that share of the records (not when `sampled` is off:
        `count_records`)."""
        cfg = self.config.input
        columns = {name: parse_type(t) for name, t in cfg.columns.items()}
        common = {"limit": limit, "check_suffixes": not self.format_forced,  # --format: read whatever the names say
                  "sample": RecordSample(cfg.sample, cfg.sample_seed) if cfg.sample is not None and sampled else None}
        if fmt == "warc":
            return WarcReader(files, **common)
        if fmt in ("html", "text"):
            return FileReader(files, kind=fmt, **common)
        if fmt == "mediawiki":
            return MediaWikiReader(files, **common)
        reader_cls = {"jsonl": JsonlReader, "parquet": ParquetReader, "hf": HuggingFaceReader}[fmt]
        if fmt == "parquet" and not cfg.columns and files:
            exclude = {cfg.text_key, cfg.id_key, "url", "metadata", *RESERVED_INPUT_FIELDS}
            columns = _parquet_columns([f for f in files if self.format_forced or reads(fmt, f.format or fmt)],
                                       exclude=exclude)
        return reader_cls(files, text_key=cfg.text_key, id_key=cfg.id_key, columns=columns, **common)

    def count_records(self, fmt: str, files: list[InputFile]) -> int:
        """How many records `files` hold (documents and unreadable records alike): the reader alone, no stage."""
        reader = self.make_reader(fmt, files, limit=-1, sampled=False)
        return sum(1 for _ in reader.run())

    def make_stages(self) -> list[PipelineStep]:
        steps, seen = [], {}
        for i, stage in enumerate(self.config.stages):
            try:
                step = make_stage(stage, where=f"stages[{i}].{stage.name}")
            except ConfigError as error:
                raise ConfigError(error.errors, self.source) from None
            seen[step.name] = seen.get(step.name, 0) + 1
            if seen[step.name] > 1:  # funnel rows need distinct names
                step.name = f"{step.name}#{seen[step.name]}"
            if step.name.startswith("decontaminate") and not getattr(step, "benchmarks", None) \
                    and "split" not in seen and "split" not in self.config.input.columns:
                raise ConfigError([f"stages[{i}].decontaminate: nothing to decontaminate against: put a split stage "
                                   "before it (val/test are the evaluation side), give `benchmarks`, or read a "
                                   "`split` input column"], self.source)
            steps.append(step)
        return steps

    def build(self, files: list[InputFile], fmt: str, output: str, tasks: int, limit: int = -1) -> list[Phase]:
        """The run's phases: reader -> stages -> ShardWriter, cut at each GlobalStage (curate/phases.py)."""
        reader = self.make_reader(fmt, files, limit)
        stages = self.make_stages()
        columns: dict[str, pa.DataType] = {}
        wheres = ["input", *(f"stages[{i}].{stage.name}" for i, stage in enumerate(self.config.stages))]
        for where, step in zip(wheres, [reader, *stages]):
            for name, dtype in step.columns().items():
                if name in columns and columns[name] != dtype:
                    raise ConfigError([f"{where}: writes column {name!r} as {dtype}, an earlier step as "
                                       f"{columns[name]}"], self.source)
                columns[name] = dtype
        out = self.config.output
        writer = ShardWriter(output, columns, max_rows_per_shard=out.max_rows_per_shard,
                             max_bytes_per_shard=out.max_bytes_per_shard,
                             compression=None if out.compression == "none" else out.compression)
        self.work_root = self.work_dir(output, stages)
        return plan_phases(reader, stages, writer, tasks, self.work_root, columns)

    def work_dir(self, output: str, stages: list[PipelineStep]) -> str:
        """Where GlobalStages keep their files and the spilled documents: executor.work_dir, else OUT/.work.
        The dedup phases read and write these files directly, so they must be on a filesystem every worker sees."""
        configured = self.config.executor.work_dir
        if configured:  # one subfolder per output, so that runs sharing a work_dir never meet
            digest = hashlib.sha1(get_datafolder(output).resolve_paths("").encode()).hexdigest()[:12]
            return f"{configured.rstrip('/')}/curate-{digest}"
        folder = get_datafolder(output)
        if not _is_local(folder) and any(isinstance(stage, GlobalStage) for stage in stages):
            names = ", ".join(stage.name for stage in stages if isinstance(stage, GlobalStage))
            raise ConfigError([f"executor.work_dir: the output {output!r} is not a local folder, and {names} need a "
                               "work folder every worker can read and write; set executor.work_dir"])
        return folder.resolve_paths(WORK_DIR) if _is_local(folder) else ""

    def check_output(self, output: str) -> None:
        """For `curate validate`: a local output folder can be created and written, checked without creating it
        (a run checks by writing; other filesystems are checked then)."""
        import os

        folder = get_datafolder(output)
        if not _is_local(folder):
            return
        existing = Path(folder.path)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError([f"output.path: cannot write to {output!r}: {existing} is not a writable folder"],
                              self.source)

    # ---- running --------------------------------------------------------------------------------------------
    def run(self, output: str | None = None, workers: int | None = None, tasks: int | None = None,
            limit: int | None = None, force: bool = False, verbose: bool = False,
            on_progress: Callable[[Progress], None] | None = None) -> RunResult:
        output = str(output or self.config.output.path)
        fmt, files = self.resolve_inputs()
        executor_cfg = self.config.executor
        tasks = tasks or executor_cfg.tasks or default_tasks(files, fmt in PARTED_FORMATS)
        workers = max(1, min(workers or executor_cfg.workers, tasks))
        limit = self.config.input.limit if limit is None else limit
        out = get_datafolder(output)
        resolved = self.config.model_dump(mode="json")
        resolved["output"]["path"] = output
        phases = self.build(files, fmt, output, tasks, limit)  # every config error is raised here, before any write
        _check_writable(out, output, self.source)
        if force:  # only now: a broken config must not cost the previous run's output
            for name in (*OUTPUT_KINDS, "logs", WORK_DIR, TOKENS_DIR):
                if out.isdir(name):
                    out.rm(name, recursive=True)
            if out.isfile("manifest.json"):
                out.rm("manifest.json")
        if not out.isfile("logs/run.json"):  # a fresh run: nothing an earlier, abandoned run left may be reused
            _remove_folder(self.work_root)
        _check_same_run(out, resolved, fmt, files, tasks, limit)
        logs = get_datafolder(out.resolve_paths("logs"))
        started = _now()
        progress = ProgressPoller(logs, phases, on_progress)

        # one pool of workers for every phase: each loads its models once
        with progress, quiet_logs(verbose), worker_pool(executor_cfg, workers, _step_modules(phases)) as pool:
            def phase_executor(pipeline, tasks, logging_dir, depends):
                return make_executor(executor_cfg, pipeline, tasks, workers, logging_dir, verbose, depends, pool)

            def after_phase(phase):  # the disk a phase leaves behind: `curate plan` forecasts it
                record_disk(logs, phase, {"work": self.work_root, "output": out.resolve_paths("")})

            runs = run_phases(phases, phase_executor, logs, submit_only=executor_cfg.type == "slurm",
                              on_phase=progress.set_phase, after_phase=after_phase)
        already_done = sum(run.already_done for run in runs)
        total_tasks = sum(phase.tasks for phase in phases)
        if executor_cfg.type == "slurm" and already_done < total_tasks:
            # the jobs were submitted: the same command, once they have finished, writes the manifest
            return RunResult(output, {}, total_tasks, already_done, submitted_only=True)
        manifest = build_manifest(
            config=resolved, inputs=[{"path": f.url, "source": f.source, "bytes": f.size} for f in files],
            phases=phases, output=out, started=started, finished=_now(), tasks=tasks, workers=workers,
            executor=executor_cfg.type, resumed_tasks=already_done)
        stages = [step for phase in phases for step in phase.steps if hasattr(step, "summary")]
        counters = {entry["step"]: entry.get("counters", {}) for entry in manifest["funnel"]}
        manifest["stages"] = _stage_summaries(stages, logs, counters)
        manifest["config"]["input"]["format"] = fmt
        manifest.update(kept_tokenized(out))
        manifest["input_paths"] = [asdict(path) for path in self.input_paths]  # what each path or glob matched
        if not manifest["conservation"]["kept"] and manifest["conservation"]["read"]:
            self.warn(nothing_kept(manifest, out, self.config.input.text_key))
        manifest["warnings"] = list(self.warnings)
        with out.open("manifest.json.tmp", "wt") as f:
            json.dump(manifest, f, indent=2, ensure_ascii=False)
        out.mv("manifest.json.tmp", "manifest.json")
        if not executor_cfg.keep_work:
            _remove_folder(self.work_root)
        return RunResult(output, manifest, total_tasks, already_done)



def _step_modules(phases: list[Phase]) -> list[str]:
    """The modules of every step of the run (and of the stages they wrap), for the workers to start with."""
    modules = []
    for phase in phases:
        for step in phase.steps:
            for part in (step, getattr(step, "step", None), getattr(step, "stage", None)):
                if part is not None and type(part).__module__ not in modules:
                    modules.append(type(part).__module__)
    return modules


def _stage_summaries(steps: list[PipelineStep], logs, counters: dict[str, dict]) -> dict[str, dict]:
    """Each stage's own report for the manifest, given its funnel counters. A GlobalStage's comes from its work
    folder, which the end of a run deletes, so it is kept in OUT/logs/stages/<name>.json and read from there when
    the work folder is gone (a re-run of a completed run)."""
    summaries = {}
    for step in steps:
        path = f"stages/{step.name}.json"
        summary = step.summary(counters.get(step.name, {}))
        if summary:
            with logs.open(path, "wt") as f:
                json.dump(summary, f, indent=1)
        elif logs.isfile(path):
            with logs.open(path, "rt") as f:
                summary = json.load(f)
        if summary:
            summaries[step.name] = summary
    return summaries


def _remove_folder(path: str) -> None:
    if path:
        folder = get_datafolder(path)
        if folder.isdir(""):
            folder.fs.rm(folder.path, recursive=True)


def _is_local(folder) -> bool:
    protocol = folder.fs.protocol
    return "file" in (protocol if isinstance(protocol, (tuple, list)) else (protocol,))


def make_stage(stage: StageConfig, where: str | None = None) -> PipelineStep:
    """The stage's step, built from its parameters; `where` (its YAML key path) names it in a ConfigError."""
    cls = resolve_step_class(stage.name)
    try:
        step = cls(**stage.params)
        if stage.limits and (stage.limits.seconds or stage.limits.memory_mb):
            step = LimitedStep(step, seconds=stage.limits.seconds, memory_mb=stage.limits.memory_mb)
    except Exception as error:  # the class itself refused a value
        raise ConfigError([f"{where or 'stages.' + stage.name}: {type(error).__name__}: {error}"]) from None
    if stage.name.startswith("curate.") or hasattr(step, "columns"):
        return step
    return DatatroveStep(step, name=cls.__name__, columns={n: parse_type(t) for n, t in stage.columns.items()})


def _check_writable(out, output: str, source: str | None) -> None:
    """The output folder can be created and written to: a ConfigError naming output.path, before the first write."""
    probe = ".curate-write-check"
    try:
        out.open(probe, "wb").close()  # DataFolder.open creates the folder first, as the writers will
        out.rm(probe)
    except OSError as error:
        raise ConfigError([f"output.path: cannot write to {output!r}: {type(error).__name__}: {error}"],
                          source) from None


def _check_same_run(out, resolved: dict, fmt: str, files: list[InputFile], tasks: int, limit: int) -> None:
    """Resuming into a folder that holds another pipeline's or another input's tasks would mix two runs; so would
    resuming with other versions of curate or the libraries that decide (trafilatura, datatrove, presidio, ...)."""
    fingerprint = {"stages": resolved["stages"], "input": {**resolved["input"], "format": fmt, "limit": limit},
                   "output": {k: v for k, v in resolved["output"].items() if k != "path"}, "tasks": tasks,
                   "task_layout": TASK_LAYOUT,
                   "files": [[f.source, f.size] for f in files], "versions": package_versions()}
    if resolved["executor"].get("work_dir"):  # only when set, so that runs from before this key still resume
        # the spilled documents and dedup files live there: a resume elsewhere would not find them
        fingerprint["work_dir"] = resolved["executor"]["work_dir"]
    if out.isfile("logs/run.json"):
        with out.open("logs/run.json", "rt") as f:
            previous = json.load(f)
        if previous != fingerprint:
            changed = sorted(k.replace("versions", "package versions") for k in {*fingerprint, *previous}
                             if previous.get(k) != fingerprint.get(k))
            raise RunConflict([f"output {out.path!r} holds a run with a different {', '.join(changed)}; "
                               f"use --force to start over, or another --output"])
        return
    out.makedirs("logs", exist_ok=True)
    with out.open("logs/run.json.tmp", "wt") as f:  # renamed when complete: a kill here leaves no half a fingerprint
        json.dump(fingerprint, f, indent=1)
    out.mv("logs/run.json.tmp", "logs/run.json")


def _parquet_columns(files: list[InputFile], exclude: set[str]) -> dict[str, pa.DataType]:
    """The typed columns of the first input file whose schema can be read. A damaged or empty file is skipped here;
    the reader rejects it (read_error) without stopping the run."""
    import fsspec
    import pyarrow.parquet as pq

    for file in files:
        try:
            with fsspec.open(file.url, "rb") as handle:
                schema = pq.read_schema(handle)
        except (OSError, pa.ArrowException):
            continue
        simple = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_floating,
                  pa.types.is_boolean, pa.types.is_timestamp)
        return {f.name: (pa.string() if pa.types.is_large_string(f.type) else f.type) for f in schema
                if f.name not in exclude and any(test(f.type) for test in simple)}
    return {}


def _counted(formats: dict[str, int]) -> str:
    return ", ".join(f"{n} {fmt} file{'s' if n > 1 else ''}" for fmt, n in formats.items())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

