"""The pii stage's speed on real extracted web text and its accuracy on presidio-research's labelled samples.

Prints JSON:
- web text: the trafilatura-eval pages (../shared/data/extraction/trafilatura-eval) extracted with trafilatura, then
  characters/s of (a) our detector (candidate windows, then presidio), (b) the same presidio engine on full texts,
  (c) presidio's default AnalyzerEngine on a blank English pipeline; rounds alternate (a, b, c) so machine noise
  hits all alike; medians and the ratios a/c (target >= 10) and a/b. Also whether (a) and (b) found the same spans
  on every page, and how many spans of each entity (a) found;
- labelled samples: precision/recall/F1 per entity type (any overlap) of (a) and (c) on generated_large.json.

    python benchmarks/bench_pii.py [--repeats 3] [--pages 0 (all)]
"""

import argparse
import gzip
import json
import logging
import statistics
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"
PAGES = SHARED / "extraction" / "trafilatura-eval"
SAMPLES = SHARED / "pii" / "presidio" / "generated_large.json"


def web_texts(limit: int) -> list[str]:
    import trafilatura

    pages = sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))
    texts = []
    for page in pages[:limit or None]:
        text = trafilatura.extract(gzip.decompress(page.read_bytes()))
        if text:
            texts.append(text)
    return texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", type=int, default=0, help="first N pages only (0: all 1,032)")
    args = parser.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from curate.evaluation.pii import curate_detector, default_presidio, score_spans, scored_entities

    entities = scored_entities()

    systems = {"curate_pii": curate_detector(True), "same_recognizers_full_text": curate_detector(False),
               "presidio_default": default_presidio()}
    start = time.perf_counter()
    texts = web_texts(args.pages)
    extract_seconds = time.perf_counter() - start
    chars = sum(map(len, texts))
    times = {name: [] for name in systems}
    found = {}
    for detect in systems.values():
        detect(texts[:3])  # warm-up
    for _ in range(args.repeats):
        for name, detect in systems.items():
            start = time.perf_counter()
            found[name] = detect(texts)
            times[name].append(time.perf_counter() - start)
    speed = {name: round(chars / statistics.median(t)) for name, t in times.items()}
    ours, full = found["curate_pii"], found["same_recognizers_full_text"]
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
    sample_texts = [s["full_text"] for s in samples]
    accuracy = {name: score_spans(samples, systems[name](sample_texts), entities)
                for name in ("curate_pii", "presidio_default")}
    result = {
        "web_text": {
            "pages_with_text": len(texts), "chars": chars, "extract_seconds": round(extract_seconds, 1),
            "repeats": args.repeats, "chars_per_s": speed,
            "runs_s": {name: [round(t, 2) for t in ts] for name, ts in times.items()},
            "speedup_vs_presidio_default": round(speed["curate_pii"] / speed["presidio_default"], 1),
            "speedup_vs_same_recognizers_full_text": round(speed["curate_pii"] / speed["same_recognizers_full_text"], 1),
            "pages_whose_spans_differ_windows_vs_full_text": sum(sorted(a) != sorted(b) for a, b in zip(ours, full)),
            "spans_found": dict(Counter(entity for spans in ours for entity, _, _ in spans).most_common()),
        },
        "generated_large": {
            "samples": len(samples), "overlap_rule": "any overlap, same entity type",
            **{name: {e: {k: r[e][k] for k in ("precision", "recall", "f1", "gold")} for e in entities}
               for name, r in accuracy.items()},
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
