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


@pytest.mark.parametrize("kind", ["char", "bpe"])
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
