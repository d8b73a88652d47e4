"""The last step of every pipeline: kept documents to `OUT/data/`, rejected ones to `OUT/rejected/`.

Shards are zstd Parquet with one explicit schema (curate/io/schema.py), bounded in rows and bytes, named
`part-TTTTT-CCCC.parquet` (task T, chunk C: each task writes its own, so workers never share a file). Each is
written under a temporary name and renamed when complete, so a crash never leaves a half-written shard that looks
finished; when a task restarts it first removes whatever an earlier attempt of the same task left behind. Each
shard's footer holds, under the key-value metadata key `curate.stats` (JSON), its document, byte and character
counts and the quantiles of every numeric column: written with the shard, so they can never disagree with it, and a
shard folder holds nothing but Parquet files (pandas, pyarrow, polars, duckdb and datasets open it by its path).

Why not datatrove's ParquetWriter (which now takes an explicit schema): it bounds only bytes, writes in place (a
killed task leaves a half shard under the final name), keeps no per-shard statistics, and has no place for a value
that does not fit its column (ours go to `extra_metadata`).
"""

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from curate.funnel import SPLITS, doc_size, is_rejected, timed
from curate.io.schema import CORE_COLUMNS, EXTRA_COLUMN, build_schema

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
STATS_KEY = "curate.stats"  # the footer's key-value metadata key of a shard's statistics (JSON)
WRITE_BATCH_ROWS = 1000


class ShardSink:
    """Rows of one kind (kept or rejected) for one task, rotated into bounded shards."""

    def __init__(self, folder, schema: pa.Schema, rank: int, max_rows: int, max_bytes: int, compression: str):
        self.folder, self.schema, self.rank = folder, schema, rank
        self.max_rows, self.max_bytes, self.compression = max_rows, max_bytes, compression
        self.chunk = 0
        self.writer = self.handle = None
        self.pending: list[dict] = []
        self._reset_shard_stats()

    def _reset_shard_stats(self):
        self.rows = self.text_bytes = self.chars = 0
        self.numeric: dict[str, list[float]] = {
            f.name: [] for f in self.schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        }
        self.categorical: dict[str, dict[str, int]] = {
            f.name: {} for f in self.schema if f.name in ("rejected_by", "reason", "lang", "content_type", "split")
        }

    @property
    def name(self) -> str:
        return f"part-{self.rank:05d}-{self.chunk:04d}"

    def add(self, row: dict, nbytes: int) -> None:
        if self.writer is None:
            self.handle = self.folder.open(f"{self.name}.parquet.tmp", "wb")
            self.writer = pq.ParquetWriter(self.handle, self.schema, compression=self.compression)
        self.pending.append(row)
        self.rows += 1
        self.text_bytes += nbytes
        self.chars += len(row["text"] or "")
        for column, values in self.numeric.items():
            value = row.get(column)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                values.append(float(value))
        for column, counts in self.categorical.items():
            value = row.get(column)
            if value is not None:
                counts[str(value)] = counts.get(str(value), 0) + 1
        if len(self.pending) >= WRITE_BATCH_ROWS:
            self._flush()
        if self.rows >= self.max_rows or self.text_bytes >= self.max_bytes:
            self.close()
            self.chunk += 1

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(rows_to_table(self.pending, self.schema))
            self.pending = []

    def close(self) -> None:
        if self.writer is None:
            return
        self._flush()
        self.writer.add_key_value_metadata({STATS_KEY: json.dumps(self._shard_stats(), separators=(",", ":"))})
        self.writer.close()
        self.handle.close()
        self.writer = self.handle = None
        self.folder.mv(f"{self.name}.parquet.tmp", f"{self.name}.parquet")
        self._reset_shard_stats()

    def _shard_stats(self) -> dict:
        columns = {}
        for column, values in self.numeric.items():
            if values:
                array = np.asarray(values)
                columns[column] = {
                    "count": int(array.size), "mean": float(array.mean()),
                    "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(array, QUANTILES))},
                }
        for column, counts in self.categorical.items():
            if counts:
                columns[column] = {"count": sum(counts.values()), "values": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
        return {"shard": f"{self.name}.parquet", "docs": self.rows, "bytes": self.text_bytes, "chars": self.chars,
                "columns": columns}


KEPT_KINDS = ("data", *SPLITS)  # kept documents: OUT/data/, or OUT/train|val|test/ after a split
OUTPUT_KINDS = (*KEPT_KINDS, "rejected")  # the shard folders of OUT/


class ShardWriter(PipelineStep):
    """Routes each document to its shard folder: rejected ones to `rejected/`, kept ones to the folder of their
    `split` (`train/`, `val/`, `test/`, set by the split stage) or else to `data/`. `columns`: every declared column."""

    name = "writer"
    type = "💽 - WRITER"

    def __init__(self, output_folder: DataFolderLike, columns: dict[str, pa.DataType], max_rows_per_shard: int = 100_000,
                 max_bytes_per_shard: int = 256 * 2**20, compression: str = "zstd"):
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.declared = dict(columns)
        self.max_rows, self.max_bytes, self.compression = max_rows_per_shard, max_bytes_per_shard, compression

    def _sink(self, sinks: dict, kind: str, rank: int) -> ShardSink:
        if kind not in sinks:
            self.output_folder.makedirs(kind, exist_ok=True)
            # one schema for every folder (rejection columns null in kept shards): `OUT/*/*.parquet` reads as one table
            sinks[kind] = ShardSink(get_datafolder(self.output_folder.resolve_paths(kind)),
                                    build_schema(self.declared, rejected=True), rank,
                                    self.max_rows, self.max_bytes, self.compression)
        return sinks[kind]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # an earlier, interrupted attempt of this task may have left shards in any folder: remove them first
        for kind in OUTPUT_KINDS:
            if self.output_folder.isdir(kind):
                for stale in self.output_folder.glob(f"{kind}/part-{rank:05d}-*"):
                    self.output_folder.rm(stale)
        sinks: dict[str, ShardSink] = {}
        self._sink(sinks, "rejected", rank)
        try:
            for doc in data:
                kind = "rejected" if is_rejected(doc) else _kept_folder(doc)
                size = doc_size(doc)
                with timed(self):
                    sink = self._sink(sinks, kind, rank)
                    sink.add(document_row(doc, sink.schema), size.bytes)
                self.stat_update(f"written/{kind}_docs")
                self.stat_update(f"written/{kind}_bytes", value=size.bytes)
                self.stat_update(f"written/{kind}_tokens", value=size.tokens)
                yield doc
            if "data" not in sinks and not any(kind in sinks for kind in SPLITS):
                self._sink(sinks, "data", rank)  # a run that kept nothing still has its data/ folder
            for sink in sinks.values():
                sink.close()
        finally:
            for sink in sinks.values():  # on an error: close files, but never rename a partial shard as complete
                if sink.writer is not None:
                    sink.writer.close()
                    sink.handle.close()


def _kept_folder(doc: Document) -> str:
    split = doc.metadata.get("split")
    return split if split in SPLITS else "data"


def document_row(doc: Document, schema: pa.Schema) -> dict:
    """A document as a row of `schema`: core fields, declared metadata, the rest as JSON in extra_metadata."""
    metadata = dict(doc.metadata)
    row = {"id": doc.id, "text": doc.text, "url": metadata.pop("url", None), "source": metadata.pop("source", None)}
    for name in schema.names:
        if name not in CORE_COLUMNS and name != EXTRA_COLUMN:
            row[name] = metadata.pop(name, None)
    row[EXTRA_COLUMN] = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str) if metadata else None
    return row


