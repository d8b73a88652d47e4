"""One training run of `curate ablate`: a resample of the variant's training documents, a model trained on exactly
the token budget, and the loss of every evaluation document.

Data: the seed draws the training sample (a Poisson bootstrap: each document is used w ~ Poisson(1) times, w drawn
from a hash of the seed and the document's id). So which documents land in training varies between seeds, and the
interval over seeds takes that variation in (a second packing or split of the same pages would draw another sample),
while for one seed a document that two variants both kept has the same weight in both: the pairing holds. The model's
initial weights and batches come from the same seed, so with the byte tokenizer two variants of one seed start from
the same network.

Scores: the loss of every predicted token of an evaluation stream, summed per document (its bytes and the separator
after it), in bits. Bits per byte of a set = its documents' bits / their bytes (+1 each for the separator): the
trainer's accounting, exact with the byte tokenizer (one token per byte).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.ablation.evalsets import EvalSet, base_id

CURVE_POINTS = 10  # evaluations of the curated test split along each training run
# Poisson(1): P(w <= k), for the bootstrap weight of a document; w > 6 has probability 8e-5 and counts as 7
POISSON_1_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(7)])


def training_documents(output: Path, cfg, held_out: set[str]) -> tuple[list[tuple[str, str]], int]:
    """The variant's train split as (unit id, text) without the held-out documents, and how many units that removed."""
    from model.data import find_split, iter_documents

    docs, removed = [], 0
    for unit_id, text in iter_documents(find_split(output, "train", cfg.val_fraction, cfg.test_fraction,
                                                   cfg.split_unit)):
        if base_id(unit_id, cfg.split_unit) in held_out:
            removed += 1
        else:
            docs.append((unit_id, text))
    return docs, removed


def bootstrap_weight(seed: int, unit_id: str) -> int:
    """How many times `seed`'s training sample uses a document: Poisson(1), from a hash of (seed, id) alone."""
    from model.data import id_hash

    return int(np.searchsorted(POISSON_1_CDF, id_hash(f"{seed}:{unit_id}"), side="right"))


def resample(docs: list[tuple[str, str]], seed: int) -> list[str]:
    """`seed`'s training sample: each document bootstrap_weight(seed, id) times, in an order drawn from the seed
    (the trainer samples random windows, so the order only decides which documents border each other)."""
    from model.data import id_hash

    copies = [(id_hash(f"{seed}:{unit_id}:{copy}"), text) for unit_id, text in docs
              for copy in range(bootstrap_weight(seed, unit_id))]
    return [text for _, text in sorted(copies, key=lambda item: item[0])]


@dataclass
class EncodedSet:
    """An evaluation set as one token stream that starts with a separator (so every byte of the text is predicted)
    and the document each predicted token belongs to (its text, then the separator after it)."""
    tokens: np.ndarray
    owner: np.ndarray  # owner[j]: the document of tokens[j + 1]
    unknown_share: float


def encode_texts(tokenizer, texts: list[str], leading_separator: bool) -> tuple[np.ndarray, np.ndarray]:
    from model.data import token_dtype

    ids, owner = [tokenizer.eot_id] if leading_separator else [], []
    for doc, encoded in enumerate(tokenizer.encode_batch(texts)):
        ids.extend(encoded)
        ids.append(tokenizer.eot_id)
        owner.extend([doc] * (len(encoded) + 1))
    return np.asarray(ids, dtype=token_dtype(tokenizer.vocab_size)), np.asarray(owner, dtype=np.int64)


def encode_set(tokenizer, eval_set: EvalSet, block_size: int) -> EncodedSet:
    tokens, owner = encode_texts(tokenizer, eval_set.texts, leading_separator=True)
    if len(tokens) <= block_size + 1:
        raise ValueError(f"evaluation set {eval_set.name!r}: {len(tokens)} tokens, fewer than block_size "
                         f"{block_size} + 2")
    unknown = int((tokens == tokenizer.unk_id).sum()) if tokenizer.unk_id is not None else 0
    return EncodedSet(tokens, owner, unknown / len(tokens))


def digest(*arrays_or_texts) -> str:
    h = hashlib.sha256()
    for item in arrays_or_texts:
        h.update(item.tobytes() if isinstance(item, np.ndarray) else str(item).encode())
    return h.hexdigest()[:16]


def train_and_score(cfg, tokenizer, train_texts: list[str], sets: list[EvalSet], streams: list[EncodedSet],
                    budget_tokens: int, seed: int, run_dir: Path, force: bool = False) -> dict:
    """Train on `budget_tokens` tokens of `train_texts` with `seed`, then score every document of every set. A
    finished run whose inputs are the same (config, seed, budget, training tokens, evaluation text) is read back from
    run_dir/score.json instead of trained again, unless `force`."""
    from model.evaluate import token_losses
    from model.train import train

    train_tokens, _ = encode_texts(tokenizer, train_texts, leading_separator=False)
    if len(train_tokens) <= cfg.model.block_size + 1:
        raise ValueError(f"the training sample of seed {seed} has {len(train_tokens)} tokens, fewer than block_size "
                         f"{cfg.model.block_size} + 2")
    tokens_per_step = cfg.batch_size * cfg.model.block_size * cfg.grad_accum_steps
    steps = max(1, math.ceil(budget_tokens / tokens_per_step))
    run_cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model), seed=seed, max_iters=steps, lr_decay_iters=steps, max_seconds=0.0,
        warmup_iters=min(cfg.warmup_iters, steps // 10), eval_interval=max(1, steps // CURVE_POINTS),
        final_eval=False, resume=False, out_dir=str(run_dir), progress=False)
    key = digest(json.dumps({k: v for k, v in run_cfg.to_dict().items() if k != "out_dir"}, sort_keys=True),
                 tokenizer.fingerprint(), train_tokens, *(s.name for s in sets), *(e.tokens for e in streams))
    score_file = run_dir / "score.json"
    if score_file.is_file() and not force:
        saved = json.loads(score_file.read_text())
        if saved.get("key") == key:
            return saved
    if run_dir.exists():
        shutil.rmtree(run_dir)  # metrics.jsonl is appended to: a stale one would mix two runs' curves
    summary = train(run_cfg, tokenizer=tokenizer, train_tokens=train_tokens, val_tokens=streams[0].tokens)
    model = summary["model"]
    device = next(model.parameters()).device
    scores, doc_bits = {}, {}
    for eval_set, stream in zip(sets, streams):
        losses = token_losses(model, stream.tokens, device=device)
        bits = np.bincount(stream.owner, weights=losses, minlength=len(eval_set.texts)) / math.log(2)
        doc_bits[eval_set.name] = [round(float(b), 4) for b in bits]
        scores[eval_set.name] = {"bits_per_byte": float(bits.sum() / eval_set.bytes), "tokens": len(losses),
                                 "unknown_token_share": stream.unknown_share}
    curve = [[e["step"] * tokens_per_step, e["val_bits_per_byte"]]
             for e in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "val_bits_per_byte" in e]
    result = {"seed": seed, "budget_tokens": budget_tokens, "steps": summary["step"],
              "tokens_seen": summary["step"] * tokens_per_step, "seconds": summary["elapsed_s"],
              "tokens_per_s": summary["tokens_per_s"], "vocab_size": tokenizer.vocab_size,
              "train_sample": {"copies": len(train_texts), "tokens": len(train_tokens)},
              "eval": scores, "curve": curve, "doc_bits": doc_bits, "key": key}
    score_file.write_text(json.dumps(result))
    return result
