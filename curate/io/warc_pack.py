"""Pack a folder of HTML pages into WARC response records (member-gzipped, as Common Crawl writes them).

Used to turn labelled page collections (trafilatura's evaluation set) into the format crawls come in, for
benchmarks and tests; each record's URI is `file:///<relative path>` and its date fixed, so the output is stable.
"""

import gzip
import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def pack_html_to_warc(pages: list[Path], out_dir: Path, records_per_file: int = 250, root: Path | None = None) -> list[Path]:
    """Write `pages` (plain or .gz HTML files) into WARC files of `records_per_file` records; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for start in range(0, len(pages), records_per_file):
        path = out_dir / f"pages-{start // records_per_file:05d}.warc.gz"
        with open(path, "wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            for page in pages[start:start + records_per_file]:
                payload = gzip.decompress(page.read_bytes()) if page.suffix == ".gz" else page.read_bytes()
                name = str(page.relative_to(root)) if root else page.name
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
                record = writer.create_warc_record(
                    f"file:///{name}", "response", payload=io.BytesIO(payload), http_headers=http,
                    warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z",
                                       # as Common Crawl writes it; without it datatrove's WarcReader sniffs
                                       # the MIME type and skips pages it does not call HTML
                                       "WARC-Identified-Payload-Type": "text/html"})
                writer.write_record(record)
        written.append(path)
    return written
