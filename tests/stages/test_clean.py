"""`clean`: Project Gutenberg boilerplate on the real books, leftover markup and control characters, ftfy on real
mojibake from the trafilatura-eval pages, the emoji and notice options, whitespace, and a pipeline run."""

import gzip
import json

import pytest
from datatrove.data import Document

from pipeline_helpers import read_rows, run_pipeline, shared

from curate.stages.clean import Clean, looks_like_mojibake


def book(*parts) -> str:
    raw = shared("text", "gutenberg", *parts).read_bytes()
    raw = gzip.decompress(raw) if parts[-1].endswith(".gz") else raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # the -8.txt editions are ISO-8859-1


def run_clean(stage: Clean, texts: list[str]) -> list[Document]:
    return list(stage.run(iter([Document(text=t, id=str(i)) for i, t in enumerate(texts)])))


@pytest.mark.parametrize("parts, first, last", [
    (("11", "11-0.txt"), "Alice was beginning to get very tired", "summer days.\n\n" + " " * 14 + "THE END"),
    (("1661", "1661-8.txt"), "To Sherlock Holmes she is always THE woman", "met with considerable success."),
    (("3261", "3261.txt"), "Up at the League, says a friend", "Cirencester and Burford he must have meant."),
    (("11", "old", "alice30.txt.gz"), "Alice was beginning to get", "summer days.\n\n" + " " * 29 + "THE END"),  # 1990s
])
def test_gutenberg_header_and_footer_go_the_book_stays(parts, first, last):
    text = book(*parts)
    assert "PROJECT GUTENBERG" in text.upper()
    [doc] = run_clean(Clean(), [text])
    out = doc.text
    assert "gutenberg" in doc.metadata["clean_changes"]
    assert "START OF" not in out and "END OF THE PROJECT" not in out and "SMALL PRINT" not in out.upper()
    assert "Project Gutenberg-tm" not in out and "Gutenberg Literary Archive" not in out  # the licence after the end
    assert first in out and out.rstrip().endswith(last)
    assert out.index(first) < 1000  # only the title page is left before the first chapter
    assert doc.metadata["clean_chars_removed"] == len(text) - len(out) > 10_000


def test_text_that_only_mentions_gutenberg_is_untouched():
    text = "I read it on Project Gutenberg.\n*** END OF THE SECOND EPOCH ***\nEnd of the story."
    out, changes = Clean().clean_text(text)
    assert out == text and changes == []


def test_leftover_markup_and_control_characters_removed_and_counted():
    text = ("Erste Zeile<br>zweite&nbsp;Zeile &amp; mehr<br />\n<p class=\"x\">Absatz</p><!-- nav -->"
            "\x00Null\x07 und \x1b[31mrot\x1b[0m\tTab\u00ad\ufeff.\r\nEnde &#8217;&#x2019; &copy=2 &bogus;")
    [doc] = run_clean(Clean(), [text])
    assert doc.text == ("Erste Zeile\nzweite Zeile & mehr\n\nAbsatz\nNull und rot\tTab.\n"
                        "Ende ’’ &copy=2 &bogus;")
    # ftfy (the text is not ASCII) takes the terminal escapes, the controls step the rest
    assert set(doc.metadata["clean_changes"]) == {"newlines", "unicode", "markup", "controls", "whitespace"}
    assert doc.metadata["clean_chars_removed"] == len(text) - len(doc.text)
    # prose and code with angle brackets are not markup
    for prose in ["if a < b and b > c", "a<b and b>c", "for (i=0; i<n; i++) {x>y}", "use <ref> and <T> in Java"]:
        assert Clean().clean_text(prose) == (prose, [])


def test_markup_from_real_wikitext():
    import bz2
    import xml.etree.ElementTree as ET

    dump = next(shared("text", "enwiki").glob("*.bz2"))
    texts = [el.text for _, el in ET.iterparse(bz2.open(dump)) if el.tag.endswith("}text") and el.text]
    with_markup = [t for t in texts if "&nbsp;" in t or "<br" in t]
    assert len(with_markup) >= 5
    for doc in run_clean(Clean(), with_markup):
        assert "&nbsp;" not in doc.text and "<br" not in doc.text
        assert "markup" in doc.metadata["clean_changes"] and doc.metadata["clean_chars_removed"] > 0


def test_ftfy_repairs_real_mojibake_in_a_real_page():
    import trafilatura

    page = shared("extraction", "trafilatura-eval", "eval", "der-erfolg-gibt-recht.de.rinderleber.html.gz")
    text = trafilatura.extract(gzip.decompress(page.read_bytes()), favor_precision=True)
    assert "Ã¼" in text  # the page itself is double-encoded
    [doc] = run_clean(Clean(), [text])
    assert "unicode" in doc.metadata["clean_changes"]
    assert "Ã¼" not in doc.text and "Ã¶" not in doc.text and "Rinderleber" in doc.text and "ü" in doc.text
    [off] = run_clean(Clean(fix_unicode=False), [text])
    assert "Ã¼" in off.text


def test_unicode_repair_keeps_correct_text_and_skips_ascii():
    text = "Straße, “curly” quotes, ﬁ ligature, ＡＢＣ full width, ½ and naïve café."
    assert Clean().clean_text(text) == (text, [])  # restyling is off: only broken text changes
    assert Clean().clean_text("e\u0301t\u00e9")[0] == "\u00e9t\u00e9"  # NFC
    assert Clean().clean_text("plain ascii")[1] == []