def rows_to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Build a table; a value that does not fit its column's type moves to extra_metadata instead of failing."""
    arrays = []
    misfits: dict[int, dict] = {}
    for field in schema:
        if field.name == EXTRA_COLUMN:
            continue
        values = [row.get(field.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            fixed = []
            for i, value in enumerate(values):
                if isinstance(value, str):
                    # Parquet strings are UTF-8, which cannot hold a lone surrogate (a JSON "\ud800" escape, bytes
                    # decoded with surrogateescape): it becomes U+FFFD, as curate's decoders do with undecodable bytes
                    value = _SURROGATES.sub("\ufffd", value)
                try:
                    pa.array([value], type=field.type)
                    fixed.append(value)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
                    misfits.setdefault(i, {})[field.name] = value
                    fixed.append(None)
            arrays.append(pa.array(fixed, type=field.type))
    extra = []
    for i, row in enumerate(rows):
        value = row.get(EXTRA_COLUMN)
        if i in misfits:
            merged = {**(json.loads(value) if value else {}), **misfits[i]}
            value = json.dumps(merged, sort_keys=True, ensure_ascii=False, default=str)
        extra.append(value)
    try:
        extra_array = pa.array(extra, pa.string())
    except UnicodeEncodeError:  # a lone surrogate in a metadata value: kept, as a JSON escape (ASCII)
        extra_array = pa.array([value if value is None or not _SURROGATES.search(value) else
                                json.dumps(json.loads(value), sort_keys=True, ensure_ascii=True) for value in extra],
                               pa.string())
    names = [f.name for f in schema if f.name != EXTRA_COLUMN]
    table = pa.Table.from_arrays(arrays, names=names)
    return table.add_column(schema.get_field_index(EXTRA_COLUMN), EXTRA_COLUMN, extra_array).cast(schema)


_SURROGATES = re.compile("[\ud800-\udfff]")
