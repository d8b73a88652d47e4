"""CPU cost of the `extract` stage per page, in each mode, beside datatrove's Trafilatura extractor.

All 1,032 trafilatura-eval pages (../shared/data/extraction/trafilatura-eval/{eval,cache}/*.html.gz), decoded once
as curate's readers decode them; then, for each round, every system runs over every page in this process (no
sandbox, no pipeline: `bench_stages.py` measures the stage inside the pipeline). `time.process_time`, not wall
time: on a shared machine CPU time is the steadier figure. Systems alternate within a round; medians are reported.

    python benchmarks/bench_extract.py [--rounds 3] [--every 1]
"""

import argparse
import gzip
import json
import statistics
import time
import warnings
from pathlib import Path

PAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"


def systems() -> dict:
    """name -> callable(html str) -> text or None."""
    from datatrove.pipeline.extractors import Trafilatura

    from curate.stages.extract import MODES, Extract

    runners = {f"curate extract ({mode})": Extract(mode=mode).extract_text for mode in MODES}
    runners["curate extract (balanced, find_date: false)"] = Extract(find_date=False).extract_text
    # the datatrove chain's extractor in benchmarks/bench_stages.py (dedup on, as datatrove's default)
    runners["datatrove Trafilatura(favour_precision=True)"] = Trafilatura(favour_precision=True).extract
    return runners


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=int, default=1, help="take every Nth page")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import trafilatura

    from curate.decoding import decode_bytes

    paths = (sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz")))[:: args.every]
    pages = [decode_bytes(gzip.decompress(path.read_bytes()), None, html=True)[0] for path in paths]
    runners = systems()
    for run in runners.values():
        run(pages[0])  # warm-up: imports, jusText stop-lists
    cpu = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            start = time.process_time()
            for html in pages:
                run(html)
            cpu[name].append(time.process_time() - start)
    result = {"pages": len(pages), "rounds": args.rounds, "trafilatura": trafilatura.__version__, "systems": {}}
    for name, runs in cpu.items():
        ms = 1000 * statistics.median(runs) / len(pages)
        result["systems"][name] = {"cpu_ms_per_page": round(ms, 2), "pages_per_cpu_s": round(1000 / ms, 1),
                                   "runs_cpu_s": [round(t, 2) for t in runs]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
