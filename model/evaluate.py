"""Evaluation: loss (nats per token), perplexity and bits per byte, on sampled windows during
training or on every token of a split.

Bits per byte = total nats / ln 2 / UTF-8 bytes of the predicted text. Unlike loss per token,
it does not depend on how text was cut into tokens, so char and BPE models compare directly.
`evaluate` also reports KL(data || model): the divergence between the split's token frequencies
and the model's predicted distribution averaged over all positions. Cross-entropy scores each
prediction; the KL shows whether the model's overall token usage is calibrated (0 when it is).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from model.data import find_split, random_windows, sequential_windows, tokenize_split


class _Tally:
    """Running sums over predicted tokens."""

    def __init__(self, token_bytes: torch.Tensor, with_kl: bool):
        self.token_bytes = token_bytes
        self.nats = 0.0
        self.tokens = 0
        self.bytes = 0
        vocab = len(token_bytes)
        self.prob_sum = torch.zeros(vocab, dtype=torch.float64) if with_kl else None
        self.target_counts = torch.zeros(vocab, dtype=torch.float64) if with_kl else None

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        logits = logits.float().reshape(-1, logits.size(-1))
        targets = targets.reshape(-1)
        self.nats += F.cross_entropy(logits, targets, reduction="sum").item()
        self.tokens += targets.numel()
        self.bytes += int(self.token_bytes[targets.cpu()].sum())
        if self.prob_sum is not None:
            self.prob_sum += F.softmax(logits, dim=-1).sum(0).double().cpu()
            self.target_counts += torch.bincount(targets.cpu(), minlength=len(self.prob_sum)).double()

    def result(self) -> dict:
        loss = self.nats / max(self.tokens, 1)
        out = {
            "loss": loss,
            "perplexity": math.exp(min(loss, 700.0)),
            "bits_per_byte": self.nats / math.log(2) / max(self.bytes, 1),
            "tokens": self.tokens,
            "bytes": self.bytes,
        }
        if self.prob_sum is not None:
            p = self.target_counts / self.target_counts.sum()
            q = self.prob_sum / self.prob_sum.sum()
            seen = p > 0
            out["kl_data_model"] = float((p[seen] * (p[seen] / q[seen]).log()).sum())
        return out


def token_bytes_of(tokenizer) -> torch.Tensor:
    return torch.tensor(tokenizer.token_byte_lengths(), dtype=torch.int64)


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def estimate_loss(
    model: torch.nn.Module,
    tokens: np.ndarray,
    token_bytes: torch.Tensor,
    batch_size: int,
    block_size: int,
    iters: int,
    seed: int,
    device: torch.device | str = "cpu",
    autocast=contextlib.nullcontext,
) -> dict:
    """Loss on `iters` batches of random windows. A fresh generator from `seed` draws the same
    windows every time, so successive estimates differ only by the model, and training's own
    random stream is left untouched (exact resume does not depend on when evaluation ran)."""
    generator = torch.Generator().manual_seed(seed)
    tally = _Tally(token_bytes, with_kl=False)
    with _eval_mode(model):
        for _ in range(iters):
            x, y = random_windows(tokens, batch_size, block_size, generator)
            with autocast():
                logits, _ = model(x.to(device))
            tally.add(logits, y.to(device))
    return tally.result()


def evaluate_tokens(
    model: torch.nn.Module,
    tokens: np.ndarray,
    token_bytes: torch.Tensor,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    with_kl: bool = False,
    autocast=contextlib.nullcontext,
) -> dict:
    """Every token of the split, in non-overlapping windows of the model's context length."""
    tally = _Tally(token_bytes, with_kl)
    with _eval_mode(model):
        for x, y in _window_batches(tokens, model.config.block_size, batch_size, device):
            with autocast():
                logits, _ = model(x)
            tally.add(logits, y)
    return tally.result()


def _window_batches(tokens: np.ndarray, block_size: int, batch_size: int, device) -> Iterator[tuple]:
    """(x, y) tensors of up to batch_size non-overlapping windows covering every token once, in order; the last
    window may be shorter and comes in a batch of its own."""
    windows = sequential_windows(tokens, block_size)
    while batch := [w for _, w in zip(range(batch_size), windows)]:
        full = [w for w in batch if len(w[0]) == block_size]
        for group in filter(None, [full] + [[w] for w in batch if len(w[0]) != block_size]):
            x = torch.from_numpy(np.stack([w[0] for w in group])).to(device)
            yield x, torch.from_numpy(np.stack([w[1] for w in group])).to(device)


def token_losses(
    model: torch.nn.Module,
    tokens: np.ndarray,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    autocast=contextlib.nullcontext,
) -> np.ndarray:
    """The loss in nats of every predicted token (tokens[1:]), in the windows `evaluate_tokens` uses, so the sum
    is its total loss: what per-document scores (`curate ablate`'s resampling of evaluation documents) add up."""
    losses = []
    with _eval_mode(model):
        for x, y in _window_batches(tokens, model.config.block_size, batch_size, device):
            with autocast():
                logits, _ = model(x)
            nats = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="none")
            losses.append(nats.double().cpu().numpy())
    return np.concatenate(losses) if losses else np.zeros(0)


def evaluate_checkpoint(
    checkpoint_dir: str | Path, data: str | Path, split: str = "test", batch_size: int = 32
) -> dict:
    """`curate evaluate`: load a checkpoint, tokenize the split with its tokenizer, evaluate."""
    from model.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint_dir)
    cfg = ckpt.config
    source = find_split(data, split, cfg.val_fraction, cfg.test_fraction, cfg.split_unit)
    tokens = tokenize_split(source, ckpt.tokenizer, cfg.cache_dir or Path(data) / ".token_cache")
    result = evaluate_tokens(ckpt.model, tokens, token_bytes_of(ckpt.tokenizer), batch_size, with_kl=True)
    return {"checkpoint": str(checkpoint_dir), "data": str(data), "split": split, **result}
