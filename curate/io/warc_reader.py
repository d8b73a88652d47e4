"""WARC, ARC and WET files (gzipped per record, gzipped whole, or plain), every record accounted for.

Documents are the records that carry a page: `response` (WARC and ARC), `resource`, and WET `conversion`. Other
record types (warcinfo, request, metadata, revisit) carry no page and are counted, not emitted. A page record whose
payload is not text (an image, a PDF), cannot be decoded, or is too large is rejected with a reason.

Why not datatrove's WarcReader: it keeps only what its MIME sniffer calls HTML and silently skips the rest
(107 of the 1,033 trafilatura-eval pages), stops at the first malformed record, and cannot read whole-file gzip.
Here a malformed record is rejected and reading resumes at the next record boundary (the next gzip member, or
the next `WARC/1.` line in a plain file).
"""

import contextlib
import io
import re
import sys
import zlib
from typing import Iterator

import fsspec
import pyarrow as pa
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeadersParser

from curate.decoding import UndecodableError, decode_bytes, looks_binary
from curate.io.input_files import InputFile
from curate.io.reader_base import CurateReader, Record

PAGE_RECORD_TYPES = {"response", "resource", "conversion"}
TEXT_TYPES = ("text/", "application/xhtml", "application/xml", "application/rss", "application/atom", "application/json")
_GZIP_MEMBER = re.compile(b"\x1f\x8b\x08")
# a WARC header line (WARC/1.0, 1.1, and ClueWeb09's 0.18), or an ARC v1 record line: URL IP date type length
_RECORD_START = re.compile(
    rb"(?:^|\n)(WARC/\d\.\d+\r?\n|(?:https?|dns|filedesc|ftp)://\S+ \S+ \d{14} \S+ \d+\r?\n)"
)


class WarcReader(CurateReader):
    """Read WARC/ARC/WET files. Columns: `date` (capture time), `content_type`, `charset`, `decode_errors`."""

    name = "warc"

    def __init__(self, files: list[InputFile], limit: int = -1, max_record_bytes: int = 50_000_000,
                 check_suffixes: bool = True, sample=None):
        super().__init__(files, limit=limit, check_suffixes=check_suffixes, sample=sample)
        self.max_record_bytes = max_record_bytes

    def columns(self) -> dict[str, pa.DataType]:
        return {"date": pa.string(), "content_type": pa.string(), "charset": pa.string(), "decode_errors": pa.int64()}

    def read_file(self, file: InputFile) -> Iterator[Record]:
        with fsspec.open(file.url, "rb") as raw:
            data = raw.read()
        if not data:
            return  # an empty file holds no record: nothing to lose
        gzipped = data[:2] == b"\x1f\x8b"
        whole = _gunzip_if_one_member(data) if gzipped else None
        if whole is not None:
            # one gzip member for the whole file (ClueWeb09, some ARCs): warcio cannot read it; read it gunzipped
            data, gzipped = whole, False
        yield from self._read_archive(file, data, gzipped)

    def _read_archive(self, file: InputFile, data: bytes, gzipped: bool) -> Iterator[Record]:
        position, index = 0, 0
        while position < len(data):
            # no_record_parse: we parse HTTP headers ourselves, only where the block really starts with them
            iterator = _QuietArchiveIterator(io.BytesIO(data[position:]), no_record_parse=True)
            last_start, records_read = position, 0
            try:
                for record in iterator:
                    last_start = position + iterator.offset  # (get_record_offset() would consume the record)
                    result = self._record(file, record, index, last_start)
                    records_read += 1
                    index += 1
                    if result is not None:
                        yield result
                return
            except Exception as error:  # warcio raises many kinds of errors on malformed archives
                # Resume at the next record boundary after the start of the last record read. When records were
                # read in this pass, the bytes up to there are the tail of that record plus the start of one whose
                # header line was swallowed (a Content-Length off by a few bytes): nothing is lost. When the very
                # first record of the pass fails, it is unreadable: reject it, with its byte range.
                resume = _next_boundary(data, last_start + 1, gzipped)
                if records_read == 0:
                    yield self.failed(
                        file, index, "malformed_record",
                        f"bytes {position}-{resume if resume is not None else len(data)}: "
                        f"{type(error).__name__}: {' '.join(str(error).split())[:300]}",
                        offset=position,
                    )
                    index += 1
                if resume is None:
                    return
                position = resume
            finally:
                if iterator.err_count:
                    self.file_stat("warc_length_mismatches", value=iterator.err_count)

    def _record(self, file: InputFile, record, index: int, offset: int) -> Record | None:
        headers = record.rec_headers
        # Content-Length is mandatory in a WARC header (WARC 1.1 §5.4): without it the header was cut, most often by
        # the end of the file. Unless the header says the record is no page, it is a page record cut short.
        cut_header = record.length is None and (headers.protocol or "").startswith("WARC/")
        if record.rec_type not in PAGE_RECORD_TYPES and not (cut_header and record.rec_type is None):
            self.file_stat(f"skipped_records/{record.rec_type}")
            return None
        record_id = headers.get_header("WARC-Record-ID")
        url = headers.get_header("WARC-Target-URI") or headers.get_header("uri")
        date = headers.get_header("WARC-Date") or _arc_date(headers.get_header("archive-date"))
        content_type = headers.get_header("WARC-Identified-Payload-Type") or headers.get_header("Content-Type") or ""
        if record.rec_type == "conversion" or content_type.startswith("application/warc"):
            content_type = "text/plain"
        meta = dict(url=url, date=date, content_type=None, offset=offset)
        doc_id = record_id or None  # ARC records have none: the id is then source + record index
        block = record.raw_stream.read(self.max_record_bytes + 1)
        if cut_header and not block:
            lines = len(headers.headers)
            return self._fail(file, index, doc_id, "truncated_record", f"the file ends inside this record's header "
                              f"({lines} header line{'s' if lines != 1 else ''}, no Content-Length)", meta)
        if len(block) > self.max_record_bytes:
            return self._fail(file, index, doc_id, "record_too_large", f"payload over {self.max_record_bytes} bytes", meta)
        if record.length is not None and len(block) < record.length:  # the file ends inside this record
            return self._fail(file, index, doc_id, "truncated_record",
                              f"{len(block)} of {record.length} bytes before the file ends", meta,
                              text=block.decode("utf-8", "replace"))
        try:
            payload, content_type = _http_payload(record, block, content_type)
        except Exception as error:  # a broken chunked or gzip content encoding
            return self._fail(file, index, doc_id, "bad_http_payload", f"{type(error).__name__}: {error}", meta)
        mime, _, params = content_type.partition(";")
        mime = mime.strip().lower()
        declared = _charset_param(params)
        meta["content_type"] = mime or None
        if (mime and not mime.startswith(TEXT_TYPES)) or looks_binary(payload):
            return self._fail(file, index, doc_id, "non_text_content",
                              f"{mime or 'untyped'} payload of {len(payload)} bytes", meta)
        try:
            text, charset, errors = decode_bytes(payload, declared, html="html" in mime or not mime)
        except UndecodableError as error:
            return self._fail(file, index, doc_id, "undecodable", str(error), meta,
                              text=payload.decode("utf-8", "replace"))
        if not text.strip():
            return self._fail(file, index, doc_id, "empty_text", "record has no content", meta)
        meta.pop("offset")
        return Record(self.make_doc(file, index, text, doc_id=doc_id, charset=charset, decode_errors=errors, **meta))

    def _fail(self, file, index, doc_id, reason, detail, meta, text=""):
        record = self.failed(file, index, reason, detail, text=text, **meta)
        if doc_id:
            record.doc.id = doc_id
        return record


