"""Training configuration: one dataclass, loaded from a preset YAML plus `key=value` overrides.

A preset holds training keys at the top level and the network under `model:` (see GPTConfig).
Overrides may name a model key directly (`n_layer=4`) or with its section (`model.n_layer=4`);
values are parsed as YAML, so `compile=true` and `learning_rate=3e-4` come out typed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from model.gpt import GPTConfig


@dataclass
class TrainConfig:
    model: GPTConfig = field(default_factory=GPTConfig)
    # data
    tokenizer: str = "char"  # "char", "bpe" or "byte" (model/tokenizer.py)
    bpe_vocab_size: int = 4096
    val_fraction: float = 0.05  # used only when OUT has no train/val/test folders
    test_fraction: float = 0.05
    # what the hash split assigns: "document" (no document straddles two splits: the honest default) or
    # "paragraph" (blocks of paragraphs of about 2,000 characters, for a corpus of a few long books where
    # whole documents cannot fill three splits; neighbouring blocks of one book then share style and names)
    split_unit: str = "document"
    cache_dir: str = ""  # token cache; "" means OUT/.token_cache
    # optimisation (defaults: nanoGPT's shakespeare_char)
    batch_size: int = 64  # sequences per micro-batch (per process under DDP)
    grad_accum_steps: int = 1
    max_iters: int = 5000
    max_seconds: float = 0.0  # > 0: stop training after this much time (periodic val estimates included), with
    #                            the LR schedule stretched to end exactly then (not bit-for-bit deterministic). The
    #                            whole-split evaluation at the end (final_eval) is not in it: the summary reports its
    #                            own `eval_seconds`
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0 means max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables
    # evaluation and logging
    eval_interval: int = 250
    eval_iters: int = 20  # batches per periodic val estimate
    final_eval: bool = True  # evaluate the whole val split at the end
    log_interval: int = 10
    progress: bool = True  # progress bar on stderr
    # system
    seed: int = 1337
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (bf16 autocast on CUDA when supported, else fp32) | float32 | bfloat16
    compile: bool = False
    threads: int = 0  # torch intra-op threads; 0 = one per available core
    out_dir: str = "runs/latest"  # the checkpoint folder ("": none); `curate train OUT` defaults to OUT/runs/<preset>
    # False: write a checkpoint only when the val estimate improves (nanoGPT's always_save_checkpoint=False), so a
    # run that overfits a small corpus keeps its best model; a resume then continues from that best step
    always_save_checkpoint: bool = True
    resume: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        model = GPTConfig(**d.pop("model", {}))
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(model=model, **d)


MODEL_KEYS = {f.name for f in dataclasses.fields(GPTConfig)}


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `key=value` strings to a raw config dict (a copy is returned)."""
    raw = {**raw, "model": dict(raw.get("model") or {})}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        parsed = yaml.safe_load(value) if value.strip() else ""
        if key.startswith("model."):
            raw["model"][key[len("model.") :]] = parsed
        elif key in MODEL_KEYS:
            raw["model"][key] = parsed
        else:
            raw[key] = parsed
    return raw


PRESETS = Path(__file__).parent / "configs"
# the presets' names before they were named by purpose: still accepted
PRESET_ALIASES = {"shakespeare_char": "gpu_nanogpt", "shakespeare_char_2k": "gpu", "shakespeare_char_cpu": "cpu_nanogpt",
                  "shakespeare_char_cpu_95s": "cpu"}


def preset_path(preset: str | Path) -> Path:
    """A preset YAML file, or a preset's name (`cpu`, `gpu.yaml`, `model/configs/cpu.yaml`, an old name) in
    model/configs/. Raises FileNotFoundError naming the presets there."""
    path = Path(preset)
    if path.is_file():
        return path
    name = path.name.removesuffix(".yaml")
    found = PRESETS / f"{PRESET_ALIASES.get(name, name)}.yaml"
    if found.is_file():
        return found
    names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
    raise FileNotFoundError(f"no preset {str(preset)!r}: give a YAML file or one of {names}")


def default_preset(overrides: list[str] = ()) -> Path:
    """The preset that suits the device the run will use: `gpu` where CUDA is available (and no `device=cpu`
    override), else `cpu` (a 6-layer, 384-wide model with batch 64 took 27 s a step on a 2-core CPU)."""
    device = apply_overrides({}, [o for o in overrides if o.lstrip("-").startswith("device=")]).get("device", "auto")
    if str(device) == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return PRESETS / ("gpu.yaml" if str(device).startswith("cuda") else "cpu.yaml")


def load_config(path: str | Path | None, overrides: list[str] = (), default_out_dir: str | Path | None = None
                ) -> TrainConfig:
    """A preset (a file or a name, see preset_path; the defaults when None) with overrides applied.
    `default_out_dir`: the checkpoint folder when neither the preset nor an override names one."""
    raw = {}
    if path is not None:
        raw = yaml.safe_load(preset_path(path).read_text()) or {}
    if default_out_dir is not None and "out_dir" not in raw:
        raw["out_dir"] = str(default_out_dir)  # overrides come after, and win
    return TrainConfig.from_dict(apply_overrides(raw, list(overrides)))
