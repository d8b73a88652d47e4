"""Checkpoint folder: everything needed to sample, evaluate, fine-tune, export or resume.

  model.safetensors   weights (tied embedding/head stored once)
  config.json         the TrainConfig, network included
  tokenizer.json      the tokenizer (+ tokenizer_kind.txt)
  train_state.pt      optimizer state, step, RNG states, elapsed time: only what resume needs
Each file is written to a temporary name and renamed, so an interrupted save never leaves a
mix of old and new files that looks complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from model.config import TrainConfig
from model.gpt import GPT
from model.tokenizer import TextTokenizer

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAIN_STATE = "train_state.pt"


@dataclass
class Checkpoint:
    model: GPT
    config: TrainConfig
    tokenizer: TextTokenizer
    directory: Path


def _replace_into(directory: Path, name: str, write) -> None:
    tmp = directory / f".{name}.tmp{os.getpid()}"
    write(tmp)
    os.replace(tmp, directory / name)


def save_checkpoint(
    directory: str | Path,
    model: GPT,
    config: TrainConfig,
    tokenizer: TextTokenizer,
    train_state: dict | None = None,
) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if train_state is not None:
        _replace_into(directory, TRAIN_STATE, lambda p: torch.save(train_state, p))
    _replace_into(directory, WEIGHTS, lambda p: save_model(model, str(p)))
    _replace_into(directory, CONFIG, lambda p: p.write_text(json.dumps(config.to_dict(), indent=2)))
    tokenizer.save(directory)


def is_checkpoint(directory: str | Path) -> bool:
    return (Path(directory) / WEIGHTS).is_file() and (Path(directory) / CONFIG).is_file()


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    directory = Path(directory)
    if not is_checkpoint(directory):
        raise FileNotFoundError(f"{directory} is not a checkpoint (no {WEIGHTS} and {CONFIG})")
    config = TrainConfig.from_dict(json.loads((directory / CONFIG).read_text()))
    model = GPT(config.model)
    load_model(model, str(directory / WEIGHTS))
    model.to(device).eval()
    return Checkpoint(model, config, TextTokenizer.load(directory), directory)


def load_train_state(directory: str | Path) -> dict:
    path = Path(directory) / TRAIN_STATE
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} is missing")
    return torch.load(path, map_location="cpu", weights_only=True)
