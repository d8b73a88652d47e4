"""The training loop, in the spirit of nanoGPT's train.py.

AdamW (fused where available) with weight decay on matrices only, linear warmup then cosine
decay, gradient clipping and accumulation, bf16 autocast, optional torch.compile, and DDP under
torchrun. Given a seed a run is deterministic, and a run stopped at a checkpoint and resumed
takes exactly the steps an uninterrupted run takes: the checkpoint stores the optimizer state,
the step, and the state of the generator that draws training batches (evaluation draws from its
own generator, so when it runs never changes what training sees).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from model.checkpoint import load_checkpoint, load_train_state, save_checkpoint
from model.config import TrainConfig
from model.data import find_split, random_windows, tokenize_split
from model.evaluate import estimate_loss, evaluate_tokens, token_bytes_of
from model.gpt import GPT
from model.tokenizer import TextTokenizer

# Dense bf16 peak FLOP/s by GPU name, for the MFU estimate (vendor datasheets, no sparsity).
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12, "L4": 121e12}


@dataclass
class Runtime:
    device: torch.device
    dtype: torch.dtype  # of the autocast region; float32 means no autocast
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def master(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Device, precision, threads and (under torchrun) the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device_name = cfg.device
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name == "cuda":  # an index is needed by set_device; under torchrun, this process's GPU
        device_name = f"cuda:{local_rank}"
    device = torch.device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls outside autocast
        torch.backends.cudnn.allow_tf32 = True
    else:
        # One thread per core this process may use: more threads than cores only adds contention.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(cfg.threads or max(1, cores // world_size))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if cfg.dtype == "auto":
        use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if use_bf16 else torch.float32
    elif cfg.dtype in ("float32", "bfloat16"):
        dtype = getattr(torch, cfg.dtype)
    else:
        raise ValueError(f"dtype must be auto, float32 or bfloat16, not {cfg.dtype!r}")
    return Runtime(device, dtype, rank, local_rank, world_size)


def lr_at(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warmup, then cosine decay to min_lr over lr_decay_iters steps (or max_seconds)."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if cfg.max_seconds > 0:
        progress = elapsed / cfg.max_seconds
    else:
        decay_iters = cfg.lr_decay_iters or cfg.max_iters
        progress = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    progress = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def prepare_data(
    cfg: TrainConfig, data: str | Path, tokenizer: TextTokenizer | None = None
) -> tuple[TextTokenizer, np.ndarray, np.ndarray]:
    """Tokenizer (trained on the train split unless given) and the train/val token streams."""
    train_src = find_split(data, "train", cfg.val_fraction, cfg.test_fraction, cfg.split_unit)
    val_src = find_split(data, "val", cfg.val_fraction, cfg.test_fraction, cfg.split_unit)
    if tokenizer is None:
        from model.data import iter_texts

        tokenizer = TextTokenizer.train(cfg.tokenizer, iter_texts(train_src), cfg.bpe_vocab_size)
    cache_dir = cfg.cache_dir or Path(data) / ".token_cache"
    return tokenizer, tokenize_split(train_src, tokenizer, cache_dir), tokenize_split(val_src, tokenizer, cache_dir)


def make_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # The fused kernel updates every tensor in one pass (CPU and CUDA in recent torch).
    fused = device.type in ("cpu", "cuda") and "fused" in inspect.signature(torch.optim.AdamW).parameters
    return torch.optim.AdamW(
        model.optimizer_groups(cfg.weight_decay),
        lr=cfg.learning_rate,
        betas=(cfg.beta1, cfg.beta2),
        **({"fused": True} if fused else {}),
    )


def freeze_lower_layers(model: GPT, n_layers: int) -> None:
    """Transfer learning: freeze the embeddings (and so the tied head) and the first n blocks."""
    if n_layers <= 0:
        return
    if n_layers > model.config.n_layer:
        raise ValueError(f"cannot freeze {n_layers} layers of a {model.config.n_layer}-layer model")
    frozen = [model.wte, *([model.wpe] if model.wpe is not None else []), *model.h[:n_layers]]
    for module in frozen:
        module.requires_grad_(False)


def train(
    cfg: TrainConfig,
    data: str | Path | None = None,
    *,
    tokenizer: TextTokenizer | None = None,
    train_tokens: np.ndarray | None = None,
    val_tokens: np.ndarray | None = None,
    init_from: str | Path | None = None,
    freeze_layers: int = 0,
    until_step: int | None = None,
) -> dict:
    """Train; returns a summary. Data comes from a curated folder `data`, or ready token arrays
    (with their tokenizer). `init_from` starts from a checkpoint's weights and tokenizer
    (fine-tuning); `until_step` stops early as if the run were killed after that checkpoint."""
    rt = setup_runtime(cfg)
    out_dir = Path(cfg.out_dir) if cfg.out_dir else None
    resuming = cfg.resume and out_dir is not None and (out_dir / "train_state.pt").exists()
    base = load_checkpoint(out_dir if resuming else init_from) if (resuming or init_from) else None
    if base is not None:
        tokenizer = base.tokenizer
        cfg.model = base.config.model  # the network is the checkpoint's, whatever the preset says
    if train_tokens is None:
        if rt.world_size > 1 and not rt.master:
            dist.barrier()  # rank 0 trains the tokenizer and fills the token cache first
            tokenizer = tokenizer or TextTokenizer.load(out_dir)
        tokenizer, train_tokens, val_tokens = prepare_data(cfg, data, tokenizer)
        if rt.world_size > 1 and rt.master:
            out_dir.mkdir(parents=True, exist_ok=True)
            tokenizer.save(out_dir)
            dist.barrier()
    cfg.model.vocab_size = tokenizer.vocab_size

    torch.manual_seed(cfg.seed)  # the same seed builds the same initial weights on every rank
    raw_model = GPT(cfg.model)
    if base is not None:
        raw_model.load_state_dict(base.model.state_dict())
    freeze_lower_layers(raw_model, freeze_layers)
    raw_model.to(rt.device)
    optimizer = make_optimizer(raw_model, cfg, rt.device)
    model = torch.compile(raw_model) if cfg.compile else raw_model
    if rt.world_size > 1:
        model = DDP(model, device_ids=[rt.local_rank] if rt.device.type == "cuda" else None)

    batches = torch.Generator().manual_seed(cfg.seed + rt.rank)  # training batches only
    step, elapsed, curve = 0, 0.0, []
    window_rates = []  # tokens/s of each log window: their median ignores compile warm-up and stalls
    if resuming:
        state = load_train_state(out_dir)
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, curve = state["step"], state["elapsed"], state["curve"]
        batches.set_state(state["batch_rng"][rt.rank])
        torch.set_rng_state(state["torch_rng"])  # dropout
        if rt.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"])
    start_step = step

    token_bytes = token_bytes_of(tokenizer)
    block = cfg.model.block_size
    tokens_per_step = cfg.batch_size * block * cfg.grad_accum_steps * rt.world_size
    peak = next((f for name, f in PEAK_FLOPS.items() if name in _device_name(rt.device)), None)
    metrics = None
    if rt.master and out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics = open(out_dir / "metrics.jsonl", "a")

    def record(entry: dict) -> None:
        if metrics is not None:
            metrics.write(json.dumps(entry) + "\n")
            metrics.flush()

    def evaluate_and_save() -> None:
        val = estimate_loss(
            raw_model, val_tokens, token_bytes, cfg.batch_size, block, cfg.eval_iters,
            seed=cfg.seed + 1_000_003, device=rt.device, autocast=rt.autocast,
        )  # fmt: skip
        improved = not curve or val["loss"] < min(loss for _, loss in curve)
        curve.append([step, val["loss"]])
        record({"step": step, "val_loss": val["loss"], "val_perplexity": val["perplexity"],
                "val_bits_per_byte": val["bits_per_byte"], "elapsed_s": round(elapsed, 3)})  # fmt: skip
        if rt.master:
            bar.write(f"step {step}: val loss {val['loss']:.4f}, bits/byte {val['bits_per_byte']:.4f}", file=sys.stderr)
        rng_states = [batches.get_state()]
        if rt.world_size > 1:
            rng_states = [None] * rt.world_size
            dist.all_gather_object(rng_states, batches.get_state())
        if rt.master and out_dir is not None and (cfg.always_save_checkpoint or improved):
            state = {"optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed, "curve": curve,
                     "batch_rng": rng_states, "torch_rng": torch.get_rng_state()}  # fmt: skip
            if rt.device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state()
            save_checkpoint(out_dir, raw_model, cfg, tokenizer, state)

    # a time-budget run does not know its step count in advance: count steps without a total
    bar = tqdm(total=None if cfg.max_seconds > 0 else cfg.max_iters, initial=step, file=sys.stderr, disable=not (cfg.progress and rt.master),
               dynamic_ncols=True, desc="train")  # fmt: skip
    train_time = 0.0  # seconds spent in training steps, evaluation excluded (for tokens/s)
    steps_timed = 0
    clock = time.perf_counter() - elapsed
    window_start, window_steps = time.perf_counter(), 0
    model.train()
    while True:
        elapsed = time.perf_counter() - clock
        stop_now = until_step is not None and step >= until_step
        done = step >= cfg.max_iters or (cfg.max_seconds > 0 and elapsed >= cfg.max_seconds) or stop_now
        if rt.world_size > 1 and cfg.max_seconds > 0:
            # each rank's clock differs: rank 0 decides when a time budget ends, or the ranks would hang in DDP
            flag = torch.tensor([int(done)], device=rt.device)
            dist.broadcast(flag, src=0)
            done = bool(flag.item())
        if done or (step % cfg.eval_interval == 0 and step != start_step):
            paused = time.perf_counter()
            evaluate_and_save()
            window_start += time.perf_counter() - paused  # evaluation does not count as training time
        if done:
            break

        lr = lr_at(cfg, step, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(cfg.grad_accum_steps):
            x, y = random_windows(train_tokens, cfg.batch_size, block, batches)
            if rt.device.type == "cuda":
                x, y = x.pin_memory().to(rt.device, non_blocking=True), y.pin_memory().to(rt.device, non_blocking=True)
            if rt.world_size > 1:  # all-reduce gradients only on the last micro-step
                model.require_backward_grad_sync = micro == cfg.grad_accum_steps - 1
            with rt.autocast():
                _, loss = model(x, y)
            (loss / cfg.grad_accum_steps).backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_steps += 1
        bar.update(1)

        if step % cfg.log_interval == 0 or step == cfg.max_iters:
            now = time.perf_counter()  # .item() below waits for the GPU, so time is honest
            loss_value = loss.item()
            window = now - window_start
            train_time, steps_timed = train_time + window, steps_timed + window_steps
            tokens_per_s = window_steps * tokens_per_step / max(window, 1e-9)
            window_rates.append(tokens_per_s)
            entry = {"step": step, "train_loss": loss_value, "lr": lr, "tokens_per_s": round(tokens_per_s),
                     "ms_per_iter": round(1000 * window / window_steps, 2)}  # fmt: skip
            postfix = {"loss": f"{loss_value:.4f}", "tok/s": f"{tokens_per_s:,.0f}"}
            if peak is not None:
                entry["mfu"] = raw_model.flops_per_token() * tokens_per_s / (peak * rt.world_size)
                postfix["mfu"] = f"{100 * entry['mfu']:.1f}%"
            bar.set_postfix(postfix)
            record(entry)
            window_start, window_steps = time.perf_counter(), 0
    bar.close()

    summary = {
        "step": step,
        "elapsed_s": round(elapsed, 3),
        "tokens_per_s": round(steps_timed * tokens_per_step / train_time) if train_time else None,
        "ms_per_iter": round(1000 * train_time / steps_timed, 3) if steps_timed else None,
        "tokens_per_s_median": round(statistics.median(window_rates)) if window_rates else None,
        "val_curve": curve,
        "val_loss": curve[-1][1] if curve else None,
        "best_val": min(curve, key=lambda point: point[1]) if curve else None,  # [step, loss]
        "out_dir": str(out_dir) if out_dir else None,
    }
    if peak is not None and window_rates:
        summary["mfu_median"] = raw_model.flops_per_token() * statistics.median(window_rates) / (peak * rt.world_size)
        summary["device"] = _device_name(rt.device)
    if cfg.final_eval and rt.master and not stop_now:
        started = time.perf_counter()  # outside max_seconds, which bounds the training: reported on its own
        full = evaluate_tokens(raw_model, val_tokens, token_bytes, device=rt.device, autocast=rt.autocast)
        summary["val_full"] = full
        summary["eval_seconds"] = round(time.perf_counter() - started, 3)
        record({"step": step, "val_full": full, "eval_seconds": summary["eval_seconds"]})
    if metrics is not None:
        metrics.close()
    if rt.world_size > 1:
        # The DDP wrapper's reducer holds the process group, and DDP's hooks make reference cycles, so without this
        # the wrapper (and the gloo group with its C++ worker threads) would be freed only during interpreter
        # shutdown, where it aborts now and then: "terminate called without an active exception", <no Python frame>
        # (seen in about 1 run in 10 of the 2-process test). Free it here, while the interpreter is whole.
        model = None
        gc.collect()
        dist.barrier()  # leave together: no rank tears the group down while another still talks to it
        dist.destroy_process_group()
    summary["model"] = raw_model
    summary["tokenizer"] = tokenizer
    return summary


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


if __name__ == "__main__":
    # `torchrun --nproc_per_node=N -m model.train OUT --config PRESET [key=value ...]` for DDP
    from model.cli import train_command

    train_command()
