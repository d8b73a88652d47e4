"""What each stage of pipelines/web.yaml is worth to a model (issue 16): `curate ablate` on the 1,032
trafilatura-eval pages, scored on neutral text per language. Prints the result as JSON on stdout; writes the loss
curves and the effects as PNG beside ablation.json.

    python benchmarks/bench_ablation.py [--out /tmp/bench_ablation] [--main-only] [--budget-tokens N]
                                        [--loo-budget-tokens N] [--seeds 4] [--loo-seeds 2] [--resume]
    python benchmarks/bench_ablation.py --with-stage line_dedup --out /tmp/bench_ablation_line_dedup

1. Packs the pages (eval/ and cache/ of ../shared/data/extraction/trafilatura-eval) into 5 WARC files, with record
   ids derived from each page's path: a re-run packs the same bytes, so every document lands in the same split.
2. Writes the neutral evaluation text, OUT/neutral.jsonl: the `neutral` half of curate.evaluation.corpora (never the
   `dev` half the filters are developed on), readability's expected main texts, Gutenberg chapters and Wikipedia
   articles as plain text (English) and lingua's paragraphs (74 languages), at most BYTES_PER_LANGUAGE per language,
   split evenly between a language's sources, documents taken in the order of a hash of their key (no choice by
   content). `curate ablate` scores the languages that are at least 1% of the raw variant's training bytes, and
   weighs them by that mix.
3. Runs `curate ablate pipelines/web.yaml` on them (fresh pipelines unless --resume; finished training runs are
   reused only when their config and data are the same): visible_text, raw, full with --seeds seeds, and unless
   --main-only every without_<stage> with --loo-seeds seeds at --loo-budget-tokens (full too, as their pair).

The budget bounds training, not time: the numbers do not depend on the machine's load, only the wall time does.
See the README's Ablation section for the model and budget chosen and why.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from curate.io.wikitext import wikitext_to_text

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"
DATA = REPO / ".." / "shared" / "data"
RECORDS_PER_FILE = 210
# Neutral text per language: English has 2.7 MB (readability 0.5, Gutenberg 2.2), the lingua languages about 40 KB.
# 240 KB for English keeps its evaluation under a tenth of a run's training cost at the default budget, and its
# standard error from the documents small beside the seeds' (measured: see README).
BYTES_PER_LANGUAGE = 240_000
SOURCES = ("readability", "gutenberg", "lingua", "wikipedia")
# Wikipedia's articles as plain text (curate's MediaWiki reader's markup removal): raw wikitext is markup, not
# prose, and would score the models on templates.
WIKI_TO_TEXT = wikitext_to_text

# the main comparison's defaults; see README "Ablation" for the pilot curves they come from
BUDGET_TOKENS = 2_000_000
LOO_BUDGET_TOKENS = 1_000_000
# 4 seeds at 2M tokens cost what 3 at 2.7M do, and their interval is 36% narrower where the seeds' variance dominates:
# t(0.975, 3) / sqrt(4) = 1.59 standard deviations against t(0.975, 2) / sqrt(3) = 2.48
SEEDS = 4


def pack(out: Path) -> list[Path]:
    from curate.io.warc_pack import pack_html_to_warc

    root = PAGES.resolve()
    pages = sorted(root.glob("eval/*.html.gz")) + sorted(root.glob("cache/*.html.gz"))
    pack_html_to_warc(pages, out / "warc", records_per_file=RECORDS_PER_FILE, root=root)
    return pages


def neutral_jsonl(path: Path) -> dict:
    """The neutral half, capped per language; returns {lang: {"docs", "bytes", "sources"}}."""
    from curate.evaluation.corpora import reference_docs

    docs = reference_docs(DATA.resolve(), "neutral", SOURCES, wiki_to_text=WIKI_TO_TEXT)
    by_lang: dict[str, dict[str, list]] = {}
    for doc in sorted(docs, key=lambda d: hashlib.sha1(d.key.encode()).hexdigest()):
        by_lang.setdefault(doc.lang, {}).setdefault(doc.source, []).append(doc)
    chosen, summary = [], {}
    for lang, per_source in sorted(by_lang.items()):
        cap = BYTES_PER_LANGUAGE // len(per_source)
        for source, items in sorted(per_source.items()):
            size = 0
            for doc in items:
                if size >= cap:
                    break
                chosen.append(doc)
                size += len(doc.text.encode("utf-8"))
        taken = [d for d in chosen if d.lang == lang]
        summary[lang] = {"docs": len(taken), "bytes": sum(len(d.text.encode("utf-8")) for d in taken),
                         "sources": sorted(per_source)}
    with open(path, "w", encoding="utf-8") as f:
        for doc in chosen:
            f.write(json.dumps({"text": doc.text, "lang": doc.lang, "source": doc.source, "key": doc.key},
                               ensure_ascii=False) + "\n")
    return summary


def with_stage(stage: str, path: Path) -> str:
    """web.yaml with `stage` (its defaults) after minhash_dedup: where README places a cross-document stage that
    must not count copies of one page as distinct documents. Written to `path`; returns it."""
    import yaml

    config = yaml.safe_load((REPO / "pipelines" / "web.yaml").read_text())
    names = [next(iter(s)) for s in config["stages"]]
    config["stages"].insert(names.index("minhash_dedup") + 1, {stage: {}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


class LoadSampler(threading.Thread):
    """The 1-minute load average every 30 s: the machine is shared, and the wall time depends on it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.wait(0 if not self.samples else 30):
            self.samples.append(round(os.getloadavg()[0], 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/bench_ablation", type=Path)
    parser.add_argument("--main-only", action="store_true", help="visible_text, raw and full only")
    parser.add_argument("--budget-tokens", type=int, default=BUDGET_TOKENS)
    parser.add_argument("--loo-budget-tokens", type=int, default=LOO_BUDGET_TOKENS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--loo-seeds", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="reuse the variants' pipeline runs in --out")
    parser.add_argument("--with-stage", metavar="STAGE", help="a stage web.yaml lacks (line_dedup), added after "
                        "minhash_dedup with its defaults; the run is then raw, full and without_STAGE only, all at "
                        "--loo-budget-tokens with --loo-seeds seeds: what the stage is worth")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="trainer preset overrides")
    args = parser.parse_args()
    from curate.ablation import run_ablation
    from curate.report.ablation import curves_png, effects_png

    sampler = LoadSampler()
    sampler.start()
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    pages = pack(args.out)
    languages = neutral_jsonl(args.out / "neutral.jsonl")
    pipeline, budget, seeds, extra = str(REPO / "pipelines" / "web.yaml"), args.budget_tokens, args.seeds, {}
    if args.with_stage:
        pipeline = with_stage(args.with_stage, args.out / f"web_with_{args.with_stage}.yaml")
        budget, seeds = args.loo_budget_tokens, args.loo_seeds
        extra = {"leave_out": [args.with_stage], "visible_text": False}
    ablation = run_ablation(
        pipeline, budget, args.out / "ablate", overrides=args.overrides,
        references=[str(args.out / "neutral.jsonl")], seeds=seeds, leave_one_out=not args.main_only and not extra,
        workers=2, force=not args.resume, log=lambda line: print(line, file=sys.stderr, flush=True),
        pipeline_overrides={"input.paths": [str(args.out / "warc")], "input.format": "warc"},
        loo_seeds=args.loo_seeds, loo_budget_tokens=args.loo_budget_tokens, **extra)
    wall = time.perf_counter() - start
    sampler.stop.set()
    (args.out / "curves.png").write_bytes(curves_png(ablation))
    (args.out / "effects.png").write_bytes(effects_png(ablation))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    runs = [r for v in ablation["variants"] for r in v["runs"]]
    print(json.dumps({
        "command": " ".join(["python", "benchmarks/bench_ablation.py", *sys.argv[1:]]), "commit": commit.strip(),
        "pages": len(pages), "wall_s": round(wall), "training_s": round(sum(r["seconds"] for r in runs)),
        "load_1min": {"samples": len(sampler.samples), "median": sorted(sampler.samples)[len(sampler.samples) // 2],
                      "max": max(sampler.samples)} if sampler.samples else None,
        "cpus": os.cpu_count(),
        "pipeline": ablation["pipeline"],
        "main": {"variants": [v["name"] for v in ablation["variants"] if not v["name"].startswith("without_")],
                 "seeds": ablation["seeds"],
                 "budget_tokens": ablation["budget_tokens"]},
        "leave_one_out": ablation["leave_one_out"] or "not run (--main-only)",
        "model": {k: ablation["model"][k] for k in ("tokenizer", "batch_size", "learning_rate", "warmup_iters")}
                 | {"network": ablation["model"]["model"]},
        "neutral_text": {"written": {"languages": len(languages), "bytes": sum(v["bytes"] for v in languages.values())},
                         "scored": {s["lang"]: languages[s["lang"]] for s in ablation["eval_sets"] if s["lang"]}},
        "eval_sets": ablation["eval_sets"], "language_mix": ablation["language_mix"],
        "variants": [{"name": v["name"], "train_docs": v["train_docs"], "train_bytes": v["train_bytes"],
                      "summary": v["summary"], "final_curve_points": {r["seed"]: r["curve"][-3:] for r in v["runs"]}}
                     for v in ablation["variants"]],
        "effects": [{"effect": c["effect"], "a": c["a"], "b": c["b"], "budget_tokens": c["budget_tokens"],
                     "targets": {t: {k: d[k] for k in ("mean", "low", "high", "relative", "per_seed", "verdict")}
                                 for t, d in c["targets"].items()}} for c in ablation["comparisons"]],
        "removed_by_stage": ablation["removed_by_stage"],
        "verdict": ablation["verdict"],
        "files": {"ablation": str(args.out / "ablate" / "ablation.json"), "report": ablation["report"],
                  "curves_png": str(args.out / "curves.png"), "effects_png": str(args.out / "effects.png")},
    }, indent=2))


if __name__ == "__main__":
    main()
