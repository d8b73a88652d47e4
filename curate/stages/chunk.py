"""chunk: cut long documents (books, long reports) into blocks of whole paragraphs, each its own document.

A corpus of a few long books cannot be deduplicated, split or decontaminated usefully by whole document: two
editions of a book share most chapters but not most of the whole text, and two books cannot fill train, val and
test. Cut into blocks of at least `min_chars` characters (paragraphs are never cut; a block ends at the first blank
line after `min_chars`), every later stage works on the blocks: near-duplicate chapters across editions are found,
and the split assigns blocks, not books.

Blocks are contiguous slices of the text, so they add back up to the document. A document no longer than
`min_chars` stays as it is. Ids are stable: `<id>#<k>` for block k (the document's own id when it is not cut).
Columns: `chunk_of` (the document's id), `chunk_index` (k). Every block carries the document's other metadata.
The funnel counts the documents a stage adds (`docs_created`), so `read + created = kept + rejected` still holds.
"""

import re

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curate.funnel import FunnelCounting

BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n\s*")


def paragraph_blocks(text: str, min_chars: int) -> list[str]:
    """Contiguous slices of `text`, each ending after a blank line once it holds `min_chars` characters."""
    blocks, start = [], 0
    for blank in BLANK_LINE.finditer(text):
        if blank.end() - start >= min_chars:
            blocks.append(text[start:blank.end()])
            start = blank.end()
    if start < len(text):
        if blocks and not text[start:].strip():
            blocks[-1] += text[start:]  # trailing whitespace joins the last block
        else:
            blocks.append(text[start:])
    return blocks


class Chunk(FunnelCounting, PipelineStep):
    """Not a CurateStep: one document in, several out."""

    name = "chunk"
    type = "✂️ - CHUNK"

    def __init__(self, min_chars: int = 2000):
        """`min_chars` 2,000: the trainer's paragraph blocks (model/data.py BLOCK_CHARS), about a page of a book;
        large enough for 13-gram decontamination and 5-gram MinHash to see real text, small enough that two
        books give hundreds of blocks."""
        super().__init__()
        if min_chars < 1:
            raise ValueError(f"min_chars must be >= 1, got {min_chars}")
        self.min_chars = min_chars

    def columns(self) -> dict[str, pa.DataType]:
        return {"chunk_of": pa.string(), "chunk_index": pa.int64()}

    def pieces(self, doc: Document) -> list[Document]:
        blocks = paragraph_blocks(doc.text, self.min_chars) if len(doc.text) > self.min_chars else [doc.text]
        return [Document(text=block, id=doc.id if len(blocks) == 1 else f"{doc.id}#{index}",
                         metadata={**doc.metadata, "chunk_of": doc.id, "chunk_index": index})
                for index, block in enumerate(blocks)]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        yield from self.process_stream(data, self.pieces)  # one in, several out: the loop counts the created ones
