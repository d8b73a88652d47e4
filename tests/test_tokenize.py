"""`curate tokenize`: a real run's splits to nanoGPT and datatrove token files, read back by their own readers."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pipeline_helpers import curate_cli, run_pipeline, shared

EOT = "<|endoftext|>"


def books_config(out: Path) -> dict:
    """Two Gutenberg books cut into ~2,000-character blocks and split train/val/test."""
    books = [str(shared("text", "gutenberg", "11", "11-0.txt")), str(shared("text", "gutenberg", "1342", "1342-0.txt"))]
    return {"input": {"format": "text", "paths": books}, "output": {"path": str(out)},
            "stages": [{"chunk": {"min_chars": 2000}}, {"split": {"fractions": {"train": 0.8, "val": 0.1, "test": 0.1}}}]}


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokenize") / "out"
    run_pipeline(books_config(out), out)
    return out


@pytest.fixture(scope="module")
def bpe_path(tmp_path_factory) -> Path:
    """A byte-level BPE (GPT-2's design, 1,024 ids) trained here on tiny Shakespeare: no tokenizer is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = shared("text", "tinyshakespeare", "input.txt").read_text()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator([text[i:i + 20000] for i in range(0, 300_000, 20000)], trainers.BpeTrainer(
        vocab_size=1024, special_tokens=[EOT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    path = tmp_path_factory.mktemp("bpe") / "bpe1k" / "tokenizer.json"
    path.parent.mkdir()
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def tokenized(run_out, bpe_path) -> dict:
    result = curate_cli("tokenize", run_out, "--tokenizer", bpe_path, "--seq-len", 65, "--seed", 7, "--json")
    return json.loads(result.stdout)


def in_process(*args):
    """The CLI in this process (the first tokenization of the module runs it cold, as a user does)."""
    from click.testing import CliRunner

    from curate.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def split_texts(out: Path, split: str) -> list[str]:
    return [t for shard in sorted((out / split).glob("*.parquet"))
            for t in pq.read_table(shard, columns=["text"]).column(0).to_pylist() if t]


def documents_of(stream: np.ndarray, eos_id: int) -> list[np.ndarray]:
    ends = np.flatnonzero(stream == eos_id)
    return [stream[start:end] for start, end in zip(np.r_[0, ends[:-1] + 1], ends)]


def test_nanogpt_loader_reads_the_splits_and_decoding_gives_back_the_text(run_out, bpe_path, tokenized):
    import torch
    from tokenizers import Tokenizer

    folder = run_out / "tokens" / "bpe1k"
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tokenized["dtype"] == "uint16" and tokenized["eos_id"] == tokenizer.token_to_id(EOT)
    for split in ("train", "val", "test"):
        data = np.memmap(folder / f"{split}.bin", dtype=np.uint16, mode="r")  # nanoGPT's train.py get_batch
        texts = split_texts(run_out, split)
        assert len(data) == tokenized["splits"][split]["tokenizer_tokens"] and data[-1] == tokenized["eos_id"]
        docs = documents_of(np.asarray(data), tokenized["eos_id"])
        assert len(docs) == len(texts) == tokenized["splits"][split]["docs"]
        assert [tokenizer.decode(d.tolist()) for d in docs] == texts
    data = np.memmap(folder / "train.bin", dtype=np.uint16, mode="r")
    block = 64
    ix = torch.randint(len(data) - block, (8,), generator=torch.Generator().manual_seed(0))
    x = torch.stack([torch.from_numpy(data[i:i + block].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block].astype(np.int64)) for i in ix])
    assert x.shape == y.shape == (8, block) and torch.equal(x[:, 1:], y[:, :-1])
    words = set(" ".join(split_texts(run_out, "train")).split())
    decoded = tokenizer.decode(x[0].tolist())
    assert sum(w in words for w in decoded.split()[1:-1]) >= 0.9 * max(1, len(decoded.split()) - 2)


def test_datatrove_files_equal_datatroves_own_tokenizer_and_its_reader_reads_them(run_out, bpe_path, tokenized,
                                                                                  tmp_path):
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer
    from datatrove.utils.dataset import DatatroveFileDataset, DatatroveFolderDataset

    ours = run_out / "tokens" / "bpe1k" / "datatrove" / "val" / "000_val.ds"
    texts = split_texts(run_out, "val")
    step = DocumentTokenizer(str(tmp_path), tokenizer_name_or_path=str(bpe_path), eos_token=EOT,
                             shuffle_documents=False, save_filename="val")
    step.run(iter(Document(text=t, id=str(i)) for i, t in enumerate(texts)))
    theirs = tmp_path / "val_00000_unshuffled.ds"
    for suffix in ("", ".index", ".metadata"):  # byte for byte: tokens, document ends, metadata
        assert Path(f"{ours}{suffix}").read_bytes() == Path(f"{theirs}{suffix}").read_bytes(), suffix
    stream = np.fromfile(ours, dtype="<u2")
    assert (np.fromfile(f"{ours}.index", dtype="<u8") == np.flatnonzero(stream == tokenized["eos_id"]) + 1).all()
    folder = DatatroveFolderDataset(str(ours.parent.parent / "train"), seq_len=32, token_size=2, return_positions=True)
    train = np.fromfile(run_out / "tokens" / "bpe1k" / "train.bin", dtype="<u2")
    assert len(folder) == len(train) // 33
    ends = [e for e in np.flatnonzero(train == tokenized["eos_id"])[:200] if 0 < e % 33 < 32][:3]  # EOS inside a window
    for item in sorted({0, len(folder) - 1, *(int(e) // 33 for e in ends)}):
        window = folder[item]
        assert window["input_ids"].tolist() == train[item * 33:(item + 1) * 33].tolist()
    for end in ends:  # positions from the .index restart after each document's EOS
        positions = folder[int(end) // 33]["positions"].tolist()
        assert positions[end % 33 + 1] == 0 and positions[end % 33] == positions[end % 33 - 1] + 1
    single = DatatroveFileDataset(str(ours), seq_len=16)
    assert single[0]["input_ids"].tolist() == stream[:17].tolist()


def test_counts_in_the_manifest_and_stats_kept_by_a_rerun(run_out, tokenized):
    from curate import Pipeline

    manifest = json.loads((run_out / "manifest.json").read_text())
    record = manifest["tokenized"]["bpe1k"]
    assert record["splits"]["val"]["tokenizer_tokens"] == tokenized["splits"]["val"]["tokenizer_tokens"] > 0
    # a different count from the funnel's words: BPE tokens of 1,024 ids are more than words
    assert record["splits"]["train"]["tokenizer_tokens"] > manifest["output"]["train"]["tokens"]
    stats = json.loads(curate_cli("stats", run_out, "--json").stdout)
    assert stats["tokenized"]["bpe1k"]["splits"]["test"]["docs"] == len(split_texts(run_out, "test"))
    text = curate_cli("stats", run_out).stdout
    assert "tokenized bpe1k (vocab 1,024, uint16" in text and "bpe1k tokens" in text
    Pipeline(books_config(run_out)).run()  # a re-run of the completed run rewrites the manifest and keeps the record
    assert json.loads((run_out / "manifest.json").read_text())["tokenized"]["bpe1k"] == record


def test_tokenizers_from_curate_train_and_transformers_folders(run_out, bpe_path, tmp_path):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from model.tokenizer import TextTokenizer

    texts = split_texts(run_out, "val")
    checkpoint = tmp_path / "char_ckpt"  # what `curate train` saves beside a checkpoint
    checkpoint.mkdir()
    TextTokenizer.train("char", iter(texts)).save(checkpoint)
    record = json.loads(curate_cli("tokenize", run_out, "--tokenizer", checkpoint, "--split", "val",
                                   "--format", "nanogpt", "--json").stdout)
    trained = TextTokenizer.load(checkpoint)
    stream = np.fromfile(run_out / "tokens" / "char_ckpt" / "val.bin", dtype="<u2")
    assert record["eos_id"] == trained.eot_id and not (run_out / "tokens" / "char_ckpt" / "datatrove").exists()
    assert [trained.decode(d.tolist()) for d in documents_of(stream, trained.eot_id)] == texts

    base = Tokenizer.from_file(str(bpe_path))
    base.add_special_tokens(["<|doc_end|>"])
    folder = tmp_path / "hf_folder"  # a transformers tokenizer folder whose config names another EOS
    PreTrainedTokenizerFast(tokenizer_object=base, eos_token="<|doc_end|>").save_pretrained(folder)
    record = json.loads(curate_cli("tokenize", run_out, "--tokenizer", folder, "--split", "val", "--json").stdout)
    assert record["eos_token"] == "<|doc_end|>" and record["eos_id"] == base.token_to_id("<|doc_end|>")
    stream = np.fromfile(run_out / "tokens" / "hf_folder" / "val.bin", dtype="<u2")
    assert [base.decode(d.tolist()) for d in documents_of(stream, record["eos_id"])] == texts


def test_a_vocabulary_over_65536_ids_writes_uint32(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    source = tmp_path / "in.jsonl"  # the literal separator inside a document must stay text
    lines = [f"record {i} holds {EOT} inside and word{70000 + i}" for i in range(50)]
    source.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(lines)))
    out = tmp_path / "out"
    run_pipeline({"input": {"format": "jsonl", "paths": [str(source)]}, "stages": []}, out)
    vocab = {EOT: 0, "[UNK]": 1, **{f"word{i}": i + 2 for i in range(70050)}}
    for word in " ".join(lines).replace(EOT, "").split():
        vocab.setdefault(word, len(vocab))
    for piece in ("<|", "endoftext", "|>"):
        vocab.setdefault(piece, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens([EOT])
    tokenizer.save(str(tmp_path / "big.json"))
    record = json.loads(curate_cli("tokenize", out, "--tokenizer", tmp_path / "big.json", "--json").stdout)
    stream = np.fromfile(out / "tokens" / "big" / "data.bin", dtype="<u4")
    assert record["dtype"] == "uint32" and stream.max() >= 70000
    docs = documents_of(stream, 0)
    assert len(docs) == 50 and all(0 not in d for d in docs)  # the literal <|endoftext|> never became id 0
    result = run_pipeline({"input": {"format": "jsonl", "paths": [str(source)]}, "stages": []}, out)  # --force
    assert not (out / "tokens").exists() and "tokenized" not in result.manifest  # derived from the run it replaced


def test_bad_tokenize_arguments_exit_2_naming_the_problem(run_out, bpe_path, tmp_path):
    from tokenizers import Tokenizer, models

    missing = in_process("tokenize", run_out, "--tokenizer", tmp_path / "nope.json")
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")).save(str(tmp_path / "no_eos.json"))
    no_eos = in_process("tokenize", run_out, "--tokenizer", tmp_path / "no_eos.json")
    assert no_eos.exit_code == 2 and "--eos" in no_eos.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = in_process("tokenize", empty, "--tokenizer", bpe_path)
    assert nothing.exit_code == 2 and "no kept shards" in nothing.stderr
    no_split = in_process("tokenize", run_out, "--tokenizer", bpe_path, "--split", "data")
    assert no_split.exit_code == 2 and "has no data split" in no_split.stderr


def test_shuffled_sequences_are_the_streams_windows_in_a_seeded_order(run_out, bpe_path, tokenized):
    from datatrove.utils.dataset import DatatroveFileDataset

    folder = run_out / "tokens" / "bpe1k"
    stream = np.fromfile(folder / "train.bin", dtype="<u2")
    rows = np.fromfile(folder / "train.seq65.bin", dtype="<u2").reshape(-1, 65)
    windows = stream[:len(stream) // 65 * 65].reshape(-1, 65)
    info = tokenized["splits"]["train"]["sequences"]
    assert len(rows) == len(windows) == info["sequences"] and info["dropped_tokens"] == len(stream) % 65
    assert sorted(map(bytes, rows)) == sorted(map(bytes, windows))  # every window once
    assert not (rows == windows).all()  # and shuffled
    assert DatatroveFileDataset(str(folder / "train.seq65.bin"), seq_len=64)[3]["input_ids"].tolist() == rows[3].tolist()
    before = (folder / "train.seq65.bin").read_bytes()
    (folder.parent / ".bpe1k.tmp").mkdir()  # what a crashed attempt leaves: removed, never mistaken for output
    again = json.loads(in_process("tokenize", run_out, "--tokenizer", bpe_path, "--seq-len", 65, "--seed", 7,
                                  "--split", "train", "--json").stdout)
    assert (folder / "train.seq65.bin").read_bytes() == before  # same seed, same order
    assert list(again["splits"]) == ["train"] and not (folder.parent / ".bpe1k.tmp").exists()
    in_process("tokenize", run_out, "--tokenizer", bpe_path, "--seq-len", 65, "--seed", 8, "--split", "train")
    assert (folder / "train.seq65.bin").read_bytes() != before
