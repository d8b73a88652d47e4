"""Beyond one process: the same YAML on a local Ray cluster and on Slurm, and inputs/outputs on fsspec filesystems."""

import json
import os
import stat

import fsspec
import pyarrow.parquet as pq
import pytest

from pipeline_helpers import REPO, funnel_counts, read_rows, run_pipeline, shared

KINDS = ("train", "val", "test", "rejected")


def _documents(out) -> dict[str, list]:
    return {kind: sorted((r["id"], r["text"], r.get("reason")) for r in read_rows(out, kind)) for kind in KINDS}


def _web_config():
    import yaml

    config = yaml.safe_load((REPO / "pipelines" / "web.yaml").read_text())
    config["input"]["paths"] = [str(REPO / "examples" / "web" / "*.warc.gz")]
    # a wall-clock extract_timeout depends on the machine's load, which differs between the two runs compared
    config["stages"][0]["extract"]["timeout"] = 60.0
    return config


@pytest.mark.slow
def test_ray_runs_the_whole_web_pipeline_and_equals_the_local_executor(tmp_path):
    config = _web_config()
    local = run_pipeline(config, tmp_path / "local", workers=2)
    config["executor"] = {"type": "ray", "workers": 2, "options": {"num_cpus": 2}}
    ray = run_pipeline(config, tmp_path / "ray")
    assert ray.manifest["executor"]["type"] == "ray"
    assert funnel_counts(ray.manifest) == funnel_counts(local.manifest)
    assert _documents(tmp_path / "ray") == _documents(tmp_path / "local")
    assert sum(len(rows) for rows in _documents(tmp_path / "ray").values()) == 41
    assert [p["name"] for p in ray.manifest["phases"]] == [p["name"] for p in local.manifest["phases"]]


@pytest.mark.slow
def test_ray_task_errors_tell_a_failed_task_from_a_lost_actor():
    """RayWorkers goes on after either: a failed task is left to the phase runner, a lost actor is replaced."""
    import ray

    from curate.ray_workers import _task_error

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        @ray.remote
        def succeeds():
            return 1

        @ray.remote
        def fails():
            raise ValueError("a task that fails")

        @ray.remote
        class Actor:
            def exit(self):
                os._exit(1)

        assert _task_error(succeeds.remote()) is None
        failed = _task_error(fails.remote())
        assert isinstance(failed, ray.exceptions.RayTaskError) and "a task that fails" in str(failed)
        assert not isinstance(failed, ray.exceptions.RayActorError)  # its actor lives on: not replaced
        assert isinstance(_task_error(Actor.remote().exit.remote()), ray.exceptions.RayActorError)
    finally:
        ray.shutdown()


FAKE_SBATCH = """#!/usr/bin/env python3
# Stands in for Slurm's sbatch: keeps each submitted script and its arguments, answers like sbatch.
import json, os, sys
folder = os.environ["FAKE_SBATCH_DIR"]
n = len(os.listdir(folder)) + 1000
script = open(sys.argv[-1]).read()
json.dump({"args": sys.argv[1:-1], "script": script}, open(os.path.join(folder, f"{n}.json"), "w"))
print(f"Submitted batch job {n}")
"""


def test_slurm_renders_one_job_array_per_phase_each_depending_on_the_one_before(tmp_path, monkeypatch):
    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SBATCH_DIR", str(jobs))
    from curate import Pipeline

    config = {"input": {"paths": [str(shared("warc", "dolma", "tests", "data", "warc"))], "format": "warc"},
              "stages": [{"exact_dedup": {}}, {"minhash_dedup": {}}],
              "output": {"path": str(tmp_path / "out")},
              "executor": {"type": "slurm", "tasks": 2, "workers": 2, "options": {"partition": "cpu", "time": "1:00:00"}}}
    result = Pipeline(config).run()
    assert result.submitted_only and result.tasks == 2 + 1 + 1 + 2 + 2 + 1 + 2
    submitted = [json.loads((jobs / name).read_text()) for name in sorted(os.listdir(jobs))]
    arrays = [job for job in submitted if "launch_pickled_pipeline" in job["script"]]
    phases = ["01-stream", "02-exact_dedup-pairs", "03-exact_dedup-clusters", "04-stream",
              "05-minhash_dedup-pairs", "06-minhash_dedup-clusters", "07-stream"]
    assert [next(line.split("=", 1)[1] for line in job["script"].splitlines() if line.startswith("#SBATCH --job-name"))
            for job in arrays] == [f"curate-{phase}" for phase in phases]
    sizes = [2, 1, 1, 2, 2, 1, 2]  # pairs: min(bands, tasks) band ranges; clusters: one task
    for job, phase, size in zip(arrays, phases, sizes):
        assert f"#SBATCH --array=0-{size - 1}%2" in job["script"] or f"#SBATCH --array=0-{size - 1}%1" in job["script"]
        assert "#SBATCH --partition=cpu" in job["script"]
        assert str(tmp_path / "out" / "logs" / phase / "executor.pik") in job["script"]
        assert (tmp_path / "out" / "logs" / phase / "launch_script.slurm").is_file()
    # each phase's array waits for the one before it (afterok:<its job id>); the first waits for nothing
    ids = {json.dumps(job): 1000 + i for i, job in enumerate(submitted)}
    previous = None
    for job in arrays:
        dependency = [arg for arg in job["args"] if arg.startswith("--dependency=")]
        assert dependency == ([] if previous is None else [f"--dependency=afterok:{previous}"])
        previous = ids[json.dumps(job)]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_inputs_and_outputs_on_fsspec_filesystems(tmp_path):
    """Input by file:// URL, output on fsspec's in-memory filesystem (one process: workers=1), work folder local."""
    source = shared("warc", "dolma", "tests", "data", "warc")
    stages = [{"exact_dedup": {}}, {"split": {"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}}]
    local = run_pipeline({"input": {"paths": [str(source)], "format": "warc"}, "stages": stages}, tmp_path / "local")
    from curate import Pipeline

    memory = fsspec.filesystem("memory")
    config = {"input": {"paths": [f"file://{source}"], "format": "warc"}, "stages": stages,
              "output": {"path": "memory://curate-test/out"},
              "executor": {"work_dir": str(tmp_path / "work")}}
    result = Pipeline(config).run(workers=1, force=True)
    assert result.manifest["conservation"]["ok"]
    assert funnel_counts(result.manifest) == funnel_counts(local.manifest)
    for kind in KINDS:
        rows = []
        for path in sorted(memory.glob(f"/curate-test/out/{kind}/*.parquet")):
            with memory.open(path, "rb") as f:
                rows += pq.read_table(f).to_pylist()
        assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in read_rows(tmp_path / "local", kind))
    assert json.loads(memory.cat("/curate-test/out/manifest.json"))["output"] == result.manifest["output"]
    # without a work folder, a remote output cannot hold the dedup files: a config error, before anything runs
    from curate.config import ConfigError

    with pytest.raises(ConfigError, match="executor.work_dir"):
        Pipeline({**config, "output": {"path": "memory://curate-test/other"}, "executor": {}}).run(workers=1)
    assert not memory.exists("/curate-test/other/data")
