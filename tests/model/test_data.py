import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from trainer_testdata import paragraphs, write_shards

from model.data import find_split, iter_documents, iter_texts, random_windows, tokenize_split
from model.tokenizer import TextTokenizer


def split_ids(out, split):
    source = find_split(out, split, val_fraction=0.1, test_fraction=0.1)
    return {doc_id for doc_id, _ in iter_documents(source)}


def test_hash_split_is_deterministic_and_ignores_shard_layout(tmp_path, shakespeare_text):
    docs = paragraphs(shakespeare_text)[:3000]
    write_shards(tmp_path / "a" / "data", docs, n_shards=2)
    write_shards(tmp_path / "b" / "data", docs, n_shards=7)  # same ids, other shard layout
    for split in ("train", "val", "test"):
        assert split_ids(tmp_path / "a", split) == split_ids(tmp_path / "b", split)
    val, test, train = (split_ids(tmp_path / "a", s) for s in ("val", "test", "train"))
    assert not (val & train) and not (test & train) and not (val & test)
    assert 0.05 < len(val) / len(docs) < 0.15  # about the requested 10%


def test_paragraph_unit_splits_a_few_long_documents_into_all_three_splits(tmp_path, shakespeare_text):
    # two long "books": a document-level split cannot fill val and test; paragraph blocks can
    half = len(shakespeare_text) // 2
    write_shards(tmp_path / "data", [shakespeare_text[:half], shakespeare_text[half:]], n_shards=1)
    with pytest.raises(ValueError, match="split_unit=paragraph"):
        tokenize_split(find_split(tmp_path, "val", 0.05, 0.05), TextTokenizer.train("char", [shakespeare_text]),
                       tmp_path / "cache")
    texts = {s: list(iter_texts(find_split(tmp_path, s, 0.05, 0.05, unit="paragraph"))) for s in
             ("train", "val", "test")}
    sizes = {s: sum(len(t) for t in texts[s]) for s in texts}
    assert all(sizes.values())
    assert 0.02 < sizes["val"] / sum(sizes.values()) < 0.10
    # every block lands in exactly one split: the blocks add back up to the books
    assert sum(sizes.values()) == len(shakespeare_text)


def test_split_folders_take_precedence(tmp_path, shakespeare_text):
    docs = paragraphs(shakespeare_text)
    for split, part in (("train", docs[:100]), ("val", docs[100:120]), ("test", docs[120:140])):
        write_shards(tmp_path / split, part, n_shards=1, prefix=split)
    assert list(iter_texts(find_split(tmp_path, "val", 0.5, 0.5))) == [d for d in docs[100:120] if d]


def test_token_cache_is_reused_then_rebuilt_when_data_or_tokenizer_change(tmp_path, shakespeare_text):
    docs = paragraphs(shakespeare_text)[:400]
    write_shards(tmp_path / "out" / "data", docs, n_shards=2)
    tok = TextTokenizer.train("char", [shakespeare_text[:50000]])
    cache = tmp_path / "cache"
    source = find_split(tmp_path / "out", "train", 0.1, 0.0)
    first = tokenize_split(source, tok, cache)
    n_docs = sum(1 for _ in iter_texts(source))
    assert int((np.asarray(first) == tok.eot_id).sum()) == n_docs  # one separator per document
    assert first.dtype == np.uint16
    path, mtime = first.filename, os.stat(first.filename).st_mtime_ns
    again = tokenize_split(find_split(tmp_path / "out", "train", 0.1, 0.0), tok, cache)
    assert again.filename == path and os.stat(path).st_mtime_ns == mtime  # reused, not rebuilt

    # change one shard's content: the cache must be rebuilt and hold the new text
    shard = tmp_path / "out" / "data" / "shard-00000.parquet"
    table = pq.read_table(shard)
    new_text = ["ROMEO: a brand new line, never seen before."] * table.num_rows
    pq.write_table(pa.table({"id": table.column("id"), "text": new_text}), shard)
    rebuilt = tokenize_split(find_split(tmp_path / "out", "train", 0.1, 0.0), tok, cache)
    assert rebuilt.filename != path and not os.path.exists(path)  # the stale file is gone
    assert "brand new line" in tok.decode(np.asarray(rebuilt))

    other_tok = TextTokenizer.train("char", [shakespeare_text[:50000] + "#"])
    retokenized = tokenize_split(find_split(tmp_path / "out", "train", 0.1, 0.0), other_tok, cache)
    assert retokenized.filename != rebuilt.filename


def test_random_windows_are_contiguous_shifted_pairs():
    tokens = np.arange(1000, dtype=np.uint16)
    x, y = random_windows(tokens, 4, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 16) and x.dtype == torch.int64
    assert torch.equal(y, x + 1) and torch.equal(x[:, 1:], x[:, :-1] + 1)
    with pytest.raises(ValueError):
        random_windows(tokens[:10], 4, 16, torch.Generator())
