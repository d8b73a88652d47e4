"""The base of curate's readers: an explicit list of input files, one record at a time, nothing skipped silently.

Why not datatrove's BaseDiskReader as is: it reads one folder (one glob), and its readers skip what they cannot
read (a bad JSON line, a record without text, a non-HTML WARC record) with at most a log line. Ours take the file
list resolved up front (several paths, globs and filesystems), and turn every record that cannot be read into a
rejected document with a reason. A file that breaks mid-way yields its good records, then one rejected record for
the failure, and the run goes on with the next file.
"""

from abc import abstractmethod
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader

from curate.io.input_files import PARTED_FORMATS, InputFile, assign_files, reads
from curate.funnel import FunnelCounting, Rejection, timed


class Record:
    """What a reader's `read_file` yields: a document, or the rejection of a record that could not be read."""

    __slots__ = ("doc", "rejection")

    def __init__(self, doc: Document, rejection: Rejection | None = None):
        self.doc, self.rejection = doc, rejection


@dataclass(frozen=True)
class RecordSample:
    """A seeded share of the records (`input.sample`, `curate plan`): record `index` of a file is read when a hash of
    (seed, the file's source name, index) falls under `rate`. The same records on every machine and task count, and
    nested: every record a smaller rate reads, a larger rate (same seed) reads too. The other records are counted
    (`records_not_sampled`) and are not documents of the run: read = kept + rejected holds for the sample."""

    rate: float
    seed: int = 0

    def keeps(self, source: str, index: int) -> bool:
        import xxhash

        return xxhash.xxh3_64_intdigest(f"{self.seed}\0{source}\0{index}".encode("utf-8", "surrogatepass")) < \
            self.rate * 2.0**64


class CurateReader(FunnelCounting, BaseReader):
    """Subclasses set `name` (their input format), implement `read_file(file) -> Iterator[Record]` and declare
    `columns()`. A file whose name says another format (`x.jsonl` given to the text reader) is rejected whole as
    `wrong_format`, unless `check_suffixes` is off (the user chose the format with --format)."""

    type = "📖 - READER"

    def __init__(self, files: list[InputFile], limit: int = -1, text_key: str = "text", id_key: str = "id",
                 check_suffixes: bool = True, sample: RecordSample | None = None):
        super().__init__(limit=limit, text_key=text_key, id_key=id_key)
        self.files = list(files)
        self.check_suffixes = check_suffixes
        self.sample = sample
        self._counts_file = True  # whether file_stat counts (False while reading a part of a file without record 0)

    def columns(self) -> dict[str, pa.DataType]:
        return {}

    @abstractmethod
    def read_file(self, file: InputFile) -> Iterator[Record]:
        """Yield one Record per record of `file`, in file order."""

    def make_doc(self, file: InputFile, index: int | str, text: str, doc_id: str | None = None, **metadata) -> Document:
        metadata["source"] = file.source
        return Document(text=text, id=doc_id or f"{file.source}/{index}", metadata=metadata)

    def failed(self, file: InputFile, index: int | str, reason: str, detail: str, text: str = "", **metadata) -> Record:
        """A record that could not be read, as a rejected document (id: source + record index)."""
        return Record(self.make_doc(file, index, text, **metadata), Rejection(reason, detail=f"{file.url}: {detail}"))

    def file_stat(self, name: str, value: int = 1) -> None:
        """Count something of the file being read, not of a record of this task's share (skipped record types,
        length mismatches): counted by one part of a file read as parts."""
        if self._counts_file:
            self.stat_update(name, value=value)

    def _wrong_format(self, file: InputFile) -> bool:
        return self.check_suffixes and file.format is not None and not reads(self.name, file.format)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        emitted = 0
        for unit in assign_files(self.files, world_size, self.name in PARTED_FORMATS)[rank]:
            file = unit.file
            # a file read as parts is still one file: its own counts come from the part that holds record 0, so the
            # funnel is the same whatever the task count
            self._counts_file = 0 in unit.shares
            self.file_stat("input_files")
            records = self.read_file(file) if not self._wrong_format(file) else iter([self.failed(
                file, 0, "wrong_format", f"the name says {file.format}, this pipeline reads {self.name}; leave it out "
                f"with a glob, or read every file as {self.name} with --format {self.name}")])
            index = 0
            while self.limit == -1 or emitted < self.limit:
                try:
                    with timed(self):
                        record = next(records, None)
                except Exception as error:  # a reader bug or an unforeseen format error: reject, go on
                    record = self.failed(file, f"error{index}", "read_error", f"{type(error).__name__}: {error}")
                    records = iter(())
                if record is None:
                    break
                index += 1
                if not unit.reads(index - 1):  # another task's share of this file
                    continue
                if self.sample is not None and not self.sample.keeps(file.source, index - 1):
                    self.stat_update("records_not_sampled")
                    continue
                emitted += 1
                size = self.count_in(record.doc)
                if record.rejection is not None:
                    yield self.reject(record.doc, record.rejection, size)
                else:
                    self.count_out(record.doc)
                    yield record.doc
