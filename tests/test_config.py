"""Every kind of configuration error stops the run before it starts, naming the YAML key (and line)."""

import textwrap

import pytest

from pipeline_helpers import curate_cli

GOOD = """\
input:
  format: warc
  paths: [examples/web/*.warc.gz]
stages:
  - datatrove.pipeline.filters.GopherRepetitionFilter:
      dup_line_frac: 0.3
output:
  path: {out}
"""


def _write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text).replace("{out}", str(tmp_path / "out")))
    return path


@pytest.mark.parametrize("change, expected", [
    (("GopherRepetitionFilter:", "NoSuchFilter:"), "cannot import"),
    (("  - datatrove.pipeline.filters.GopherRepetitionFilter:", "  - langidd:"), "unknown stage 'langidd'"),
    (("dup_line_frac: 0.3", "dup_line_frak: 0.3"), "line 6: stages[0].datatrove.pipeline.filters.GopherRepetitionFilter.dup_line_frak: unknown parameter 'dup_line_frak'; allowed: "),
    (("dup_line_frac: 0.3", "dup_line_frac: lots"), "line 6: stages[0].datatrove.pipeline.filters.GopherRepetitionFilter.dup_line_frac: Input should be a valid number"),
    (("format: warc", "format: wark"), "line 2: input.format: Input should be 'warc', 'jsonl', 'parquet', 'html', 'text', 'hf' or 'mediawiki' (got 'wark')"),
    (("output:", "outptu:"), "outptu: unknown key 'outptu'; allowed: input, stages, output, executor"),
    (("  path: {out}", "  path: {out}\n  max_rows_per_shard: -5"), "output.max_rows_per_shard: Input should be greater than 0"),
    (("input:", "executor: {type: kubernetes}\ninput:"), "line 1: executor.type: Input should be 'local', 'ray' or 'slurm'"),
    (("paths: [examples/web/*.warc.gz]", "paths: [examples/web/*.nothing]"), "input.paths: input glob"),
])
def test_config_errors_name_the_key(tmp_path, change, expected):
    path = _write(tmp_path, GOOD.replace(*change))
    result = curate_cli("validate", path, check=False)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr
    result = curate_cli("run", path, check=False)
    assert result.returncode == 2 and expected in result.stderr
    assert not (tmp_path / "out" / "data").exists(), "a bad config must not half-run"


def test_validate_accepts_the_shipped_pipelines():
    for name in ("web", "text"):
        result = curate_cli("validate", f"pipelines/{name}.yaml")
        assert "ok" in result.stdout


def test_validate_checks_what_a_stage_needs_without_running_it(tmp_path):
    # parameters that type-check but that the stage itself refuses: a model file that is not there
    path = _write(tmp_path, GOOD.replace("stages:", "stages:\n  - quality_model: {model: no/such/model.bin}", 1))
    result = curate_cli("validate", path, check=False)
    assert result.returncode == 2 and "no/such/model.bin" in result.stderr, result.stderr


def test_invalid_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed\n")
    result = curate_cli("validate", bad, check=False)
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    result = curate_cli("run", tmp_path / "missing.yaml", check=False)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_set_reaches_into_the_stage_list_by_index(tmp_path):
    from curate.config import ConfigError, load_pipeline_config

    config = load_pipeline_config("pipelines/web.yaml", {"stages.8.split.fractions": {"train": 0.7, "val": 0.0, "test": 0.3}})
    assert config.stages[8].name == "split" and config.stages[8].params["fractions"]["test"] == 0.3
    with pytest.raises(ConfigError, match=r"stages is a list of 10; '10' is not an index in it"):
        load_pipeline_config("pipelines/web.yaml", {"stages.10.split.fractions": {}})
    result = curate_cli("validate", "pipelines/web.yaml", "--set", "stages.x.split=1", check=False)
    assert result.returncode == 2 and "'x' is not an index" in result.stderr, result.stderr
