"""Trainer benchmark: curate's trainer against a faithful re-implementation of nanoGPT's CPU loop.

Recipe (nanoGPT README, CPU): tiny Shakespeare, char tokenizer, first 90% of characters train,
last 10% val; 4 layers, 4 heads, 128 wide, context 64, batch 12, 2000 iterations, lr 1e-3 with
100 warmup steps and cosine decay to 1e-4, AdamW (0.9, 0.99), weight decay 0.1, clip 1.0,
no dropout, fp32, evaluation every 250 steps on 20 batches.

  python benchmarks/bench_train.py            # everything (~10 min on 2 shared cores)
  python benchmarks/bench_train.py --quick    # throughput only

Prints one JSON object. Three phases:
  throughput  rounds alternate, each in a fresh process: "nanogpt" (its loop and model.py, with
              the environment it runs in by default), "nanogpt_same_threads" (the same, with our
              OpenMP wait policy, isolating code differences from thread settings) and "ours"
              (curate's train() loop); medians and ratios of ms/iter.
  recipe      both run the full recipe; final val loss on the whole val split (non-overlapping
              windows), to set beside nanoGPT's published 1.898.
  budget      the preset model/configs/cpu.yaml, for the same 95 s of wall
              time nanoGPT's recipe takes, reported beside 1.898.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# CURATE_SHAKESPEARE: another copy of the file, for a machine without ../shared (a lent GPU)
SHAKESPEARE = Path(os.environ.get("CURATE_SHAKESPEARE", REPO / "../shared/data/text/tinyshakespeare/input.txt")).resolve()
CPU_PRESET = REPO / "model/configs/cpu_nanogpt.yaml"
BUDGET_PRESET = REPO / "model/configs/cpu.yaml"
NANOGPT_REFERENCE = {"val_loss_whole_split": 1.898, "bits_per_byte": 2.739, "wall_s": 95, "ms_per_iter": "38-42",
                     "tokens_per_s": 19000, "peak_rss_mib": 363}  # fmt: skip


# --- nanoGPT, re-implemented faithfully (model.py at its current commit, CPU path of train.py) --
def nanogpt_classes():
    import torch
    import torch.nn as nn
    from torch.nn import functional as F

    class LayerNorm(nn.Module):
        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, x):
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
            self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
            self.resid_dropout = nn.Dropout(c["dropout"])
            self.n_head, self.n_embd, self.dropout = c["n_head"], c["n_embd"], c["dropout"]

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])
            self.dropout = nn.Dropout(c["dropout"])

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln_1, self.attn = LayerNorm(c["n_embd"], c["bias"]), CausalSelfAttention(c)
            self.ln_2, self.mlp = LayerNorm(c["n_embd"], c["bias"]), MLP(c)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class NanoGPT(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.block_size = c["block_size"]
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(c["vocab_size"], c["n_embd"]), wpe=nn.Embedding(c["block_size"], c["n_embd"]),
                drop=nn.Dropout(c["dropout"]), h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
                ln_f=LayerNorm(c["n_embd"], c["bias"])))  # fmt: skip
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
            self.transformer.wte.weight = self.lm_head.weight
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c["n_layer"]))

        def _init_weights(self, m):
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

        def forward(self, idx, targets=None):
            pos = torch.arange(0, idx.size(1), dtype=torch.long, device=idx.device)
            x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is None:  # nanoGPT's inference path: last position only
                return self.lm_head(x[:, [-1], :]), None
            logits = self.lm_head(x)
            return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            params = [p for p in self.parameters() if p.requires_grad]
            groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
            use_fused = "fused" in inspect.signature(torch.optim.AdamW).parameters and device_type == "cuda"
            return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **({"fused": True} if use_fused else {}))

    return NanoGPT


def nanogpt_worker(iters: int, eval_interval: int, tmp: Path) -> dict:
    """nanoGPT's train.py loop on CPU: get_batch re-opens the memmap, loss.item() every step
    (log_interval=1), evaluation of train and val on 20 batches each, checkpoint when val improves."""
    import numpy as np
    import torch

    train_bin, val_bin, vocab = write_nanogpt_bins(tmp)
    torch.manual_seed(1337)
    B, T = 12, 64
    cfg = dict(n_layer=4, n_head=4, n_embd=128, block_size=T, bias=False, vocab_size=vocab, dropout=0.0)
    model = nanogpt_classes()(cfg)
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")

    def get_batch(split):
        data = np.memmap(train_bin if split == "train" else val_bin, dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy((data[i : i + T]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + T]).astype(np.int64)) for i in ix])
        return x, y

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ("train", "val"):
            losses = torch.zeros(20)
            for k in range(20):
                losses[k] = model(*get_batch(split))[1].item()
            out[split] = losses.mean().item()
        model.train()
        return out

    def get_lr(it):
        if it < 100:
            return 1e-3 * (it + 1) / 101
        ratio = (it - 100) / (iters - 100)
        return 1e-4 + 0.5 * (1.0 + math.cos(math.pi * min(ratio, 1.0))) * (1e-3 - 1e-4)

    curve, best, train_time, t_start = [], 1e9, 0.0, time.perf_counter()
    X, Y = get_batch("train")
    for it in range(iters + 1):
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        if eval_interval and it % eval_interval == 0:
            losses = estimate_loss()
            curve.append([it, losses["val"]])
            if losses["val"] < best and it > 0:
                best = losses["val"]
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp / "ckpt.pt")
        if it == iters:
            break
        t0 = time.perf_counter()
        logits, loss = model(X, Y)
        X, Y = get_batch("train")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        train_time += time.perf_counter() - t0
    wall = time.perf_counter() - t_start
    result = {"iters": iters, "ms_per_iter": 1000 * train_time / iters, "tokens_per_s": iters * B * T / train_time,
              "loop_wall_s": wall, "val_curve": curve}  # fmt: skip
    if eval_interval:
        result["val_full"] = whole_split_loss(model, np.fromfile(val_bin, dtype=np.uint16))
    return result


def whole_split_loss(nano_model, tokens) -> dict:
    # imported late: importing model/ sets OMP_WAIT_POLICY, which must not touch nanoGPT's timing
    from model.evaluate import evaluate_tokens
    from model.tokenizer import TextTokenizer

    class AllPositions:  # nanoGPT returns only the last position without targets
        def __init__(self, m):
            self.m, self.config = m, type("C", (), {"block_size": m.block_size})
            self.training, self.eval, self.train = m.training, m.eval, m.train

        def __call__(self, idx):
            return self.m(idx, idx)[0], None

    tok = TextTokenizer.train("char", [shakespeare_splits()[0]])
    import torch

    bytes_of = torch.tensor(tok.token_byte_lengths()[:65])
    return evaluate_tokens(AllPositions(nano_model), tokens, bytes_of)


def shakespeare_splits() -> tuple[str, str]:
    text = SHAKESPEARE.read_text(encoding="utf-8")
    n = int(0.9 * len(text))
    return text[:n], text[n:]


def write_nanogpt_bins(tmp: Path):
    """nanoGPT's data/shakespeare_char/prepare.py: vocabulary from all the text, 90/10 split."""
    import numpy as np

    text = SHAKESPEARE.read_text(encoding="utf-8")
    stoi = {ch: i for i, ch in enumerate(sorted(set(text)))}
    n = int(0.9 * len(text))
    tmp.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.bin", text[:n]), ("val.bin", text[n:])):
        np.array([stoi[c] for c in part], dtype=np.uint16).tofile(tmp / name)
    return tmp / "train.bin", tmp / "val.bin", len(stoi)


