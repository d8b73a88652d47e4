"""kill -9 inside every phase of a run with dedup, split and decontamination, re-run after each kill: the output is
byte for byte the output of a run that was never interrupted, and no half-written file is ever read as complete.

The kills are placed, not timed: tests/guards/sitecustomize.py kill -9s the run's whole process group (the command,
its pool workers, the forkserver) the first time a process writes into, or renames onto, a file of the phase under
test. A timed kill lands in a phase that lasts 30 ms (a dedup reduce step on a small input) only by luck.
"""

import gzip
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline_helpers import REPO, assert_conserved, curate_cli, funnel_counts

GUARDS = REPO / "tests" / "guards"
SHARD_KINDS = ("data", "train", "val", "test", "rejected")

# pipelines/web.yaml without its slow per-document stages (quality, harmful, pii: they add minutes of model loading
# on a 2-core machine and no phase); every phase of the web pipeline is still there
STAGES = [{"extract": {"timeout": 60.0}},  # a load-dependent extract_timeout would make the two runs differ
          {"clean": {"remove_notices": True}},
          {"langid": {"min_score": 0.65}},
          {"exact_dedup": {}},
          {"minhash_dedup": {}},
          {"split": {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}},
          {"decontaminate": {}}]

# (phase the kill lands in, event, path regex): see tests/guards/sitecustomize.py
KILL_POINTS = [
    (None, "rename", r"/logs/run\.json$"),  # before the first phase: the run's fingerprint written, not in place
    ("01-stream", "write", r"spill/01-stream/00001\.parquet\.tmp$"),  # a spill file half-written
    ("02-exact_dedup-pairs", "rename", r"exact_dedup/pairs/[^/]+\.npy$"),
    ("03-exact_dedup-clusters", "rename", r"exact_dedup/clusters/00002\.parquet$"),  # 2 of 4 decision files
    ("04-stream", "write", r"spill/04-stream/00002\.parquet\.tmp$"),
    ("05-minhash_dedup-pairs", "rename", r"minhash_dedup/pairs/[^/]+\.npy$"),
    ("06-minhash_dedup-clusters", "rename", r"minhash_dedup/clusters/_SUCCESS\.json$"),  # decisions, no summary
    ("08-decontaminate-index", "rename", r"decontaminate/index/test\.npy$"),  # val indexed, test not
    ("09-stream", "write", r"/train/part-\d{5}-0001\.parquet\.tmp$"),  # a task's 2nd shard half-written, 1st done
    (None, "rename", r"/manifest\.json$"),  # every phase complete, the manifest written but not yet in place
]


@pytest.fixture(scope="module")
def pages_with_copies(tmp_path_factory, trafilatura_pages):
    """60 real pages in 4 WARC files, plus 4 exact and 4 near copies of some of them, each in another file."""
    from curate.io.warc_pack import pack_html_to_warc

    folder = tmp_path_factory.mktemp("crash_pages")
    html = folder / "html"
    html.mkdir()
    pages = []
    for i, page in enumerate(trafilatura_pages[:60]):
        pages.append(html / page.name)
        pages[-1].write_bytes(page.read_bytes())
    copies = []
    for i, page in enumerate(pages[:8]):
        text = gzip.decompress(page.read_bytes())
        if i >= 4:  # a near copy: two words added to the first paragraph
            text = text.replace(b"</p>", b" Nachtrag aktualisiert.</p>", 1)
        copies.append(html / f"copy-{i}.html.gz")
        copies[-1].write_bytes(gzip.compress(text, mtime=0))
    # 4 files, so 4 tasks; each copy sits in another file (another task) than its original
    parts = [pages[:15] + copies[4:], pages[15:30] + copies[:4], pages[30:45], pages[45:]]
    for name, part in zip("abcd", parts):
        pack_html_to_warc(part, folder / "warc" / name, records_per_file=len(part), root=html)
    return folder / "warc"


def _run(pipeline, kill_at: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GUARDS), os.environ.get("PYTHONPATH", "")])}
    env.pop("CURATE_KILL_AT", None)
    if kill_at:
        env["CURATE_KILL_AT"] = json.dumps(kill_at)
    # a session of its own: the kill takes down this run's process group and nothing else
    return subprocess.run([sys.executable, "-m", "curate.cli", "run", str(pipeline)], cwd=REPO, env=env,
                          start_new_session=True, capture_output=True, text=True, timeout=600)


