"""OUT/manifest.json: what ran, on what, and what happened to every document.

The funnel comes from the stats each stage keeps through datatrove's `stat_update` (saved per task under
OUT/logs/stats/), added up over all tasks, including tasks completed by an earlier, interrupted run. The
conservation check counts the rows actually in the shards (from their sidecar stats): documents read must equal
documents kept plus documents rejected.
"""

import json
import platform
import sys
from collections import defaultdict
from importlib import metadata as importlib_metadata

from datatrove.io import DataFolder

from curate.stages.base import BYTES_IN, BYTES_OUT, DOCS_IN, DOCS_OUT, REJECTED_BYTES, REJECTED_DOCS

SECONDS = "time/seconds"  # time spent inside the step, summed over tasks (datatrove's track_time)

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


def funnel_from_stats(stats: list[dict[str, float]], step_names: list[str]) -> list[dict]:
    """One entry per step (reader, stages, writer): documents and bytes in, out and rejected by reason."""
    funnel = []
    for position, name in enumerate(step_names):
        counters = stats[position] if position < len(stats) else {}
        rejected = defaultdict(lambda: {"docs": 0, "bytes": 0})
        for key, value in counters.items():
            if key.startswith(REJECTED_DOCS):
                rejected[key[len(REJECTED_DOCS):]]["docs"] = int(value)
            elif key.startswith(REJECTED_BYTES):
                rejected[key[len(REJECTED_BYTES):]]["bytes"] = int(value)
        entry = {
            "step": name,
            "docs_in": int(counters.get(DOCS_IN, 0)), "bytes_in": int(counters.get(BYTES_IN, 0)),
            "docs_out": int(counters.get(DOCS_OUT, 0)), "bytes_out": int(counters.get(BYTES_OUT, 0)),
            "rejected": dict(sorted(rejected.items(), key=lambda kv: -kv[1]["docs"])),
            "seconds": round(counters.get(SECONDS, 0.0), 3),
        }
        if name == "writer":
            entry.update(docs_in=int(counters.get("written/data_docs", 0) + counters.get("written/rejected_docs", 0)),
                         bytes_in=int(counters.get("written/data_bytes", 0) + counters.get("written/rejected_bytes", 0)),
                         docs_out=int(counters.get("written/data_docs", 0)),
                         bytes_out=int(counters.get("written/data_bytes", 0)),
                         rejected={})
        other = {k: int(v) for k, v in counters.items() if not k.startswith("funnel/") and not k.startswith("written/")
                 and k not in ("doc_len", "doc_len_tokens", SECONDS)}
        if other:
            entry["counters"] = dict(sorted(other.items()))
        funnel.append(entry)
    return funnel


def shard_totals(output: DataFolder, kind: str) -> dict:
    """Documents, bytes and shard count of OUT/<kind>/, from the shards' sidecar stats."""
    docs = nbytes = shards = 0
    for path in sorted(output.glob(f"{kind}/*.stats.json")):
        with output.open(path, "rt") as f:
            stats = json.load(f)
        docs += stats["docs"]
        nbytes += stats["bytes"]
        shards += 1
    return {"docs": docs, "bytes": nbytes, "shards": shards}


def conservation(funnel: list[dict], kept: dict, rejected: dict) -> dict:
    read = funnel[0]["docs_in"] if funnel else 0
    return {"read": read, "kept": kept["docs"], "rejected": rejected["docs"],
            "ok": read == kept["docs"] + rejected["docs"]}


def build_manifest(*, config: dict, inputs: list[dict], step_names: list[str], output: DataFolder, started: str,
                   finished: str, tasks: int, workers: int, executor: str, resumed_tasks: int) -> dict:
    stats = merged_task_stats(DataFolder(output.resolve_paths("logs"), fs=output.fs))
    funnel = funnel_from_stats(stats, step_names)
    kept, rejected = shard_totals(output, "data"), shard_totals(output, "rejected")
    return {
        "curate_manifest_version": 1,
        "config": config,
        "versions": package_versions(),
        "command": sys.argv,
        "executor": {"type": executor, "tasks": tasks, "workers": workers, "tasks_resumed": resumed_tasks},
        "inputs": inputs,
        "started": started,
        "finished": finished,
        "funnel": funnel,
        "output": {"data": kept, "rejected": rejected},
        "conservation": conservation(funnel, kept, rejected),
    }
