"""Inputs made of records with fields: JSONL (.gz/.zst/.bz2), Parquet, and Hugging Face datasets on disk.

`text_key` and `id_key` name the text and id fields; `url` is kept when present; every other field travels on as
metadata (typed columns for the fields declared with the input's `columns`, JSON in `extra_metadata` otherwise).
A line that is not JSON, a record without text, or a non-string text is rejected with its line/row number. Fields
named like curate's own (`rejected_by`, `reason`, `reason_value`, `reason_detail`, `source`) are renamed `input_<name>`.

Why not datatrove's JsonlReader/ParquetReader/HuggingFaceDatasetReader: they skip such records with a log line,
and none reads a dataset saved with `save_to_disk`.
"""

import io
import json
from typing import Iterator

import fsspec
import pyarrow as pa

from curate.decoding import UndecodableError, decode_utf8, looks_binary_lines
from curate.io.input_files import InputFile
from curate.io.reader_base import CurateReader, Record
from curate.io.schema import RESERVED_INPUT_FIELDS


class _FieldRecords(CurateReader):
    def __init__(self, files, limit=-1, text_key="text", id_key="id", columns: dict[str, pa.DataType] | None = None,
                 check_suffixes: bool = True, sample=None):
        super().__init__(files, limit=limit, text_key=text_key, id_key=id_key, check_suffixes=check_suffixes,
                         sample=sample)
        self._columns = dict(columns or {})

    def columns(self) -> dict[str, pa.DataType]:
        return self._columns

    def record(self, file: InputFile, index: int, row) -> Record:
        where = f"record {index}"
        if not isinstance(row, dict):
            return self.failed(file, index, "not_an_object", f"{where} is a {type(row).__name__}, not an object",
                                text=_preview(row))
        row = dict(row)
        text = row.pop(self.text_key, None)
        raw_id = row.pop(self.id_key, None)
        doc_id = str(raw_id) if raw_id not in (None, "") else None
        metadata = row.pop("metadata", None)
        if isinstance(metadata, dict):
            row = {**metadata, **row}
        elif metadata is not None:
            row["metadata"] = metadata
        row = {(f"input_{name}" if name in RESERVED_INPUT_FIELDS else name): value for name, value in row.items()}
        if text is None:
            record = self.failed(file, index, "missing_text", f"{where} has no {self.text_key!r} field "
                                 f"(fields: {', '.join(sorted(row)) or 'none'})", text="")
        elif not isinstance(text, str):
            record = self.failed(file, index, "text_not_string",
                                 f"{where}: {self.text_key!r} is a {type(text).__name__}", text=_preview(text))
        elif not text.strip():
            record = self.failed(file, index, "empty_text", f"{where}: {self.text_key!r} is empty", text=text)
        else:
            return Record(self.make_doc(file, index, text, doc_id=doc_id, **row))
        if doc_id:
            record.doc.id = doc_id
        record.doc.metadata.update(row)
        return record


class JsonlReader(_FieldRecords):
    """Column `decode_errors`: bytes of the line that were not UTF-8, replaced by U+FFFD (the record is kept, as the
    html and text readers keep such pages). A binary file is one `non_text_content` rejection, not one per line."""

    name = "jsonl"

    def columns(self) -> dict[str, pa.DataType]:
        return {**super().columns(), "decode_errors": pa.int64()}

    def read_file(self, file: InputFile) -> Iterator[Record]:
        import orjson

        with fsspec.open(file.url, "rb", compression="infer") as handle:
            # zstandard's reader cannot iterate lines by itself; a buffered reader over it can (and gzip's too)
            lines = io.BufferedReader(handle, 1 << 16)
            head = lines.peek(8192)[:8192]
            if looks_binary_lines(head):
                yield self.failed(file, 0, "non_text_content", f"binary content ({head[:8]!r}...), not JSON lines")
                return
            for index, line in enumerate(lines):
                if not line.strip():
                    continue  # blank lines hold no record
                try:
                    text, _, errors = decode_utf8(line)
                    row = orjson.loads(text)
                except (orjson.JSONDecodeError, UndecodableError) as error:
                    reason = "undecodable" if isinstance(error, UndecodableError) else "invalid_json"
                    yield self.failed(file, index, reason, f"line {index + 1}: {error}",
                                      text=line.decode("utf-8", "replace"))
                    continue
                record = self.record(file, index, row)
                record.doc.metadata["decode_errors"] = errors
                yield record


class ParquetReader(_FieldRecords):
    name = "parquet"

    def read_file(self, file: InputFile) -> Iterator[Record]:
        import pyarrow.parquet as pq

        with fsspec.open(file.url, "rb") as handle:
            index = 0
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=1000):
                for row in batch.to_pylist():
                    yield self.record(file, index, row)
                    index += 1


class HuggingFaceReader(_FieldRecords):
    """A dataset saved with `Dataset.save_to_disk` (a folder with dataset_info.json / state.json), read locally."""

    name = "hf"

    def read_file(self, file: InputFile) -> Iterator[Record]:
        from datasets import load_from_disk

        dataset = load_from_disk(file.url)
        if hasattr(dataset, "keys"):  # a DatasetDict: every split, in name order
            splits = [(name, dataset[name]) for name in sorted(dataset.keys())]
        else:
            splits = [("", dataset)]
        for split, part in splits:
            for index, row in enumerate(part):
                # rows without an id of their own get source/split/index, unique across the splits
                record = self.record(file, f"{split}/{index}" if split else index, row)
                if split:
                    record.doc.metadata.setdefault("split_name", split)
                yield record


def _preview(value, limit: int = 2000) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:limit]
