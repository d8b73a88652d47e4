import json
import math
from collections import Counter

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from trainer_testdata import ALICE, DEVICE, paragraphs, read_text, tiny_overrides, write_shards

from model.cli import evaluate_command, finetune_command, sample_command, train_command
from model.config import load_config
from model.train import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, shakespeare_out):
    """A tiny model trained through the CLI on Shakespeare shards."""
    ckpt = tmp_path_factory.mktemp("ckpt") / "run"
    args = [str(shakespeare_out), *tiny_overrides(ckpt, max_iters=60), "--json"]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["step"] == 60 and (ckpt / "model.safetensors").exists()
    return ckpt


def unigram_entropy(text: str) -> float:
    counts = Counter(text)
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


def test_short_run_learns_far_below_the_unigram_entropy(tmp_path, shakespeare_out, shakespeare_text):
    cfg = load_config(None, tiny_overrides(tmp_path / "run", max_iters=250, n_embd=64, batch_size=16,
                                           learning_rate=3e-3, final_eval=True, eval_interval=125))  # fmt: skip
    summary = train(cfg, shakespeare_out)
    entropy = unigram_entropy(shakespeare_text)  # about 3.3 nats per character
    full = summary["val_full"]
    assert full["loss"] < entropy - 0.6, (full, entropy)
    assert summary["val_curve"][-1][1] < summary["val_curve"][0][1]
    assert full["bits_per_byte"] == pytest.approx(full["loss"] * full["tokens"] / math.log(2) / full["bytes"])
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("tokens_per_s" in m for m in metrics) and any("val_bits_per_byte" in m for m in metrics)


