"""`harmful`: whole-word matching (never inside longer words), multi-word entries, per-language lists, substring
matching for languages written without spaces, the ratio threshold just above and below, C4's any-match rule on a
real book, and a pipeline run with the columns in Parquet."""

import json

import pytest
from datatrove.data import Document

from pipeline_helpers import read_rows, run_pipeline, shared

from curate.stages.harmful import HarmfulContent


def check(stage, text, lang="en"):
    doc = Document(text=text, id="0", metadata={"lang": lang} if lang else {})
    [doc] = list(stage.run(iter([doc])))
    return doc.metadata


@pytest.fixture(scope="module")
def stage():
    return HarmfulContent()


def test_no_match_inside_longer_words(stage):
    # "ass", "cunt", "cum", "anal", "rapist", "penis", "dick", "tit" are all on the English list
    text = ("Scunthorpe assessment class classic passage Sussex embassy cocktail document cucumber analysis canal "
            "therapist Penistone Dickens titles constitution")
    meta = check(stage, text)
    assert meta["badword_count"] == 0 and meta["badwords_found"] == [] and meta["badword_list"] == "en"
    # the same words standing alone are found, whatever their case and punctuation
    meta = check(stage, "Ass! (cunt) CUM, anal; rapist. penis? dick")
    assert meta["badwords_found"] == ["anal", "ass", "cum", "cunt", "dick", "penis", "rapist"]


def test_multi_word_entries_across_spaces_and_lines(stage):
    meta = check(stage, "He said 2  girls\n1 cup, then ball\ngag. A ball, gag.")
    assert meta["badwords_found"] == ["2 girls 1 cup", "ball gag"] and meta["badword_count"] == 2
    assert check(stage, "vai-te foder", "pt")["badwords_found"] == ["vai-te foder"]  # with a hyphen, counted once
    assert check(stage, "Hij deed het op z'n hondjes.", "nl")["badwords_found"] == ["op z'n hondjes"]


def test_per_language_lists(stage):
    german = "Der Schiedsrichter war ein Arschloch, und das Spiel war Scheiße."
    meta = check(stage, german, "de")
    assert meta["badword_list"] == "de" and meta["badwords_found"] == ["arschloch", "scheiße"]
    meta = check(stage, german, "en")  # an English list on German text: nothing from the German list
    assert meta["badword_list"] == "en" and meta["badword_count"] == 0
    assert check(stage, "What the fuck.", "de")["badword_count"] == 0
    # language tags are matched on their primary subtag, and lid.176 codes on the list's own tag
    assert check(stage, "foda-se", "pt-BR")["badword_list"] == "pt"
    assert check(stage, "x", "nb")["badword_list"] == "no" and check(stage, "x", "tl")["badword_list"] == "fil"


def test_languages_without_spaces_use_substring_matching(stage):
    meta = check(stage, "这个网站卖淫的广告很多", "zh")
    assert meta["badwords_found"] == ["卖淫"] and meta["badword_count"] == 1
    assert meta["badword_ratio"] == pytest.approx(1 / 11)  # per non-space character
    # datatrove's allow-list ("性" alone filters >10% of Chinese pages) and Latin boundaries inside CJK lists
    assert check(stage, "性别和性格", "zh")["badword_count"] == 0
    assert check(stage, "in 2013.", "zh")["badword_count"] == 0  # "13." is a zh entry, but not inside "2013."
    assert check(stage, "asm と smart", "ja")["badword_count"] == 0


def test_language_without_a_list_is_not_checked():
    stage = HarmfulContent()
    meta = check(stage, "fuck " * 10, "sw")
    assert meta["badword_list"] is None and meta["badword_count"] is None and "reason" not in meta
    assert stage.stats["not_checked/sw"].total == 1
    # no language at all: default_language
    assert check(HarmfulContent(default_language="de"), "Arschloch", None)["badword_list"] == "de"


def test_ratio_threshold_just_above_and_below():
    stage = HarmfulContent(max_badword_ratio=0.01)
    at = check(stage, "word " * 99 + "fuck")  # 1 in 100 words: not above 0.01, kept
    assert at["badword_ratio"] == pytest.approx(0.01) and "reason" not in at
    above = check(stage, "word " * 98 + "fuck")  # 1 in 99
    assert above["reason"] == "badwords" and above["reason_value"] == pytest.approx(1 / 99)
    assert above["rejected_by"] == "harmful" and "fuck" in above["reason_detail"]
    assert "reason" not in check(stage, "word " * 98 + "fuckers")  # not on the list as such: no match at all


