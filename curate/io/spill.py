"""Documents handed from one pipeline phase to the next: `OUT/.work/spill/<phase>/<rank:05d>.parquet`.

A run with a GlobalStage (dedup, decontamination) is cut into phases (curate/phases.py). The phase before the cut
ends with a SpillWriter: every document of the task, kept or rejected, in stream order, with all its metadata. The
phase after starts with a SpillReader that reads back exactly its own task's file, in the same order, so task `r`
after the cut sees the documents task `r` saw before it, and a document's position in the stream names it in both.

The file uses the shard schema (curate/io/schema.py): declared metadata as typed columns, the rest as JSON in
`extra_metadata`, rejection columns included. Reading it back gives the document its metadata again (null columns
are left out, as they were absent before). Written under a temporary name and renamed: a task that crashed leaves
no file, and the phase after refuses to start without one.

Why not datatrove's ParquetWriter/ParquetReader: the spill must keep rejected documents and every metadata value,
typed, and be read back one file per task in order; datatrove's reader shards files across tasks by index.
"""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from curate.funnel import timed
from curate.io.schema import EXTRA_COLUMN, build_schema
from curate.io.shard_writer import document_row, rows_to_table

SPILL_BATCH_ROWS = 1000


class SpillMissing(RuntimeError):
    """The phase before did not leave this task's spill file: that phase has to run (again) first."""


def spill_path(folder: str, rank: int) -> str:
    return f"{folder.rstrip('/')}/{rank:05d}.parquet"


class SpillWriter(PipelineStep):
    """Writes every document of the task, in order, to the spill folder; passes nothing on."""

    name = "spill"
    type = "💾 - SPILL"

    def __init__(self, folder: str, columns: dict[str, pa.DataType], compression: str = "zstd"):
        super().__init__()
        self.folder = folder
        self.schema = build_schema(columns, rejected=True)
        self.compression = compression

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        out = get_datafolder(self.folder)
        name = f"{rank:05d}.parquet"
        rows = []
        with out.open(name + ".tmp", "wb") as handle, \
                pq.ParquetWriter(handle, self.schema, compression=self.compression) as writer:
            for doc in data:
                with timed(self):
                    rows.append(document_row(doc, self.schema))
                    if len(rows) >= SPILL_BATCH_ROWS:
                        writer.write_table(rows_to_table(rows, self.schema))
                        rows = []
                self.stat_update("spilled")
            if rows:
                writer.write_table(rows_to_table(rows, self.schema))
        out.mv(name + ".tmp", name)
        yield from ()  # passes nothing on: the spill ends its phase


class SpillReader(PipelineStep):
    """Reads the task's own spill file back as documents, in the order they were written."""

    name = "unspill"
    type = "📖 - READER"

    def __init__(self, folder: str, phase: str):
        super().__init__()
        self.folder = folder
        self.phase = phase  # the phase that writes the file, for the error message

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        folder = get_datafolder(self.folder)
        name = f"{rank:05d}.parquet"
        if not folder.isfile(name):
            raise SpillMissing(f"{spill_path(self.folder, rank)} is missing: phase {self.phase!r} did not finish "
                               f"task {rank}; re-run the same command to resume it (if its work folder was removed "
                               f"after the phase finished, re-run with --force)")
        with folder.open(name, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=SPILL_BATCH_ROWS):
                for row in batch.to_pylist():
                    yield row_document(row)


def row_document(row: dict) -> Document:
    """A spilled (or shard) row as the Document it was: core fields, non-null columns and extra_metadata as metadata."""
    doc_id, text = row.pop("id"), row.pop("text")
    extra = row.pop(EXTRA_COLUMN, None)
    metadata = {name: value for name, value in row.items() if value is not None}
    if extra:
        metadata.update(json.loads(extra))
    return Document(text=text, id=doc_id, metadata=metadata)


class SpillTexts:
    """The texts of spilled documents by (rank, position): what exact-Jaccard verification of candidate pairs reads
    (curate.dedup.clusters.verify_pairs asks for a chunk of keys at a time, sorted in file order)."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, keys) -> list[str]:
        folder = get_datafolder(self.folder)
        texts: list[str] = []
        for rank in sorted({rank for rank, _ in keys}):
            positions = [position for r, position in keys if r == rank]
            with folder.open(f"{rank:05d}.parquet", "rb") as handle:
                column = pq.read_table(handle, columns=["text"]).column(0)
            texts.extend(column.take(positions).to_pylist())
        return texts