def test_resumed_run_equals_uninterrupted_run(tmp_path, shakespeare_out):
    def config(name, resume=False):
        return load_config(None, tiny_overrides(tmp_path / name, max_iters=24, eval_interval=8, dropout=0.1,
                                                resume=resume))  # fmt: skip

    straight = train(config("straight"), shakespeare_out)
    stopped = train(config("stopped"), shakespeare_out, until_step=8)
    assert stopped["step"] == 8
    resumed = train(config("stopped", resume=True), shakespeare_out)
    assert resumed["step"] == 24
    assert resumed["val_curve"] == straight["val_curve"]  # same losses at every evaluation
    a, b = load_file(tmp_path / "straight" / "model.safetensors"), load_file(tmp_path / "stopped" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_reports_loss_perplexity_bpb_and_kl_on_test_split(checkpoint, shakespeare_out):
    result = CliRunner().invoke(evaluate_command, [str(checkpoint), "--data", str(shakespeare_out), "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["split"] == "test" and r["tokens"] > 10_000
    assert r["perplexity"] == pytest.approx(math.exp(r["loss"]))
    assert r["bits_per_byte"] == pytest.approx(r["loss"] * r["tokens"] / math.log(2) / r["bytes"])
    assert 0 <= r["kl_data_model"] < r["loss"]
    missing = CliRunner().invoke(evaluate_command, [str(checkpoint), "--data", str(checkpoint), "--split", "test"])
    assert missing.exit_code == 1  # a folder without shards is a clear failure, not a traceback


def test_sampling_with_a_seed_repeats_and_temperature_zero_is_greedy(checkpoint):
    def run(*extra):
        args = [str(checkpoint), "--prompt", "ROMEO:", "--max-new-tokens", "40", *extra]
        result = CliRunner().invoke(sample_command, args)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert run("--seed", "1") == run("--seed", "1")
    assert run("--seed", "1") != run("--seed", "2")
    greedy = run("--temperature", "0", "--seed", "5")
    assert greedy == run("--temperature", "0", "--seed", "6") and greedy.startswith("ROMEO:")
    assert CliRunner().invoke(sample_command, [str(checkpoint), "--temperature", "-1"]).exit_code == 2


def test_finetune_with_frozen_layers_changes_only_the_upper_layers(checkpoint, tmp_path):
    out2 = tmp_path / "alice"
    write_shards(out2 / "data", paragraphs(read_text(ALICE)), prefix="alice")
    target = tmp_path / "tuned"
    args = [str(checkpoint), "--data", str(out2), "--freeze-layers", "1", "--out-dir", str(target),
            "max_iters=10", "eval_interval=5", "--json"]  # fmt: skip
    result = CliRunner().invoke(finetune_command, args)
    assert result.exit_code == 0, result.output
    before, after = load_file(checkpoint / "model.safetensors"), load_file(target / "model.safetensors")
    frozen = [k for k in before if k.startswith(("wte.", "wpe.", "h.0."))]
    trained = [k for k in before if k.startswith(("h.1.", "ln_f."))]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in trained)
    bad = CliRunner().invoke(finetune_command, [str(checkpoint), "--data", str(out2), "--freeze-layers", "9"])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_ddp_under_torchrun_on_two_cpu_processes(tmp_path, shakespeare_out, shakespeare_text):
    """Data-parallel training with torchrun (gloo, 2 processes): one report, one checkpoint, a model that learned;
    a time budget ends on both ranks together (rank 0's clock decides, or DDP would hang)."""
    import os
    import subprocess
    import sys

    from trainer_testdata import REPO

    def torchrun(out_dir, **extra):
        overrides = tiny_overrides(out_dir, **{"max_iters": 80, "learning_rate": 3e-3, **extra})
        # --standalone: a free port for the rendezvous, so a port left in use by another run cannot fail this one
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "model.train",
                   str(shakespeare_out), *overrides, "--json"]
        # faulthandler: should a rank abort again, the failure shows where (Python frames, or none: shutdown)
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)  # rank 0 alone prints: stdout is one JSON object

    summary = torchrun(tmp_path / "ddp")
    assert summary["step"] == 80 and (tmp_path / "ddp" / "model.safetensors").exists()
    # 2 processes x batch 8: the tokens per step of a batch of 16
    metrics = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert metrics and all(m["step"] <= 80 for m in metrics)
    result = CliRunner().invoke(evaluate_command, [str(tmp_path / "ddp"), "--data", str(shakespeare_out),
                                                   "--split", "val", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loss"] < unigram_entropy(shakespeare_text) - 0.3
    timed = torchrun(tmp_path / "timed", max_iters=100000, max_seconds=3)
    assert 0 < timed["step"] < 100000


def test_always_save_checkpoint_false_keeps_the_best_model(tmp_path, shakespeare_text):
    """nanoGPT's always_save_checkpoint=False: a run that overfits keeps the checkpoint of its best val estimate."""
    from model.checkpoint import load_train_state

    out = tmp_path / "out"
    write_shards(out / "data", paragraphs(shakespeare_text)[:300], prefix="s")
    # a constant, too-high learning rate: the val estimate bottoms out before the last step (deterministic by seed)
    settings = dict(max_iters=60, learning_rate=0.1, min_lr=0.1, warmup_iters=0, eval_interval=5)
    best_only = train(load_config(None, tiny_overrides(tmp_path / "best", always_save_checkpoint=False, **settings)), out)
    best_step, best_loss = best_only["best_val"]
    assert best_step < 60 and best_loss < best_only["val_curve"][-1][1]
    assert load_train_state(tmp_path / "best")["step"] == best_step
    every = train(load_config(None, tiny_overrides(tmp_path / "every", **settings)), out)
    assert every["val_curve"] == best_only["val_curve"]  # the same run; only what is written differs
    assert load_train_state(tmp_path / "every")["step"] == 60


def test_train_without_config_suits_the_device_and_writes_under_the_output(tmp_path, shakespeare_text):
    """`curate train OUT` with no --config: the preset for this machine's device (a GPU-sized model took 27 s a step
    on a CPU), the checkpoint under OUT/runs/<preset>, the final evaluation's time reported beside the budget."""
    import time

    from model.config import PRESETS, load_config, preset_path

    out = tmp_path / "out"
    write_shards(out / "data", paragraphs(shakespeare_text)[:400], prefix="s")
    started = time.perf_counter()
    result = CliRunner().invoke(train_command, [str(out), "max_seconds=2", "progress=false", f"device={DEVICE}",
                                                "--json"])
    wall = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    preset = "gpu" if DEVICE.startswith("cuda") else "cpu"
    assert f"preset: {preset}" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["out_dir"] == str(out / "runs" / preset) and (out / "runs" / preset / "model.safetensors").exists()
    config = json.loads((out / "runs" / preset / "config.json").read_text())
    assert config["model"] == {**config["model"], **load_config(PRESETS / f"{preset}.yaml").to_dict()["model"],
                               "vocab_size": config["model"]["vocab_size"]}
    assert summary["elapsed_s"] < 30 and 0 <= summary["eval_seconds"] < wall  # loaded 2-core machine: seconds
    # presets are named by purpose; the old names still work
    assert preset_path("model/configs/shakespeare_char_cpu_95s.yaml") == preset_path("cpu") == PRESETS / "cpu.yaml"
    bad = CliRunner().invoke(train_command, [str(out), "--config", "no_such_preset"])
    assert bad.exit_code == 2 and "cpu, cpu_nanogpt, gpu, gpu_nanogpt" in bad.output
