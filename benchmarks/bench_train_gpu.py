"""Trainer benchmark on a CUDA GPU: nanoGPT's shakespeare_char recipe, ours against nanoGPT's loop.

Recipe (nanoGPT config/train_shakespeare_char.py): tiny Shakespeare, char tokenizer, 90/10 split;
6 layers, 6 heads, 384 wide, context 256, dropout 0.2, batch 64, 5000 iterations, lr 1e-3 with
100 warmup steps and cosine decay to 1e-4, AdamW (0.9, 0.99), weight decay 0.1, clip 1.0,
bf16 autocast, torch.compile. nanoGPT publishes a val loss of about 1.47 (its estimate on 200
random val batches at the last evaluation).

  python benchmarks/bench_train_gpu.py               # throughput rounds + the full recipe
  python benchmarks/bench_train_gpu.py --quick       # throughput rounds only

Prints one JSON object:
  throughput  rounds alternate, each in a fresh process: "nanogpt" (its train.py loop and model.py
              on CUDA: compile, bf16 autocast, fused AdamW, pinned non-blocking batches, loss.item()
              every 10 steps) and "ours" (curate's train()); median tokens/s over log windows after
              warm-up, ratio, and MFU (PaLM's 6N + 12LHQT FLOPs per token over the GPU's dense bf16 peak).
  recipe      ours, 5000 iterations: the val-loss curve (200-batch estimates, as nanoGPT reports),
              the loss on the whole val split, tokens/s, MFU and wall time.
Needs a CUDA GPU; the CPU benchmark is bench_train.py.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train  # noqa: E402  (the faithful nanoGPT model and the Shakespeare split live there)

REPO = bench_train.REPO
sys.path.insert(0, str(REPO))  # `model` importable without an install (a lent GPU machine has only torch & co)
GPU_PRESET = REPO / "model/configs/gpu_nanogpt.yaml"
NANOGPT_PUBLISHED_VAL_LOSS = 1.4697  # nanoGPT README: "val loss 1.4697" after 5000 iterations on an A100


def nanogpt_gpu_worker(iters: int, tmp: Path) -> dict:
    """nanoGPT's train.py on CUDA for `iters` steps (no evaluation): tokens/s per 10-step window."""
    import inspect

    import numpy as np
    import torch

    train_bin, _, vocab = bench_train.write_nanogpt_bins(tmp)
    torch.manual_seed(1337)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    B, T, device = 64, 256, "cuda"
    cfg = dict(n_layer=6, n_head=6, n_embd=384, block_size=T, bias=False, vocab_size=vocab, dropout=0.2)
    model = bench_train.nanogpt_classes()(cfg).to(device)
    assert "fused" in inspect.signature(torch.optim.AdamW).parameters
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cuda")
    model = torch.compile(model)
    ctx = torch.amp.autocast(device_type="cuda", dtype=torch.bfloat16)

    def get_batch():
        data = np.memmap(train_bin, dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy((data[i : i + T]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + T]).astype(np.int64)) for i in ix])
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)

    def get_lr(it):
        if it < 100:
            return 1e-3 * (it + 1) / 101
        return 1e-4 + 0.5 * (1.0 + math.cos(math.pi * min((it - 100) / 4900, 1.0))) * (1e-3 - 1e-4)

    rates, X, Y = [], *get_batch()
    t0 = time.perf_counter()
    for it in range(1, iters + 1):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        with ctx:
            _, loss = model(X, Y)
        X, Y = get_batch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if it % 10 == 0:
            loss.item()  # waits for the GPU
            now = time.perf_counter()
            rates.append(10 * B * T / (now - t0))
            t0 = now
    return {"tokens_per_s_median": round(statistics.median(rates[3:])), "windows": len(rates)}


def ours_worker(overrides: list[str], tmp: str) -> dict:
    import torch

    from model.checkpoint import is_checkpoint, load_checkpoint
    from model.config import load_config
    from model.evaluate import evaluate_tokens, token_bytes_of
    from model.train import train

    t0 = time.perf_counter()
    tok, tokens = bench_train.shakespeare_tokens()
    out_dir = Path(tmp) / "ckpt"
    shutil.rmtree(out_dir, ignore_errors=True)
    cfg = load_config(GPU_PRESET, [f"out_dir={out_dir}", "progress=false", "compile=true", *overrides])
    s = train(cfg, tokenizer=tok, train_tokens=tokens[0], val_tokens=tokens[1])
    keep = ("step", "device", "tokens_per_s", "tokens_per_s_median", "mfu_median", "ms_per_iter", "val_curve",
            "val_loss", "best_val", "val_full", "elapsed_s")  # fmt: skip
    result = {**{k: s.get(k) for k in keep}, "wall_s": round(time.perf_counter() - t0, 1)}
    if is_checkpoint(out_dir) and s.get("val_full"):  # the saved model: the best one when always_save_checkpoint=false
        device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: only the worker's smoke run
        best = load_checkpoint(out_dir, device=device)
        autocast = lambda: torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")  # noqa: E731  (as trained)
        result["val_full_saved_checkpoint"] = evaluate_tokens(best.model, tokens[1], token_bytes_of(tok), device=device,
                                                              autocast=autocast)  # fmt: skip
    return result


def spawn(worker: str, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--worker", worker, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise SystemExit(f"{worker} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=["nanogpt", "ours"])
    p.add_argument("--iters", type=int, default=300, help="iterations per throughput measurement")
    p.add_argument("--override", action="append", default=[])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--tmp", default="/tmp/curate_bench_train_gpu")
    p.add_argument("--quick", action="store_true", help="throughput only")
    args = p.parse_args()
    if args.worker == "nanogpt":
        return print(json.dumps(nanogpt_gpu_worker(args.iters, Path(args.tmp))))
    if args.worker == "ours":
        return print(json.dumps(ours_worker(args.override, args.tmp)))

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_train_gpu.py needs a CUDA GPU; on CPU run benchmarks/bench_train.py")
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "nanogpt_published_val_loss": NANOGPT_PUBLISHED_VAL_LOSS}  # fmt: skip
    rounds = {"nanogpt": [], "ours": []}
    chunk = [f"max_iters={args.iters}", "final_eval=false", f"eval_interval={10 * args.iters}", "log_interval=10"]
    for r in range(args.rounds):
        print(f"throughput round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
        rounds["nanogpt"].append(spawn("nanogpt", ["--iters", str(args.iters), "--tmp", args.tmp])["tokens_per_s_median"])
        ours = spawn("ours", ["--tmp", args.tmp, *[a for o in chunk for a in ("--override", o)]])
        rounds["ours"].append(ours["tokens_per_s_median"])
        report["mfu_ours_median"] = ours["mfu_median"]
    med = {k: statistics.median(v) for k, v in rounds.items() if v}
    if args.rounds:
            report["throughput"] = {"tokens_per_s_rounds": rounds, "tokens_per_s_median": med,
                                "speedup_ours_vs_nanogpt": round(med["ours"] / med["nanogpt"], 3)}  # fmt: skip
    if not args.quick:
        print("recipe: ours, 5000 iterations", file=sys.stderr, flush=True)
        report["recipe_ours"] = spawn("ours", ["--tmp", args.tmp, *[a for o in args.override for a in ("--override", o)]])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
