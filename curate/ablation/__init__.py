"""`curate ablate`: does curation make a better model? Train the same GPT on raw and curated data and compare.

    variants   raw (extraction, chunk and split only), full (every stage), and with --leave-one-out the full
               pipeline minus one stage; each is a normal pipeline run into ABL/variants/<name>/ (resumable)
    eval sets  the full run's `test` split (the curated held-out documents) and any reference text; the same
               documents for every variant, each variant reading them through its own tokenizer
    training   per variant and seed: a tokenizer trained on the variant's train split, then `model.train` for
               exactly budget_tokens / tokens_per_step steps (no time limit, so every variant sees the same number
               of tokens); the curve is bits per byte on the curated test split along the way
    scoring    bits per byte on every eval set: the model's total loss in bits over the UTF-8 bytes of the text
               (one byte per document separator, as the trainer counts it), so different tokenizers compare

Leakage: a document of the evaluation split is removed from every variant's training data by id (documents keep
their id across variants: WARC-Record-ID or file + record), also when a variant split its data differently.
Reference text is the user's: it must not be in the pipeline's input.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.config import ConfigError
from curate.io.shard_writer import KEPT_KINDS
from curate.pipeline import Pipeline

EXTRACTION_STAGES = ("extract",)  # a raw baseline still needs text out of the HTML
# stages that shape the data rather than judge it: every variant keeps them, so all variants cut documents the same
# way (chunk: the evaluation documents' ids are block ids) and split them the same way
STRUCTURAL_STAGES = ("chunk", "split")
# the trainer's preset tuned for the lowest loss in a short CPU run (higher learning rate, RoPE, context 128): an
# ablation's budget is short. Its time limit is replaced by the token budget.
DEFAULT_TRAIN_CONFIG = "shakespeare_char_cpu_95s.yaml"
CURVE_POINTS = 10  # evaluations along each training run
SPLIT_SUFFIX = "#"  # model.data.split_units names paragraph blocks `id#k`


@dataclass
class Variant:
    name: str
    stages: list  # StageConfig items of the pipeline
    description: str


def is_extraction(stage_name: str) -> bool:
    return stage_name in EXTRACTION_STAGES or ".extractors." in stage_name


def variants(pipeline: Pipeline, leave_one_out: bool = False) -> list[Variant]:
    stages = list(pipeline.config.stages)
    kept = [s for s in stages if is_extraction(s.name) or s.name in STRUCTURAL_STAGES]
    if len(kept) == len(stages):
        raise ConfigError(["stages: nothing to ablate: the pipeline has no stage besides extraction, chunk and split"],
                          pipeline.source)
    described = ", ".join(s.name for s in kept)
    result = [Variant("raw", kept, f"only {described}" if kept else "the input text as read"),
              Variant("full", stages, "every stage")]
    if leave_one_out:
        names = [s.name.rpartition(".")[2] for s in stages]  # a datatrove step by dotted path: its class name
        for i, stage in enumerate(stages):
            if stage not in kept:
                name = f"without_{names[i]}" + (f"_{i}" if names.count(names[i]) > 1 else "")
                result.append(Variant(name, stages[:i] + stages[i + 1:], f"every stage but {stage.name}"))
    return result


def run_variant(pipeline: Pipeline, variant: Variant, output: Path, workers: int | None, force: bool) -> None:
    config = pipeline.config.model_copy(update={"stages": variant.stages})
    result = Pipeline(config, source=pipeline.source).run(output=str(output), workers=workers, force=force)
    if not result.ok:
        raise RuntimeError(f"variant {variant.name}: conservation check failed, see {output}/manifest.json")


# ---- evaluation sets ------------------------------------------------------------------------------------------

@dataclass
class EvalSet:
    name: str
    texts: list[str]

    @functools.cached_property
    def bytes(self) -> int:  # what bits per byte divides by: the text, plus one byte per document separator
        return sum(len(t.encode("utf-8")) for t in self.texts) + len(self.texts)


def reference_texts(path: Path) -> list[str]:
    """A text file (one document), a curate output folder (its kept documents) or a folder of .txt files."""
    from model.data import SplitSource, iter_texts

    if path.is_file():
        return [path.read_text(encoding="utf-8", errors="replace")]
    if path.is_dir():
        kinds = [path / k for k in KEPT_KINDS if (path / k).is_dir()]
        if kinds:
            shards = tuple(sorted(p for k in kinds for p in k.glob("*.parquet")))
            return list(iter_texts(SplitSource("reference", shards))) if shards else []
        return [f.read_text(encoding="utf-8", errors="replace") for f in sorted(path.rglob("*.txt"))]
    raise ConfigError([f"--reference {str(path)!r}: no such file or folder"])


def base_id(unit_id: str, unit: str) -> str:
    return unit_id.rpartition(SPLIT_SUFFIX)[0] if unit == "paragraph" and SPLIT_SUFFIX in unit_id else unit_id


def eval_sets(full_output: Path, cfg, references: list[Path]) -> tuple[list[EvalSet], set[str]]:
    """The curated test split and the references, and the ids (whole documents) held out of every training set."""
    from model.data import find_split, iter_documents

    test = list(iter_documents(find_split(full_output, "test", cfg.val_fraction, cfg.test_fraction, cfg.split_unit)))
    if not test:
        raise ConfigError([f"the full pipeline's test split ({full_output}) has no documents: raise "
                           f"test_fraction (now {cfg.test_fraction}) or give more input"])
    sets = [EvalSet("curated test", [text for _, text in test])]
    for path in references:
        texts = [t for t in reference_texts(path) if t]
        if not texts:
            raise ConfigError([f"--reference {str(path)!r}: no text in it"])
        sets.append(EvalSet(f"reference: {path.name}", texts))
    return sets, {base_id(i, cfg.split_unit) for i, _ in test}


def encode(tokenizer, texts: list[str], leading_separator: bool) -> np.ndarray:
    from model.data import token_dtype

    ids = [tokenizer.eot_id] if leading_separator else []
    for encoded in tokenizer.encode_batch(texts):
        ids.extend(encoded)
        ids.append(tokenizer.eot_id)
    return np.asarray(ids, dtype=token_dtype(tokenizer.vocab_size))


# ---- training and scoring -------------------------------------------------------------------------------------

def training_texts(output: Path, cfg, held_out: set[str]) -> tuple[list[str], int]:
    """The variant's train split without the held-out documents, and how many units were removed."""
    from model.data import find_split, iter_documents

    texts, removed = [], 0
    for unit_id, text in iter_documents(find_split(output, "train", cfg.val_fraction, cfg.test_fraction,
                                                   cfg.split_unit)):
        if base_id(unit_id, cfg.split_unit) in held_out:
            removed += 1
        else:
            texts.append(text)
    return texts, removed


