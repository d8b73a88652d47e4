"""Shared by the pipeline tests: paths to ../shared/data, running pipelines, reading shards."""

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
# CURATE_SHARED_DATA: a copy of ../shared/data elsewhere (a lent GPU machine has no ../shared)
SHARED = Path(os.environ.get("CURATE_SHARED_DATA", REPO / ".." / "shared" / "data")).resolve()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path} (tests read ../shared/data beside the repository)")
    return path


def read_rows(out: Path, kind: str) -> list[dict]:
    rows = []
    for shard in sorted((out / kind).glob("*.parquet")):
        rows.extend(pq.read_table(shard).to_pylist())
    return rows


def run_pipeline(config: dict, out: Path, **kwargs):
    """Run a pipeline in-process and check the conservation law on every run."""
    from curate import Pipeline

    config = {**config, "output": {**config.get("output", {}), "path": str(out)}}
    result = Pipeline(config).run(force=True, **kwargs)
    assert_conserved(result.manifest, out)
    return result


def assert_conserved(manifest: dict, out: Path) -> None:
    kept = [row for kind in ("data", "train", "val", "test") for row in read_rows(out, kind)]
    rejected = read_rows(out, "rejected")
    c = manifest["conservation"]
    assert c["ok"], c
    assert c["kept"] == len(kept) and c["rejected"] == len(rejected)
    assert c["read"] + c.get("created", 0) == len(kept) + len(rejected)
    assert not list(out.rglob("*.tmp")), "a temporary shard was left behind"
    for row in rejected:
        assert row["rejected_by"] and row["reason"], row["id"]


def curate_cli(*args, cwd=REPO, timeout=600, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "curate.cli", *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"curate {' '.join(map(str, args))} exited {result.returncode}\n{result.stderr[-3000:]}")
    return result


def funnel_counts(manifest: dict) -> list[dict]:
    """The funnel without its timings: what two runs of the same input must agree on."""
    return [{k: v for k, v in step.items() if k not in ("seconds", "cpu_seconds")} for step in manifest["funnel"]]
