import os

import pytest
import torch
from click.testing import CliRunner
from trainer_testdata import tiny_overrides

from model.checkpoint import load_checkpoint, save_checkpoint
from model.cli import export_command, train_command
from model.config import load_config
from model.export import ExportError, export_hf
from model.gpt import GPT

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers", reason="transformers (optional extra) is not installed")


@pytest.mark.parametrize("overrides", [[], ["activation=gelu_tanh", "bias=true"]])
def test_hf_export_gives_the_same_logits(tmp_path, shakespeare_out, overrides):
    ckpt = tmp_path / "ckpt"
    args = [str(shakespeare_out), *tiny_overrides(ckpt, max_iters=20), *overrides]
    assert CliRunner().invoke(train_command, args).exit_code == 0
    result = CliRunner().invoke(export_command, [str(ckpt), "--format", "hf", str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output

    ours = load_checkpoint(ckpt)
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    hf_tok = transformers.PreTrainedTokenizerFast.from_pretrained(tmp_path / "hf")
    text = "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?"[:32]
    ids = hf_tok(text)["input_ids"]
    assert ids == ours.tokenizer.encode(text)
    idx = torch.tensor([ids])
    with torch.no_grad():
        expected, _ = ours.model(idx)
        got = hf_model(idx).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_rope_models_refuse_to_export_with_a_clear_error(tmp_path, shakespeare_text):
    from model.tokenizer import TextTokenizer

    cfg = load_config(None, ["rope=true", "n_layer=1", "n_head=2", "n_embd=16", "block_size=8"])
    tok = TextTokenizer.train("char", [shakespeare_text[:1000]])
    cfg.model.vocab_size = tok.vocab_size
    save_checkpoint(tmp_path / "rope", GPT(cfg.model), cfg, tok)
    with pytest.raises(ExportError, match="RoPE"):
        export_hf(tmp_path / "rope", tmp_path / "hf")
