"""`extract`: HTML to main text with trafilatura, under a per-page time limit, keeping the title and date.

A page goes through, in order:
1. cheap guards in the pipeline process: bytes are decoded (curate/decoding.py; the readers normally do this
   already, so text arrives as str), a page over `max_html_chars` is rejected (`html_too_large`), text that is
   mostly control characters or U+FFFD is rejected (`binary_content`);
2. under a time limit of `timeout` seconds, in the pipeline process (curate/stages/time_limit.py: a page past it
   is stopped and rejected `extract_timeout`): one lxml parse; a tree cut short by libxml2's nesting limit is
   rejected (`html_too_deep`); a Wayback Machine capture loses the toolbar the archive inserted into it
   (`without_wayback_toolbar`); title and date from the same tree; trafilatura on the same tree; if it returns
   nothing, the fallback (`html2txt`, all visible text) before `no_main_text`.
The path that produced the text is recorded in `extract_method`.
"""

import re

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline

from curate.stages.base import CurateStep, Rejection
from curate.stages.time_limit import TimeLimitExceeded, time_limit

# mode -> trafilatura options. trafilatura's own three presets (docs: "Optimizing for precision or recall",
# settings.Extractor(precision=..., recall=...)); "balanced" is trafilatura's default. "visible" is no main-text
# extraction at all: every visible text of the page (trafilatura's html2txt, the fallback's extractor), as Common
# Crawl's WET files give it; `curate ablate` trains on it to measure what main-text extraction is worth.
MODES = {
    "precision": {"favor_precision": True},
    "balanced": {},
    "recall": {"favor_recall": True},
    "visible": {},
}

# Share of control characters (other than tab/newline/CR/form feed) and U+FFFD in a page's first 64 KiB above which
# it is binary junk, not HTML. Decoded HTML has almost none: curate's readers accept at most 0.1% replaced bytes
# (MAX_REPLACED_SHARE in curate/decoding.py); random bytes decoded as a single-byte charset give about 24%.
MAX_JUNK_SHARE = 0.05
_JUNK = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufffd]")
_SNIFF_CHARS = 65536


_WARM = False  # this process has imported what extraction needs (PageExtractor.warm_up)
_C_LOOKUP = False  # this process has given trafilatura's parser the C lookup (element_classes_in_c)
WARMUP_PAGE = ("<html><head><title>Warm-up</title><meta name='date' content='2024-01-02'></head><body><article>"
               + "<p>A paragraph of a short page that loads what extraction needs before the first real page.</p>" * 5
               + "<table><tr><td>a cell</td></tr></table></article></body></html>")


def junk_share(text: str) -> float:
    head = text[:_SNIFF_CHARS]
    return len(_JUNK.findall(head)) / len(head) if head else 0.0


# The Wayback Machine serves an archived page with its own toolbar (capture calendar, "N captures", the crawl's
# description: "Organization: Internet Archive ... Collection: Live Web Proxy Crawls") between these two comments.
# That is the archive's text, not the page's: trafilatura took all or part of it as the main text of 13 of the 91
# Wayback captures of pages other than Wikipedia articles in warc/chatnoir-copycat (an astronomy club's photo page
# came out as the crawl's description).
WAYBACK_TOOLBAR = re.compile(r"<!-- BEGIN WAYBACK TOOLBAR INSERT -->.*?<!-- END WAYBACK TOOLBAR INSERT -->", re.S)


def without_wayback_toolbar(html: str) -> str:
    return WAYBACK_TOOLBAR.sub("", html) if "<!-- BEGIN WAYBACK TOOLBAR INSERT -->" in html else html


def element_classes_in_c(parser) -> None:
    """Give `parser` (an lxml.html parser: trafilatura's) the element classes lxml.html gives, looked up in C.

    lxml.html's parsers find the Python class of every element proxy by calling `HtmlElementClassLookup.lookup`, a
    Python method: trafilatura's cascade creates about 4,000 proxies a page, and those calls were 4% of extraction
    (20.7 instead of 21.6 CPU ms a page, 6 alternating runs over the 1,032 trafilatura-eval pages, the same text,
    title and date on every page). The same mapping in lxml's C lookups: <form>, <input>, <select>, <textarea>
    and <label> get lxml.html's form classes (a per-tag registry for elements without a namespace), every other
    element HtmlElement, comments, processing instructions and entities lxml.html's classes. Parsed documents get
    the same classes (libxml2's HTML parser lowercases tag names and keeps no namespaces). One difference remains
    for code that adds elements to such a document itself: lxml.html's lookup lowercases the tag and ignores the
    namespace, so an element created as "FORM" or "{xhtml}input" was a FormElement/InputElement and is now a plain
    HtmlElement; trafilatura, htmldate and jusText create lowercase tags only and use no form-element API."""
    from lxml import etree, html

    classes = getattr(html.HtmlElementClassLookup(), "_element_classes", None)
    if not isinstance(classes, dict):  # another lxml: its parser stays as it is
        return
    lookup = etree.ElementNamespaceClassLookup(etree.ElementDefaultClassLookup(
        element=html.HtmlElement, comment=html.HtmlComment, pi=html.HtmlProcessingInstruction, entity=html.HtmlEntity))
    lookup.get_namespace(None).update(classes)
    parser.set_element_class_lookup(lookup)


