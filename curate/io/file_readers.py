"""Folders of files, one document per file: HTML pages (`html`) or plain text (`text`), gzipped or not.

The document id is the file's path relative to the input root. Bytes are decoded with the same rules as WARC
payloads (curate/decoding.py); binary files, undecodable files and empty files are rejected with a reason.
datatrove has no reader for this.
"""

from typing import Iterator

import fsspec
import pyarrow as pa

from curate.decoding import UndecodableError, decode_bytes, looks_binary
from curate.io.input_files import InputFile
from curate.io.reader_base import CurateReader, Record


class FileReader(CurateReader):
    """`kind`: "html" or "text". Columns: `charset`, `decode_errors`."""

    def __init__(self, files: list[InputFile], kind: str = "text", limit: int = -1, max_file_bytes: int = 50_000_000,
                 check_suffixes: bool = True, sample=None):
        super().__init__(files, limit=limit, check_suffixes=check_suffixes, sample=sample)
        self.kind = kind
        self.name = kind
        self.max_file_bytes = max_file_bytes

    def columns(self) -> dict[str, pa.DataType]:
        return {"charset": pa.string(), "decode_errors": pa.int64()}

    def read_file(self, file: InputFile) -> Iterator[Record]:
        doc_id = file.source
        try:
            with fsspec.open(file.url, "rb", compression="infer") as handle:
                data = handle.read(self.max_file_bytes + 1)
        except (OSError, EOFError) as error:  # a truncated or corrupt .gz
            yield self._named(self.failed(file, 0, "read_error", f"{type(error).__name__}: {error}"), doc_id)
            return
        if len(data) > self.max_file_bytes:
            yield self._named(self.failed(file, 0, "record_too_large", f"over {self.max_file_bytes} bytes"), doc_id)
        elif looks_binary(data):
            yield self._named(self.failed(file, 0, "non_text_content", f"binary content, {len(data)} bytes"), doc_id)
        else:
            try:
                text, charset, errors = decode_bytes(data, html=self.kind == "html")
            except UndecodableError as error:
                yield self._named(self.failed(file, 0, "undecodable", str(error), text=data.decode("utf-8", "replace")), doc_id)
                return
            if not text.strip():
                yield self._named(self.failed(file, 0, "empty_text", "file is empty"), doc_id)
            else:
                yield Record(self.make_doc(file, 0, text, doc_id=doc_id, charset=charset, decode_errors=errors))

    @staticmethod
    def _named(record: Record, doc_id: str) -> Record:
        record.doc.id = doc_id
        return record
