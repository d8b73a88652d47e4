"""The filters' development set: known-good and known-bad documents from ../shared/data, as labelled JSONL for
`curate eval filters`.

    python benchmarks/filters_devset.py --out out/filters_devset.jsonl
    curate eval filters --data out/filters_devset.jsonl

One JSON object a line: `id`, `text`, `label` (good | bad), `source`, `lang` (the language the source says; null
where it does not say), `half` (tune | holdout), and `url` where the page has one (the copycat captures, the
trafilatura-eval pages), so that a pipeline's `url_filter` sees it. The file is the same on every machine: every choice below is a
pure function of the data and fixed seeds.

Known-good (label good), only the `dev` half of curate.evaluation.corpora (the ablation's `neutral` half is never
read, so no document here is in its evaluation text):
  - readability   the expected main text of Mozilla readability's test pages (extraction ground truth)
  - gutenberg     chapters of the 7 Project Gutenberg books (header, footer and licence dropped)
  - wikipedia     the enwiki excerpt's articles, markup removed by curate.io.wikitext (mwparserfromhell)
  - lingua        paragraphs of 20-50 consecutive news/web sentences of lingua's test files (Leipzig corpora),
                  75 languages
Known-bad (label bad):
  - copycat       the Wayback captures of hotel, casino and spam pages in warc/chatnoir-copycat (relevance-label-
                  transfer sample input), main text extracted as pipelines/web.yaml's `extract` does (which drops
                  the Wayback Machine's toolbar). What they are: ClueWeb09 pages judged for the TREC 2009 Web
                  Track's topics 1 ("obama family tree": Wayback CDX listings of the pages) and 2 ("french lick
                  resort and casino": casino directories, the resort's own pages, hotel and tourism listings, a golf
                  blog, press releases), each record naming its `trec_target_id`: chosen for a topic, not for
                  being spam, so some are ordinary commercial prose (README, `curate eval filters`). Captures of
                  en.wikipedia.org articles are left out: they are encyclopedic text, not the spam and listing pages
                  this source stands for, and labelling them bad would count a filter that keeps good text as
                  wrong. Identical texts (the same page captured twice) are kept once.
  - boilerplate   what extraction removes from a page: its visible text (every block element's text, script and
                  style dropped) minus its main text, in page order. From the readability test pages whose key is
                  in the `dev` half (main text: the expected text, human-verified) and from trafilatura-eval pages
                  (main text: trafilatura's extraction; a page whose remainder still holds one of evaldata.json's
                  must-contain snippets, i.e. main text the extraction missed, is left out). Kept only with at
                  least MIN_BOILERPLATE_WORDS words, so that no rule judges it by length alone.
  - junk          generated, seeded (JUNK_SEED), JUNK_PER_KIND of each kind, words taken from the dev half of
                  lingua's paragraphs in JUNK_LANGUAGES:
                    keywords  comma/pipe/newline-separated keyword phrases, the keyword stuffing and tag clouds of
                              search-engine spam (Ntoulas et al. 2006, "Detecting Spam Web Pages through Content
                              Analysis", §4: spam pages are dominated by popular keywords without sentences);
                    repeated  a block of 1-3 real sentences repeated 5-30 times (template pages, scraped pages
                              that repeat one offer: Gopher's repetition rules exist for these, Rae et al. 2021
                              App. A "Repetition removal");
                    symbols   code-like symbol soup (minified script, style and template leftovers that escape
                              extraction: C4 drops pages with a curly bracket for this, Raffel et al. 2020 §2.2).
Half: `tune` or `holdout` by a salted SHA-1 of the id: rules are tuned on `tune`, both halves are reported.
"""

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from curate.evaluation.corpora import half_of, html_paragraphs, lingua_docs, reference_docs  # noqa: E402

DATA = REPO / ".." / "shared" / "data"
HALF_SALT = "curate-filters-devset-v1"  # never changed to move a document between halves
JUNK_SEED = "curate-filters-devset-v1:junk"
JUNK_PER_KIND = 40
JUNK_LANGUAGES = ("en", "de", "fr", "es", "pl", "it", "nl", "pt")
# Gopher's minimum document length (Rae et al. 2021, App. A.1.1: "between 50 and 100,000 words")
MIN_BOILERPLATE_WORDS = 50
MAX_TRAFILATURA_BOILERPLATE = 150  # of ~1,000 pages: enough for a rate with a few-point interval
COPYCAT = DATA / "warc" / "chatnoir-copycat" / "case-studies" / "relevance-label-transfer" / "src" / "test" / \
    "resources" / "sample-input"