# --- ours ---------------------------------------------------------------------------------
def shakespeare_tokens():
    """The char tokenizer of the training split (its 65 symbols + 2 specials) and both splits as uint16 tokens."""
    import numpy as np

    from model.tokenizer import TextTokenizer

    train_text, val_text = shakespeare_splits()
    tok = TextTokenizer.train("char", [train_text])
    # encode in slices: one Encoding of a million characters would hold a million offsets
    tokens = [np.concatenate([np.array(tok.encode(t[i : i + 65536]), dtype=np.uint16) for i in range(0, len(t), 65536)])
              for t in (train_text, val_text)]  # fmt: skip
    return tok, tokens


def ours_worker(preset: Path, overrides: list[str]) -> dict:
    from model.config import load_config
    from model.train import train

    t0 = time.perf_counter()
    tok, tokens = shakespeare_tokens()
    cfg = load_config(preset, ["out_dir=", "progress=false", *overrides])
    summary = train(cfg, tokenizer=tok, train_tokens=tokens[0], val_tokens=tokens[1])
    keep = ("step", "tokens_per_s", "tokens_per_s_median", "ms_per_iter", "val_curve", "val_loss", "val_full", "elapsed_s")
    return {**{k: summary.get(k) for k in keep}, "wall_s": time.perf_counter() - t0}


