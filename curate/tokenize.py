"""`curate tokenize OUT`: a run's kept documents as the token files trainers read (curate/io/token_files.py).

The tokenizer is any Hugging Face `tokenizers` tokenizer from local files, never downloaded:
  - a `tokenizer.json` file;
  - a folder holding one: a transformers tokenizer folder (its `tokenizer_config.json` names the EOS token) or a
    `curate train` checkpoint (model/tokenizer.py's format: `tokenizer.json` + `tokenizer_kind.txt`);
  - a transformers folder without `tokenizer.json` (`vocab.json` + `merges.txt`, a sentencepiece model): loaded with
    transformers' AutoTokenizer (local files only) when transformers is installed, and its fast backend used.
Documents are encoded without the tokenizer's own special tokens (no BOS/CLS), and a literal "<|endoftext|>" inside
a text stays text (`encode_special_tokens`), as nanoGPT's `encode_ordinary`; the EOS id is appended after each
document. Empty documents are skipped.

Output: OUT/tokens/<name>/ with `<split>.bin` (nanoGPT), `datatrove/<split>/000_<split>.ds` (+ .index, .metadata),
optionally `<split>.seq<L>.bin` (shuffled fixed-length sequences), `tokenizer.json` (the tokenizer used) and
`meta.json` (what was written: tokenizer, dtype, EOS, per split documents and tokenizer tokens). The folder is built
under a temporary name and renamed when complete, so a crash never leaves a half-written folder that looks finished.
The same record goes into OUT/manifest.json under `tokenized.<name>`: counts in the tokenizer's tokens, named
`tokenizer_tokens` so they are not taken for the funnel's model-independent word counts (`tokens`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pyarrow.parquet as pq

from curate.io.manifest import record_tokenized
from curate.io.shard_writer import SPLITS
from curate.io.token_files import (TOKENS_DIR, TokenStreamWriter, datatrove_metadata, link_or_copy, token_dtype,
                                   write_shuffled_sequences)

FORMATS = ("nanogpt", "datatrove")
# end-of-document tokens looked for, in order, when neither --eos nor the tokenizer's config names one: GPT-2/GPT-NeoX
# (and curate train's tokenizers), Llama 3, Llama 2 / T5 / Mistral, Gemma
EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>")
READ_ROWS = 256  # rows per Parquet read
# texts per encode_batch call: up to 1,024 documents or 1 M characters, whichever comes first (tokenizers keeps
# ~100 bytes per token in its Encoding objects: 8 M characters made a 0.9 GB peak, 1 M about 0.25 GB)
BATCH_DOCS, BATCH_CHARS = 1024, 1_000_000


class TokenizeError(ValueError):
    """Bad input to `curate tokenize`: no shards, no tokenizer, no EOS token, an unknown split or format."""


@dataclass
class LoadedTokenizer:
    tokenizer: object  # tokenizers.Tokenizer
    source: str  # what was loaded (a file or folder)
    name: str  # the output folder's name
    eos_token: str
    eos_id: int

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def sha256(self) -> str:
        return hashlib.sha256(self.tokenizer.to_str().encode()).hexdigest()


def load_tokenizer(path: str, eos: str | None = None, name: str | None = None) -> LoadedTokenizer:
    """The tokenizer at `path` (see the module docstring) with its end-of-document token."""
    from tokenizers import Tokenizer

    location = Path(path)
    configured_eos = None
    if location.is_file():
        tokenizer = _from_file(Tokenizer, location)
        default_name = location.parent.name if location.name == "tokenizer.json" else location.stem
    elif location.is_dir():
        default_name = location.name
        if (location / "tokenizer.json").is_file():
            tokenizer = _from_file(Tokenizer, location / "tokenizer.json")
            configured_eos = _configured_eos(location / "tokenizer_config.json")
        else:
            tokenizer, configured_eos = _from_transformers(location)
    else:
        raise TokenizeError(f"--tokenizer {path!r}: no such file or folder")
    eos_token = eos or configured_eos or next((t for t in EOS_CANDIDATES if tokenizer.token_to_id(t) is not None), None)
    if eos_token is None:
        raise TokenizeError(f"--tokenizer {path!r}: none of {', '.join(EOS_CANDIDATES)} is in its vocabulary; name the "
                            "end-of-document token with --eos")
    eos_id = tokenizer.token_to_id(eos_token)
    if eos_id is None:
        raise TokenizeError(f"--eos {eos_token!r} is not a token of {path!r}")
    tokenizer.encode_special_tokens = True  # a literal "<|endoftext|>" in a document is text, not the separator
    folder_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name or default_name or "tokenizer").strip("._") or "tokenizer"
    return LoadedTokenizer(tokenizer, str(location.resolve()), folder_name, eos_token, eos_id)


def _from_file(tokenizer_class, path: Path):
    try:
        return tokenizer_class.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on a file it cannot parse
        raise TokenizeError(f"--tokenizer {str(path)!r} is not a tokenizers JSON file: {error}") from None


def _configured_eos(config_path: Path) -> str | None:
    """The `eos_token` of a transformers `tokenizer_config.json` (a string, or an AddedToken dict)."""
    if not config_path.is_file():
        return None
    try:
        value = json.loads(config_path.read_text()).get("eos_token")
    except (OSError, ValueError, AttributeError) as error:
        raise TokenizeError(f"cannot read {config_path}: {error}") from None
    return value.get("content") if isinstance(value, dict) else value


def _from_transformers(folder: Path):
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise TokenizeError(f"--tokenizer {str(folder)!r} has no tokenizer.json (loading other tokenizer files needs "
                            "transformers: pip install transformers)") from None
    try:
        loaded = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:  # OSError, ValueError, ... from the many tokenizer classes
        raise TokenizeError(f"--tokenizer {str(folder)!r}: transformers cannot load it: {error}") from None
    if not getattr(loaded, "is_fast", False):
        raise TokenizeError(f"--tokenizer {str(folder)!r}: transformers has no fast (tokenizers) version of it")
    return loaded.backend_tokenizer, loaded.eos_token


def split_shards(output: Path) -> dict[str, list[Path]]:
    """The kept shards of a run by split: train/val/test after a split stage, else data."""
    shards = {kind: sorted((output / kind).glob("*.parquet")) for kind in (*SPLITS, "data")}
    shards = {kind: shards[kind] for kind in SPLITS if shards[kind]} or {"data": shards["data"]}
    if not any(shards.values()):
        raise TokenizeError(f"{str(output)!r} holds no kept shards (no train/, val/, test/ or data/ *.parquet)")
    return shards


def batches_of_texts(shards: list[Path], skipped: list[int]) -> Iterator[list[str]]:
    """The texts of the shards in order, in batches bounded in documents and characters. Empty texts are skipped
    (counted in `skipped[0]`)."""
    batch, chars = [], 0
    for shard in shards:
        for record_batch in pq.ParquetFile(shard).iter_batches(batch_size=READ_ROWS, columns=["text"]):
            for text in record_batch.column(0).to_pylist():
                if not text:
                    skipped[0] += 1
                    continue
                batch.append(text)
                chars += len(text)
                if len(batch) >= BATCH_DOCS or chars >= BATCH_CHARS:
                    yield batch
                    batch, chars = [], 0
    if batch:
        yield batch


def tokenize_output(output: str, tokenizer: LoadedTokenizer, formats: tuple[str, ...] = FORMATS,
                    seq_len: int | None = None, seed: int = 0, splits: tuple[str, ...] = (),
                    log: Callable[[str], None] = lambda line: None) -> dict:
    """Write OUT/tokens/<name>/ for the run in `output` and record it (meta.json, the manifest). Returns the record."""
    root = Path(output)
    if not root.is_dir():
        raise TokenizeError(f"{output!r} is not a curate output folder (no such directory)")
    if not formats or set(formats) - set(FORMATS):
        raise TokenizeError(f"--format must be among {', '.join(FORMATS)}, got {', '.join(formats) or 'none'}")
    if seq_len is not None and seq_len < 2:
        raise TokenizeError(f"--seq-len must be at least 2, got {seq_len}")
    shards = split_shards(root)
    if missing := [s for s in splits if s not in shards]:
        raise TokenizeError(f"{output!r} has no {', '.join(missing)} split (it has {', '.join(shards)})")
    shards = {kind: files for kind, files in shards.items() if not splits or kind in splits}
    final = root / TOKENS_DIR / tokenizer.name
    work = final.with_name(f".{tokenizer.name}.tmp")
    shutil.rmtree(work, ignore_errors=True)  # what a crashed earlier attempt left
    work.mkdir(parents=True)
    dtype = token_dtype(tokenizer.vocab_size)
    started = time.time()
    record = {"tokenizer": tokenizer.source, "tokenizer_sha256": tokenizer.sha256(), "vocab_size": tokenizer.vocab_size,
              "dtype": dtype.name, "eos_token": tokenizer.eos_token, "eos_id": tokenizer.eos_id,
              "formats": [f for f in FORMATS if f in formats], "folder": f"{TOKENS_DIR}/{tokenizer.name}",
              "sequences": {"seq_len": seq_len, "seed": seed} if seq_len else None, "splits": {}}
    for split, files in shards.items():
        log(f"tokenizing {split}: {len(files)} shards")
        record["splits"][split] = _tokenize_split(split, files, tokenizer, work, dtype, formats, seq_len, seed)
        record["splits"][split]["shards"] = [[f.name, f.stat().st_size] for f in files]
    (work / "tokenizer.json").write_text(tokenizer.tokenizer.to_str())
    seconds = time.time() - started
    total = sum(s["tokenizer_tokens"] for s in record["splits"].values())
    record.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), seconds=round(seconds, 3),
                  tokens_per_second=round(total / seconds) if seconds > 0 else None)
    (work / "meta.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    _replace_folder(work, final)
    record["manifest"] = record_tokenized(root, tokenizer.name, record)
    return record


def _tokenize_split(split: str, files: list[Path], tokenizer: LoadedTokenizer, work: Path, dtype, formats,
                    seq_len: int | None, seed: int) -> dict:
    datatrove_dir = work / "datatrove" / split
    ds_path = datatrove_dir / f"000_{split}.ds"
    if "datatrove" in formats:
        datatrove_dir.mkdir(parents=True)
    stream_path = work / f"{split}.bin" if "nanogpt" in formats else ds_path
    index_path = ds_path.with_name(ds_path.name + ".index") if "datatrove" in formats else None
    writer = TokenStreamWriter(stream_path, dtype, tokenizer.eos_id, index_path)
    skipped, text_chars = [0], 0
    try:
        for texts in batches_of_texts(files, skipped):
            encodings = tokenizer.tokenizer.encode_batch(texts, add_special_tokens=False)
            writer.write([encoding.ids for encoding in encodings])
            text_chars += sum(map(len, texts))
    finally:
        writer.close()
    if "datatrove" in formats:
        if stream_path != ds_path:
            link_or_copy(stream_path, ds_path)
        ds_path.with_name(ds_path.name + ".metadata").write_text(
            datatrove_metadata(tokenizer.source, dtype, writer.tokens))
    result = {"docs": writer.docs, "empty_docs_skipped": skipped[0], "tokenizer_tokens": writer.tokens,
              "text_chars": text_chars,
              "chars_per_token": round(text_chars / writer.tokens, 3) if writer.tokens else None}
    if seq_len:
        result["sequences"] = write_shuffled_sequences(stream_path, work / f"{split}.seq{seq_len}.bin", dtype,
                                                       seq_len, seed)
    return result


def _replace_folder(work: Path, final: Path) -> None:
    """Put the finished `work` folder in place of `final` (an earlier tokenization under the same name)."""
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(work, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, final)