# a Wayback capture of a Wikipedia page: http://web.archive.org/web/<time>/http://en.wikipedia.org:80/wiki/...
ARCHIVED_WIKIPEDIA = re.compile(r"/https?://[a-z\-]+\.(?:m\.)?wikipedia\.org(?::\d+)?/")


def half(doc_id: str) -> str:
    return ("tune", "holdout")[hashlib.sha1(f"{HALF_SALT}:{doc_id}".encode()).digest()[0] & 1]


def record(doc_id: str, text: str, label: str, source: str, lang: str | None, url: str | None = None) -> dict:
    row = {"id": doc_id, "text": text, "label": label, "source": source, "lang": lang, "half": half(doc_id)}
    return {**row, "url": url} if url else row


# ---- known-good -----------------------------------------------------------------------------------------------

def good_docs(data: Path) -> list[dict]:
    from curate.io.wikitext import wikitext_to_text

    docs = reference_docs(data, "dev", sources=("readability", "gutenberg", "wikipedia", "lingua"),
                          wiki_to_text=wikitext_to_text)
    return [record(d.key, d.text, "good", d.source, d.lang) for d in docs]


# ---- known-bad ------------------------------------------------------------------------------------------------

def copycat_docs(data: Path) -> list[dict]:
    from curate.io.input_files import resolve_inputs
    from curate.io.warc_reader import WarcReader
    from curate.stages.extract import Extract

    folder = COPYCAT if data == DATA else data / COPYCAT.relative_to(DATA)
    extract = Extract(mode="balanced")  # pipelines/web.yaml's extract
    docs, seen = [], set()
    for doc in WarcReader(resolve_inputs([f"{folder}/**/*.warc.gz"])[0]).run():
        url = doc.metadata.get("url") or ""
        if doc.metadata.get("reason") or ARCHIVED_WIKIPEDIA.search(url) or not isinstance(doc.text, str):
            continue
        text = extract.extract_text(doc.text)
        if not text or text in seen:
            continue
        seen.add(text)
        docs.append(record(f"copycat/{url}", text, "bad", "copycat", None, url))
    return docs


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def page_html(path: Path) -> str:
    from curate.decoding import decode_bytes

    text, _, _ = decode_bytes(gzip.decompress(path.read_bytes()), html=True)
    # lxml refuses a str that declares its encoding, and control characters in text
    return _CONTROLS.sub("", _XML_DECLARATION.sub("", text))


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def boilerplate(page_html: str, main_text: str) -> str:
    """The page's visible blocks that are not main text, in page order, one a line."""
    main = _normalised(main_text)
    main_blocks = [_normalised(p) for p in re.split(r"\n+", main_text) if len(p.strip()) >= 30]
    kept = []
    for block in html_paragraphs(page_html).split("\n\n"):
        norm = _normalised(block)
        if not norm or norm in main or any(m in norm for m in main_blocks):
            continue
        kept.append(block)
    return "\n".join(kept)


def long_enough(text: str) -> bool:
    return sum(any(c.isalpha() for c in w) for w in text.split()) >= MIN_BOILERPLATE_WORDS


def readability_boilerplate(data: Path) -> list[dict]:
    docs = []
    pages = data / "extraction" / "readability-testpages" / "test" / "test-pages"
    for page in sorted(pages.iterdir()):
        source, expected = page / "source.html.gz", page / "expected.html.gz"
        if half_of(f"readability/{page.name}/0") != "dev" or not (source.is_file() and expected.is_file()):
            continue
        main = html_paragraphs(gzip.decompress(expected.read_bytes()).decode("utf-8", "replace"))
        if "lorem ipsum" in main.lower():  # the synthetic fixtures, as corpora leaves them out
            continue
        text = boilerplate(page_html(source), main)
        if long_enough(text):
            docs.append(record(f"boilerplate/readability/{page.name}", text, "bad", "boilerplate", None))
    return docs


