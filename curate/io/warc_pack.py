"""Pack a folder of HTML pages into WARC response records (member-gzipped, as Common Crawl writes them).

Used to turn labelled page collections (trafilatura's evaluation set) into the format crawls come in, for
benchmarks and tests; each record's URI is `file:///<relative path>`, its date fixed and its WARC-Record-ID derived
from that path, so packing the same pages again writes the same bytes. The id matters beyond tidiness: it is the
document's id in curate, and the split stage assigns train/val/test by it, so random ids (warcio's default, a uuid4)
gave each packing other splits, and `curate ablate`'s scores moved with them.
"""

import gzip
import io
import uuid
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def record_id(name: str) -> str:
    """`<urn:uuid:...>` from the page's path (relative to the packed root): a name-based uuid5, as WARC asks for a
    globally unique URI and two different paths never share one."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'file:///{name}')}>"


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
                name = page.relative_to(root).as_posix() if root else page.name
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
                record = writer.create_warc_record(
                    f"file:///{name}", "response", payload=io.BytesIO(payload), http_headers=http,
                    warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z",
                                       "WARC-Record-ID": record_id(name),
                                       # as Common Crawl writes it; without it datatrove's WarcReader sniffs
                                       # the MIME type and skips pages it does not call HTML
                                       "WARC-Identified-Payload-Type": "text/html"})
                writer.write_record(record)
        written.append(path)
    return written
