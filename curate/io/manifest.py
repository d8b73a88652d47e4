"""OUT/manifest.json: what ran, on what, and what happened to every document.

The funnel comes from the stats each stage keeps through datatrove's `stat_update` (saved per task under
OUT/logs/stats/), added up over all tasks, including tasks completed by an earlier, interrupted run. The
conservation check counts the rows actually in the shards (from the statistics in their footers): documents read
must equal documents kept plus documents rejected.
"""

import json
import platform
import sys
from collections import Counter, defaultdict
from importlib import metadata as importlib_metadata

import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
from datatrove.io import DataFolder

from curate.funnel import (BYTES_IN, BYTES_OUT, CPU_SECONDS, DOCS_CREATED, DOCS_IN, DOCS_OUT, REJECTED_BYTES, REJECTED_DOCS,
                           REJECTED_TOKENS, SPLITS, TOKENS_IN, TOKENS_OUT)
from curate.io.shard_writer import KEPT_KINDS, OUTPUT_KINDS, STATS_KEY

SECONDS = "time/seconds"  # time spent inside the step, summed over tasks (datatrove's track_time)
# `curate tokenize`'s section: token files per tokenizer name, counted in that tokenizer's tokens
TOKENIZED = "tokenized"

VERSIONED_PACKAGES = ("curate", "datatrove", "pyarrow", "trafilatura", "warcio", "datasketch", "presidio-analyzer",
                      "fasttext-numpy2-wheel", "torch")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def merged_task_stats(logs: DataFolder) -> list[dict[str, float]]:
    """Per step, each counter's total over every completed task's stats file (logs/stats/NNNNN.json).

    Read as plain JSON: datatrove's `Stats.from_dict` leaves counters as dicts, so its `+` cannot add them up.
    """
    steps: list[dict[str, float]] = []
    for path in sorted(logs.glob("stats/*.json")):
        with logs.open(path, "rt") as f:
            task = json.load(f)
        for position, step in enumerate(task):
            if position == len(steps):
                steps.append(defaultdict(float))
            for key, value in step.get("stats", {}).items():
                steps[position][key] += value["total"] if isinstance(value, dict) else value
            time_stats = step.get("time_stats")  # datatrove writes 0, not a dict, for a step that never timed
            if isinstance(time_stats, dict):
                steps[position][SECONDS] += time_stats.get("total", 0.0)
    return steps


# steps that move documents between phases or measure tasks: not funnel rows
_INTERNAL_STEPS = {"spill", "unspill", "resources", "progress"}


def step_counters(logs: DataFolder, phases) -> list[tuple[str, dict[str, float]]]:
    """(funnel row name, counters) of every step of every phase, in run order. A step named `stage:part` (a
    GlobalStage's observe half, its reduce steps) adds its time and counters to the row of `stage`."""
    rows: dict[str, dict[str, float]] = {}
    for phase in phases:
        stats = merged_task_stats(DataFolder(logs.resolve_paths(phase.name), fs=logs.fs))
        for position, name in enumerate(phase.step_names):
            if name in _INTERNAL_STEPS:
                continue
            row = rows.setdefault(name.split(":")[0], defaultdict(float))
            for key, value in (stats[position] if position < len(stats) else {}).items():
                row[key] += value
    return list(rows.items())