def test_c4_rule_drops_moby_dick_the_ratio_rule_keeps_it():
    from curate.stages.clean import Clean

    text, _ = Clean().clean_text(shared("text", "gutenberg", "2701", "2701-0.txt").read_text(encoding="utf-8"))
    c4 = check(HarmfulContent(mode="any"), text)
    assert c4["reason"] == "badwords" and c4["reason_value"] >= 1 and "dick" in c4["badwords_found"]
    ratio = check(HarmfulContent(), text)
    assert "reason" not in ratio and 0 < ratio["badword_ratio"] < 0.001


def test_bad_parameters_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        HarmfulContent(mode="c4")
    with pytest.raises(ValueError, match="max_badword_ratio"):
        HarmfulContent(max_badword_ratio=2)
    with pytest.raises(ValueError, match="lists_dir"):
        HarmfulContent(lists_dir=str(tmp_path / "missing"))
    (tmp_path / "xx").write_text("Foo Bar\nbaz\n")
    assert check(HarmfulContent(lists_dir=str(tmp_path)), "a foo bar and baz", "xx")["badword_count"] == 2


def test_pipeline_writes_badword_columns(tmp_path):
    records = [
        {"id": "en-clean", "lang": "en", "text": "A quiet essay about classic assessment methods in Scunthorpe."},
        {"id": "en-bad", "lang": "en", "text": "Fuck this shit, you asshole."},
        {"id": "de-bad", "lang": "de", "text": "Du Arschloch!<br>Scheiße."},
        {"id": "de-as-en", "lang": "en", "text": "Du Arschloch! Scheiße."},
        {"id": "unchecked", "lang": "sw", "text": "Habari ya asubuhi, fuck."},
    ]
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in records))
    run_pipeline({"input": {"paths": [str(src)], "format": "jsonl", "columns": {"lang": "string"}},
                  "stages": ["clean", {"harmful": {"max_badword_ratio": 0.01}}]}, tmp_path / "out")
    kept = {r["id"]: r for r in read_rows(tmp_path / "out", "data")}
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert set(kept) == {"en-clean", "de-as-en", "unchecked"} and set(rejected) == {"en-bad", "de-bad"}
    assert rejected["de-bad"]["reason"] == "badwords" and rejected["de-bad"]["reason_value"] == pytest.approx(2 / 3)
    assert rejected["de-bad"]["badwords_found"] == ["arschloch", "scheiße"]
    assert rejected["en-bad"]["badword_count"] == 3 and rejected["en-bad"]["badword_list"] == "en"
    assert kept["en-clean"]["badword_count"] == 0 and kept["en-clean"]["badword_ratio"] == 0.0
    assert kept["de-as-en"]["badword_count"] == 0
    assert kept["unchecked"]["badword_list"] is None and kept["unchecked"]["badword_ratio"] is None
    assert kept["en-clean"]["clean_chars_removed"] == 0


def test_health_and_news_vocabulary_does_not_decide_but_pornographic_text_still_does():
    """Real sentences of lingua's English news and web file (sexual health education, sexual orientation, sex) in a
    short text: 3 listed words in 116 words is 2.6%, above the 1% cut-off, when every entry counts (C4, ROOTS);
    those entries are ordinary vocabulary (data/badwords_ambiguous/en) and no longer decide. An adult advert (the
    kind of block the laweekly.com page of trafilatura-eval carries, written here) still does."""
    lines = shared("langid", "lingua", "sentences", "en.txt").read_text(encoding="utf-8").splitlines()
    news = " ".join(lines[i] for i in (26, 383, 826, 380, 381, 382))
    stage, every_entry = HarmfulContent(), HarmfulContent(count_ambiguous=True)
    old = check(every_entry, news)
    assert old["badword_ratio"] > 0.01 and old["rejected_by"] == "harmful"
    meta = check(stage, news)
    assert "rejected_by" not in meta and meta["badword_count"] == 0 and meta["badword_ambiguous_count"] == 3
    advert = ("Hot local singles. Big tits and milf videos, femdom and bdsm chat, blowjob cams, hardcore porn, "
              "free sex shows tonight. Click to see more. ") * 2
    meta = check(stage, advert)
    assert meta["badword_count"] >= 10 and meta["rejected_by"] == "harmful"