class PageExtractor:
    """Parse once, metadata and main text from the same tree.

    Picklable and small; `__call__` never raises an Exception (it comes back as a value, for the stage to reject
    the page with it); only the time limit's TimeLimitExceeded goes through.
    """

    def __init__(self, mode: str, include_tables: bool, fallback: bool, find_date: bool):
        self.mode, self.include_tables, self.fallback, self.find_date = mode, include_tables, fallback, find_date
        self._options = None

    def options(self):
        if self._options is None:
            from trafilatura.settings import DEFAULT_CONFIG, Extractor

            flags = MODES[self.mode]
            # include_comments=False: comments are not main text and trafilatura's benchmark runs without them
            # (tests/eval_common.py EXTRACT_OPTS); the comment search is also skipped, which saves time.
            self._options = Extractor(config=DEFAULT_CONFIG, output_format="python", fast=False,
                                      precision=flags.get("favor_precision", False),
                                      recall=flags.get("favor_recall", False), comments=False,
                                      tables=self.include_tables, formatting=False, links=False, images=False,
                                      dedup=False)
        return self._options

    def warm_up(self) -> None:
        """Import trafilatura, htmldate and what they import on first use, and load jusText's stop-lists (0.4 s),
        once per process and outside the time limit: a page is not charged for the process's start-up."""
        global _WARM
        if _WARM:
            return
        from trafilatura import external

        self.options()
        if external.JT_STOPLIST is None:
            external.jt_stoplist_init()
        self(WARMUP_PAGE, "https://example.org/2024/01/02/warm-up")
        _WARM = True

    def __call__(self, html: str, url: str | None = None):
        try:
            return self.extract(html, url)
        except Exception as error:  # noqa: BLE001 - handed back to the parent, which rejects the page
            return error

    def extract(self, html: str, url: str | None = None) -> dict:
        """{text, title, page_date, method} or {rejection: (reason, value, detail)}."""
        from trafilatura.utils import HTML_PARSER, load_html

        global _C_LOOKUP
        if not _C_LOOKUP:  # once per process (a module flag: a PageExtractor may arrive pickled, options built)
            element_classes_in_c(HTML_PARSER)
            _C_LOOKUP = True
        if not html:
            return {"rejection": ("no_main_text", 0.0, "empty page")}
        tree = load_html(without_wayback_toolbar(html))
        # libxml2 stops building the tree at 256 levels of nesting (lxml's huge_tree is off): the rest of the page is
        # silently lost, and trafilatura on what remains is slow (0.9 s for 1,000 nested divs, measured here).
        deep = [e for e in HTML_PARSER.error_log if e.type_name == "ERR_RESOURCE_LIMIT"]
        if deep:
            return {"rejection": ("html_too_deep", 256.0, deep[0].message)}
        if tree is None:
            return {"rejection": ("no_main_text", 0.0, "not parseable as HTML")}
        title, page_date = self.metadata(tree, url)
        if self.mode == "visible":
            from trafilatura import html2txt

            text, method = html2txt(tree), "html2txt"
        else:  # None when trafilatura finds nothing (it catches its own TypeError/ValueError)
            text, method = self.main_text(tree), "trafilatura"
        if not (text and text.strip()) and self.fallback and method != "html2txt":
            # trafilatura already tried its own `baseline` (core.py: when the main text is under MIN_EXTRACTED_SIZE)
            # before returning nothing, so repeating it would find nothing either. html2txt is the page's whole visible
            # text after trafilatura's basic cleaning: whole-text extractors have recall 0.98-0.99 in trafilatura's
            # benchmark (evaluation.rst), and on a page with no main text found recall is what is left to win.
            from trafilatura import html2txt

            text, method = html2txt(tree), "html2txt"  # it copies the tree
        if not (text and text.strip()):
            return {"rejection": ("no_main_text", 0.0, "trafilatura and the fallback found no text")}
        from trafilatura.utils import normalize_unicode

        # NFC, as trafilatura.extract's last step (core.determine_returnstring)
        return {"text": normalize_unicode(text), "title": title, "page_date": page_date, "method": method}

    def main_text(self, tree) -> str | None:
        """trafilatura's bare_extraction on our parsed tree (it works on a copy: the tree stays whole for the
        fallback). Its public entry point, not its internals: trafilatura 2.x's cascade (main extractor,
        readability/jusText comparison, baseline rescue, recall escalation) changes between minor versions."""
        from trafilatura import bare_extraction

        document = bare_extraction(tree, options=self.options())
        return None if document is None else document.text

    def metadata(self, tree, url: str | None) -> tuple[str | None, str | None]:
        """Title and publication date, as trafilatura's extract_metadata finds them, without its other fields."""
        from trafilatura.metadata import examine_meta, extract_title

        title = examine_meta(tree).title or extract_title(tree)
        page_date = None
        if self.find_date:
            from htmldate import find_date

            # extensive_search=False: dates from the URL, <meta>, JSON-LD, <abbr>, <time> and a few markup
            # patterns, not the text-wide regex scan (htmldate's fast mode, which trafilatura uses with `fast`).
            page_date = find_date(tree, extensive_search=False, original_date=True, url=url)
        return title or None, page_date