def funnel_from_stats(steps: list[tuple[str, dict[str, float]]]) -> list[dict]:
    """One entry per step (reader, stages, writer): documents, bytes and tokens in, out and rejected by reason."""
    funnel = []
    for name, counters in steps:
        rejected = defaultdict(lambda: {"docs": 0, "bytes": 0, "tokens": 0})
        for key, value in counters.items():
            for prefix, field in ((REJECTED_DOCS, "docs"), (REJECTED_BYTES, "bytes"), (REJECTED_TOKENS, "tokens")):
                if key.startswith(prefix):
                    rejected[key[len(prefix):]][field] = int(value)
        entry = {
            "step": name,
            "docs_in": int(counters.get(DOCS_IN, 0)), "bytes_in": int(counters.get(BYTES_IN, 0)),
            "tokens_in": int(counters.get(TOKENS_IN, 0)),
            "docs_out": int(counters.get(DOCS_OUT, 0)), "bytes_out": int(counters.get(BYTES_OUT, 0)),
            "tokens_out": int(counters.get(TOKENS_OUT, 0)),
            "rejected": dict(sorted(rejected.items(), key=lambda kv: -kv[1]["docs"])),
            "seconds": round(counters.get(SECONDS, 0.0), 3),
            "cpu_seconds": round(counters.get(CPU_SECONDS, 0.0), 3),
        }
        if counters.get(DOCS_CREATED):
            entry["docs_created"] = int(counters[DOCS_CREATED])
        if name == "writer":
            def written(field, kinds):
                return int(sum(counters.get(f"written/{kind}_{field}", 0) for kind in kinds))
            entry.update({f"{field}_in": written(field, OUTPUT_KINDS) for field in ("docs", "bytes", "tokens")})
            entry.update({f"{field}_out": written(field, KEPT_KINDS) for field in ("docs", "bytes", "tokens")})
            entry["rejected"] = {}
        other = {k: int(v) for k, v in counters.items() if not k.startswith("funnel/") and not k.startswith("written/")
                 and k not in ("doc_len", "doc_len_tokens", SECONDS)}
        if other:
            entry["counters"] = dict(sorted(other.items()))
        funnel.append(entry)
    return funnel


def shard_stats(output: DataFolder, path: str) -> dict:
    """A shard's statistics, from its footer (ShardWriter): docs, bytes, chars, numeric quantiles, value counts."""
    import pyarrow.parquet as pq

    with output.open(path, "rb") as f:
        footer = pq.read_metadata(f)
        stats = (footer.metadata or {}).get(STATS_KEY.encode())
        if stats is None:  # a shard from before the statistics moved into the footer (a resumed run): count it
            text = pq.read_table(f, columns=["text"]).column("text").fill_null("")
            return {"docs": footer.num_rows, "chars": sum(map(len, text.to_pylist())),
                    "bytes": int(pa.compute.sum(pa.compute.binary_length(text.cast(pa.binary()))).as_py() or 0)}
    return json.loads(stats)


def shard_totals(output: DataFolder, kind: str) -> dict:
    """Documents, bytes, characters and shard count of OUT/<kind>/, from the statistics in the shards' footers."""
    docs = nbytes = chars = shards = 0
    for path in sorted(output.glob(f"{kind}/*.parquet")):
        stats = shard_stats(output, path)
        docs += stats["docs"]
        nbytes += stats["bytes"]
        chars += stats.get("chars", 0)
        shards += 1
    return {"docs": docs, "bytes": nbytes, "chars": chars, "shards": shards}


def conservation(funnel: list[dict], outputs: dict[str, dict]) -> dict:
    """Every document read (or created by a stage that cuts documents into pieces) is kept or rejected."""
    read = funnel[0]["docs_in"] if funnel else 0
    created = sum(entry.get("docs_created", 0) for entry in funnel)
    kept = sum(totals["docs"] for kind, totals in outputs.items() if kind != "rejected")
    rejected = outputs["rejected"]["docs"]
    result = {"read": read, "kept": kept, "rejected": rejected, "ok": read + created == kept + rejected}
    if created:
        result["created"] = created
    return result


