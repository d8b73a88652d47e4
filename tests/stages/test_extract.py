"""The `extract` stage on real pages (trafilatura's evaluation set) and on pathological ones, through the pipeline."""

import gzip
import json
import random
import time

import pytest

from pipeline_helpers import read_rows, run_pipeline, shared

EVAL = ("extraction", "trafilatura-eval")
# pages whose with/without snippets the default mode gets all right (checked against evaldata.json below)
GOOD_PAGES = ["die-partei.net.luebeck.html", "kulinariaathome.com.mandelplätzchen.html", "denkanstoos.com.2012.html",
              "demokratiewebstatt.at.luft.html", "toralin.de.schmierfett.html"]


def _evaldata() -> dict:
    items = json.loads(shared(*EVAL, "evaldata.json").read_text(encoding="utf-8"))
    return {item["file"]: item for item in items.values()}


def _page(name: str) -> bytes:
    for folder in ("cache", "eval"):
        path = shared(*EVAL).joinpath(folder, name + ".gz")
        if path.is_file():
            return gzip.decompress(path.read_bytes())
    raise FileNotFoundError(name)


def _pack(pages: dict[str, bytes], folder):
    from curate.io.warc_pack import pack_html_to_warc

    html = folder / "html"
    html.mkdir(parents=True)
    for name, payload in pages.items():
        (html / name).write_bytes(payload)
    return pack_html_to_warc(sorted(html.iterdir()), folder / "warc", root=html)[0].parent


def _run(tmp_path, inputs, fmt="warc", **params):
    out = tmp_path / "out"
    start = time.monotonic()
    result = run_pipeline({"input": {"paths": [str(inputs)], "format": fmt}, "stages": [{"extract": params}],
                           "executor": {"tasks": 1}}, out, workers=1)
    rows = read_rows(out, "data") + read_rows(out, "rejected")
    return {(row["url"] or row["id"]).removeprefix("file:///"): row for row in rows}, result, time.monotonic() - start


def test_with_snippets_present_and_without_absent_on_real_pages(tmp_path):
    evaldata = _evaldata()
    rows, _, _ = _run(tmp_path, _pack({name: _page(name) for name in GOOD_PAGES}, tmp_path))
    for name in GOOD_PAGES:
        row = rows[name]
        assert row.get("reason") is None, (name, row.get("reason"))
        assert row["extract_method"] == "trafilatura" and row["html_chars"] > 1000
        for snippet in evaldata[name]["with"]:
            assert snippet in row["text"], (name, snippet)
        for snippet in evaldata[name]["without"]:
            assert snippet not in row["text"], (name, snippet)
        assert row["title"], name  # every one of these pages has a <title>


