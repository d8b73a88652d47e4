"""Thin click commands for the trainer; curate/cli.py registers them with `cli.add_command`.

Results go to stdout (`--json` for machine-readable output), progress and logs to stderr.
Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import math

import click

from model.tokenizer import KINDS


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        click.echo(f"{key}: {value}")


def _config(config_path, overrides, default_out_dir=None):
    from model.config import load_config

    try:
        return load_config(config_path, overrides, default_out_dir)
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise click.UsageError(f"bad configuration: {e}") from e


def _run_training(cfg, data, as_json: bool, **kwargs) -> None:
    from model.train import train

    try:
        summary = train(cfg, data, **kwargs)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun, rank 0 reports for all
    for key in ("model", "tokenizer"):
        summary.pop(key)
    result = {k: v for k, v in summary.items() if k != "val_curve"}
    full = result.pop("val_full", None)
    if full:
        result.update({f"val_{k}": v for k, v in full.items()})
    _emit(result, as_json)


overrides_argument = click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("train")
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--config", "config_path", help="Preset: a YAML file, or a name in model/configs/ (cpu, gpu, "
              "cpu_nanogpt, gpu_nanogpt) [cpu, or gpu where CUDA is available].")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in out_dir.")
@overrides_argument
@json_option
def train_command(data, config_path, resume, overrides, as_json):
    """Train a GPT on a curated output folder DATA (train/val splits, or data/ split by id hash).

    Overrides such as n_layer=2 max_iters=500 out_dir=runs/x follow the preset. The checkpoint goes to
    DATA/runs/<preset> unless out_dir is given. max_seconds bounds the training; the whole-split evaluation at the
    end comes after it (its time is reported as eval_seconds; final_eval=false skips it)."""
    from pathlib import Path

    from model.config import default_preset, preset_path

    overrides = [*overrides, *(["resume=true"] if resume else [])]
    try:
        preset = preset_path(config_path) if config_path else default_preset(overrides)
    except FileNotFoundError as e:
        raise click.UsageError(str(e)) from e
    if config_path is None:
        click.echo(f"preset: {preset.stem} (no --config: the preset for this machine's device)", err=True)
    cfg = _config(preset, overrides, default_out_dir=Path(data) / "runs" / preset.stem)
    if cfg.tokenizer not in KINDS:
        raise click.UsageError(f"tokenizer must be one of {KINDS}")
    _run_training(cfg, data, as_json)


@click.command("finetune")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Curated output folder.")
@click.option("--freeze-layers", default=0, show_default=True, help="Freeze the embeddings and the lowest N blocks.")
@click.option("--out-dir", default=None, help="Where to write the new checkpoint [CHECKPOINT-finetuned].")
@overrides_argument
@json_option
def finetune_command(checkpoint, data, freeze_layers, out_dir, overrides, as_json):
    """Fine-tune CHECKPOINT on DATA: fully, or with the lower layers frozen (transfer learning)."""
    from model.checkpoint import load_checkpoint

    base = load_checkpoint(checkpoint).config.to_dict()
    base["resume"] = False
    base["out_dir"] = out_dir or f"{checkpoint.rstrip('/')}-finetuned"
    from model.config import TrainConfig, apply_overrides

    try:
        cfg = TrainConfig.from_dict(apply_overrides(base, list(overrides)))
    except (ValueError, TypeError) as e:
        raise click.UsageError(f"bad configuration: {e}") from e
    if not 0 <= freeze_layers <= cfg.model.n_layer:
        raise click.UsageError(f"--freeze-layers must be between 0 and {cfg.model.n_layer}")
    _run_training(cfg, data, as_json, init_from=checkpoint, freeze_layers=freeze_layers)


@click.command("sample")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", default="", help="Text to continue (default: start a new document).")
@click.option("--temperature", default=0.8, show_default=True, help="0 is greedy decoding.")
@click.option("--top-k", default=200, show_default=True, help="Sample among the k likeliest tokens (0: all).")
@click.option("--max-new-tokens", default=500, show_default=True)
@click.option("--seed", default=None, type=int, help="Make sampling reproducible.")
@json_option
def sample_command(checkpoint, prompt, temperature, top_k, max_new_tokens, seed, as_json):
    """Generate text from CHECKPOINT."""
    from model.sample import sample

    if temperature < 0 or max_new_tokens < 0:
        raise click.UsageError("--temperature and --max-new-tokens must not be negative")
    text = sample(checkpoint, prompt, max_new_tokens, temperature, top_k or None, seed)
    if as_json:
        click.echo(json.dumps({"prompt": prompt, "text": text, "seed": seed, "temperature": temperature}))
    else:
        click.echo(text)


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False))
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Curated output folder.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--batch-size", default=32, show_default=True)
@json_option
def evaluate_command(checkpoint, data, split, batch_size, as_json):
    """Loss, perplexity, bits per byte and KL(data || model) of CHECKPOINT on a split of DATA."""
    from model.evaluate import evaluate_checkpoint

    try:
        result = evaluate_checkpoint(checkpoint, data, split, batch_size)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if not math.isfinite(result["loss"]):
        raise click.ClickException(f"non-finite loss: {result}")
    _emit(result, as_json)


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", default="hf", show_default=True, type=click.Choice(["hf"]))
@click.argument("out_dir", type=click.Path(file_okay=False))
@json_option
def export_command(checkpoint, fmt, out_dir, as_json):
    """Write CHECKPOINT as a Hugging Face GPT-2 folder OUT_DIR (needs transformers)."""
    from model.export import ExportError, export_hf

    try:
        path = export_hf(checkpoint, out_dir)
    except ExportError as e:
        raise click.ClickException(str(e)) from e
    _emit({"format": fmt, "out_dir": str(path)}, as_json)


COMMANDS = [train_command, sample_command, evaluate_command, finetune_command, export_command]
