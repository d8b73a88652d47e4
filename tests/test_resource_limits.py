"""A document that takes too long, needs too much memory or makes a stage fail is rejected with a reason; the
documents around it go on."""

import json

from pipeline_helpers import read_rows, run_pipeline, shared


def _pages_with_a_giant(tmp_path, giant_words: int):
    """Ten chapters of a real book and, in the middle, one enormous document made of the book repeated."""
    from curate.evaluation.dedup import split_book

    book = shared("text", "gutenberg", "1342", "1342.txt").read_text(encoding="utf-8")
    paragraphs = split_book(book)[1:11]
    words = book.split()
    giant = " ".join((words * (giant_words // len(words) + 1))[:giant_words])
    docs = [{"id": f"p{i}", "text": t} for i, t in enumerate(paragraphs)]
    docs.insert(5, {"id": "giant", "text": giant})
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_time_limit_rejects_the_slow_document_and_the_rest_goes_on(tmp_path):
    path = _pages_with_a_giant(tmp_path, 600_000)  # the quality rules take seconds on 600k words
    stages = [{"quality": {"rule_sets": ["gopher"], "gopher_max_words": None, "gopher_min_alpha_words_ratio": None,
                           "limits": {"seconds": 1.0}}}]
    result = run_pipeline({"input": {"paths": [str(path)]}, "stages": stages}, tmp_path / "out")
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert rejected["giant"]["reason"] == "time_limit" and rejected["giant"]["rejected_by"] == "quality"
    kept = {r["id"]: r for r in read_rows(tmp_path / "out", "data")}
    assert len(kept) + len(rejected) == 11 and len(kept) >= 8
    # the documents processed in the worker carry the stage's columns, and its counters reached the funnel
    assert all(r["gopher_word_count"] > 100 for r in kept.values())
    quality = next(s for s in result.manifest["funnel"] if s["step"] == "quality")
    assert quality["rejected"]["time_limit"]["docs"] == 1


def test_a_stage_under_limits_keeps_its_manifest_summary(tmp_path):
    path = _pages_with_a_giant(tmp_path, 1_000)
    stages = [{"split": {"fractions": {"train": 0.5, "val": 0.5}, "seed": 3, "limits": {"seconds": 60}}}]
    result = run_pipeline({"input": {"paths": [str(path)]}, "stages": stages}, tmp_path / "out")
    summary = result.manifest["stages"]["split"]
    assert summary["seed"] == 3 and summary["fractions"] == {"train": 0.5, "val": 0.5, "test": 0.0}
    assert len(read_rows(tmp_path / "out", "train")) + len(read_rows(tmp_path / "out", "val")) == 11


def test_memory_limit_rejects_the_document_that_needs_too_much(tmp_path):
    path = _pages_with_a_giant(tmp_path, 1_500_000)  # spaCy's tokens of 1.5M words take hundreds of MB
    stages = [{"quality": {"rule_sets": ["gopher"], "gopher_max_words": None, "gopher_min_alpha_words_ratio": None,
                           "limits": {"memory_mb": 150}}}]
    run_pipeline({"input": {"paths": [str(path)]}, "stages": stages}, tmp_path / "out")
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert rejected["giant"]["reason"] == "memory_limit"
    assert {r["id"] for r in read_rows(tmp_path / "out", "data")} >= {f"p{i}" for i in range(10)} - set(rejected)
    assert len(rejected) <= 3


def test_a_record_a_stage_cannot_handle_is_rejected_as_stage_error(tmp_path):
    rows = [{"id": "a", "text": "one page", "url": "https://www.example.co.uk/x"},
            {"id": "b", "text": "a page whose url field is a number", "url": 12345},
            {"id": "c", "text": "another page", "url": "http://news.example.org/y"}]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stages = [{"split": {"group_by": "domain", "fractions": {"train": 1.0, "val": 0.0, "test": 0.0}}}]
    run_pipeline({"input": {"paths": [str(path)]}, "stages": stages}, tmp_path / "out")
    rejected = read_rows(tmp_path / "out", "rejected")
    assert [(r["id"], r["rejected_by"], r["reason"]) for r in rejected] == [("b", "split", "stage_error")]
    assert "12345" in rejected[0]["extra_metadata"] and rejected[0]["reason_detail"]
    assert sorted(r["id"] for r in read_rows(tmp_path / "out", "train")) == ["a", "c"]


def test_limits_on_a_stage_with_its_own_loop_is_a_config_error(tmp_path):
    from curate.config import ConfigError
    from curate.pipeline import Pipeline

    config = {"input": {"paths": [str(tmp_path)], "format": "jsonl"}, "output": str(tmp_path / "o"),
              "stages": [{"extract": {"limits": {"seconds": 1}}}]}
    try:
        Pipeline(config).make_stages()
    except ConfigError as error:
        assert "extract" in str(error) and "timeout" in str(error)
    else:
        raise AssertionError("limits on extract were accepted")