def test_pathological_pages_rejected_with_reason_and_run_goes_on(tmp_path):
    deep = b"<html><body>" + b"<div>" * 100_000 + b"<p>deep text</p>" + b"</div>" * 100_000 + b"</body></html>"
    paragraph = b"<p>" + b"A sentence that repeats on a very large page. " * 20 + b"</p>\n"
    huge = b"<html><body>" + paragraph * (20_000_000 // len(paragraph) + 1) + b"</body></html>"  # 20 MB
    junk = random.Random(3).randbytes(200_000)  # served as text/html by warc_pack
    pages = {"deep.html": deep, "huge.html": huge, "junk.html": junk, GOOD_PAGES[0]: _page(GOOD_PAGES[0]),
             "after.html": _page(GOOD_PAGES[1])}
    rows, result, seconds = _run(tmp_path, _pack(pages, tmp_path), timeout=5.0)
    assert rows["deep.html"]["reason"] == "html_too_deep" and rows["deep.html"]["rejected_by"] == "extract"
    assert rows["huge.html"]["reason"] == "html_too_large" and rows["huge.html"]["reason_value"] > 20_000_000
    # the WARC reader's binary sniff (NUL bytes) catches junk bytes before the stage sees them
    assert rows["junk.html"]["reason"] == "non_text_content"
    assert rows[GOOD_PAGES[0]].get("reason") is None and rows["after.html"].get("reason") is None
    assert seconds < 30  # no page needed the time limit: the guards are cheap
    extract = next(step for step in result.manifest["funnel"] if step["step"] == "extract")
    assert extract["docs_in"] == 4 and extract["docs_out"] == 2  # the junk never reached it
    assert {reason: r["docs"] for reason, r in extract["rejected"].items()} == {"html_too_deep": 1, "html_too_large": 1}


def test_junk_text_and_empty_pages_in_jsonl(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    junk = "".join(chr(c) for c in random.Random(5).choices(range(0, 256), k=50_000))
    docs = [{"id": "junk", "text": junk}, {"id": "empty", "text": "<html><body><script>x=1</script></body></html>"},
            {"id": "good", "text": _page(GOOD_PAGES[2]).decode("utf-8")}]
    (folder / "pages.jsonl").write_text("\n".join(json.dumps(doc) for doc in docs) + "\n")
    rows, _, _ = _run(tmp_path, folder, fmt="jsonl")
    assert rows["junk"]["reason"] == "binary_content" and rows["junk"]["reason_value"] > 0.05
    assert rows["empty"]["reason"] == "no_main_text"
    assert rows["good"].get("reason") is None


def test_timeout_rejects_the_page_and_the_pages_after_it_are_extracted(tmp_path):
    """A page slower than the limit is stopped at the limit and rejected `extract_timeout`; the pages after it are
    still extracted, in the same process."""
    paragraph = b"<div><p>" + b"Words in a paragraph of a slow page, with <b>markup</b> and <a href='#'>links</a>. " * 8 + b"</p></div>\n"
    slow = b"<html><body>" + paragraph * (4_000_000 // len(paragraph)) + b"</body></html>"  # ~4 MB: seconds of work
    pages = {"a_slow.html": slow, "b_after.html": _page(GOOD_PAGES[3]), "c_after.html": _page(GOOD_PAGES[4])}
    # 3 s: the slow page takes 12 s here, a normal one 0.1-0.5 s even on a loaded 2-core machine
    rows, result, seconds = _run(tmp_path, _pack(pages, tmp_path), timeout=3.0)
    assert rows["a_slow.html"]["reason"] == "extract_timeout" and rows["a_slow.html"]["reason_value"] == 3.0
    assert rows["b_after.html"].get("reason") is None and rows["c_after.html"].get("reason") is None
    extract = next(step for step in result.manifest["funnel"] if step["step"] == "extract")
    assert extract["counters"]["timeouts"] == 1
    assert seconds < 60


def test_title_and_page_date_kept():
    from datatrove.data import Document

    from curate.stages.extract import Extract

    html = ("<html><head><title>A headline | Site</title><meta property='og:title' content='A headline'>"
            "<meta property='article:published_time' content='2021-03-04T10:00:00Z'></head><body><article>"
            + "<p>This paragraph is the main text of the article and long enough to count as such.</p>" * 8
            + "</article><footer>Imprint</footer></body></html>")
    doc = Extract().process(Document(text=html, id="x", metadata={"url": "https://example.org/news/a-headline"}))
    assert doc.metadata["title"] == "A headline" and doc.metadata["page_date"] == "2021-03-04"
    assert doc.text.startswith("This paragraph is the main text") and "Imprint" not in doc.text


def test_bad_mode_is_a_clear_error():
    from curate.stages.extract import Extract

    with pytest.raises(ValueError, match="unknown mode 'fast'.*precision, balanced, recall"):
        Extract(mode="fast")


def test_eval_extraction_on_a_subset(tmp_path):
    """`curate eval extraction` on the first 60 pages: the harness on plain trafilatura and our default mode."""
    from pipeline_helpers import curate_cli

    report = tmp_path / "report.json"
    result = curate_cli("eval", "extraction", "--data", shared(*EVAL), "--limit", "60", "--report", report)
    assert "published: trafilatura 2.2.0 (standard)" in result.stdout and "0.924" in result.stdout
    figures = json.loads(report.read_text())
    version = figures["trafilatura_version"]
    assert figures["documents"] == 60 and version.startswith("2.")
    plain, ours = figures["results"][f"trafilatura {version} (standard)"], figures["results"]["curate extract (balanced)"]
    assert plain["tp"] + plain["fn"] == figures["with_segments"]
    assert plain["fp"] + plain["tn"] == figures["without_segments"]
    # measured here with trafilatura 2.3.1 on these 60 pages: 0.944 for both (TP 152, FP 13, FN 5, TN 165); on all
    # 990: 0.926 for both (2.2.0: 0.924, its published row). Band: +-0.01, room for another 2.x release or
    # lxml/libxml2 build, not for a change in the counting.
    assert abs(plain["f1"] - 0.944) <= 0.01 and abs(ours["f1"] - 0.944) <= 0.01
    assert ours["f1"] >= plain["f1"] - 0.005


def test_visible_mode_keeps_all_visible_text_of_real_pages(tmp_path):
    """mode `visible` (Common Crawl WET's view, `curate ablate`'s visible_text variant): the boilerplate that main-text
    extraction drops is there, the main text too, and the pipeline records the method."""
    from curate.stages.extract import Extract

    evaldata = _evaldata()
    pages = {name: _page(name) for name in GOOD_PAGES}
    rows, _, _ = _run(tmp_path, _pack(pages, tmp_path), mode="visible")
    balanced = Extract(mode="balanced")
    boilerplate_found = 0
    for name in GOOD_PAGES:
        row = rows[name]
        assert row.get("reason") is None and row["extract_method"] == "html2txt", name
        assert all(snippet in row["text"] for snippet in evaldata[name]["with"]), name
        boilerplate_found += sum(snippet in row["text"] for snippet in evaldata[name]["without"])
        main = balanced.extract_text(pages[name].decode("utf-8", "replace"))
        assert len(row["text"]) > len(main), name
    assert boilerplate_found >= len(GOOD_PAGES)  # the "without" snippets are navigation, footers, ...: visible text


def test_packing_the_same_pages_twice_gives_the_same_files_and_ids(tmp_path):
    """WARC-Record-ID is the document's id, and the split stage assigns train/val/test by it: packing again (another
    folder, another run) must not move a page to another split."""
    from curate.io.warc_pack import pack_html_to_warc, record_id

    root = shared(*EVAL)
    pages = sorted(root.glob("eval/*.html.gz"))[:12]
    first = pack_html_to_warc(pages, tmp_path / "a", records_per_file=5, root=root)
    second = pack_html_to_warc(pages, tmp_path / "b", records_per_file=5, root=root)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second] and len(first) == 3
    result = run_pipeline({"input": {"paths": [str(tmp_path / "a")], "format": "warc"}, "executor": {"tasks": 1}},
                          tmp_path / "out", workers=1)
    rows = read_rows(tmp_path / "out", "data")
    assert result.manifest["conservation"]["ok"] and len(rows) == 12
    assert sorted(r["id"] for r in rows) == sorted(record_id(p.relative_to(root).as_posix()) for p in pages)
    assert len({r["id"] for r in rows}) == 12


# Wayback Machine captures (warc/chatnoir-copycat): the archive's toolbar, inserted into every page between two
# comments, holds its own text (capture calendar, "N captures", the crawl's description). trafilatura took all or
# part of it as the main text of 13 of the 91 non-Wikipedia captures; without it, the page's own text comes out.
WAYBACK = ("warc", "chatnoir-copycat", "case-studies", "relevance-label-transfer", "src", "test", "resources",
           "sample-input", "snapshot-wayback-topic-02.warc.gz")
WAYBACK_PAGES = {"evansvilleastro.org/eventphotos.htm": "Hale-Bopp",  # a page's own text, expected in its extract
                 "frenchlickspringsvillas.com/ammenities.htm": "INDOOR POOL",
                 "it.montecarloresort.com:80/Creer-votre-compte.html": "Monte Carlo"}
WAYBACK_TEXT = ("Internet Archive", "Wayback Machine", "captures", "seedlist")


def test_wayback_toolbar_is_not_main_text():
    from curate.io.input_files import resolve_inputs
    from curate.io.warc_reader import WarcReader
    from curate.stages.extract import Extract

    extract = Extract(mode="balanced")
    texts = {}
    for doc in WarcReader(resolve_inputs([str(shared(*WAYBACK))])[0]).run():
        page = next((p for p in WAYBACK_PAGES if doc.metadata.get("url", "").endswith(p)), None)
        if page is not None:
            assert "<!-- BEGIN WAYBACK TOOLBAR INSERT -->" in doc.text
            texts[page] = extract.extract_text(doc.text)
    assert sorted(texts) == sorted(WAYBACK_PAGES)
    for page, own_text in WAYBACK_PAGES.items():
        assert own_text in texts[page]
        assert not [s for s in WAYBACK_TEXT if s in texts[page]], (page, texts[page][:300])


def test_element_classes_looked_up_in_c_are_lxml_html_s_and_extraction_is_unchanged():
    """element_classes_in_c gives every element, comment and form control of real pages the class lxml.html's own
    (Python) lookup gives, and the stage's results on real pages are the same with either lookup."""
    from datatrove.data import Document
    from lxml import html
    from trafilatura.utils import HTML_PARSER

    from curate.stages.extract import Extract, element_classes_in_c

    options = {"collect_ids": False, "default_doctype": False, "encoding": "utf-8", "remove_comments": False}
    python_lookup, c_lookup = html.HTMLParser(**options), html.HTMLParser(**options)
    element_classes_in_c(c_lookup)
    names = sorted(_evaldata())[::25]
    classes = set()
    for name in names:
        page = _page(name)
        for ours, theirs in zip(html.fromstring(page, parser=c_lookup).iter(),
                                html.fromstring(page, parser=python_lookup).iter(), strict=True):
            assert type(ours) is type(theirs), (name, theirs.tag)
            classes.add(type(ours).__name__)
    assert {"HtmlElement", "HtmlComment", "InputElement", "FormElement"} <= classes

    stage = Extract()
    stage.process(Document(text=_page(names[0]).decode("utf-8", "replace"), id="first", metadata={}))  # sets it up
    pages = [_page(name).decode("utf-8", "replace") for name in names]

    def results():
        docs = [stage.process(Document(text=page, id=str(i), metadata={})) for i, page in enumerate(pages)]
        return [(doc.text, doc.metadata) if isinstance(doc, Document) else repr(doc) for doc in docs]

    faster = results()
    HTML_PARSER.set_element_class_lookup(html.HtmlElementClassLookup())
    try:
        assert results() == faster
    finally:
        element_classes_in_c(HTML_PARSER)
    assert sum(isinstance(result, tuple) for result in faster) > len(names) // 2