@dataclass
class Tokenized:
    """A variant's tokenizer (trained on its train split) with the train split and every evaluation set encoded:
    the same for every seed, so built once per variant."""
    tokenizer: object
    train_tokens: np.ndarray
    streams: list[np.ndarray]  # one per evaluation set, in order


def tokenize_variant(cfg, texts: list[str], sets: list[EvalSet]) -> Tokenized:
    from model.tokenizer import TextTokenizer

    tokenizer = TextTokenizer.train(cfg.tokenizer, texts, cfg.bpe_vocab_size)
    train_tokens = encode(tokenizer, texts, leading_separator=False)
    # a leading separator makes the first real token a predicted one: every byte of the text is scored
    streams = [encode(tokenizer, s.texts, leading_separator=True) for s in sets]
    for name, stream in [("train split", train_tokens), *((s.name, t) for s, t in zip(sets, streams))]:
        if len(stream) <= cfg.model.block_size + 1:
            raise ConfigError([f"{name}: {len(stream)} tokens, fewer than block_size {cfg.model.block_size} + 2"])
    return Tokenized(tokenizer, train_tokens, streams)


def train_and_score(cfg, data: Tokenized, sets: list[EvalSet], budget_tokens: int, seed: int, run_dir: Path) -> dict:
    """One training run: `budget_tokens` tokens of the variant's train split, then bits per byte on every
    evaluation set."""
    import dataclasses

    from model.evaluate import evaluate_tokens, token_bytes_of
    from model.train import train

    tokenizer, streams = data.tokenizer, data.streams
    tokens_per_step = cfg.batch_size * cfg.model.block_size * cfg.grad_accum_steps
    steps = max(1, math.ceil(budget_tokens / tokens_per_step))
    if run_dir.exists():
        shutil.rmtree(run_dir)  # metrics.jsonl is appended to: a stale one would mix two runs' curves
    run_cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model), seed=seed, max_iters=steps, lr_decay_iters=steps, max_seconds=0.0,
        warmup_iters=min(cfg.warmup_iters, steps // 10), eval_interval=max(1, steps // CURVE_POINTS),
        final_eval=False, resume=False, out_dir=str(run_dir), progress=False)
    summary = train(run_cfg, tokenizer=tokenizer, train_tokens=data.train_tokens, val_tokens=streams[0])
    model, token_bytes = summary["model"], token_bytes_of(tokenizer)
    device = next(model.parameters()).device
    scores = {}
    for eval_set, stream in zip(sets, streams):
        result = evaluate_tokens(model, stream, token_bytes, device=device)
        nats = result["loss"] * result["tokens"]
        unknown = int((stream == tokenizer.unk_id).sum()) if tokenizer.unk_id is not None else 0
        scores[eval_set.name] = {"bits_per_byte": nats / math.log(2) / eval_set.bytes, "loss": result["loss"],
                                 "tokens": result["tokens"], "unknown_token_share": unknown / len(stream)}
    curve = [[e["step"] * tokens_per_step, e["val_bits_per_byte"]]
             for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "val_bits_per_byte" in e]
    return {"seed": seed, "steps": summary["step"], "tokens_seen": summary["step"] * tokens_per_step,
            "seconds": summary["elapsed_s"], "vocab_size": tokenizer.vocab_size, "eval": scores, "curve": curve}


