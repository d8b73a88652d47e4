"""chunk: books into blocks of whole paragraphs; the funnel and the conservation law count the added documents."""

import re

from curate.stages.chunk import paragraph_blocks
from pipeline_helpers import read_rows, run_pipeline, shared


def test_blocks_are_whole_paragraphs_that_add_back_up_to_the_book():
    text = shared("text", "gutenberg", "11", "11.txt").read_text(encoding="utf-8")
    blocks = paragraph_blocks(text, 2000)
    assert "".join(blocks) == text and len(blocks) > 50
    assert all(len(block) >= 2000 for block in blocks[:-1])
    # every block but the last ends at a blank line, so no paragraph is cut
    assert all(re.search(r"\n[ \t]*\r?\n\s*$", block) for block in blocks[:-1])
    assert paragraph_blocks("short", 2000) == ["short"]


def test_chunked_books_keep_ids_stable_and_conservation_counts_created(tmp_path):
    config = {"input": {"paths": [str(shared("text", "gutenberg", "11", "11.txt")),
                                  str(shared("text", "gutenberg", "1342", "1342.txt"))], "format": "text"},
              "stages": [{"clean": {"remove_gutenberg": True}}, {"chunk": {"min_chars": 4000}}]}
    result = run_pipeline(config, tmp_path / "a", workers=2)
    rows = read_rows(tmp_path / "a", "data")
    chunk = next(step for step in result.manifest["funnel"] if step["step"] == "chunk")
    assert chunk["docs_in"] == 2 and chunk["docs_out"] == len(rows) == 2 + chunk["docs_created"]
    assert result.manifest["conservation"]["created"] == chunk["docs_created"]
    by_book = {}
    for row in rows:
        by_book.setdefault(row["chunk_of"], []).append(row)
    assert len(by_book) == 2
    for book, blocks in by_book.items():
        blocks.sort(key=lambda r: r["chunk_index"])
        assert [r["id"] for r in blocks] == [f"{book}#{i}" for i in range(len(blocks))]
    again = run_pipeline(config, tmp_path / "b", workers=1)
    assert sorted(r["id"] for r in read_rows(tmp_path / "b", "data")) == sorted(r["id"] for r in rows)
    assert again.manifest["conservation"] == result.manifest["conservation"]
