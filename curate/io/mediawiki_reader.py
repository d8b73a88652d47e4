"""MediaWiki XML dumps (`pages-articles*.xml.bz2`, or plain .xml), streamed: one document per article.

The file is parsed incrementally (xml.etree's iterparse over the decompressing stream) and each <page> element is
dropped once read, so memory holds one article at a time whatever the dump's size. An article's wikitext becomes
plain text through curate/io/wikitext.py (mwparserfromhell). Its id is `<source>/<page id>` (stable across runs and
dumps of the same wiki); `title`, `wiki_page_id`, `wiki_revision_id` and `url` (the wiki's base URL and the title)
are columns.

Not documents, counted (`skipped_records/<kind>`): redirects, and pages outside `namespaces` (default: 0, the
articles; talk, user, template pages are not). Rejected with a reason: a file that is not XML or breaks off mid-way
(`malformed_xml`, with the line; the pages before the break are kept), XML that is not a MediaWiki export
(`not_a_mediawiki_dump`), a page without text (`empty_text`, also when markup removal leaves nothing), a page
whose markup the parser fails on (`wikitext_error`), a file that cannot be read or decompressed (`read_error`).
datatrove has no reader for this.
"""

from typing import Iterator
from xml.etree import ElementTree

import fsspec
import pyarrow as pa

from curate.io.input_files import InputFile
from curate.io.reader_base import CurateReader, Record
from curate.io.wikitext import wikitext_to_text


class MediaWikiReader(CurateReader):
    name = "mediawiki"

    def __init__(self, files: list[InputFile], limit: int = -1, namespaces: tuple[int, ...] = (0,),
                 check_suffixes: bool = True, sample=None):
        super().__init__(files, limit=limit, check_suffixes=check_suffixes, sample=sample)
        self.namespaces = frozenset(namespaces)

    def columns(self) -> dict[str, pa.DataType]:
        return {"title": pa.string(), "wiki_page_id": pa.int64(), "wiki_revision_id": pa.int64(),
                "url": pa.string()}

    def read_file(self, file: InputFile) -> Iterator[Record]:
        try:
            with fsspec.open(file.url, "rb", compression="infer") as handle:
                yield from self._pages(file, handle)
        except (OSError, EOFError) as error:  # not bz2 after all, or cut off mid-stream
            yield self.failed(file, "read_error", "read_error", f"{type(error).__name__}: {error}")

    def _pages(self, file: InputFile, handle) -> Iterator[Record]:
        root, base_url, index = None, "", 0
        parser = ElementTree.iterparse(handle, events=("start", "end"))
        try:
            for event, element in parser:
                tag = element.tag.rpartition("}")[2]
                if root is None:
                    root = element
                    if tag != "mediawiki":
                        yield self.failed(file, "root", "not_a_mediawiki_dump",
                                          f"the XML root is <{tag}>, not a MediaWiki export's <mediawiki>")
                        return
                if event != "end":
                    continue
                if tag == "base" and element.text:
                    base_url = element.text.strip().rsplit("/", 1)[0] + "/"
                elif tag == "page":
                    record = self._page(file, element, index, base_url)
                    index += 1
                    if record is not None:
                        yield record
                    root.clear()  # the page and everything before it: memory holds one page
        except ElementTree.ParseError as error:
            line = error.position[0] if error.position else "?"
            yield self.failed(file, f"xml_error{index}", "malformed_xml",
                              f"not well-formed XML at line {line} (after {index} pages): {error}")

    def _page(self, file: InputFile, page, index: int, base_url: str) -> Record | None:
        def child(name: str) -> str | None:
            found = _find(page, name)
            return found.text if found is not None else None

        title = child("title") or ""
        namespace = int(child("ns") or 0)
        if namespace not in self.namespaces:
            self.file_stat(f"skipped_records/namespace_{namespace}")
            return None
        if _find(page, "redirect") is not None:
            self.file_stat("skipped_records/redirect")
            return None
        page_id = child("id")
        doc_id = f"{file.source}/{page_id or index}"
        revision = _find(page, "revision")
        revision_id = _find(revision, "id") if revision is not None else None
        meta = {"title": title, "wiki_page_id": int(page_id) if page_id and page_id.isdigit() else None,
                "wiki_revision_id": int(revision_id.text) if revision_id is not None and
                (revision_id.text or "").isdigit() else None,
                "url": base_url + title.replace(" ", "_") if base_url else None}
        text_element = _find(revision, "text") if revision is not None else None
        wikitext = text_element.text if text_element is not None else None
        if not wikitext or not wikitext.strip():
            return self._named(self.failed(file, index, "empty_text", f"page {title!r} has no text", **meta), doc_id)
        try:
            text = wikitext_to_text(wikitext)
        except Exception as error:  # mwparserfromhell on markup it cannot parse
            return self._named(self.failed(file, index, "wikitext_error", f"page {title!r}: {type(error).__name__}: "
                                           f"{error}", text=wikitext, **meta), doc_id)
        if not text.strip():
            return self._named(self.failed(file, index, "empty_text", f"page {title!r}: no text left after markup "
                                           "removal", text=wikitext, **meta), doc_id)
        return Record(self.make_doc(file, index, text, doc_id=doc_id, **meta))

    @staticmethod
    def _named(record: Record, doc_id: str) -> Record:
        record.doc.id = doc_id
        return record


def _find(element, name: str):
    """The first child named `name`, whatever the export's XML namespace (export-0.10, 0.11, ...)."""
    for item in element:
        if item.tag.rpartition("}")[2] == name:
            return item
    return None
