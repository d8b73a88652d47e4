"""Fuzzing the readers (warc, jsonl, parquet, html, text) with hypothesis: random bytes, broken and deeply nested
markup, mixed encodings, zero-width characters, lone surrogates, NUL bytes, enormous lines, empty and truncated
files, records with lying headers, fields with reserved names. Each reader, as the pipeline builds it, must read
every file without raising, emit one document per record (read = kept + rejected, every rejection with a reason),
and its documents must go through the shard writer into Parquet and come back.
"""

import gzip
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import example, given
from hypothesis import strategies as st

from adversarial import (broken_html, file_bytes, fuzz_settings, gzipped, mixed_encoding_bytes, real_sentences,
                         texts)
from checks import assert_funnel, assert_rejections_named, assert_storable
from curate import Pipeline

# names an input field may have that mean something to curate: they must not confuse it
RESERVED = ["id", "text", "url", "source", "metadata", "rejected_by", "reason", "reason_value", "reason_detail",
            "extra_metadata", "split", "lang", "lang_score", "dup_cluster_id", "quality_score", "chunk_of"]
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=False),
              st.text(max_size=30)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)
FIELD_NAMES = st.one_of(st.sampled_from(RESERVED), st.text(min_size=1, max_size=12))


def read_with_pipeline_reader(fmt: str, contents: dict[str, bytes]) -> None:
    """Write the files, build the reader as `curate run` does, read everything, check it, write it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "in")
        folder.mkdir()
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        pipeline = Pipeline({"input": {"paths": [str(folder)], "format": fmt}, "output": str(Path(tmp, "out"))})
        fmt, files = pipeline.resolve_inputs()
        reader = pipeline.make_reader(fmt, files, limit=-1)
        docs = list(reader.run(None, rank=0, world_size=1))
    assert_funnel(reader, live_in=len(docs), out=docs)  # a reader's documents in are the records it read
    assert_rejections_named(docs)
    assert all(doc.metadata.get("rejected_by") in (None, reader.name) for doc in docs)
    for doc in docs:
        if not doc.metadata.get("rejected_by"):
            assert isinstance(doc.text, str) and doc.text.strip(), doc.id
    assert_storable(docs, reader.columns())


# ---- text and html: one document per file ---------------------------------------------------------------------
@fuzz_settings(80)
@given(files=st.lists(st.tuples(st.sampled_from([".txt", ".md", ".txt.gz"]), file_bytes(),
                                st.none() | st.integers(0, 80)), min_size=1, max_size=5))
def test_text_reader(files):
    _one_document_per_file("text", files)


@fuzz_settings(80)
@given(files=st.lists(st.tuples(st.sampled_from([".html", ".htm", ".html.gz"]), file_bytes(html=True),
                                st.none() | st.integers(0, 80)), min_size=1, max_size=5))
def test_html_reader(files):
    _one_document_per_file("html", files)


def _one_document_per_file(fmt, files):
    read_with_pipeline_reader(fmt, {f"f{i}{suffix}": gzipped(data, cut) if suffix.endswith(".gz") else data
                                    for i, (suffix, data, cut) in enumerate(files)})


# ---- jsonl ----------------------------------------------------------------------------------------------------
def _json_line():
    record = st.builds(lambda text, extra, doc_id: {**extra, "text": text,
                                                    **({"id": doc_id} if doc_id is not None else {})},
                       st.one_of(texts(large=False), JSON_VALUES),
                       st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=4),
                       st.none() | st.text(max_size=10) | st.integers())
    valid = record.map(lambda r: json.dumps(r).encode())  # lone surrogates become \\ud800 escapes
    return st.one_of(valid, valid, valid, JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=200), mixed_encoding_bytes(), st.just(b""),
                     st.builds(lambda n: b'{"text": "' + b"x" * n + b'"}', st.integers(100_000, 2_000_000)),
                     st.builds(lambda n: b"[" * n, st.integers(1, 5000)))  # deep nesting


CURATE_OUTPUT_ROWS = [  # a curate output read back in: its rows carry an earlier run's rejection fields
    b'{"id": "a", "text": "kept before", "rejected_by": null, "reason": null, "source": "x.warc.gz"}',
    b'{"id": "b", "text": "rejected before", "rejected_by": "quality", "reason": "gopher_stop_words"}']


@fuzz_settings(80)
@example(lines=CURATE_OUTPUT_ROWS, newline=b"\n", compressed=False, cut=None)
@given(lines=st.lists(_json_line(), min_size=1, max_size=12), newline=st.sampled_from([b"\n", b"\r\n"]),
       compressed=st.booleans(), cut=st.none() | st.integers(0, 400))
def test_jsonl_reader(lines, newline, compressed, cut):
    data = newline.join(lines) + newline
    read_with_pipeline_reader("jsonl", {"d.jsonl.gz": gzipped(data, cut)} if compressed else {"d.jsonl": data})


# ---- parquet --------------------------------------------------------------------------------------------------
COLUMN_TYPES = {
    "string": (pa.string(), texts(allow_surrogates=False, large=False)),
    "int": (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    "float": (pa.float64(), st.floats()),
    "bool": (pa.bool_(), st.booleans()),
    "binary": (pa.binary(), st.binary(max_size=40)),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "struct": (pa.struct([("a", pa.string())]), st.builds(lambda s: {"a": s}, st.text(max_size=5))),
}


@st.composite
def parquet_files(draw):
    rows = draw(st.integers(0, 8))
    columns = {"text": draw(st.sampled_from(["string", "string", "string", "int", "binary"]))}
    for name in draw(st.lists(FIELD_NAMES, max_size=4, unique=True)):
        columns.setdefault(name, draw(st.sampled_from(sorted(COLUMN_TYPES))))
    arrays = {}
    for name, kind in columns.items():
        dtype, values = COLUMN_TYPES[kind]
        arrays[name] = pa.array(draw(st.lists(st.none() | values, min_size=rows, max_size=rows)), type=dtype)
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    data = buffer.getvalue()
    return draw(st.one_of(st.just(data), st.builds(lambda cut: data[:cut], st.integers(0, len(data))),
                          st.binary(max_size=500)))


@fuzz_settings(60)
@given(files=st.lists(parquet_files(), min_size=1, max_size=3))
@example(files=[b""])  # an empty first file once stopped the run while its columns were inferred
def test_parquet_reader(files):
    read_with_pipeline_reader("parquet", {f"p{i}.parquet": data for i, data in enumerate(files)})


# ---- warc -----------------------------------------------------------------------------------------------------
CONTENT_TYPES = ["text/html", "text/html; charset=utf-8", "text/html; charset=shift_jis", "text/html; charset=nope",
                 "text/plain; charset=utf-16", "application/pdf", "image/png", "application/xhtml+xml", "", "garbage;;"]
RECORD_TYPES = ["response", "response", "resource", "conversion", "request", "metadata", "warcinfo", "revisit"]


@st.composite
def warc_files(draw):
    """WARC records written by hand (so that headers can lie): any record type, HTTP headers or none, a
    Content-Length that may be off, gzipped per record or not; then the file may be damaged."""
    gzip_records = draw(st.booleans())
    buffer = io.BytesIO()
    for i in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(RECORD_TYPES))
        block = draw(st.one_of(file_bytes(html=True), broken_html().map(lambda t: t.encode("utf-8")),
                               real_sentences().map(lambda t: t.encode("utf-8"))))
        if draw(st.booleans()):
            status = draw(st.sampled_from(["200 OK", "404 Not Found", "301 Moved", "999 ???"]))
            block = (f"HTTP/1.1 {status}\r\nContent-Type: {draw(st.sampled_from(CONTENT_TYPES))}\r\n\r\n"
                     .encode() + block)
        length = len(block) + draw(st.sampled_from([0, 0, 0, -3, 5, 1000]))
        uri = draw(st.sampled_from(["http://example.com/", "file:///x", "no url", "", "http://[::1",
                                    "http://ü.de/ä"]))
        header = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:fuzz-{i}>\r\n"
                  f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: {uri}\r\n"
                  f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n")
        record = header.encode("utf-8") + block + b"\r\n\r\n"
        buffer.write(gzip.compress(record, mtime=0) if gzip_records else record)
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "none", "cut", "insert", "whole_gzip", "random"]))
    if damage == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=50)) + data[at:]
    elif damage == "whole_gzip":
        data = gzip.compress(data, mtime=0)
    elif damage == "random":
        data = draw(st.binary(max_size=2000))
    return data


@fuzz_settings(80)
@given(files=st.lists(warc_files(), min_size=1, max_size=3))
def test_warc_reader(files):
    read_with_pipeline_reader("warc", {f"w{i}.warc.gz": data for i, data in enumerate(files)})
