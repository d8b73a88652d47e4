"""Reader + writer throughput on the 1,033 trafilatura-eval pages packed as WARC (no stages in between).

Prints JSON: docs/s and MB/s (of WARC payload text) per worker count, medians of `--repeats` runs, alternating the
worker counts so machine noise hits both alike.

    python benchmarks/bench_io.py [--repeats 3]
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from curate import Pipeline
from curate.io.warc_pack import pack_html_to_warc

PAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pages = sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        warcs = Path(tmp) / "warcs"
        pack_html_to_warc(pages, warcs, records_per_file=210, root=PAGES)
        timings = {1: [], 2: []}
        manifest = None
        for _ in range(args.repeats):
            for workers in (1, 2):
                pipeline = Pipeline({"input": {"paths": [str(warcs)], "format": "warc"},
                                     "output": str(Path(tmp) / f"out{workers}")})
                start = time.perf_counter()
                manifest = pipeline.run(workers=workers, force=True).manifest
                timings[workers].append(time.perf_counter() - start)
        docs = manifest["funnel"][0]["docs_in"]
        mb = manifest["funnel"][0]["bytes_in"] / 1e6
        result = {"pages": len(pages), "docs": docs, "text_mb": round(mb, 2), "warc_files": len(list(warcs.iterdir())),
                  "repeats": args.repeats}
        for workers, runs in timings.items():
            median = statistics.median(runs)
            result[f"workers_{workers}"] = {"median_s": round(median, 3), "docs_per_s": round(docs / median, 1),
                                            "mb_per_s": round(mb / median, 2), "runs_s": [round(r, 3) for r in runs]}
        result["speedup_2_vs_1"] = round(statistics.median(timings[1]) / statistics.median(timings[2]), 2)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
