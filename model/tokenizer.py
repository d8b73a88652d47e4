"""Tokenizers: `char` (one token per character) and `bpe` (byte-level BPE), both trained on the
training split, and `byte` (one token per UTF-8 byte, nothing trained); all three are stored as a
Hugging Face `tokenizers` JSON file next to the checkpoint.

Using one library for all keeps save/load, fast batch encoding and the Hugging Face export
identical for the kinds. Special tokens:
  <|endoftext|>  separates documents in the token stream (GPT-2's name for it);
  <|unk|>        (char only) stands for a character never seen in training, so evaluating on
                 new text never crashes. Byte-level BPE and `byte` need no unknown token: any
                 byte is in their base alphabet.
Literal "<|endoftext|>" inside a document is encoded as plain text, not as the separator.

`byte` is the vocabulary to compare models trained on different data (`curate ablate`): the same
257 tokens whatever the training text, so no model is scored through unknown characters or a
vocabulary fitted to its own data, and every token is exactly one byte, so bits per byte is the
loss in bits divided by the token count. Token id = byte value; the separator is id 256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"
UNK = "<|unk|>"
KINDS = ("char", "bpe", "byte")
BYTE_VALUES = 256  # `byte`: ids 0-255 are the byte values, BYTE_VALUES is the separator


def gpt2_byte_symbols() -> list[str]:
    """The printable character GPT-2's byte-level alphabet spells each byte value with (openai/gpt-2
    encoder.py `bytes_to_unicode`; the alphabet `pre_tokenizers.ByteLevel` uses): printable Latin-1
    bytes stand for themselves, the others are shifted to 256 and above."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, shifted = {}, 0
    for value in range(BYTE_VALUES):
        if value in printable:
            symbols[value] = chr(value)
        else:
            symbols[value] = chr(BYTE_VALUES + shifted)
            shifted += 1
    return [symbols[value] for value in range(BYTE_VALUES)]


class TextTokenizer:
    """A thin wrapper over `tokenizers.Tokenizer` with the few operations training needs."""

    def __init__(self, tokenizer: Tokenizer, kind: str):
        if kind not in KINDS:
            raise ValueError(f"tokenizer kind must be one of {KINDS}, not {kind!r}")
        self.tokenizer = tokenizer
        self.kind = kind
        # never let document text produce the separator token
        self.tokenizer.encode_special_tokens = True
        self.eot_id = tokenizer.token_to_id(EOT)
        self.unk_id = tokenizer.token_to_id(UNK)  # None for bpe
        self.vocab_size = tokenizer.get_vocab_size()

    # --- training -------------------------------------------------------------------------
    @classmethod
    def train(cls, kind: str, texts: Iterable[str], vocab_size: int = 4096) -> TextTokenizer:
        """Build a tokenizer from the training split's texts (an iterable, streamed once)."""
        if kind == "char":
            chars: set[str] = set()
            for text in texts:
                chars.update(text)
            # sorted, as nanoGPT's shakespeare_char does, so ids match it (65 symbols on Shakespeare)
            vocab = {ch: i for i, ch in enumerate(sorted(chars))}
            for special in (EOT, UNK):
                vocab[special] = len(vocab)
            tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
            tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character
            tok.decoder = decoders.Fuse()  # join without spaces
            tok.add_special_tokens([EOT, UNK])
        elif kind == "byte":  # nothing to learn: `texts` is not read
            vocab = {symbol: value for value, symbol in enumerate(gpt2_byte_symbols())}
            tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # BPE without merges: one token per byte
            # no regex split: the whole text is one piece, read byte by byte
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
            tok.decoder = decoders.ByteLevel()
            tok.add_special_tokens([EOT])
        elif kind == "bpe":
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size,
                special_tokens=[EOT],
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                show_progress=False,
            )
            tok.train_from_iterator(texts, trainer=trainer)
        else:
            raise ValueError(f"tokenizer kind must be one of {KINDS}, not {kind!r}")
        return cls(tok, kind)

    # --- use ------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        if self.kind == "byte":  # the same ids the tokenizer gives (a test checks), without its per-byte strings
            return list(text.encode("utf-8"))
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self.kind == "byte":
            return [list(text.encode("utf-8")) for text in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of the ids; separators are dropped, unknown characters come back as U+FFFD."""
        ids = list(ids)
        if self.unk_id is not None:
            # a decoded "<|unk|>" would look like real text; the replacement character does not
            parts, run = [], []
            for i in ids:
                if i == self.unk_id:
                    parts.append(self.tokenizer.decode(run) + "\ufffd")
                    run = []
                else:
                    run.append(i)
            parts.append(self.tokenizer.decode(run))
            return "".join(parts)
        return self.tokenizer.decode(ids)

    def token_byte_lengths(self) -> list[int]:
        """UTF-8 length of each token's text, for bits per byte. Specials count as one byte
        (the separator stands for a document boundary, the unknown token for one character)."""
        lengths = [1] * self.vocab_size
        for token, i in self.tokenizer.get_vocab(with_added_tokens=False).items():
            # byte-level BPE and `byte` spell each byte as one printable character
            lengths[i] = len(token) if self.kind in ("bpe", "byte") else len(token.encode("utf-8"))
        return lengths

    # --- persistence ----------------------------------------------------------------------
    def to_json(self) -> str:
        return self.tokenizer.to_str()

    def fingerprint(self) -> str:
        """Changes whenever the vocabulary or rules change: part of the token cache key."""
        return hashlib.sha256(f"{self.kind}\n{self.to_json()}".encode()).hexdigest()[:16]

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.tokenizer.save(str(directory / "tokenizer.json"))
        (directory / "tokenizer_kind.txt").write_text(self.kind + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> TextTokenizer:
        directory = Path(directory)
        kind = (directory / "tokenizer_kind.txt").read_text().strip()
        return cls(Tokenizer.from_file(str(directory / "tokenizer.json")), kind)
