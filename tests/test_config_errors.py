"""Bad configuration never half-runs: each broken config below, through `curate run` and `curate validate`, exits
with code 2 and a message naming the YAML key path, and writes nothing (the output folder is not even created).

The cases run in one child process (CliRunner over the real `curate` command): one import of curate instead of
one per case. tests/test_config.py checks the line numbers and the exact wording of the common cases.
"""

import copy
import json
import subprocess
import sys
import textwrap

import yaml

from pipeline_helpers import REPO, curate_cli, shared

# each case: (name, change to the good config, text the error must contain). `{tmp}` is the test's folder.
CASES = [
    ("unknown_stage", {"stages": [{"langidd": {}}]}, "stages[0].langidd: unknown stage 'langidd'"),
    ("misspelled_parameter", {"stages": [{"langid": {"min_scor": 0.5}}]},
     "stages[0].langid.min_scor: unknown parameter 'min_scor'"),
    ("wrong_type", {"stages": [{"langid": {"min_score": "high"}}]},
     "stages[0].langid.min_score: Input should be a valid number"),
    ("value_the_stage_refuses", {"stages": [{"langid": {"min_score": 1.5}}]}, "stages[0].langid: ValueError"),
    ("split_fractions_not_summing_to_1",
     {"stages": [{"split": {"fractions": {"train": 0.5, "val": 0.1, "test": 0.1}}}]},
     "stages[0].split: ValueError: fractions must"),
    ("split_unknown_split_name", {"stages": [{"split": {"fractions": {"train": 0.9, "dev": 0.1}}}]},
     "stages[0].split: ValueError: fractions must"),
    ("split_fraction_not_a_number", {"stages": [{"split": {"fractions": {"train": "most"}}}]},
     "stages[0].split.fractions.train: Input should be a valid number"),
    ("minhash_threshold_out_of_range", {"stages": [{"minhash_dedup": {"threshold": 1.5}}]},
     "stages[0].minhash_dedup: ValueError: threshold must be in (0, 1]"),
    ("missing_benchmark_file", {"stages": [{"split": {}}, {"decontaminate": {"benchmarks": ["{tmp}/no-such.jsonl"]}}]},
     "stages[1].decontaminate: ValueError: benchmarks: '{tmp}/no-such.jsonl' is not a file"),
    ("missing_quality_model", {"stages": [{"quality_model": {"model": "{tmp}/no-such.bin"}}]},
     "stages[0].quality_model: "),
    ("negative_time_limit", {"stages": [{"quality": {"limits": {"seconds": -1}}}]},
     "stages[0].quality.limits.seconds: Input should be greater than 0"),
    ("misspelled_limit", {"stages": [{"quality": {"limits": {"secs": 1}}}]},
     "stages[0].quality.limits.secs: unknown key 'secs'"),
    ("limits_on_a_stage_with_its_own_timeout", {"stages": [{"extract": {"limits": {"seconds": 1}}}]},
     "stages[0].extract: "),
    ("two_stages_one_column_two_types", {"stages": [{"langid": {}}, {
        "datatrove.pipeline.filters.LanguageFilter": {"columns": {"lang": "int"}}}]},
     "stages[1].datatrove.pipeline.filters.LanguageFilter: writes column 'lang'"),
    ("datatrove_step_missing_argument", {"stages": [{"datatrove.pipeline.filters.LambdaFilter": {}}]},
     "stages[0].datatrove.pipeline.filters.LambdaFilter.filter_function: Field required"),
    ("not_a_pipeline_step", {"stages": [{"collections.OrderedDict": {}}]}, "is not a datatrove PipelineStep"),
    ("stage_item_with_two_names", {"stages": [{"clean": {}, "langid": {}}]}, "stages: Value error, item 0 must be"),
    ("stages_not_a_list", {"stages": {"clean": {}}}, "stages: Value error, must be a list"),
    ("bad_executor_type", {"executor": {"type": "kubernetes"}},
     "executor.type: Input should be 'local', 'ray' or 'slurm'"),
    ("zero_workers", {"executor": {"workers": 0}}, "executor.workers: Input should be greater than 0"),
    ("unknown_slurm_option", {"executor": {"type": "slurm", "options": {"partitin": "cpu"}}},
     "executor.options.partitin: unknown option for datatrove's SlurmPipelineExecutor"),
    ("mistyped_ray_option", {"executor": {"type": "ray", "options": {"cpus_per_task": "two"}}},
     "executor.options.cpus_per_task: Input should be a valid integer"),
    ("unknown_executor_key", {"executor": {"wokers": 2}}, "executor.wokers: unknown key 'wokers'"),
    ("missing_input", {"input": {"paths": ["{tmp}/no-such-folder"], "format": "jsonl"}},
     "input.paths: input path '{tmp}/no-such-folder' does not exist"),
    ("empty_input_glob", {"input": {"paths": ["{tmp}/*.nothing"], "format": "jsonl"}}, "input.paths: input glob"),
    ("unknown_input_format", {"input": {"paths": ["{tmp}/in"], "format": "csv"}}, "input.format: Input should be"),
    ("bad_input_column_type", {"input": {"paths": ["{tmp}/in"], "columns": {"added": "datetime"}}},
     "input.columns: Value error, unknown column type 'datetime'"),
    ("input_column_with_a_reserved_name", {"input": {"paths": ["{tmp}/in"], "columns": {"rejected_by": "string"}}},
     "input.columns: Value error, 'rejected_by' is a column curate writes itself"),
    ("bad_compression", {"output": {"path": "{tmp}/out", "compression": "lz4"}}, "output.compression: Input should be"),
    ("zero_rows_per_shard", {"output": {"path": "{tmp}/out", "max_rows_per_shard": 0}},
     "output.max_rows_per_shard: Input should be greater than 0"),
    ("unknown_top_level_key", {"outptu": {}}, "outptu: unknown key 'outptu'"),
    ("unwritable_output", {"output": {"path": "{tmp}/a-file.txt/out"}}, "output.path: cannot write to"),
]
RUN_ONLY = {"unwritable_output"}  # `curate validate` does not touch the output folder

