"""`curate ablate`: what is each stage of a pipeline worth to a model? Train the same GPT on the pipeline's output with
stages taken away, and compare the models on text no variant trained on and no stage chose.

    variants.py    visible_text, raw, full, without_<stage>: ordinary runs into ABL/variants/<name>/ (resumable)
    evalsets.py    the curated test split and the references (per language for a labelled JSONL file)
    runs.py        per variant and seed: a resample of the training documents, exactly budget_tokens of training,
                   the loss of every evaluation document (ABL/runs/<variant>-<budget>-seed<s>/, reused when unchanged)
    intervals.py   paired differences between variants, their 95% intervals, the verdicts

Every variant is tokenized by the preset's tokenizer; the default preset (model/configs/ablation_cpu.yaml) uses the
byte tokenizer, the same 257 tokens for every variant, so no model is scored through unknown characters and bits per
byte is exact. Leakage: a document of the curated test split is removed from every variant's training data by id
(documents keep their id across variants: WARC-Record-ID or file + record). Reference text is the user's: it must not
be in the pipeline's input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from curate.ablation.evalsets import (CURATED_TEST, MIN_LANGUAGE_SHARE, EvalSet, eval_sets, language_mix,
                                      reference_sets, weigh_languages)
from curate.ablation.intervals import paired_difference, verdict
from curate.ablation.runs import encode_set, resample, train_and_score, training_documents
from curate.ablation.variants import Variant, removed_by_stage, run_variant, variants
from curate.config import ConfigError
from curate.pipeline import Pipeline

# byte tokenizer, a model past the steep part of its loss curve within a CPU budget: see the preset's comments
DEFAULT_TRAIN_CONFIG = "ablation_cpu.yaml"
MAIN_VARIANTS = ("visible_text", "raw", "full")


def train_config_path(train_config: str | None) -> str:
    """The trainer preset's file: a YAML file or a preset's name (model.config.preset_path), ablation_cpu if none."""
    from model.config import preset_path

    try:
        return str(preset_path(train_config or DEFAULT_TRAIN_CONFIG))
    except FileNotFoundError as error:
        raise ConfigError([f"--config: {error}"]) from None


def targets(sets: list[EvalSet], groups: dict) -> list[tuple[str, list]]:
    """What differences are computed on: each set alone, and each labelled reference's languages weighted by the raw
    training mix. [(target name, [(set name, documents' bytes, weight)])]"""
    by_name = {s.name: s for s in sets}
    result = [(s.name, [(s.name, s.doc_bytes, 1.0)]) for s in sets]
    for group, info in groups.items():
        result.append((f"{group}: all languages, weighted by raw's mix",
                       [(name, by_name[name].doc_bytes, w) for name, w in info["weights"].items()]))
    return result


def effects(names: list[str]) -> list[tuple[str, str, str]]:
    """(what is measured, A, B): the effect of a step is A − B, with the step (A) minus without it (B)."""
    found = []
    if "visible_text" in names:
        found.append(("extraction (main text, against all visible text)", "raw", "visible_text"))
    found.append(("curation (every stage, against raw)", "full", "raw"))
    found += [(f"stage {n.removeprefix('without_')}", "full", n) for n in names if n.startswith("without_")]
    return found


def plan_runs(chosen: list[Variant], seeds: list[int], budget: int, loo_seeds: list[int], loo_budget: int
              ) -> list[tuple[str, int, int]]:
    """(variant, budget, seed) of every training run: the main variants with `seeds` at `budget`, each
    without_<stage> with `loo_seeds` at `loo_budget`, and full at that budget too (its pair)."""
    plan = [(v.name, budget, s) for v in chosen if v.name in MAIN_VARIANTS for s in seeds]
    loo = [v.name for v in chosen if v.name.startswith("without_")]
    if loo:
        plan += [(name, loo_budget, s) for name in ["full", *loo] for s in loo_seeds]
    return list(dict.fromkeys(plan))


def summarize(runs: list[dict], target_list: list[tuple[str, list]]) -> dict:
    summary = {}
    for target, parts in target_list:
        values = [sum(w * r["eval"][name]["bits_per_byte"] for name, _, w in parts) for r in runs]
        summary[target] = {"mean": float(np.mean(values)), "min": min(values), "max": max(values),
                           "spread": max(values) - min(values)}
    return summary


def compare(results: dict, target_list: list[tuple[str, list]], names: list[str]) -> list[dict]:
    """Every effect at every budget both of its variants were trained at, on every target."""
    comparisons = []
    for label, a, b in effects(names):
        for budget in sorted({key[1] for key in results if key[0] == a} & {key[1] for key in results if key[0] == b}):
            bits = {v: {seed: {k: np.asarray(d) for k, d in run["doc_bits"].items()}
                        for (name, bud, seed), run in results.items() if name == v and bud == budget} for v in (a, b)}
            rows = {}
            for target, parts in target_list:
                diff = paired_difference(bits[a], bits[b], parts)
                rows[target] = {**diff, "verdict": verdict(diff, f"{a} better than {b}", f"{a} worse than {b}")}
            comparisons.append({"effect": label, "a": a, "b": b, "budget_tokens": budget, "targets": rows})
    return comparisons


def train_all(plan: list[tuple[str, int, int]], cfg, docs: dict, sets: list[EvalSet], out_dir: Path, force: bool,
              log) -> tuple[dict, int | None]:
    """Every planned run, {(variant, budget, seed): result}, and the vocabulary size when every variant shares one."""
    from model.tokenizer import TextTokenizer

    results, tokenizers, streams = {}, {}, {}
    for i, (name, budget, seed) in enumerate(plan, 1):
        if name not in tokenizers:  # trained on the variant's whole train split (nothing to train for `byte`)
            tokenizers[name] = TextTokenizer.train(cfg.tokenizer, [t for _, t in docs[name][0]], cfg.bpe_vocab_size)
            streams[name] = [encode_set(tokenizers[name], s, cfg.model.block_size) for s in sets]
        log(f"[{name}] run {i}/{len(plan)}: seed {seed}, {budget:,} tokens on a resample of "
            f"{len(docs[name][0]):,} documents")
        results[(name, budget, seed)] = train_and_score(
            cfg, tokenizers[name], resample(docs[name][0], seed), sets, streams[name], budget, seed,
            out_dir / "runs" / f"{name}-{budget}-seed{seed}", force)
    sizes = {t.vocab_size for t in tokenizers.values()}
    return results, sizes.pop() if len(sizes) == 1 else None


def describe_variant(v: Variant, docs: tuple[list, int], runs: list[dict], target_list: list, out_dir: Path) -> dict:
    """ablation.json's entry of a variant: its training data, its runs (without per-document bits) and their
    summary per budget."""
    texts = [t for _, t in docs[0]]
    return {"name": v.name, "description": v.description, "stages": [s.name for s in v.stages],
            "output": str(out_dir / "variants" / v.name), "train_docs": len(texts),
            "train_bytes": sum(len(t.encode("utf-8")) for t in texts), "held_out_removed": docs[1],
            "runs": [{k: val for k, val in run.items() if k not in ("doc_bits", "key")} for run in runs],
            "summary": {str(b): summarize([r for r in runs if r["budget_tokens"] == b], target_list)
                        for b in sorted({r["budget_tokens"] for r in runs})}}


def run_ablation(pipeline_file: str, budget_tokens: int, out_dir: str | Path, train_config: str | None = None,
                 overrides: list[str] = (), references: list[str] = (), seeds: int = 3, leave_one_out: bool = False,
                 workers: int | None = None, force: bool = False, log=print, pipeline_overrides: dict | None = None,
                 loo_seeds: int = 2, loo_budget_tokens: int | None = None, visible_text: bool = True,
                 min_language_share: float = MIN_LANGUAGE_SHARE, leave_out: list[str] = ()) -> dict:
    """Run every variant, train its models, compare them; write OUT/ablation.json and OUT/report.html."""
    from model.config import load_config

    loo_budget_tokens = loo_budget_tokens or budget_tokens
    if min(budget_tokens, loo_budget_tokens, seeds, loo_seeds) <= 0:
        raise ConfigError(["--budget-tokens, --loo-budget-tokens, --seeds and --loo-seeds must be positive"])
    out_dir = Path(out_dir)
    references = [s for path in references for s in reference_sets(Path(path))]  # a bad file stops us here, not later
    pipeline = Pipeline.from_yaml(pipeline_file, pipeline_overrides)
    train_config = train_config_path(train_config)
    cfg = load_config(train_config, list(overrides))
    chosen = variants(pipeline, leave_one_out, visible_text, list(leave_out))
    leave_one_out = leave_one_out or bool(leave_out)
    manifests = {}
    for variant in chosen:  # every pipeline first: worker processes fork before torch starts its threads
        log(f"[{variant.name}] running the pipeline ({variant.description})")
        manifests[variant.name] = run_variant(pipeline, variant, out_dir / "variants" / variant.name, workers, force)
    full_output = out_dir / "variants" / "full"
    sets, held_out = eval_sets(full_output, cfg, references)
    docs = {v.name: training_documents(out_dir / "variants" / v.name, cfg, held_out) for v in chosen}
    mix, groups = {}, {}
    if any(s.group for s in sets):  # labelled references: weigh their languages by the raw training mix
        mix = language_mix([text for _, text in docs["raw"][0]])
        sets, groups = weigh_languages(sets, mix, min_language_share)
    target_list = targets(sets, groups)
    main_seeds = list(range(cfg.seed, cfg.seed + seeds))
    plan = plan_runs(chosen, main_seeds, budget_tokens, list(range(cfg.seed, cfg.seed + loo_seeds)),
                     loo_budget_tokens)
    results, vocab_size = train_all(plan, cfg, docs, sets, out_dir, force, log)
    cfg.model.vocab_size = vocab_size or cfg.model.vocab_size  # the network's size as trained
    names = [v.name for v in chosen]
    variant_rows = [describe_variant(v, docs[v.name], [r for key, r in results.items() if key[0] == v.name],
                                     target_list, out_dir) for v in chosen]
    comparisons = compare(results, target_list, names)
    ablation = {
        "pipeline": str(pipeline_file), "budget_tokens": budget_tokens, "seeds": main_seeds,
        "leave_one_out": {"budget_tokens": loo_budget_tokens, "seeds": list(range(cfg.seed, cfg.seed + loo_seeds))}
        if leave_one_out else None,
        "train_config": train_config, "overrides": list(overrides), "full_output": str(full_output),
        "eval_sets": [s.describe() for s in sets], "targets": [t for t, _ in target_list],
        "language_mix": {"of": "raw's train split (bytes per language, the langid stage's detector)", "bytes": mix,
                         "references": groups} if mix else None,
        "variants": variant_rows, "comparisons": comparisons,
        "removed_by_stage": removed_by_stage(manifests["full"]),
        "verdict": [f"{t}: {c['effect']}: {c['targets'][t]['verdict']}" for c in comparisons
                    if not c["effect"].startswith("stage ") for t in c["targets"]],
        "model": {k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "resume")},
    }
    from curate.report import ABLATION_FILE, build_report

    (out_dir / ABLATION_FILE).write_text(json.dumps(ablation, indent=2))
    ablation["report"] = str(build_report(full_output, out_dir / "report.html", ablation))
    return ablation


__all__ = ["CURATED_TEST", "EvalSet", "Variant", "eval_sets", "run_ablation", "training_documents", "variants"]
