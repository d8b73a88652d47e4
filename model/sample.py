"""Sampling text from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from model.checkpoint import load_checkpoint


def sample(
    checkpoint_dir: str | Path,
    prompt: str = "",
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int | None = 200,
    seed: int | None = None,
    device: str = "cpu",
) -> str:
    """The prompt followed by up to max_new_tokens generated tokens, as text.

    temperature 0 is greedy decoding; a seed makes sampling reproducible. An empty prompt starts
    a new document (from the end-of-text token). Generation stops at the end of a document."""
    ckpt = load_checkpoint(checkpoint_dir, device)
    tok = ckpt.tokenizer
    ids = tok.encode(prompt) if prompt else [tok.eot_id]
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = ckpt.model.generate(idx, max_new_tokens, temperature, top_k, generator, stop_token=tok.eot_id)
    new = [i for i in out[0, len(ids) :].tolist() if i != tok.eot_id]
    return prompt + tok.decode(new)