def build_manifest(*, config: dict, inputs: list[dict], phases, output: DataFolder, started: str, finished: str,
                   tasks: int, workers: int, executor: str, resumed_tasks: int) -> dict:
    from curate.phases import phase_resources

    logs = DataFolder(output.resolve_paths("logs"), fs=output.fs)
    steps = step_counters(logs, phases)
    funnel = funnel_from_stats(steps)
    outputs = {kind: shard_totals(output, kind) for kind in OUTPUT_KINDS
               if kind in ("data", "rejected") or output.isdir(kind)}
    if any(kind in outputs for kind in SPLITS) and not outputs["data"]["docs"]:
        del outputs["data"]  # a split run keeps everything in train/val/test
    writer = dict(steps).get("writer", {})
    for kind, totals in outputs.items():  # tokens: counted by the writer (the footers know bytes and characters)
        totals["tokens"] = int(writer.get(f"written/{kind}_tokens", 0))
    return {
        "curate_manifest_version": 2,
        "config": config,
        "versions": package_versions(),
        "command": sys.argv,
        "executor": {"type": executor, "tasks": tasks, "workers": workers, "tasks_resumed": resumed_tasks},
        "inputs": inputs,
        "started": started,
        "finished": finished,
        "funnel": funnel,
        "output": outputs,
        "conservation": conservation(funnel, outputs),
        "phases": [phase_resources(logs, phase) for phase in phases],
        "stages": {},  # each stage's own summary (Pipeline.run adds them)
    }


def kept_tokenized(output: DataFolder) -> dict:
    """The `tokenized` section of OUT's manifest, for the manifest of a re-run to keep: a re-run of the same run
    (anything else is refused, and --force deletes OUT/tokens/ with the manifest) leaves the token files valid."""
    if not output.isfile("manifest.json"):
        return {}
    with output.open("manifest.json", "rt") as f:
        section = json.load(f).get(TOKENIZED)
    return {TOKENIZED: section} if section else {}


def record_tokenized(output, name: str, record: dict) -> bool:
    """Add `curate tokenize`'s record to OUT/manifest.json under `tokenized.<name>` (rewritten atomically). False
    when OUT has no manifest (a folder of shards not written by `curate run`)."""
    from pathlib import Path

    path = Path(output) / "manifest.json"
    if not path.is_file():
        return False
    manifest = json.loads(path.read_text())
    manifest.setdefault(TOKENIZED, {})[name] = record
    tmp = path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(path)
    return True


# reasons that say the input's shape, not its content, is wrong: when one of them rejects everything, the config is
# the likelier culprit than the data
_SHAPE_REASONS = {"missing_text", "text_not_string", "not_an_object", "invalid_json", "wrong_format",
                  "non_text_content", "malformed_record"}


def nothing_kept(manifest: dict, output: DataFolder, text_key: str) -> str:
    """The warning for a run that kept no document: its reasons, and the likely fix when one input-shape reason
    rejected everything (the text field under another name: input.text_key)."""
    reasons = Counter()
    for entry in manifest["funnel"]:
        for reason, counts in entry["rejected"].items():
            reasons[(entry["step"], reason)] += counts["docs"]
    top = ", ".join(f"{step}: {reason} {n:,}" for (step, reason), n in reasons.most_common(3))
    message = f"the run kept no document: all {manifest['conservation']['read']:,} read were rejected ({top})"
    if len(reasons) != 1 or next(iter(reasons))[1] not in _SHAPE_REASONS:
        return message
    reason = next(iter(reasons))[1]
    if reason in ("missing_text", "text_not_string"):
        field = _longest_text_field(output)
        hint = f"--set input.text_key={field}" if field else "input.text_key"
        return f"{message}. No record has text in {text_key!r}: name the text field with {hint}"
    return (f"{message}. The files may not be {manifest['config']['input']['format']}: check input.format (--format) "
            "and input.paths")


def _longest_text_field(output: DataFolder) -> str | None:
    """The field holding the longest string in the first rejected records (a reader keeps their fields, as JSON in
    extra_metadata)."""
    import pyarrow.parquet as pq

    lengths = Counter()
    for path in sorted(output.glob("rejected/*.parquet"))[:4]:
        with output.open(path, "rb") as f:
            shard = pq.ParquetFile(f)
            rows = shard.read_row_group(0, columns=["extra_metadata"]).to_pylist()[:100] if shard.num_row_groups else []
        for row in rows:
            for name, value in json.loads(row["extra_metadata"] or "{}").items():
                if isinstance(value, str):
                    lengths[name] = max(lengths[name], len(value))
    return lengths.most_common(1)[0][0] if lengths else None
