"""Every reader on real files from ../shared/data, through a whole pipeline run (conservation checked each time)."""

import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from pipeline_helpers import read_rows, run_pipeline, shared


def test_warc_reader_reads_every_page_record(tmp_path):
    result = run_pipeline({"input": {"paths": [str(shared("warc", "dolma", "tests", "data", "warc"))], "format": "warc"}},
                          tmp_path)
    kept = read_rows(tmp_path, "data")
    assert len(kept) == 41  # 41 response records; 37 requests, 2 warcinfo, 2 metadata are not documents
    assert all(row["id"].startswith("<urn:uuid:") for row in kept)
    assert all(row["url"] and row["date"].startswith("2024-04-25") for row in kept)
    assert sum(row["url"].startswith("http") for row in kept) == 37  # plus 4 `resource` records (robots, dns)
    assert {row["source"] for row in kept} == {"sample-0000.warc.gz", "sample-0001.warc.gz"}
    counters = result.manifest["funnel"][0]["counters"]
    assert counters["skipped_records/request"] == 37


def test_arc_and_wet_readers(tmp_path):
    arc = run_pipeline({"input": {"paths": [str(shared("warc", "warcio", "test", "data", "example.arc.gz"))]}}, tmp_path / "arc")
    rows = read_rows(tmp_path / "arc", "data")
    assert len(rows) == 1 and "Example Domain" in rows[0]["text"] and rows[0]["url"] == "http://example.com/"
    assert arc.manifest["config"]["input"]["format"] == "warc"  # inferred from the name
    run_pipeline({"input": {"paths": [str(shared("warc", "whirlwind-python", "whirlwind.warc.wet.gz"))]}}, tmp_path / "wet")
    rows = read_rows(tmp_path / "wet", "data")
    assert len(rows) == 1 and rows[0]["content_type"] == "text/plain" and "<html" not in rows[0]["text"].lower()


def test_jsonl_reader_gz_and_zst(tmp_path):
    src = shared("warc", "dolma", "tests", "data", "multiple_files")
    run_pipeline({"input": {"paths": [str(src)], "format": "jsonl", "columns": {"added": "string"}}}, tmp_path / "gz")
    rows = read_rows(tmp_path / "gz", "data")
    lines = sum(1 for f in src.glob("*.jsonl.gz") for line in gzip.open(f) if line.strip())
    assert len(rows) == lines > 0
    assert all(row["added"] for row in rows)  # a declared input field is a typed column
    assert all(json.loads(row["extra_metadata"]) for row in rows)  # undeclared fields travel as JSON
    # the same records as .jsonl.zst
    zst = tmp_path / "zst"
    zst.mkdir()
    for f in src.glob("*.jsonl.gz"):
        (zst / f.name.replace(".gz", ".zst")).write_bytes(zstandard.ZstdCompressor().compress(gzip.open(f).read()))
    run_pipeline({"input": {"paths": [str(zst / "*.jsonl.zst")]}}, tmp_path / "zst_out")
    assert sorted(r["id"] for r in read_rows(tmp_path / "zst_out", "data")) == sorted(r["id"] for r in rows)


def test_parquet_reader_keeps_typed_columns(tmp_path):
    book = shared("text", "gutenberg", "11", "11-0.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in book.split("\n\n") if p.strip()][:300]
    table = pa.table({"id": [f"alice-{i}" for i in range(len(paragraphs))], "text": paragraphs,
                      "chapter": pa.array([i // 30 for i in range(len(paragraphs))], pa.int32())})
    pq.write_table(table, tmp_path / "alice.parquet")
    run_pipeline({"input": {"paths": [str(tmp_path / "alice.parquet")]}}, tmp_path / "out")
    rows = read_rows(tmp_path / "out", "data")
    assert [r["text"] for r in sorted(rows, key=lambda r: int(r["id"].split("-")[1]))] == paragraphs
    assert pq.read_schema(next((tmp_path / "out" / "data").glob("*.parquet"))).field("chapter").type == pa.int32()


def test_html_and_text_folder_readers(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in sorted(shared("extraction", "readability-testpages", "test", "test-pages").iterdir())[:12]:
        shutil.copy(name / "source.html.gz", pages / f"{name.name}.html.gz")
    run_pipeline({"input": {"paths": [str(pages)], "format": "html"}}, tmp_path / "html")
    rows = read_rows(tmp_path / "html", "data")
    assert len(rows) == 12 and all("<" in r["text"] for r in rows)
    assert {r["id"] for r in rows} == {p.name for p in pages.iterdir()}
    run_pipeline({"input": {"paths": [str(shared("text", "gutenberg", "11", "11-0.txt")),
                                      str(shared("text", "gutenberg", "1342", "1342-0.txt"))]}}, tmp_path / "text")
    rows = read_rows(tmp_path / "text", "data")
    assert sorted(r["id"] for r in rows) == ["11-0.txt", "1342-0.txt"]
    assert any("Alice" in r["text"] for r in rows) and any("Bennet" in r["text"] for r in rows)


def test_huggingface_dataset_saved_on_disk(tmp_path):
    from datasets import Dataset

    text = shared("text", "tinyshakespeare", "input.txt").read_text()
    speeches = [s for s in text.split("\n\n") if s.strip()][:200]
    Dataset.from_dict({"text": speeches, "speaker": [s.split(":")[0] for s in speeches]}).save_to_disk(tmp_path / "ds")
    run_pipeline({"input": {"paths": [str(tmp_path / "ds")], "format": "hf", "columns": {"speaker": "string"}}},
                 tmp_path / "out")
    rows = read_rows(tmp_path / "out", "data")
    assert len(rows) == 200 and rows[0]["speaker"]
    assert {r["text"] for r in rows} == set(speeches)