class _QuietArchiveIterator(ArchiveIterator):
    """warcio writes a warning to stderr for each record whose Content-Length is off; we count them instead."""

    def _consume_blanklines(self):
        saved, sys.stderr = sys.stderr, io.StringIO()
        try:
            return super()._consume_blanklines()
        finally:
            sys.stderr = saved


def _http_payload(record, block: bytes, content_type: str) -> tuple[bytes, str]:
    """The payload of a record block, decoded from its HTTP transfer/content encoding when it starts with HTTP
    headers (some archives label plain payloads as responses, so look before parsing)."""
    if not block.startswith(b"HTTP/"):
        return block, content_type
    stream = io.BytesIO(block)
    record.http_headers = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0"], verify=False).parse(stream)
    record.raw_stream = stream
    return record.content_stream().read(), record.http_headers.get_header("Content-Type") or content_type


def _arc_date(value: str | None) -> str | None:
    """ARC's 14-digit capture time as ISO 8601, like WARC-Date."""
    if value and len(value) >= 14 and value[:14].isdigit():
        v = value
        return f"{v[:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}Z"
    return value


def _charset_param(params: str) -> str | None:
    for part in params.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def _gunzip_if_one_member(data: bytes) -> bytes | None:
    """The decompressed file when its first gzip member runs to the end of the file (or the file ends inside it,
    truncated: what decompressed is kept); None when further members follow (per-record gzip, warcio's case)."""
    decompressor, out = zlib.decompressobj(31), []
    with contextlib.suppress(zlib.error):  # corrupt past some point: keep what decompressed before it
        for start in range(0, len(data), 1 << 20):
            out.append(decompressor.decompress(data[start:start + (1 << 20)]))
            if decompressor.eof:
                return None if decompressor.unused_data or start + (1 << 20) < len(data) else b"".join(out)
    return b"".join(out)


def _next_boundary(data: bytes, start: int, gzipped: bool) -> int | None:
    """Where the next record may start after a malformed one."""
    if gzipped:
        match = _GZIP_MEMBER.search(data, start)
        return match.start() if match else None
    match = _RECORD_START.search(data, start)
    return match.start(1) if match else None
