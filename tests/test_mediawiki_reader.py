"""format: mediawiki: the real enwiki excerpt streamed article by article, markup removed (mwparserfromhell),
broken dumps rejected with a reason, and the articles kept by pipelines/text.yaml's per-document stages."""

import bz2
import re

import pytest
import yaml

from curate.io.input_files import InputFile, resolve_inputs
from curate.io.mediawiki_reader import MediaWikiReader
from curate.io.wikitext import wikitext_to_text
from pipeline_helpers import REPO, read_rows, run_pipeline, shared


def enwiki() -> InputFile:
    [file], _ = resolve_inputs([f"{shared('text', 'enwiki')}/*.bz2"])
    return file


def read(file: InputFile, limit: int = -1) -> list:
    return list(MediaWikiReader([file], limit=limit).run())


def test_enwiki_excerpt_one_document_per_article():
    docs = read(enwiki())
    assert len(docs) == 106  # 206 pages: 99 redirects and 1 Wikipedia: page are not articles
    assert not [d for d in docs if "reason" in d.metadata]
    anarchism = docs[0]
    assert anarchism.id.endswith("/12") and anarchism.metadata["title"] == "Anarchism"
    assert anarchism.metadata["url"] == "https://en.wikipedia.org/wiki/Anarchism"
    assert anarchism.text.startswith("Anarchism is a political philosophy")
    for doc in docs:  # no markup left: links, templates, bold/italic quotes, refs, tables, files
        assert not re.search(r"\[\[|\]\]|\{\{|\}\}|'''|<ref|\{\||\|\}|\[\[File:", doc.text), doc.id
    assert [d.id for d in read(enwiki(), limit=10)] == [d.id for d in docs[:10]], "ids are not stable"


def test_markup_removal_keeps_the_text_of_links_and_inline_templates():
    wikitext = ("'''Achilles''' ({{IPAc-en|ə|ˈ|k|ɪ|l|iː|z}}; {{lang-grc|Ἀχιλλεύς}}) was a [[Greeks|Greek]] hero"
                "<ref>{{cite book|title=X}}</ref> of the [[Trojan War]], {{convert|3|km}} away.\n"
                "[[File:Achilles.jpg|thumb|A caption]]\n[[Category:Greek heroes]]\n== References ==\n* A book.")
    assert wikitext_to_text(wikitext) == "Achilles (Ἀχιλλεύς) was a Greek hero of the Trojan War, 3 km away."


def test_the_dump_is_streamed_and_a_break_is_rejected_with_its_line(tmp_path):
    """A dump cut off mid-page: the articles before the cut come out (the file is parsed as it is read), then one
    rejected record naming the file and line; read = kept + rejected."""
    xml = bz2.decompress(shared("text", "enwiki").joinpath(enwiki().source).read_bytes())
    cut = xml.index(b"<title>Autism</title>") + 200  # inside the second article's page
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(bz2.compress(xml[:cut]))
    docs = read(InputFile(str(path), "cut.xml.bz2", path.stat().st_size))
    assert [d.metadata.get("title") for d in docs[:-1]] == ["Anarchism"]
    assert docs[-1].metadata["reason"] == "malformed_xml"
    assert "line" in docs[-1].metadata["reason_detail"] and "cut.xml.bz2" in docs[-1].metadata["reason_detail"]


def test_what_is_not_a_dump_is_rejected_with_a_reason(tmp_path):
    cases = {"notxml.xml": b"this is not XML at all", "other.xml": b"<rss><channel><title>x</title></channel></rss>",
             "broken.xml.bz2": b"BZh91AY&SY not really bzip2"}
    reasons = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        [doc] = read(InputFile(str(tmp_path / name), name, len(data)))
        reasons[name] = doc.metadata["reason"]
        assert name in doc.metadata["reason_detail"]
    assert reasons == {"notxml.xml": "malformed_xml", "other.xml": "not_a_mediawiki_dump",
                       "broken.xml.bz2": "read_error"}


@pytest.mark.slow
def test_text_pipeline_keeps_nine_in_ten_articles(tmp_path):
    """pipelines/text.yaml's per-document stages on the dump read as `format: mediawiki` (issue 17's target)."""
    config = yaml.safe_load((REPO / "pipelines" / "text.yaml").read_text())
    per_document = [s for s in config["stages"] if next(iter(s)) in ("clean", "langid", "quality", "harmful")]
    result = run_pipeline({"input": {"format": "mediawiki", "paths": [str(shared("text", "enwiki"))]},
                           "stages": per_document}, tmp_path / "out")
    kept, rejected = read_rows(tmp_path / "out", "data"), read_rows(tmp_path / "out", "rejected")
    assert len(kept) + len(rejected) == 106 == result.manifest["conservation"]["read"]
    assert len(kept) / 106 >= 0.9, sorted((r["title"], r["reason"]) for r in rejected)
