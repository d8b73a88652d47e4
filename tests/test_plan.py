"""input.sample (seeded, nested record samples) and `curate plan` (two samples -> a forecast) on real pages."""

import json

import pytest

from curate.io.input_files import resolve_inputs
from curate.io.reader_base import RecordSample
from curate.io.warc_reader import WarcReader
from curate.plan import Line, Sample, forecast
from pipeline_helpers import REPO, curate_cli, read_rows, run_pipeline

WARCS = [str(p) for p in sorted((REPO / "examples" / "web").glob("*.warc.gz"))]
STAGES = [{"extract": {}}, {"langid": {}}, {"quality": {"rule_sets": ["gopher"]}}, {"exact_dedup": {}}]


def _ids(rate: float, seed: int = 0) -> list[str]:
    files, _ = resolve_inputs(WARCS)
    return [doc.id for doc in WarcReader(files, sample=RecordSample(rate, seed)).run()]


def test_record_samples_are_seeded_nested_and_accounted_for(tmp_path):
    everything = _ids(1.0)
    half, quarter = _ids(0.5), _ids(0.25)
    assert len(everything) == 41
    assert set(quarter) < set(half) < set(everything)  # nested: a smaller rate reads a subset
    assert 10 <= len(half) <= 31 and half == _ids(0.5)  # about half, the same every time
    assert set(_ids(0.5, seed=1)) != set(half)
    config = {"input": {"paths": WARCS, "format": "warc", "sample": 0.5}, "stages": STAGES}
    result = run_pipeline(config, tmp_path / "out")  # asserts read = kept + rejected
    c = result.manifest["conservation"]
    assert c["read"] == len(half)
    reader = next(step for step in result.manifest["funnel"] if step["step"] == "warc")
    assert reader["counters"]["records_not_sampled"] == 41 - len(half)
    got = {row["id"] for kind in ("data", "rejected") for row in read_rows(tmp_path / "out", kind)}
    assert got == set(half)


def test_phases_record_their_disk(tmp_path):
    result = run_pipeline({"input": {"paths": WARCS, "format": "warc"}, "stages": STAGES}, tmp_path / "out")
    phases = result.manifest["phases"]
    assert phases[0]["work_bytes"] > 0  # the first phase spilled its documents for exact_dedup
    assert phases[-1]["output_bytes"] > sum(p.stat().st_size for p in (tmp_path / "out" / "data").glob("*.parquet"))
    assert all("work_bytes" in p and "output_bytes" in p for p in phases)


def test_forecast_lines_and_dedup_extrapolation():
    assert Line.through(100, 10.0, 200, 14.0)(1000) == pytest.approx(46.0)
    assert Line.through(100, 14.0, 200, 10.0).slope == 0.0  # a cost never falls with more documents

    def manifest(read, kept, removed, wall, rss):
        phase = {"name": "01-stream", "tasks": 1, "wall_seconds": wall, "peak_rss_mb": rss, "work_bytes": read * 10,
                 "output_bytes": kept * 100}
        return {"conservation": {"read": read, "kept": kept}, "phases": [phase],
                "funnel": [{"step": "exact_dedup", "rejected": {"exact_duplicate": {"docs": removed}}}],
                "output": {"data": {"docs": kept, "tokens": kept * 50}, "rejected": {"docs": read - kept, "tokens": 0}}}

    # 2% of the documents removed as duplicates at rate 0.1, 4% at 0.2 (a pair is in a sample with probability
    # rate^2: the share grows with the rate): extrapolated to rate 1, 20% (also the cap, 4% / 0.2)
    small, large = Sample(0.1, 12.0, manifest(100, 90, 2, 10.0, 300)), Sample(0.2, 16.0, manifest(200, 176, 8, 14.0, 300))
    result = forecast(small, large, docs=1000, input_bytes=10 * 2**20, workers=2)
    assert result["wall_seconds"] == pytest.approx(2.0 + 6.0 + 0.04 * 1000)  # outside + fixed + per document
    assert result["dedup_removed_share"]["forecast"] == pytest.approx(0.2)
    assert result["kept_docs"] == round(1000 * (176 / 200 - 0.16))  # 16% more removed than the sample saw
    assert result["disk_bytes"] == {"work": 10_000, "output": round(1000 * 176 * 100 / 200)}
    assert result["recommend"]["tasks"] == 1 and result["recommend"]["workers"] == 1  # 10 MB: one 16 MiB task


@pytest.mark.slow
def test_plan_forecasts_the_run_it_plans(tmp_path):
    """The CLI on the bundled pages (min 20 documents in the larger sample), then the run itself: the documents,
    kept documents and disk forecast are the right size (a sample of 20 pages is a noisy one: within 2x)."""
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({"input": {"paths": WARCS, "format": "warc"}, "stages": STAGES,
                                    "executor": {"workers": 1}, "output": {"path": str(tmp_path / "out")}}))
    result = json.loads(curate_cli("plan", pipeline, "--min-docs", "20", "--json").stdout)
    small, large = result["samples"]
    assert small["docs"] <= large["docs"] and large["docs"] >= 20 and result["input"]["docs"] == 41
    run = json.loads(curate_cli("run", pipeline, "--json").stdout)
    assert 0.5 <= result["kept_docs"] / run["conservation"]["kept"] <= 2.0
    work = max(p["work_bytes"] for p in run["phases"])
    assert 0.5 <= result["disk_bytes"]["work"] / work <= 2.0
    assert [p["name"] for p in result["phases"]] == [p["name"] for p in run["phases"]]
    text = curate_cli("plan", pipeline, "--min-docs", "20").stdout
    assert "recommended:" in text and "01-stream" in text