def summarize(runs: list[dict], set_names: list[str]) -> dict:
    summary = {}
    for name in set_names:
        values = [r["eval"][name]["bits_per_byte"] for r in runs]
        summary[name] = {"mean": float(np.mean(values)), "min": min(values), "max": max(values),
                         "spread": max(values) - min(values)}
    return summary


def verdict(results: list[dict], set_names: list[str]) -> list[str]:
    """Full against raw on each set: a difference larger than both variants' seed spread is called a win."""
    by_name = {v["name"]: v["summary"] for v in results}
    lines = []
    for name in set_names:
        raw, full = by_name["raw"][name], by_name["full"][name]
        gain = raw["mean"] - full["mean"]
        noise = max(raw["spread"], full["spread"])
        better, worse = ("full (curated)", "raw") if gain > 0 else ("raw", "full (curated)")
        if abs(gain) > noise:
            lines.append(f"{name}: {better} beats {worse} by {abs(gain):.4f} bits/byte "
                         f"({abs(gain) / max(raw['mean'], full['mean']):.1%}), more than the seed spread {noise:.4f}")
        else:
            lines.append(f"{name}: no clear winner: the difference {abs(gain):.4f} bits/byte is within the seed "
                         f"spread {noise:.4f}")
    return lines


def run_ablation(pipeline_file: str, budget_tokens: int, out_dir: str | Path, train_config: str | None = None,
                 overrides: list[str] = (), references: list[str] = (), seeds: int = 2, leave_one_out: bool = False,
                 workers: int | None = None, force: bool = False, log=print, pipeline_overrides: dict | None = None
                 ) -> dict:
    """Run every variant, train `seeds` models on each, score them; write OUT/ablation.json and OUT/report.html."""
    from model.config import load_config

    if budget_tokens <= 0 or seeds < 1:
        raise ConfigError(["--budget-tokens and --seeds must be positive"])
    out_dir = Path(out_dir)
    pipeline = Pipeline.from_yaml(pipeline_file, pipeline_overrides)
    if train_config is None:  # the preset shipped as package data of `model`
        import importlib.util

        train_config = str(Path(importlib.util.find_spec("model").origin).parent / "configs" / DEFAULT_TRAIN_CONFIG)
    cfg = load_config(train_config, list(overrides))
    chosen = variants(pipeline, leave_one_out)
    for variant in chosen:  # every pipeline first: worker processes fork before torch starts its threads
        log(f"[{variant.name}] running the pipeline ({variant.description})")
        run_variant(pipeline, variant, out_dir / "variants" / variant.name, workers, force)
    full_output = out_dir / "variants" / "full"
    sets, held_out = eval_sets(full_output, cfg, [Path(r) for r in references])
    set_names = [s.name for s in sets]
    results = []
    for variant in chosen:
        texts, removed = training_texts(out_dir / "variants" / variant.name, cfg, held_out)
        runs, data = [], tokenize_variant(cfg, texts, sets)
        for seed in range(cfg.seed, cfg.seed + seeds):
            log(f"[{variant.name}] training, seed {seed}, {budget_tokens:,} tokens on {len(texts):,} documents")
            runs.append(train_and_score(cfg, data, sets, budget_tokens, seed,
                                        out_dir / "runs" / f"{variant.name}-seed{seed}"))
        results.append({"name": variant.name, "description": variant.description,
                        "stages": [s.name for s in variant.stages], "output": str(out_dir / "variants" / variant.name),
                        "train_docs": len(texts), "train_bytes": sum(len(t.encode("utf-8")) for t in texts),
                        "held_out_removed": removed, "runs": runs, "summary": summarize(runs, set_names)})
    ablation = {
        "pipeline": str(pipeline_file), "budget_tokens": budget_tokens,
        "seeds": list(range(cfg.seed, cfg.seed + seeds)),
        "train_config": train_config, "overrides": list(overrides), "full_output": str(full_output),
        "eval_sets": [{"name": s.name, "docs": len(s.texts), "bytes": s.bytes} for s in sets],
        "variants": results, "verdict": verdict(results, set_names),
        "model": {k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "resume")},
    }
    from curate.report import ABLATION_FILE, build_report

    (out_dir / ABLATION_FILE).write_text(json.dumps(ablation, indent=2))

    ablation["report"] = str(build_report(full_output, out_dir / "report.html", ablation))
    return ablation