def test_fast_mojibake_check_equals_ftfy_is_bad():
    from ftfy.badness import is_bad

    units = []
    for lang in ["de", "fr", "ru", "el", "pl", "tr", "ar", "zh", "ja", "hi"]:
        lines = shared("langid", "lingua", "sentences", f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:200]
        units += ["\n".join(lines), *lines[:50]]
        units += [t.encode("utf-8").decode("cp1252", errors="replace") for t in lines[:50]]  # mojibake of each
        units += [t.encode("utf-8").decode("latin-1") for t in lines[:50]]
    assert sum(map(is_bad, units)) > 200
    assert [looks_like_mojibake(u) for u in units] == [is_bad(u) for u in units]


def test_emoji_removed_only_when_asked():
    text = "Great 👍🏽 job 🇩🇪 family 👨‍👩‍👧 keycap 1️⃣ ★ icon\uf099 ok. © ™ → 中文"
    assert Clean().clean_text(text) == (text, [])
    out, changes = Clean(remove_emoji=True).clean_text(text)
    assert out == "Great job family keycap icon ok. © ™ → 中文"
    assert "emoji" in changes


NOTICES = [
    "This website uses cookies to ensure you get the best experience. Accept all cookies",
    "Diese Website verwendet Cookies. Wenn Sie die Website weiter nutzen, stimmen Sie zu.",
    "Ce site utilise des cookies pour améliorer votre expérience.",
    "Please enable JavaScript to view the comments powered by Disqus.",
]


def test_cookie_and_javascript_notices_removed_only_when_asked():
    article = ("Chocolate chip cookies\nMix the butter and sugar." + " Bake the cookies for 12 minutes." * 3 +
               "\nOur shop uses cookies in every sense:" + " we bake them daily, sell them warm and ship them." * 8)
    text = "\n".join([NOTICES[0], article, *NOTICES[1:]])
    assert Clean().clean_text(text)[0] == text
    out, changes = Clean(remove_notices=True).clean_text(text)
    assert out == article and "notices" in changes  # the long line that says "uses cookies" stays


def test_whitespace_and_blank_lines():
    text = "\n\n  Title  \n\n\n\nA   run\u00a0\u00a0of  spaces.   \n\tindented\tline\n    code(x)\n\n\n"
    assert Clean().clean_text(text)[0] == "  Title\n\nA run of spaces.\n\tindented\tline\n    code(x)"
    assert Clean(max_blank_lines=0).clean_text("a\n\n\nb")[0] == "a\nb"
    assert Clean(max_blank_lines=2).clean_text("a\n\n\n\n\nb")[0] == "a\n\n\nb"


def test_empty_after_clean_is_rejected_with_reason():
    docs = run_clean(Clean(), ["<br>&nbsp;<p></p>\n\n \x00", "kept"])
    assert docs[0].metadata["reason"] == "empty_after_clean" and docs[0].metadata["rejected_by"] == "clean"
    assert docs[0].metadata["reason_value"] > 0
    assert "reason" not in docs[1].metadata and docs[1].text == "kept"


def test_pipeline_writes_clean_columns(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    for parts in [("11", "11-0.txt"), ("1661", "1661-8.txt")]:
        (books / parts[-1]).write_bytes(shared("text", "gutenberg", *parts).read_bytes())
    web = tmp_path / "web.jsonl"
    web.write_text("\n".join(json.dumps({"id": str(i), "text": t}) for i, t in enumerate(
        ["A page<br>with&nbsp;markup.", "<p></p>", "Clean text."])))
    run_pipeline({"input": {"paths": [str(books)], "format": "text"},
                  "stages": [{"clean": {"remove_notices": True}}]}, tmp_path / "out_books")
    run_pipeline({"input": {"paths": [str(web)], "format": "jsonl"}, "stages": ["clean"]}, tmp_path / "out_web")
    rows = read_rows(tmp_path / "out_books", "data")
    assert len(rows) == 2
    for row in rows:
        assert "gutenberg" in row["clean_changes"] and row["clean_chars_removed"] > 10_000
        assert "*** START OF" not in row["text"] and "Project Gutenberg-tm" not in row["text"]
    kept = {r["id"]: r for r in read_rows(tmp_path / "out_web", "data")}
    [rejected] = read_rows(tmp_path / "out_web", "rejected")
    assert rejected["reason"] == "empty_after_clean"
    page = next(r for r in kept.values() if "page" in r["text"])
    assert page["text"] == "A page\nwith markup." and page["clean_changes"] == ["markup", "whitespace"]
    assert page["clean_chars_removed"] == 8
    untouched = next(r for r in kept.values() if r["text"] == "Clean text.")
    assert untouched["clean_changes"] == [] and untouched["clean_chars_removed"] == 0


def test_unwrap_joins_hard_wrapped_paragraphs_and_keeps_indented_verse():
    text = book("11", "11-0.txt")
    [wrapped] = run_clean(Clean(), [text])
    [doc] = run_clean(Clean(unwrap_lines=True), [text])
    assert "unwrap" in doc.metadata["clean_changes"]
    # a prose paragraph wrapped over several lines becomes one line
    opening = "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do:"
    assert opening not in wrapped.text and opening in doc.text
    # the poem's lines are indented in the book: they stay lines
    assert "How doth the little crocodile\n" in doc.text
    # paragraphs stay paragraphs
    assert doc.text.count("\n\n") == wrapped.text.count("\n\n")
