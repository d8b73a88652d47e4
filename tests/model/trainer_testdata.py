"""Helpers for the trainer's tests: real text (tiny Shakespeare, Gutenberg books) written as
small Parquet shards in temporary folders, and a tiny network configuration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED_TEXT = (Path(os.environ.get("CURATE_SHARED_DATA", REPO / "../shared/data")) / "text").resolve()
# CURATE_TEST_DEVICE=cuda runs the trainer tests on a GPU (they run on the CPU everywhere else)
DEVICE = os.environ.get("CURATE_TEST_DEVICE", "cpu")
SHAKESPEARE = SHARED_TEXT / "tinyshakespeare/input.txt"
ALICE = SHARED_TEXT / "gutenberg/11/11-0.txt"


def read_text(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (tests read ../shared/data beside the repository)")
    return path.read_text(encoding="utf-8")


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


def write_shards(folder: Path, docs: list[str], n_shards: int = 3, prefix: str = "doc") -> list[str]:
    """Documents dealt round-robin into n_shards Parquet files with columns id and text."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{i}" for i in range(len(docs))]
    for k in range(n_shards):
        table = pa.table({"id": ids[k::n_shards], "text": docs[k::n_shards]})
        pq.write_table(table, folder / f"shard-{k:05d}.parquet")
    return ids


def tiny_overrides(out_dir: Path, **extra) -> list[str]:
    """A network and schedule small enough for a few seconds of CPU (a step-count schedule and learned positions,
    whatever the preset `curate train` picks without --config)."""
    settings = {
        "n_layer": 2, "n_head": 2, "n_embd": 48, "block_size": 32, "batch_size": 8, "rope": False, "max_seconds": 0,
        "max_iters": 30, "warmup_iters": 5, "eval_interval": 10, "eval_iters": 4, "log_interval": 5,
        "progress": False, "final_eval": False, "device": DEVICE, "out_dir": str(out_dir),
    }  # fmt: skip
    settings.update(extra)
    return [f"{k}={v}" for k, v in settings.items()]