def trafilatura_boilerplate(data: Path) -> list[dict]:
    from curate.stages.extract import Extract

    root = data / "extraction" / "trafilatura-eval"
    entries = json.loads((root / "evaldata.json").read_text())
    extract = Extract(mode="balanced")
    docs = []
    # a fixed order that does not follow the file names (which group pages by site)
    for url, entry in sorted(entries.items(), key=lambda kv: hashlib.sha1(kv[0].encode()).hexdigest()):
        path = next((p for p in (root / "eval" / f"{entry['file']}.gz", root / "cache" / f"{entry['file']}.gz")
                     if p.is_file()), None)
        if path is None:
            continue
        html = page_html(path)
        main = extract.extract_text(html) or ""
        text = boilerplate(html, main)
        if not long_enough(text):
            continue
        norm = _normalised(text)
        if any(_normalised(snippet) in norm for snippet in entry.get("with") or []):
            continue  # main text the extraction missed: not boilerplate
        docs.append(record(f"boilerplate/trafilatura/{entry['file']}", text, "bad", "boilerplate", None, url))
        if len(docs) == MAX_TRAFILATURA_BOILERPLATE:
            break
    return docs


def junk_docs(data: Path) -> list[dict]:
    rng = random.Random(JUNK_SEED)
    sentences, vocabulary = {}, {}
    for doc in lingua_docs(data, languages=list(JUNK_LANGUAGES)):
        if doc.half != "dev":
            continue
        sentences.setdefault(doc.lang, []).extend(re.split(r"(?<=[.!?])\s+", doc.text))
        vocabulary.setdefault(doc.lang, set()).update(w.strip(".,;:!?\"'()„“”«»").lower() for w in doc.text.split())
    vocab = {lang: sorted(w for w in words if len(w) > 2 and w.isalpha()) for lang, words in vocabulary.items()}
    docs = []
    for i in range(JUNK_PER_KIND):
        lang = JUNK_LANGUAGES[i % len(JUNK_LANGUAGES)]
        docs.append(record(f"junk/keywords/{i}", keyword_list(rng, vocab[lang]), "bad", "junk", lang))
        docs.append(record(f"junk/repeated/{i}", repeated_lines(rng, sentences[lang]), "bad", "junk", lang))
        docs.append(record(f"junk/symbols/{i}", symbol_soup(rng), "bad", "junk", None))
    return docs


def keyword_list(rng: random.Random, vocab: list[str]) -> str:
    separator = rng.choice([", ", " | ", "\n", " - ", " · "])
    phrases = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(60, 200))]
    if rng.random() < 0.5:
        phrases = [p.title() for p in phrases]
    return separator.join(phrases)


def repeated_lines(rng: random.Random, sentences: list[str]) -> str:
    block = [rng.choice(sentences) for _ in range(rng.randint(1, 3))]
    return "\n".join(block * rng.randint(5, 30))


def symbol_soup(rng: random.Random) -> str:
    identifiers = ["a", "b", "e", "i", "n", "t", "x", "fn", "el", "obj", "data", "cb", "$", "_0x3f", "w", "d"]
    pieces = ["{", "}", "(", ")", ";", "=", "==", "=>", "&&", "||", "!", "[", "]", ".", ",", "+", "?", ":", "<", ">",
              "/*", "*/", "//", "#", "%", "@"]
    lines = []
    for _ in range(rng.randint(20, 80)):
        tokens = [rng.choice(identifiers) if rng.random() < 0.45 else
                  str(rng.randint(0, 9999)) if rng.random() < 0.2 else rng.choice(pieces)
                  for _ in range(rng.randint(8, 40))]
        lines.append(("" if rng.random() < 0.5 else " ").join(tokens))
    return "\n".join(lines)


def build(data: Path) -> list[dict]:
    records = good_docs(data)
    records += copycat_docs(data) + readability_boilerplate(data) + trafilatura_boilerplate(data) + junk_docs(data)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "duplicate ids"
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="../shared/data")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "filters_devset.jsonl")
    args = parser.parse_args()
    records = build(args.data.resolve())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts: dict = {}
    for r in records:
        key = f"{r['label']}/{r['source']}"
        counts[key] = counts.get(key, 0) + 1
    print(json.dumps({"out": str(args.out), "documents": len(records), "by_label_source": counts}, indent=1))


if __name__ == "__main__":
    main()
