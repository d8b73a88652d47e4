"""The pipeline YAML as pydantic models, validated before anything runs.

    input:     {format: warc, paths: [examples/web/*.warc.gz]}
    stages:    [{extract: {mode: precision}}, {datatrove.pipeline.filters.GopherRepetitionFilter: {}}]
    output:    {path: out/web}
    executor:  {type: local, tasks: 4, workers: 2}

Every error names the YAML key path (and line) and, where there is a fixed set, the allowed values. A stage's
parameters are checked against its class's `__init__` signature, so a misspelled or mistyped parameter stops the
run before the first document is read.
"""

import inspect
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from curate.io.schema import RESERVED_INPUT_FIELDS, parse_type

FORMATS = ("warc", "jsonl", "parquet", "html", "text", "hf", "mediawiki")  # file name endings: curate/io/input_files.py


class ConfigError(ValueError):
    """One or more configuration errors; each line names the key path."""

    def __init__(self, errors: list[str], source: str | None = None):
        self.errors = errors
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__("\n".join(prefix + e for e in errors))


class CurateWarning(UserWarning):
    """Something a user must see although the run goes on (an input format taken from the files, a run that kept
    nothing). `curate run` prints these on stderr; the manifest keeps them under `warnings`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    paths: list[str] = Field(min_length=1, description="files, folders or globs; local or any fsspec URL")
    format: Literal[FORMATS] | None = Field(None, description="inferred from the file names when left out")
    text_key: str = "text"
    id_key: str = "id"
    columns: dict[str, str] = Field(default_factory=dict, description="input fields to keep as typed columns")
    limit: int = Field(-1, description="read at most this many documents per task (-1: all)")
    sample: float | None = Field(None, gt=0, le=1, description="read this seeded share of the records (a quick "
                                 "trial; `curate plan` samples this way); the others are counted, not read")
    sample_seed: int = Field(0, description="the seed of input.sample: another seed, another share")

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("columns")
    @classmethod
    def _types(cls, value):
        for name, type_name in value.items():
            if name in RESERVED_INPUT_FIELDS:
                raise ValueError(f"{name!r} is a column curate writes itself; an input field of that name is kept as "
                                 f"'input_{name}' (declare that instead)")
            parse_type(type_name)
        return value


class OutputConfig(_Strict):
    path: str
    max_rows_per_shard: int = Field(100_000, gt=0)
    max_bytes_per_shard: int = Field(256 * 2**20, gt=0, description="text bytes per shard before a new one starts")
    compression: Literal["zstd", "snappy", "gzip", "brotli", "none"] = "zstd"


class ExecutorConfig(_Strict):
    type: Literal["local", "ray", "slurm"] = "local"
    tasks: int | None = Field(None, gt=0, description="how many parts the input is split into (default: by input bytes: "
                                 "curate.io.input_files.default_tasks)")
    workers: int = Field(1, gt=0, description="how many tasks run at once")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to datatrove's Ray/Slurm executor")
    work_dir: str | None = Field(None, description="folder for dedup/decontamination files and documents handed "
                                 "between phases; every worker must reach it (default OUT/.work)")
    keep_work: bool = Field(False, description="keep the work folder after a run completes (default: delete it)")


class StageLimits(_Strict):
    """Per-document limits for a stage (curate/stages/limits.py): a document over them is rejected, the run goes on."""

    seconds: float | None = Field(None, gt=0, description="time limit per document")
    memory_mb: int | None = Field(None, gt=0, description="memory a document may take beyond the worker's start")


class StageConfig(_Strict):
    name: str  # registered stage name or dotted path
    params: dict[str, Any] = Field(default_factory=dict)
    columns: dict[str, str] = Field(default_factory=dict)  # for datatrove steps: metadata they write, typed
    limits: StageLimits | None = None


class PipelineConfig(_Strict):
    input: InputConfig
    stages: list[StageConfig] = Field(default_factory=list)
    output: OutputConfig
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)

    @field_validator("stages", mode="before")
    @classmethod
    def _stage_items(cls, value):
        if value is None:
            return []
        if not isinstance(value, list):
            raise ValueError("must be a list of stages, each a mapping {stage_name: {parameters}}")
        items = []
        for i, item in enumerate(value):
            if isinstance(item, StageConfig):
                items.append(item)
                continue
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"item {i} must be a mapping with exactly one key, the stage name "
                                 f"(for example `- langid: {{min_score: 0.65}}`)")
            (name, params), = item.items()
            params = dict(params or {})
            columns = params.pop("columns", {}) if "." in str(name) else {}
            items.append({"name": name, "params": params, "columns": columns, "limits": params.pop("limits", None)})
        return items

    @field_validator("output", mode="before")
    @classmethod
    def _output_path(cls, value):
        return {"path": value} if isinstance(value, str) else value


def load_pipeline_config(path: str | Path, overrides: dict | None = None) -> PipelineConfig:
    """Read and validate a pipeline YAML. Relative input/output paths resolve against the current directory."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"pipeline file {str(path)!r} does not exist"])
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        lines = _key_lines(text)
    except yaml.YAMLError as error:
        raise ConfigError([f"not valid YAML: {error}"], source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(["the file must be a mapping with input, stages, output (and executor)"], source=str(path))
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    return validate_config(data, source=str(path), lines=lines)


def validate_config(data: dict, source: str | None = None, lines: dict[tuple, int] | None = None) -> PipelineConfig:
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError([_format_error(e, lines or {}, data) for e in error.errors()], source) from None
    errors = []
    for i, stage in enumerate(config.stages):
        errors.extend(check_stage_params(stage, f"stages[{i}].{stage.name}", lines or {}, ("stages", i, stage.name)))
    errors.extend(check_executor_options(config.executor, lines or {}))
    if errors:
        raise ConfigError(errors, source)
    return config


# executor.options for type ray that go to ray.init, and those that size each worker's actor (curate/ray_workers.py;
# the names of datatrove's RayPipelineExecutor options, so configs written for it keep working)
RAY_INIT_OPTIONS = {"address": str | None, "num_cpus": int | None}
RAY_ACTOR_OPTIONS = {"cpus_per_task": int | None, "mem_per_cpu_gb": float | None, "gpus_per_task": int | None,
                     "ray_remote_kwargs": dict | None}
# arguments of datatrove's executors that the pipeline sets itself, per phase
_EXECUTOR_ARGUMENTS = {"pipeline", "tasks", "workers", "logging_dir", "depends"}


def check_executor_options(executor: ExecutorConfig, lines: dict) -> list[str]:
    """`executor.options` against what the Ray executor takes, or the __init__ of datatrove's Slurm executor: a
    misspelled or mistyped option stops the run here, not when the first phase's executor is built (after the run
    has started)."""
    if executor.type == "local" or not executor.options:
        return []
    if executor.type == "ray":
        label = "the ray executor (curate/ray_workers.py)"
        fields = {name: (annotation, None) for name, annotation in {**RAY_ACTOR_OPTIONS, **RAY_INIT_OPTIONS}.items()}
    else:
        from datatrove.executor.slurm import SlurmPipelineExecutor

        label = "datatrove's SlurmPipelineExecutor"
        fields = {name: (field.annotation, None) for name, field in params_model(SlurmPipelineExecutor).model_fields.items()
                  if name not in _EXECUTOR_ARGUMENTS}  # every option optional: curate has defaults (slurm time, ...)
    model = create_model(f"{executor.type}ExecutorOptions",
                         __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)
    try:
        model.model_validate(executor.options)
    except ValidationError as error:
        errors = []
        for e in error.errors():
            key = ("executor", "options", *e["loc"])
            path = "executor.options." + ".".join(str(part) for part in e["loc"])
            if e["type"] == "extra_forbidden":
                message = f"unknown option for {label}; allowed: {', '.join(sorted(fields))}"
            else:
                message = f"{e['msg']} (got {e.get('input')!r})"
            errors.append(_at(lines, key) + f"{path}: {message}")
        return errors
    return []


def check_stage_params(stage: StageConfig, where: str, lines: dict, key: tuple) -> list[str]:
    """Validate a stage's parameters against its class's __init__; returns error lines (empty when fine)."""
    from curate.stages import resolve_step_class

    try:
        cls = resolve_step_class(stage.name)
    except LookupError as error:
        return [_at(lines, key) + f"{where}: {error}"]
    errors = []
    for column, type_name in stage.columns.items():
        try:
            parse_type(type_name)
        except ValueError as error:
            errors.append(_at(lines, key + ("columns", column)) + f"{where}.columns.{column}: {error}")
    model = params_model(cls)
    try:
        model.model_validate(stage.params)
    except ValidationError as error:
        for e in error.errors():
            loc = ".".join(str(part) for part in e["loc"])
            if e["type"] == "extra_forbidden":
                allowed = ", ".join(name for name in model.model_fields) or "none"
                message = f"unknown parameter {e['loc'][0]!r}; allowed: {allowed}"
            else:
                message = f"{e['msg']} (got {e.get('input')!r})"
            errors.append(_at(lines, key + tuple(e["loc"])) + f"{where}.{loc}: {message}")
    return errors


# parameters a YAML cannot set: objects the pipeline wires itself
_NOT_CONFIGURABLE = {"self", "exclusion_writer", "output_folder", "data_folder", "adapter"}


def params_model(cls: type) -> type[BaseModel]:
    """A pydantic model of `cls.__init__`'s parameters (annotations where they resolve, Any where they do not)."""
    signature = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # forward references to optional dependencies, etc.
        hints = {}
    fields = {}
    for name, param in signature.parameters.items():
        if name in _NOT_CONFIGURABLE or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, Any)
        if not _plain_type(annotation):
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, default)
    return create_model(f"{cls.__name__}Params", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
                        **fields)