def _shard_bytes(out) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes()
            for kind in SHARD_KINDS if (out / kind).is_dir() for path in sorted((out / kind).iterdir())}


def _assert_nothing_half_written_looks_complete(out) -> None:
    """Every file curate reads is whole under its final name; temporary files are only ever *.tmp, which no reader
    lists. In the logs, a task's own records (datatrove's stats, its resources) are read only once its completion
    marker, written last, exists: before that the task is re-run and they are rewritten."""
    for path in out.rglob("*.parquet"):
        pq.ParquetFile(path).metadata  # raises on a file without its footer
    for path in out.rglob("*.npy"):
        np.load(path, mmap_mode="r")
    logs = out / "logs"
    read = [path for path in out.rglob("*.json") if logs not in path.parents]
    read += [*logs.glob("run.json"), *logs.glob("stages/*.json")]
    read += [path for path in [*logs.glob("*/stats/*.json"), *logs.glob("*/resources/*.json")]
             if (path.parent.parent / "completions" / path.stem).exists()]
    for path in read:
        json.loads(path.read_text())
    for shard in out.glob("*/part-*.parquet"):  # a complete shard has its statistics in its footer
        json.loads(pq.read_metadata(shard).metadata[b"curate.stats"])


@pytest.mark.slow
def test_kill_9_in_every_phase_then_rerun_equals_an_uninterrupted_run(tmp_path, pages_with_copies):
    config = {"input": {"paths": [str(pages_with_copies)], "format": "warc"}, "stages": STAGES,
              "output": {"path": str(tmp_path / "clean"), "max_rows_per_shard": 5},
              "executor": {"tasks": 4, "workers": 2}}
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    curate_cli("run", pipeline)
    clean = json.loads((tmp_path / "clean" / "manifest.json").read_text())
    phases = [phase["name"] for phase in clean["phases"]]
    assert {point[0] for point in KILL_POINTS} - {None} <= set(phases)
    funnel = {step["step"]: step for step in clean["funnel"]}
    assert funnel["exact_dedup"]["rejected"] and funnel["minhash_dedup"]["rejected"], "the dedup phases found nothing"

    out = tmp_path / "killed"
    pipeline.write_text(yaml.safe_dump({**config, "output": {**config["output"], "path": str(out)}}))
    log = tmp_path / "kills.log"
    for phase, event, path in KILL_POINTS:
        run = _run(pipeline, {"event": event, "path": path, "log": str(log)})
        assert run.returncode == -signal.SIGKILL, f"no kill at {path}: exit {run.returncode}\n{run.stderr[-2000:]}"
        killed_at = log.read_text().splitlines()[-1]
        assert killed_at.startswith(event) and re.search(path, killed_at), killed_at
        if phase:  # the kill landed inside the phase: it had started and had not completed all its tasks
            completions = out / "logs" / phase / "completions"
            tasks = next(p["tasks"] for p in clean["phases"] if p["name"] == phase)
            assert (out / "logs" / phase).is_dir() and len(list(completions.glob("*"))) < tasks
            assert not (out / "manifest.json").exists()
        _assert_nothing_half_written_looks_complete(out)
        if phase == "09-stream":
            # a shard was cut mid-write: it is only a .tmp, and `curate stats` counts the complete shards alone
            assert list((out / "train").glob("*.parquet.tmp"))
            stats = json.loads(curate_cli("stats", out, "--json").stdout)
            complete = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "train").glob("*.parquet"))
            assert stats["kinds"]["train"]["docs"] == complete
    resumed = _run(pipeline)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert_conserved(manifest, out)
    assert funnel_counts(manifest) == funnel_counts(clean)
    # byte for byte: the same shard files, with the same bytes (and the same statistics in their footers)
    expected, got = _shard_bytes(tmp_path / "clean"), _shard_bytes(out)
    assert sorted(got) == sorted(expected) and len(expected) > 15
    assert [name for name in expected if got[name] != expected[name]] == []
    assert not (out / ".work").exists()
