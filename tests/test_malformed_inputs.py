"""Odd and broken inputs: each record is read or rejected with a reason; never a crash, nothing lost."""

import gzip
import os
import random

import pytest

from pipeline_helpers import read_rows, run_pipeline, shared

COPYCAT = ("warc", "chatnoir-copycat")
ODD_ARCHIVES = {
    # truncated Common Crawl 2008/2010 ARC fixtures: the first record's length is wrong
    "arc_2008": COPYCAT + ("copycat-spark", "src", "test", "resources", "data", "cc-arc-sample", "small-sample-1213893279526_0.arc.gz"),
    "arc_2010": COPYCAT + ("copycat-spark", "src", "test", "resources", "data", "cc-arc-sample", "small-sample-1262850551027_8.arc.gz"),
    # ClueWeb09: the whole file is one gzip member, WARC/0.18 with Content-Lengths that are off
    "clueweb09": COPYCAT + ("copycat-spark", "src", "test", "resources", "data", "clueweb-09-sample", "en0000", "00.warc.gz"),
    # non-standard Wayback WARCs: `response` records whose payload has no HTTP headers
    "wayback_topic1": COPYCAT + ("case-studies", "relevance-label-transfer", "src", "test", "resources", "sample-input", "topic-1", "topic-1--20201003083220753-00000.warc.gz"),
    "wayback_topic2": COPYCAT + ("case-studies", "relevance-label-transfer", "src", "test", "resources", "sample-input", "snapshot-wayback-topic-02.warc.gz"),
}


@pytest.mark.parametrize("name", sorted(ODD_ARCHIVES))
def test_odd_real_archives_are_read_or_rejected(tmp_path, name):
    path = shared(*ODD_ARCHIVES[name])
    run_pipeline({"input": {"paths": [str(path)], "format": "warc"}}, tmp_path)
    kept, rejected = read_rows(tmp_path, "data"), read_rows(tmp_path, "rejected")
    assert kept, "readable records must be read"
    ids = [r["id"] for r in kept + rejected]
    assert len(ids) == len(set(ids)), "document ids must be unique"
    for row in rejected:
        assert row["rejected_by"] == "warc" and row["reason"] in (
            "malformed_record", "non_text_content", "empty_text", "undecodable", "record_too_large", "bad_http_payload",
            "truncated_record")
    if name == "clueweb09":  # recovered despite whole-file gzip and off-by-some lengths: every page record
        assert len(kept) == 23
    if name.startswith("arc"):
        assert all(r["url"].startswith("http") for r in kept)
    if name == "wayback_topic1":  # plain-text payloads labelled as responses are read as they are
        assert len(kept) >= 230