class Extract(CurateStep):
    """HTML to main text (trafilatura), with `title`, `page_date`, `extract_method` and `html_chars` columns.

    Args:
        mode: "precision", "balanced" (trafilatura's default) or "recall"; "visible": all visible text, no
            main-text extraction (trafilatura's html2txt, as Common Crawl's WET files).
        timeout: seconds one page may take in the worker process before it is killed (then `extract_timeout`).
        max_html_chars: larger pages are rejected `html_too_large` before any parsing.
        fallback: run html2txt when trafilatura returns nothing (else such pages are `no_main_text` at once).
        find_date: look for the page's publication date (htmldate, fast mode).
        include_tables: keep text inside <table> (trafilatura's default).
    """

    name = "extract"

    def __init__(self, mode: str = "balanced", timeout: float = 5.0, max_html_chars: int = 5_000_000,
                 fallback: bool = True, find_date: bool = True, include_tables: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"extract: unknown mode {mode!r}; allowed: {', '.join(MODES)}")
        if timeout <= 0:
            raise ValueError(f"extract: timeout must be > 0 seconds, got {timeout}")
        self.mode = mode
        # datatrove's extractors default to 1 s (datatrove/pipeline/extractors/base.py); 5 s as pipelines/web.yaml
        # gives datatrove's extractor: on a loaded machine wall time ran up to 7x CPU time here, and a page
        # rejected for the machine's load rather than its content would make runs differ.
        self.timeout = timeout
        # 3x the largest page of trafilatura's evaluation set (1.6 MB, nymag.com.polarization.html); a 4 MB page
        # already costs 6.6 CPU s here.
        self.max_html_chars = max_html_chars
        self.extractor = PageExtractor(mode, include_tables, fallback, find_date)

    def columns(self) -> dict[str, pa.DataType]:
        return {"title": pa.string(), "page_date": pa.string(), "extract_method": pa.string(),
                "html_chars": pa.int64()}

    def guard(self, doc: Document) -> Rejection | None:
        """Cheap checks before a page reaches the worker; decodes bytes input."""
        if isinstance(doc.text, bytes):
            from curate.decoding import UndecodableError, decode_bytes, looks_binary

            payload = doc.text
            # a page rejected (or failed on) here still goes to the rejected shards, whose text column is a string:
            # it keeps a replacing UTF-8 decode, as the readers do; only then is that decode paid for
            if looks_binary(payload):
                doc.text = payload.decode("utf-8", "replace")
                return Rejection("binary_content", 1.0, "binary payload (magic bytes or NUL)")
            try:
                doc.text, _, _ = decode_bytes(payload, doc.metadata.get("charset"), html=True)
            except Exception as error:
                doc.text = payload.decode("utf-8", "replace")
                if isinstance(error, UndecodableError):
                    return Rejection("binary_content", 1.0, str(error))
                raise
        doc.metadata["html_chars"] = len(doc.text)
        if len(doc.text) > self.max_html_chars:
            return Rejection("html_too_large", float(len(doc.text)), f"over max_html_chars={self.max_html_chars}")
        share = junk_share(doc.text)
        if share > MAX_JUNK_SHARE:
            return Rejection("binary_content", share, "share of control characters / U+FFFD in the first 64 KiB")
        return None

    def apply(self, doc: Document, result) -> Document | Rejection:
        if isinstance(result, Exception):
            return Rejection("extract_error", None, f"{type(result).__name__}: {result}"[:500])
        if "rejection" in result:
            return Rejection(*result["rejection"])
        doc.text = result["text"]
        doc.metadata["extract_method"] = result["method"]
        for key in ("title", "page_date"):
            if result[key]:
                doc.metadata[key] = result[key]
        return doc

    def extract_text(self, html: str) -> str | None:
        """The main text of one page, in this process (no time limit): for evaluation."""
        doc = Document(text=html, id="page")
        if self.guard(doc) is not None:
            return None
        result = self.apply(doc, self.extractor(doc.text))
        return None if isinstance(result, Rejection) else result.text

    def process(self, doc: Document) -> Document | Rejection:
        """One page without the time limit; `run` is what pipelines use."""
        return self.guard(doc) or self.apply(doc, self.extractor(doc.text, doc.metadata.get("url")))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.extractor.warm_up()
        yield from self.process_stream(data, lambda doc: self.guard(doc) or self.limited(doc))

    def limited(self, doc: Document) -> Document | Rejection:
        """One page under the time limit, in this process (see curate/stages/time_limit.py for why not a sandbox
        process, as datatrove's extractors use)."""
        try:
            with time_limit(self.timeout):
                result = self.extractor(doc.text, doc.metadata.get("url"))
        except TimeLimitExceeded:
            self.stat_update("timeouts")
            return Rejection("extract_timeout", self.timeout, f"no result within {self.timeout} s")
        return self.apply(doc, result)
