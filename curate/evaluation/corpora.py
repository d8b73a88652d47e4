"""Clean reference text from ../shared/data, cut once into two disjoint halves.

Two evaluations need known-good text that no curate stage chose:
- `dev`: the development set of `curate eval filters` (how often a rule rejects good text). Rules may be tuned
  against it, so it must never score a model;
- `neutral`: the ablation's neutral evaluation text (bits per byte of each variant's model). Nothing is ever tuned on
  it.
No document is in both. The half is a pure function of a document's key (its source, file and position), so it does
not depend on which other documents are loaded, on their order or on the machine.

Sources (see ../shared/data/MANIFEST.md for their licenses):
- `readability`: the expected main text of Mozilla readability's test pages (the extraction ground truth), HTML
  turned into paragraphs; keyed by page folder. Half by key hash. The synthetic fixtures (Lorem ipsum pages that
  test one parser rule each, several with the same text) are not natural text and are left out.
- `gutenberg`: chapters of the 7 current editions (Project Gutenberg header and footer dropped; earlier editions
  under old/ are left out: they are near-copies of the current ones and would put the same text in both halves).
  Half by key hash.
- `wikipedia`: the enwiki excerpt's articles as raw wikitext (redirects dropped). Half by key hash. Markup removal
  is the reader's job (see `wikipedia_articles`).
- `lingua`: paragraphs of 20-50 consecutive lines of lingua's sentence files (Leipzig news and web sentences, 75
  languages, 1,000 lines each). Lines [0, LINGUA_DEV_LINES) are `dev`, the rest `neutral`: a line range rather than
  a hash, so that the dev half keeps enough paragraphs per language (about 20) for a per-language rate.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

HALVES = ("dev", "neutral")
LINGUA_DEV_LINES = 700  # of 1,000 lines per language: ~20 dev paragraphs of 20-50 lines, ~8 neutral ones
LINGUA_PARAGRAPH_LINES = (20, 50)
_SALT = "curate-reference-halves-v1"  # changing it reshuffles both halves: never do it to improve a score


@dataclass(frozen=True)
class ReferenceDoc:
    key: str  # stable: "<source>/<file or page>/<position>"
    source: str  # readability, gutenberg, wikipedia, lingua
    lang: str  # ISO 639-1 where the source says, else "en" for the English-only sources
    text: str

    @property
    def half(self) -> str:
        return half_of(self.key)


def half_of(key: str) -> str:
    """`dev` or `neutral`. lingua keys carry their line range; every other source is split by a salted hash."""
    if key.startswith("lingua/"):
        first_line = int(key.rsplit("/", 1)[1].split("-")[0])
        return "dev" if first_line < LINGUA_DEV_LINES else "neutral"
    digest = hashlib.sha1(f"{_SALT}:{key}".encode()).digest()
    return HALVES[digest[0] & 1]


# ---- sources ------------------------------------------------------------------------------------------------------

_BLOCKS = {"p", "div", "section", "article", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr",
           "dt", "dd", "figcaption", "table", "ul", "ol", "br", "hr"}


def html_paragraphs(html: str) -> str:
    """The text of an HTML fragment, one paragraph per block element, blank lines between them."""
    import lxml.html

    root = lxml.html.fromstring(html)
    for element in root.iter("script", "style"):
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            element.tail = "\n\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n\n" + (element.text or "")
    text = root.text_content()
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def readability_docs(data: Path) -> list[ReferenceDoc]:
    import json

    docs = []
    for page in sorted((data / "extraction" / "readability-testpages" / "test" / "test-pages").iterdir()):
        expected = page / "expected.html.gz"
        if not expected.is_file():
            continue
        text = html_paragraphs(gzip.decompress(expected.read_bytes()).decode("utf-8", "replace"))
        meta_path = page / "expected-metadata.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        lang = (meta.get("lang") or "en").split("-")[0].lower()
        if text and "lorem ipsum" not in text.lower():
            docs.append(ReferenceDoc(f"readability/{page.name}/0", "readability", lang, text))
    return docs


def gutenberg_docs(data: Path) -> list[ReferenceDoc]:
    from curate.evaluation.dedup import split_book

    docs = []
    for book in sorted((data / "text" / "gutenberg").iterdir(), key=lambda p: p.name):
        if not book.is_dir():
            continue
        # the current edition: the UTF-8 `-0.txt` where there is one, else the plain `<id>.txt`
        editions = sorted(book.glob("*-0.txt")) or sorted(book.glob(f"{book.name}.txt"))
        for path in editions[:1]:
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            for i, chapter in enumerate(split_book(text)):
                docs.append(ReferenceDoc(f"gutenberg/{book.name}/{i}", "gutenberg", "en", chapter))
    return docs


def wikipedia_articles(data: Path) -> Iterator[tuple[str, str]]:
    """(title, raw wikitext) of every article of the enwiki excerpt that is not a redirect."""
    from xml.etree import ElementTree

    path = next((data / "text" / "enwiki").glob("*.bz2"))
    for _, element in ElementTree.iterparse(bz2.open(path)):
        if element.tag.endswith("}page"):
            ns = element.tag[:-4]
            title = element.findtext(f"{ns}title") or ""
            text = element.findtext(f"{ns}revision/{ns}text") or ""
            if text and not text.lower().startswith("#redirect"):
                yield title, text
            element.clear()


def wikipedia_docs(data: Path, to_text=None) -> list[ReferenceDoc]:
    """`to_text(wikitext) -> plain text`: the markup removal to apply (None: the raw wikitext)."""
    docs = []
    for title, wikitext in wikipedia_articles(data):
        text = to_text(wikitext) if to_text else wikitext
        if text and text.strip():
            docs.append(ReferenceDoc(f"wikipedia/{title}/0", "wikipedia", "en", text.strip()))
    return docs


def lingua_docs(data: Path, languages: list[str] | None = None) -> list[ReferenceDoc]:
    """Paragraphs of 20-50 consecutive lines per language; the lengths are drawn from a generator seeded by the
    language, so the cut is the same on every machine. No paragraph straddles the dev/neutral line boundary."""
    folder = data / "langid" / "lingua" / "sentences"
    docs = []
    for path in sorted(folder.glob("*.txt")):
        lang = path.stem
        if languages and lang not in languages:
            continue
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        rng = random.Random(f"{_SALT}:{lang}")
        for lo, hi in ((0, min(LINGUA_DEV_LINES, len(lines))), (LINGUA_DEV_LINES, len(lines))):
            start = lo
            while hi - start >= LINGUA_PARAGRAPH_LINES[0]:
                size = min(rng.randint(*LINGUA_PARAGRAPH_LINES), hi - start)
                if hi - start - size < LINGUA_PARAGRAPH_LINES[0]:
                    size = hi - start  # the remainder is too short for a paragraph of its own
                text = " ".join(lines[start:start + size])
                docs.append(ReferenceDoc(f"lingua/{lang}/{start}-{start + size}", "lingua", lang, text))
                start += size
    return docs


def reference_docs(data: Path, half: str, sources: tuple[str, ...] = ("readability", "gutenberg", "lingua"),
                   wiki_to_text=None) -> list[ReferenceDoc]:
    """Every document of one half from the given sources ("wikipedia" too when asked, with its markup removal)."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, not {half!r}")
    loaders = {"readability": readability_docs, "gutenberg": gutenberg_docs, "lingua": lingua_docs,
               "wikipedia": lambda d: wikipedia_docs(d, wiki_to_text)}
    unknown = set(sources) - set(loaders)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; known: {sorted(loaders)}")
    return [doc for source in sources for doc in loaders[source](data) if doc.half == half]
