"""`curate plan` against the run it forecasts: the 1,032 trafilatura-eval pages packed as 5 WARC files.

`curate plan pipelines/web.yaml` (defaults: 0.5% of the input, at least 300 documents in the larger sample) on the
packed pages, then the whole run with the same workers; the forecast against the actual run for wall time, peak
RSS, work disk, output disk and kept documents (target: each within +-30%). Both in this process, as `curate plan`
runs its samples: the whole run's wall time is Pipeline.run's (a cold `curate run` adds its interpreter start-up
and imports, about 3-5 s here). `--rounds N` alternates plan and run N times (the machine is shared: medians).

    python benchmarks/bench_plan.py [--rounds 1] [--workers 2] [--min-docs 300]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"


def actual(manifest: dict, wall: float) -> dict:
    phases = manifest["phases"]
    return {"wall_seconds": wall, "peak_rss_mb": max(p.get("peak_rss_mb", 0.0) for p in phases),
            "work_bytes": max(p.get("work_bytes") or 0 for p in phases),
            "output_bytes": max(p.get("output_bytes") or 0 for p in phases),
            "kept_docs": manifest["conservation"]["kept"]}


def forecast_figures(result: dict) -> dict:
    return {"wall_seconds": result["wall_seconds"],
            "peak_rss_mb": max(result["peak_rss_mb"].values()),
            "work_bytes": result["disk_bytes"]["work"], "output_bytes": result["disk_bytes"]["output"],
            "kept_docs": result["kept_docs"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-docs", type=int, default=300)
    args = parser.parse_args()

    from curate.io.warc_pack import pack_html_to_warc
    from curate.pipeline import Pipeline
    from curate.plan import plan

    pages = sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        warcs = Path(tmp) / "warc"
        pack_html_to_warc(pages, warcs, records_per_file=210, root=PAGES)
        overrides = {"input.paths": [str(warcs)], "input.format": "warc", "executor.workers": args.workers}
        for round_ in range(args.rounds):
            started = time.perf_counter()
            forecast = plan(Pipeline.from_yaml(REPO / "pipelines" / "web.yaml", overrides), min_docs=args.min_docs,
                            workers=args.workers, log=lambda line: print(line, file=sys.stderr))
            plan_seconds = time.perf_counter() - started
            started = time.perf_counter()
            run = Pipeline.from_yaml(REPO / "pipelines" / "web.yaml", overrides).run(
                output=str(Path(tmp) / f"out-{round_}"), workers=args.workers, force=True)
            wall = time.perf_counter() - started
            predicted, got = forecast_figures(forecast), actual(run.manifest, wall)
            rounds.append({"plan_seconds": round(plan_seconds, 1), "forecast": predicted, "actual": got,
                           "error": {k: round(predicted[k] / got[k] - 1, 3) if got[k] else None for k in got},
                           "samples": forecast["samples"], "input_docs_forecast": forecast["input"]["docs"],
                           "input_docs_actual": run.manifest["conservation"]["read"]})
            print(f"round {round_ + 1}: {json.dumps(rounds[-1]['error'])}", file=sys.stderr)
    keys = rounds[0]["error"].keys()
    median_error = {k: statistics.median(r["error"][k] for r in rounds if r["error"][k] is not None) for k in keys}
    print(json.dumps({"workers": args.workers, "rounds": rounds, "median_error": median_error,
                      "within_30_percent": {k: abs(v) <= 0.30 for k, v in median_error.items()}}, indent=2))


if __name__ == "__main__":  # datatrove's extraction re-imports __main__ in its sandbox
    main()
