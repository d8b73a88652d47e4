"""Token files that trainers read: nanoGPT's `.bin`, datatrove's `.ds` (+ `.ds.index`, `.ds.metadata`), and
shuffled fixed-length sequences. Written by `curate tokenize` (curate/tokenize.py).

One token stream per split: every document's token ids followed by the end-of-text id, little-endian uint16 when
the vocabulary fits (<= 65,536 ids), else uint32. That is byte for byte both formats:
  - nanoGPT (`data/openwebtext/prepare.py`): `np.memmap("train.bin", dtype=np.uint16, mode="r")`, random blocks;
  - datatrove (`pipeline/tokens/tokenizer.py`, TokenizedFile): the `.ds` file holds the same stream (its
    DocumentTokenizer with `eos_token` appends EOS to each document the same way); `.ds.index` holds each document's
    end as little-endian uint64 token offsets (exclusive); `.ds.metadata` is three lines: `<tokenizer>|<token size>`,
    the token count, and the count humanized (`humanize.metric(count, unit="T")`, as datatrove writes it).
    datatrove's DatatroveFolderDataset / DocumentTokenizerMerger read them.
When both formats are wanted the `.ds` file is a hard link to the `.bin` file (a copy where linking fails).

Shuffled sequences: the stream cut into windows of `seq_len` tokens (the last, shorter window dropped, as datatrove's
chunk shuffling does), written in a seeded random order (numpy default_rng(seed).permutation). A flat file again:
`np.memmap(path, dtype).reshape(-1, seq_len)` gives one sequence per row, and datatrove's DatatroveFileDataset with
`seq_len = seq_len - 1` reads the same rows (it reads windows of seq_len + 1 tokens).

Memory is bounded: the stream and its index are written as documents arrive; shuffling holds the permutation (8
bytes per sequence) and one block of sequences at a time. Every file is written under a temporary name by the
caller (curate/tokenize.py renames the whole folder when it is complete).
"""

from __future__ import annotations

import os
import shutil
from itertools import chain
from pathlib import Path

import numpy as np

TOKENS_DIR = "tokens"  # OUT/tokens/<tokenizer name>/: what `curate tokenize` writes

# sequences copied per read when shuffling: 4,096 x 2,048 uint16 tokens = 16 MB
SHUFFLE_BLOCK_SEQUENCES = 4096


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (nanoGPT, datatrove: vocab <= 65,536), else uint32; little-endian on disk."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


class TokenStreamWriter:
    """One split's token stream: `.bin` (the tokens) and, with `index_path`, datatrove's `.ds.index` (document ends)."""

    def __init__(self, path: Path, dtype: np.dtype, eos_id: int, index_path: Path | None = None):
        self.path, self.dtype, self.eos_id = Path(path), np.dtype(dtype), eos_id
        self.tokens = self.docs = 0
        self._file = open(self.path, "wb")
        self._index = open(index_path, "wb") if index_path else None

    def write(self, documents: list[list[int]]) -> None:
        """Append documents (lists of token ids), each followed by the end-of-text id."""
        if not documents:
            return
        lengths = np.fromiter((len(ids) + 1 for ids in documents), dtype=np.int64, count=len(documents))
        count = int(lengths.sum())
        eos = (self.eos_id,)
        stream = np.fromiter(chain.from_iterable(chain(ids, eos) for ids in documents), dtype=self.dtype, count=count)
        self._file.write(stream.tobytes())
        if self._index is not None:
            self._index.write((np.cumsum(lengths) + self.tokens).astype("<u8").tobytes())
        self.tokens += count
        self.docs += len(documents)

    def close(self) -> None:
        self._file.close()
        if self._index is not None:
            self._index.close()


def datatrove_metadata(tokenizer_name: str, dtype: np.dtype, tokens: int) -> str:
    """The text of datatrove's `.ds.metadata` (TokenizedFile.write_final_metadata)."""
    import humanize  # a datatrove dependency; datatrove formats the count with it

    return "\n".join([f"{tokenizer_name}|{np.dtype(dtype).itemsize}", str(tokens), humanize.metric(tokens, unit="T")])


def link_or_copy(source: Path, target: Path) -> None:
    """`target` gets `source`'s bytes: a hard link (no second copy on disk), a copy where the filesystem has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_shuffled_sequences(stream: Path, target: Path, dtype: np.dtype, seq_len: int, seed: int) -> dict:
    """Cut the token stream `stream` into `seq_len`-token sequences and write them to `target` in a seeded random
    order. Returns the counts (sequences, tokens written, tail tokens dropped)."""
    dtype = np.dtype(dtype)
    total = os.path.getsize(stream) // dtype.itemsize
    count = total // seq_len
    with open(target, "wb") as out:
        if count:
            rows = np.memmap(stream, dtype=dtype, mode="r", shape=(count, seq_len))
            order = np.random.default_rng(seed).permutation(count)
            for start in range(0, count, SHUFFLE_BLOCK_SEQUENCES):
                block = order[start:start + SHUFFLE_BLOCK_SEQUENCES]
                ascending = np.argsort(block)  # read the file forwards, then put the rows in the shuffled order
                shuffled = np.empty((len(block), seq_len), dtype=dtype)
                shuffled[ascending] = rows[block[ascending]]
                out.write(shuffled.tobytes())
            del rows
    return {"sequences": int(count), "tokens": int(count * seq_len), "dropped_tokens": int(total - count * seq_len)}

