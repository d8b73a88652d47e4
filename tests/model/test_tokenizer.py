import pytest

from model.tokenizer import EOT, TextTokenizer

from trainer_testdata import ALICE, read_text


def test_char_vocabulary_matches_nanogpt_on_shakespeare(shakespeare_text):
    train = shakespeare_text[: int(0.9 * len(shakespeare_text))]
    tok = TextTokenizer.train("char", [train])
    chars = sorted(set(train))
    assert len(chars) == 65
    assert tok.vocab_size == 65 + 2  # plus end-of-text and unknown
    assert tok.encode(train[:1000]) == [chars.index(c) for c in train[:1000]]  # nanoGPT's ids
    val = shakespeare_text[len(train) :]
    assert tok.decode(tok.encode(val)) == val


def test_unknown_characters_do_not_crash(shakespeare_text):
    tok = TextTokenizer.train("char", [shakespeare_text[:5000]])
    ids = tok.encode("Zoë — naïve 😀")
    assert tok.unk_id in ids
    assert tok.decode(ids).count("\ufffd") == ids.count(tok.unk_id)


def test_bpe_round_trips_any_text_and_has_the_requested_size():
    text = read_text(ALICE)
    tok = TextTokenizer.train("bpe", [text[i : i + 2000] for i in range(0, len(text), 2000)], vocab_size=500)
    assert tok.vocab_size == 500
    for sample in (text[-3000:], "Zoë — naïve 😀 unseen ∮ symbols"):
        ids = tok.encode(sample)
        assert tok.decode(ids) == sample
    assert len(tok.encode(text[:5000])) < 5000 * 0.6  # merges actually compress


@pytest.mark.parametrize("kind", ["char", "bpe", "byte"])
def test_saved_tokenizer_loads_identically_and_keeps_eot_literal_as_text(tmp_path, kind, shakespeare_text):
    tok = TextTokenizer.train(kind, [shakespeare_text[:20000]], vocab_size=300)
    tok.save(tmp_path)
    loaded = TextTokenizer.load(tmp_path)
    text = shakespeare_text[20000:21000] + EOT
    assert loaded.encode(text) == tok.encode(text)
    assert loaded.fingerprint() == tok.fingerprint()
    assert tok.eot_id not in tok.encode(text)  # a literal separator inside a document is text
    lengths = tok.token_byte_lengths()
    assert sum(lengths[i] for i in tok.encode("plain ascii")) == len("plain ascii")


def test_byte_tokenizer_is_the_utf8_bytes_of_any_text_and_learns_nothing(shakespeare_text):
    from curate.evaluation.corpora import lingua_docs
    from pipeline_helpers import shared

    tok = TextTokenizer.train("byte", [])
    assert tok.vocab_size == 257 and tok.eot_id == 256 and tok.unk_id is None
    assert tok.fingerprint() == TextTokenizer.train("byte", [shakespeare_text[:5000]]).fingerprint()  # no training
    # real text in several scripts (lingua's Leipzig sentences), an emoji, control characters and a literal separator
    samples = [d.text for d in lingua_docs(shared(), ["de", "zh", "ar", "hi", "ru"])[::7]]
    samples += ["Zoë — naïve 😀 \x00\t\r\n" + EOT]
    for text in samples:
        ids = tok.encode(text)
        assert ids == list(text.encode("utf-8"))  # token id = byte value
        assert ids == tok.tokenizer.encode(text, add_special_tokens=False).ids  # what the saved tokenizer does
        assert tok.decode(ids) == text
    assert tok.encode_batch(samples) == [tok.encode(t) for t in samples]
    assert set(tok.token_byte_lengths()) == {1}  # every token is one byte, the separator counted as one


def test_bits_per_byte_of_the_byte_tokenizer_is_loss_in_bits_over_utf8_bytes():
    """evaluate_tokens' bytes are the text's UTF-8 bytes plus one per separator, and token_losses adds up to its
    loss: per-document scores sum to the set's."""
    import math

    import numpy as np
    import torch

    from model.evaluate import evaluate_tokens, token_bytes_of, token_losses
    from model.gpt import GPT, GPTConfig

    tok = TextTokenizer.train("byte", [])
    texts = [read_text(ALICE)[i: i + 700] + " Grüße, 世界" for i in range(0, 7000, 700)]
    stream = [tok.eot_id]
    for text in texts:
        stream += tok.encode(text) + [tok.eot_id]
    tokens = np.asarray(stream, dtype=np.uint16)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=32))
    result = evaluate_tokens(model, tokens, token_bytes_of(tok), batch_size=5)
    assert result["bytes"] == sum(len(t.encode("utf-8")) + 1 for t in texts) == len(tokens) - 1
    losses = token_losses(model, tokens, batch_size=5)
    assert len(losses) == len(tokens) - 1
    # (float32 sums in cross_entropy against float64 here: the same up to rounding)
    assert math.isclose(losses.sum(), result["loss"] * result["tokens"], rel_tol=1e-5)
    assert math.isclose(result["bits_per_byte"], losses.sum() / math.log(2) / result["bytes"], rel_tol=1e-5)
