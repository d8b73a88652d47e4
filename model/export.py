"""Export to a Hugging Face transformers GPT-2 folder, so standard harnesses can load the model.

GPT-2's modules map one to one onto ours; its Conv1D layers store weights transposed, and it has
biases everywhere, so bias-free layers export zero biases. The activation is matched exactly
("gelu" <-> exact GELU, "gelu_pytorch_tanh" <-> the tanh approximation), which keeps the logits
equal. GPT-2 has only learned absolute positions, so RoPE models cannot be exported.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from model.checkpoint import load_checkpoint
from model.tokenizer import EOT, UNK

HF_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}


class ExportError(RuntimeError):
    """The checkpoint cannot be written in the asked format (transformers missing, a RoPE model as GPT-2)."""


def export_hf(checkpoint_dir: str | Path, out_dir: str | Path) -> Path:
    ckpt = load_checkpoint(checkpoint_dir)
    c = ckpt.config.model
    if c.rope:
        raise ExportError(
            "this model uses RoPE; Hugging Face GPT-2 has learned absolute positions only, "
            "so it cannot be exported as GPT-2 (train with rope=false to export)"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never reach the network
    try:
        from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    except ImportError as e:
        raise ExportError("export needs the optional dependency transformers: pip install transformers") from e

    tok = ckpt.tokenizer
    hf_config = GPT2Config(
        vocab_size=c.vocab_size,
        n_positions=c.block_size,
        n_embd=c.n_embd,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_inner=4 * c.n_embd,
        activation_function=HF_ACTIVATION[c.activation],
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        bos_token_id=tok.eot_id,
        eos_token_id=tok.eot_id,
        tie_word_embeddings=True,
    )
    hf_model = GPT2LMHeadModel(hf_config)
    ours = ckpt.model.state_dict()
    state = {"transformer.wte.weight": ours["wte.weight"], "transformer.wpe.weight": ours["wpe.weight"]}

    def norm(hf_name: str, our_name: str) -> None:
        weight = ours[f"{our_name}.weight"]
        state[f"{hf_name}.weight"] = weight
        state[f"{hf_name}.bias"] = ours.get(f"{our_name}.bias", torch.zeros_like(weight))

    def linear(hf_name: str, our_name: str) -> None:
        weight = ours[f"{our_name}.weight"]
        state[f"{hf_name}.weight"] = weight.t().contiguous()  # Conv1D stores (in, out)
        state[f"{hf_name}.bias"] = ours.get(f"{our_name}.bias", torch.zeros(weight.shape[0]))

    for i in range(c.n_layer):
        hf, our = f"transformer.h.{i}", f"h.{i}"
        norm(f"{hf}.ln_1", f"{our}.ln_1")
        norm(f"{hf}.ln_2", f"{our}.ln_2")
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            linear(f"{hf}.{name}", f"{our}.{name}")
    norm("transformer.ln_f", "ln_f")
    state["lm_head.weight"] = ours["wte.weight"]
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]  # causal-mask buffers
    if missing or unexpected:
        raise ExportError(f"weight mapping mismatch: missing {missing}, unexpected {unexpected}")

    out_dir = Path(out_dir)
    hf_model.save_pretrained(out_dir)
    special = {"eos_token": EOT, "bos_token": EOT}
    if tok.unk_id is not None:
        special["unk_token"] = UNK
    PreTrainedTokenizerFast(tokenizer_object=tok.tokenizer, model_max_length=c.block_size, **special).save_pretrained(
        out_dir
    )
    return out_dir
