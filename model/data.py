"""From curated Parquet shards to token streams and training batches.

Layout read (written by the curation pipeline):
  OUT/train/*.parquet, OUT/val/*.parquet, OUT/test/*.parquet   once the split stage has run;
  otherwise OUT/data/*.parquet (or OUT/*.parquet), split here by a hash of each document's `id`:
  the split of a document depends only on its id, never on shard order or worker count.

Each split is tokenized once into a flat memory-mapped file of uint16 (uint32 for vocabularies
over 65,536) with an end-of-text token after every document. The file's name carries a key
hashed from the shards (name, size, mtime) and the tokenizer, so changing either rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from model.tokenizer import TextTokenizer

SPLITS = ("train", "val", "test")
READ_BATCH_ROWS = 1024


@dataclass(frozen=True)
class SplitSource:
    """The documents of one split: shards to read and, when splitting here, the id-hash range kept."""

    split: str
    shards: tuple[Path, ...]
    hash_range: tuple[float, float] | None = None
    unit: str = "document"  # what the hash range assigns: "document" or "paragraph" (blocks; see split_units)

    def describe(self) -> dict:
        return {
            "split": self.split,
            "shards": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in self.shards],
            "hash_range": self.hash_range,
            "unit": self.unit,
        }


def id_hash(doc_id: str) -> float:
    """A stable uniform number in [0, 1) from a document id (blake2b, not Python's salted hash)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


SPLIT_UNITS = ("document", "paragraph")
BLOCK_CHARS = 2000  # paragraph unit: paragraphs are grouped into blocks of at least this many characters
BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")


def find_split(
    out: str | Path, split: str, val_fraction: float, test_fraction: float, unit: str = "document"
) -> SplitSource:
    """Locate a split's documents in a curated output folder (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if unit not in SPLIT_UNITS:
        raise ValueError(f"split_unit must be one of {SPLIT_UNITS}, not {unit!r}")
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no such data folder: {out}")
    split_dir = out / split
    if split_dir.is_dir():
        return SplitSource(split, _shards(split_dir))
    if any((out / s).is_dir() for s in SPLITS):
        raise FileNotFoundError(f"{out} has split folders but no {split}/")
    data_dir = out / "data" if (out / "data").is_dir() else out
    # val takes ids hashing to [0, v), test [v, v + t), train the rest
    ranges = {
        "val": (0.0, val_fraction),
        "test": (val_fraction, val_fraction + test_fraction),
        "train": (val_fraction + test_fraction, 1.0),
    }
    lo, hi = ranges[split]
    if hi <= lo:
        raise ValueError(f"the {split} fraction is 0: nothing to read for {split} from {data_dir}")
    return SplitSource(split, _shards(data_dir), (lo, hi), unit)


def _shards(directory: Path) -> tuple[Path, ...]:
    shards = tuple(sorted(directory.glob("*.parquet")))
    if not shards:
        raise FileNotFoundError(f"no *.parquet shards in {directory}")
    return shards


def iter_documents(source: SplitSource) -> Iterator[tuple[str, str]]:
    """Stream the split's (id, text) pairs, shard by shard, in row order; empty texts skipped."""
    for shard in source.shards:
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=READ_BATCH_ROWS, columns=["id", "text"]):
            for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                if not text:
                    continue
                if source.hash_range is None:
                    yield str(doc_id), text
                    continue
                lo, hi = source.hash_range
                for unit_id, unit_text in split_units(str(doc_id), text, source.unit):
                    if lo <= id_hash(unit_id) < hi:
                        yield unit_id, unit_text


def split_units(doc_id: str, text: str, unit: str) -> Iterator[tuple[str, str]]:
    """What the hash split assigns: the whole document, or blocks of its paragraphs (`id#k`).

    Blocks are contiguous slices cut after a blank line (LF or CRLF), so they add back up to the document."""
    if unit == "document":
        yield doc_id, text
        return
    start = index = 0
    for blank in BLANK_LINE.finditer(text):
        if blank.end() - start >= BLOCK_CHARS:
            yield f"{doc_id}#{index}", text[start:blank.end()]
            start, index = blank.end(), index + 1
    if start < len(text):
        yield f"{doc_id}#{index}", text[start:]


def iter_texts(source: SplitSource) -> Iterator[str]:
    return (text for _, text in iter_documents(source))


def token_dtype(vocab_size: int) -> type:
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def tokenize_split(
    source: SplitSource, tokenizer: TextTokenizer, cache_dir: str | Path, batch_docs: int = 256
) -> np.memmap:
    """The split's tokens as a read-only memmap, built once and reused while nothing changed."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key_material = json.dumps([source.describe(), tokenizer.fingerprint()], sort_keys=True)
    key = hashlib.sha256(key_material.encode()).hexdigest()[:16]
    # a prefix per split and source folder, so a cache shared by several datasets stays correct
    folder = hashlib.sha256(str(source.shards[0].parent.resolve()).encode()).hexdigest()[:8]
    prefix = f"{source.split}-{folder}"
    path = cache_dir / f"{prefix}-{key}.bin"
    dtype = token_dtype(tokenizer.vocab_size)
    if not path.exists():
        for stale in cache_dir.glob(f"{prefix}-*.bin"):
            stale.unlink()  # an older key: the shards or the tokenizer changed
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pending: list[str] = []

            def flush() -> None:
                for ids in tokenizer.encode_batch(pending):
                    ids.append(tokenizer.eot_id)  # documents are separated by end-of-text
                    f.write(np.asarray(ids, dtype=dtype).tobytes())
                pending.clear()

            for text in iter_texts(source):
                pending.append(text)
                if len(pending) >= batch_docs:
                    flush()
            flush()
        if tmp.stat().st_size == 0:
            tmp.unlink()  # never cache an empty split: the next run must look at the data again
            hint = (" (a corpus of a few long documents: try split_unit=paragraph)"
                    if source.hash_range is not None and source.unit == "document" else "")
            raise ValueError(f"the {source.split} split has no documents{hint}")
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache behind
    return np.memmap(path, dtype=dtype, mode="r")


def random_windows(
    tokens: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random contiguous windows: inputs x and next-token targets y, (B, T) int64."""
    if len(tokens) <= block_size:
        raise ValueError(f"split of {len(tokens)} tokens is too short for block_size {block_size}")
    starts = torch.randint(len(tokens) - block_size, (batch_size,), generator=generator).numpy()
    windows = torch.from_numpy(tokens[starts[:, None] + np.arange(block_size + 1)].astype(np.int64))
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


def sequential_windows(tokens: np.ndarray, block_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Non-overlapping windows covering every token of a split once, for whole-split evaluation."""
    for start in range(0, len(tokens) - 1, block_size):
        chunk = np.asarray(tokens[start : start + block_size + 1], dtype=np.int64)
        if len(chunk) >= 2:
            yield chunk[:-1], chunk[1:]