def worker_main(args) -> None:
    t0 = time.perf_counter()
    if args.worker == "nanogpt":
        result = nanogpt_worker(args.iters, args.eval_interval, Path(args.tmp))
    else:
        result = ours_worker(Path(args.preset), args.override)
    result["process_wall_s"] = time.perf_counter() - t0
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def spawn(worker: str, extra: list[str], env_update: dict | None = None, drop_omp: bool = False) -> dict:
    env = dict(os.environ, **(env_update or {}))
    if drop_omp:
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [sys.executable, __file__, "--worker", worker, *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=REPO)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["spawn_wall_s"] = time.perf_counter() - t0
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", choices=["nanogpt", "ours"])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--preset", default=str(CPU_PRESET))
    p.add_argument("--override", action="append", default=[])
    p.add_argument("--tmp", default="/tmp/curate_bench_train")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--chunk", type=int, default=60, help="iterations per throughput measurement")
    p.add_argument("--quick", action="store_true", help="throughput only")
    args = p.parse_args()
    if args.worker:
        return worker_main(args)

    report = {"machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}, "reference_nanogpt": NANOGPT_REFERENCE}
    chunk = ["--iters", str(args.chunk), "--eval-interval", "0", "--tmp", args.tmp]
    rounds = {"nanogpt": [], "nanogpt_same_threads": [], "ours": []}
    for r in range(args.rounds):
        print(f"throughput round {r + 1}/{args.rounds}", file=sys.stderr)
        rounds["nanogpt"].append(spawn("nanogpt", chunk, drop_omp=True)["ms_per_iter"])
        rounds["nanogpt_same_threads"].append(spawn("nanogpt", chunk, {"OMP_WAIT_POLICY": "PASSIVE"})["ms_per_iter"])
        ours = spawn("ours", ["--override", f"max_iters={args.chunk}", "--override", "final_eval=false",
                              "--override", f"eval_interval={10 * args.chunk}", "--override", f"log_interval={args.chunk}"])  # fmt: skip
        rounds["ours"].append(ours["ms_per_iter"])
    med = {k: statistics.median(v) for k, v in rounds.items()}
    tokens_per_iter = 12 * 64
    report["throughput"] = {
        "what": "ms per training iteration (batch 12 x 64 tokens), evaluation excluded; one fresh process per measurement",
        "ms_per_iter_rounds": rounds,
        "ms_per_iter_median": med,
        "tokens_per_s_median": {k: round(tokens_per_iter * 1000 / v) for k, v in med.items()},
        "speedup_ours_vs_nanogpt": round(med["nanogpt"] / med["ours"], 3),
        "speedup_ours_vs_nanogpt_same_threads": round(med["nanogpt_same_threads"] / med["ours"], 3),
    }
    if not args.quick:
        print("recipe: ours, 2000 iterations", file=sys.stderr)
        report["recipe_ours"] = spawn("ours", [])
        print("recipe: nanogpt, 2000 iterations", file=sys.stderr)
        report["recipe_nanogpt"] = spawn("nanogpt", ["--tmp", args.tmp], {"OMP_WAIT_POLICY": "PASSIVE"})
        print("budget preset: 95 s", file=sys.stderr)
        report["budget_95s"] = spawn("ours", ["--preset", str(BUDGET_PRESET)])
        report["summary"] = {
            "final_val_loss_whole_split": {
                "ours_recipe": report["recipe_ours"]["val_full"]["loss"],
                "nanogpt_recipe_here": report["recipe_nanogpt"]["val_full"]["loss"],
                "nanogpt_reference": NANOGPT_REFERENCE["val_loss_whole_split"],
                "ours_95s_preset": report["budget_95s"]["val_full"]["loss"],
            },
            "ours_95s_preset_process_wall_s": report["budget_95s"]["process_wall_s"],
        }
    report["machine"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