def _corrupt_inputs(folder):
    warc = shared("warc", "dolma", "tests", "data", "warc", "sample-0000.warc.gz").read_bytes()
    (folder / "truncated.warc.gz").write_bytes(warc[: len(warc) // 2])
    (folder / "random.warc.gz").write_bytes(random.Random(0).randbytes(50_000))
    (folder / "empty.warc.gz").write_bytes(b"")
    (folder / "good.warc.gz").write_bytes(shared("warc", "dolma", "tests", "data", "warc", "sample-0001.warc.gz").read_bytes())


def test_corrupted_warc_files(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _corrupt_inputs(inputs)
    run_pipeline({"input": {"paths": [str(inputs)], "format": "warc"}}, tmp_path / "out")
    kept, rejected = read_rows(tmp_path / "out", "data"), read_rows(tmp_path / "out", "rejected")
    by_source = {}
    for row in kept + rejected:
        by_source.setdefault(row["source"], []).append(row)
    assert len([r for r in by_source["good.warc.gz"] if r.get("reason") is None]) == 17
    truncated = by_source["truncated.warc.gz"]
    assert sum(r.get("reason") is None for r in truncated) >= 8  # the records before the cut are read
    assert truncated[-1]["reason"] in ("truncated_record", "malformed_record")
    assert [r["reason"] for r in by_source["random.warc.gz"]] == ["malformed_record"]
    assert "empty.warc.gz" not in by_source  # an empty file holds no record


def test_corrupted_text_and_jsonl_files(tmp_path):
    inputs = tmp_path / "text"
    inputs.mkdir()
    book = shared("text", "gutenberg", "1342", "1342-0.txt").read_text(encoding="utf-8")
    (inputs / "latin1.txt").write_bytes(book[:20000].replace("\u201c", '"').replace("\u201d", '"')
                                         .replace("\u2019", "'").replace("\u2018", "'").replace("\u2014", "-")
                                         .encode("utf-8", "ignore").decode("ascii", "ignore").replace("e", "\u00e9")
                                         .encode("latin-1"))
    (inputs / "binary.txt").write_bytes(random.Random(1).randbytes(4000))
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "truncated.txt.gz").write_bytes(gzip.compress(book.encode())[:5000])
    run_pipeline({"input": {"paths": [str(inputs)], "format": "text"}}, tmp_path / "out")
    rows = {r["id"]: r for r in read_rows(tmp_path / "out", "data") + read_rows(tmp_path / "out", "rejected")}
    assert rows["latin1.txt"].get("reason") is None and "\u00e9" in rows["latin1.txt"]["text"]
    assert rows["binary.txt"]["reason"] == "non_text_content"
    assert rows["empty.txt"]["reason"] == "empty_text"
    assert rows["truncated.txt.gz"]["reason"] == "read_error" and "truncated.txt.gz" in rows["truncated.txt.gz"]["reason_detail"]

    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    lines = [b'{"id": "a", "text": "fine"}', b'{"id": "b", "text": ', b'{"id": "c"}', b'{"id": "d", "text": 42}',
             b'"just a string"', b'{"id": "e", "text": "caf\xe9"}']
    (jsonl / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run_pipeline({"input": {"paths": [str(jsonl)], "format": "jsonl"}}, tmp_path / "jout")
    kept = read_rows(tmp_path / "jout", "data")
    rejected = {r["id"]: r["reason"] for r in read_rows(tmp_path / "jout", "rejected")}
    assert [(r["id"], r["text"], r["decode_errors"]) for r in kept] == [("a", "fine", 0), ("e", "caf\ufffd", 1)]
    assert rejected == {"mixed.jsonl/1": "invalid_json", "c": "missing_text", "d": "text_not_string",
                        "mixed.jsonl/4": "not_an_object"}


def test_missing_input_is_an_error_before_work_starts(tmp_path):
    from curate import Pipeline
    from curate.config import ConfigError

    for paths in ([str(tmp_path / "nope.warc.gz")], [str(tmp_path / "*.warc.gz")]):
        with pytest.raises(ConfigError, match="input.paths"):
            Pipeline({"input": {"paths": paths, "format": "warc"}, "output": str(tmp_path / "out")}).run()
        assert not os.path.exists(tmp_path / "out" / "data")


def test_a_warc_cut_inside_a_record_header_is_a_truncated_record(tmp_path):
    warc = gzip.decompress(shared("warc", "dolma", "tests", "data", "warc", "sample-0000.warc.gz").read_bytes())
    response = warc.index(b"WARC-Type: response", warc.index(b"WARC-Type: response") + 1)  # the second page record
    start = warc.rindex(b"WARC/1", 0, response)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for cut in (response + 5, warc.index(b"WARC-Target-URI", response) + 20):  # in its WARC-Type line, its URI line
        (inputs / f"cut-{cut - start}.warc").write_bytes(warc[:cut])
    run_pipeline({"input": {"paths": [str(inputs)], "format": "warc"}}, tmp_path / "out")
    rejected = read_rows(tmp_path / "out", "rejected")
    assert len(read_rows(tmp_path / "out", "data")) == 2  # the page record before the cut, in each file
    assert [r["reason"] for r in rejected] == ["truncated_record"] * 2
    assert all("ends inside this record's header" in r["reason_detail"] for r in rejected)