GOOD = {"input": {"paths": ["{tmp}/in"], "format": "jsonl"}, "stages": [{"clean": {}}, {"langid": {}}],
        "output": {"path": "{tmp}/out"}}

# runs in a child process: every case through `curate run` and `curate validate`, results as JSON on stdout
DRIVER = textwrap.dedent("""
    import json, sys
    from click.testing import CliRunner
    from curate.cli import cli

    results = {}
    for name, path in json.loads(sys.argv[1]).items():
        results[name] = {}
        for command in ("run", "validate"):
            result = CliRunner().invoke(cli, [command, path])
            results[name][command] = [result.exit_code, result.stderr]
    print(json.dumps(results))
""")


def _config(tmp_path, change: dict) -> dict:
    config = copy.deepcopy(GOOD)
    config.update(change)
    return json.loads(json.dumps(config).replace("{tmp}", str(tmp_path)))


def test_every_broken_config_exits_2_naming_the_key_and_writes_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_text(json.dumps({"id": "a", "text": "A short document in English."}) + "\n")
    (tmp_path / "a-file.txt").write_text("not a folder")
    paths = {}
    for name, change, _ in CASES:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_config(tmp_path, change)))
        paths[name] = str(path)
    child = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(paths)], cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.splitlines()[-1])
    failures = []
    for name, _, expected in CASES:
        expected = expected.replace("{tmp}", str(tmp_path))
        for command in ("run",) if name in RUN_ONLY else ("run", "validate"):
            code, stderr = results[name][command]
            if code != 2 or expected not in " ".join(stderr.split()):
                failures.append(f"{name} ({command}): exit {code}, expected {expected!r} in:\n{stderr}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "out").exists(), "a broken config wrote into the output folder"
    # and the good config itself runs
    curate_cli("run", _write(tmp_path, GOOD))
    assert (tmp_path / "out" / "manifest.json").is_file()


def _write(tmp_path, config: dict):
    path = tmp_path / "good.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, config)))
    return path


def test_force_with_a_broken_config_keeps_the_previous_output(tmp_path):
    source = shared("warc", "dolma", "tests", "data", "warc")
    config = {"input": {"paths": [str(source)], "format": "warc"}, "stages": [{"split": {}}],
              "output": {"path": str(tmp_path / "out")}}
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(config))
    curate_cli("run", good)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({**config, "stages": [{"split": {}}, {"decontaminate": {
        "benchmarks": [str(tmp_path / "missing.jsonl")]}}]}))
    result = curate_cli("run", broken, "--force", check=False)
    assert result.returncode == 2 and "stages[1].decontaminate" in result.stderr, result.stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before
    # and a run of another pipeline into it is refused, untouched, without --force
    result = curate_cli("run", good, "--set", "stages=[{clean: {}}]", check=False)
    assert result.returncode == 2 and "holds a run with a different stages" in result.stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before
    # nor into the same output with another work folder: the resume would not find the spilled documents
    result = curate_cli("run", good, "--set", f"executor.work_dir={tmp_path / 'scratch'}", check=False)
    assert result.returncode == 2 and "holds a run with a different work_dir" in result.stderr, result.stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before