def _plain_type(annotation) -> bool:
    """True for annotations made only of builtins, Literal, Optional/Union, list/dict/tuple of those."""
    if annotation in (int, float, str, bool, type(None), Any, list, dict, tuple):
        return True
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return True
    if origin in (list, dict, tuple, typing.Union, getattr(__import__("types"), "UnionType", None)):
        return all(_plain_type(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)
    return False


def _format_error(error: dict, lines: dict, data=None) -> str:
    loc = _yaml_key(error["loc"], data)
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        parent = _model_at(error["loc"][:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        message = f"unknown key {loc[-1]!r}" + (f"; allowed: {allowed}" if allowed else "")
    elif error["type"] == "literal_error":
        message = f"{message} (got {error.get('input')!r})"
    elif error["type"] == "missing":
        message = "required key is missing"
    return _at(lines, tuple(loc)) + f"{path or 'pipeline'}: {message}"


def _yaml_key(loc: tuple, data) -> tuple:
    """A location in the models as the key path in the YAML: a stage's `limits` (a StageConfig field) sits under
    the stage's name, `stages[0].quality.limits.seconds`."""
    if len(loc) > 2 and loc[0] == "stages" and isinstance(loc[1], int) and loc[2] in ("limits", "columns"):
        try:
            item = data["stages"][loc[1]]
            (name,) = item.keys() if isinstance(item, dict) else (item,)
        except (KeyError, IndexError, TypeError, ValueError):
            return loc
        return ("stages", loc[1], str(name), *loc[2:])
    return loc


def _model_at(loc: tuple):
    model = PipelineConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _at(lines: dict, key: tuple) -> str:
    while key:
        if key in lines:
            return f"line {lines[key]}: "
        key = key[:-1]
    return ""


def _key_lines(text: str) -> dict[tuple, int]:
    """Map each YAML key path (tuple of keys / list indexes) to its 1-based line number."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = path + (key_node.value,)
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def parse_overrides(values) -> dict:
    """`--set KEY=VALUE` items as {dotted key: value}, each value parsed as YAML."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError([f"--set expects KEY=VALUE, got {item!r}"])
        result[key] = yaml.safe_load(value)
    return result


def _set_dotted(data: dict, dotted: str, value) -> None:
    """`a.b.c` sets data["a"]["b"]["c"]; a number indexes a list (`stages.8.split.fractions`: the ninth stage)."""
    node = data
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[:depth]) or "the config"
                raise ConfigError([f"--set {dotted}: {where} is a list of {len(node)}; {part!r} is not an index in it"])
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError([f"--set {dotted}: {'.'.join(parts[:depth])} is not a mapping"])
        if last:
            node[part] = value
        else:
            node = node[part] if isinstance(node, list) else node.setdefault(part, {})
