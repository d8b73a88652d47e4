"""split and decontaminate on real text: near-duplicates stay together, determinism, fractions, planted leaks,
benchmark files in every format."""

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.evaluation.dedup import perturb, split_book, wikipedia_docs
from pipeline_helpers import SHARED, read_rows, run_pipeline, shared


@pytest.fixture(scope="module")
def paragraphs():
    """~3,000 real paragraphs (Pride and Prejudice, Moby-Dick, Alice), each a document."""
    docs = []
    for book in ("1342", "2701", "11"):
        text = shared("text", "gutenberg", book, f"{book}.txt").read_text(encoding="utf-8")
        for chapter in split_book(text):
            docs += [p.strip() for p in chapter.split("\n\n") if len(p.split()) >= 8]
    return docs


def _jsonl(path, docs, prefix="p"):
    path.write_text("".join(json.dumps({"id": f"{prefix}{i:05d}", "text": t}) + "\n" for i, t in enumerate(docs)))
    return path


def _splits(out):
    return {kind: {r["id"]: r for r in read_rows(out, kind)} for kind in ("train", "val", "test")}


def test_fractions_within_tolerance_and_deterministic_across_workers_and_seeds(tmp_path, paragraphs):
    folder = tmp_path / "in"
    folder.mkdir()
    for part in range(3):
        _jsonl(folder / f"part-{part}.jsonl", paragraphs[part::3], prefix=f"p{part}-")
    config = {"input": {"paths": [str(folder)]}, "stages": [{"split": {"fractions": {"train": 0.8, "val": 0.1,
                                                                                     "test": 0.1}}}]}
    one = run_pipeline(config, tmp_path / "w1", workers=1)
    two = run_pipeline(config, tmp_path / "w2", workers=2, tasks=2)
    ids = {w: {k: sorted(v) for k, v in _splits(tmp_path / w).items()} for w in ("w1", "w2")}
    assert ids["w1"] == ids["w2"]  # any worker or task count gives the same split
    n = len(paragraphs)
    assert n > 3000
    for name, fraction in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        # binomial standard deviation sqrt(n p (1-p)): ~21 documents for val and test here: 4 of them is the stated tolerance
        tolerance = 4 * (n * fraction * (1 - fraction)) ** 0.5
        assert abs(len(ids["w1"][name]) - n * fraction) < tolerance, (name, len(ids["w1"][name]))
    assert one.manifest["output"]["val"]["docs"] == len(ids["w1"]["val"]) and "data" not in one.manifest["output"]
    assert one.manifest["output"]["train"]["tokens"] > 0 and two.manifest["stages"]["split"]["group_by"] == "auto"
    seeded = [run_pipeline({**config, "stages": [{"split": {"fractions": {"train": 0.8, "val": 0.1, "test": 0.1},
                                                            "seed": 7}}]}, tmp_path / f"s{i}") for i in range(2)]
    assert seeded[0].manifest["output"] == seeded[1].manifest["output"]
    other = {k: sorted(v) for k, v in _splits(tmp_path / "s0").items()}
    assert other == {k: sorted(v) for k, v in _splits(tmp_path / "s1").items()} and other != ids["w1"]


def test_planted_near_duplicates_land_in_the_same_split(tmp_path, paragraphs):
    text = shared("text", "gutenberg", "1342", "1342.txt").read_text(encoding="utf-8")
    chapters = split_book(text)[:40]
    rng = random.Random(3)
    vocab = sorted({w for c in chapters for w in c.split()[:50]})
    docs = list(chapters) + [perturb(c, 0.92, "substitute", rng, vocab) for c in chapters]
    config = {"input": {"paths": [str(_jsonl(tmp_path / "c.jsonl", docs))]},
              "stages": [{"minhash_dedup": {"mode": "mark"}},
                         {"split": {"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}}]}
    run_pipeline(config, tmp_path / "out")
    where = {doc_id: name for name, rows in _splits(tmp_path / "out").items() for doc_id in rows}
    pairs = [(f"p{i:05d}", f"p{i + 40:05d}") for i in range(40)]
    assert len(set(where.values())) == 3
    assert all(where[a] == where[b] for a, b in pairs)  # every chapter and its near copy together
    # grouped by id alone, the copies scatter: the cluster key is what keeps them together
    run_pipeline({**config, "stages": [config["stages"][0], {"split": {"fractions": {"train": 0.5, "val": 0.25,
                                                                                    "test": 0.25}, "group_by": "id"}}]},
                 tmp_path / "by_id")
    where = {doc_id: name for name, rows in _splits(tmp_path / "by_id").items() for doc_id in rows}
    assert sum(where[a] != where[b] for a, b in pairs) > 10


def test_planted_test_paragraph_inside_a_train_document_is_removed(tmp_path, paragraphs):
    from curate.stages.split import Split

    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    splitter = Split(fractions)
    docs = [(f"p{i:05d}", text) for i, text in enumerate(paragraphs[:400])]
    leaked = next(text for doc_id, text in docs if splitter.assign(doc_id) == "test" and len(text.split()) >= 30)
    host_id = next(f"host-{i}" for i in range(100) if splitter.assign(f"host-{i}") == "train")
    # a train document that quotes the test paragraph in the middle of other text
    host = "Here is a new document about something else entirely. " + leaked + " And then it goes on for a while."
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs + [(host_id, host)]))
    result = run_pipeline({"input": {"paths": [str(path)]},
                           "stages": [{"split": {"fractions": fractions}}, {"decontaminate": {}}]}, tmp_path / "out")
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert rejected[host_id]["reason"] == "contaminated" and "test" in rejected[host_id]["reason_detail"]
    assert rejected[host_id]["reason_value"] >= 18  # 30+ quoted words hold 18+ 13-grams
    assert len(rejected) <= 3  # the book's own repeated paragraphs are the only other possible matches
    summary = result.manifest["stages"]["decontaminate"]
    assert summary["sources"]["test"]["ngrams"] > 0 and summary["checked_docs"] > 300
    assert summary["sources"]["test"]["contaminated_docs"] == sum(
        "with test" in r["reason_detail"] for r in rejected.values())
    assert all(r["split"] == "train" for r in rejected.values())  # only train is ever filtered


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "txt"])
def test_a_benchmark_file_in_each_format_decontaminates_train(tmp_path, fmt):
    articles = [text for _, text in wikipedia_docs(SHARED, limit=30)]
    assert len(articles) == 30
    items = [" ".join(article.split()[100:160]) for article in articles[:5]]  # benchmark items quoted from 5 articles
    path = tmp_path / f"bench.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps({"question": item}) + "\n" for item in items))
    elif fmt == "parquet":
        pq.write_table(pa.table({"question": items}), path)
    else:
        path.write_text("\n\n".join(items))
    config = {"input": {"paths": [str(_jsonl(tmp_path / "w.jsonl", articles))]},
              "stages": [{"decontaminate": {"benchmarks": [str(path)], "text_key": "question"}}]}
    result = run_pipeline(config, tmp_path / "out")
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert sorted(rejected) == [f"p{i:05d}" for i in range(5)]
    assert all(r["reason"] == "contaminated" and path.name in r["reason_detail"] for r in rejected.values())
    source = result.manifest["stages"]["decontaminate"]["sources"][str(path)]
    assert source["items"] == 5 and source["contaminated_docs"] == 5 and source["rate"] == pytest.approx(5 / 30, abs=1e-6)


def test_a_bad_benchmark_file_is_a_config_error_naming_it(tmp_path):
    from curate.config import ConfigError
    from curate.pipeline import Pipeline

    with pytest.raises(ConfigError, match="nope.jsonl"):
        Pipeline({"input": {"paths": [str(tmp_path)], "format": "jsonl"}, "output": str(tmp_path / "o"),
                  "stages": [{"decontaminate": {"benchmarks": [str(tmp_path / "nope.jsonl")]}}]}).make_stages()


def test_decontaminate_with_nothing_to_check_against_is_a_config_error(tmp_path):
    from curate.config import ConfigError
    from curate.pipeline import Pipeline

    with pytest.raises(ConfigError, match=r"stages\[0\].decontaminate: nothing to decontaminate against"):
        Pipeline({"input": {"paths": [str(tmp_path)], "format": "jsonl"}, "output": str(tmp_path / "o"),
                  "stages": [{"decontaminate": {}}]}).make_stages()


def test_head_shows_a_splits_documents(tmp_path, paragraphs):
    from curate.stats import head

    run_pipeline({"input": {"paths": [str(_jsonl(tmp_path / "a.jsonl", paragraphs[:200]))]},
                  "stages": [{"split": {"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}}]}, tmp_path / "o")
    assert [r["split"] for r in head(str(tmp_path / "o"), n=3)] == ["train"] * 3  # no data/: train by default
    assert {r["split"] for r in head(str(tmp_path / "o"), n=5, split="test")} == {"test"}


def test_short_benchmark_items_are_counted_in_the_ngram_unit(tmp_path):
    """`short_items` (items shorter than one n-gram) counts characters under unit: chars. A Chinese sentence has
    no spaces: counting whitespace words called an item of exactly one 13-character n-gram short."""
    sentences = [line for line in shared("langid", "lingua", "sentences", "zh.txt").read_text(encoding="utf-8")
                 .splitlines() if len(line) > 40][:3]
    bench = tmp_path / "bench.jsonl"
    bench.write_text("".join(json.dumps({"text": t}) + "\n" for t in [*sentences, "短句子", sentences[0][:13]]))
    config = {"input": {"paths": [str(_jsonl(tmp_path / "d.jsonl", ["一些完全无关的训练文本。" * 5]))]},
              "stages": [{"decontaminate": {"benchmarks": [str(bench)], "unit": "chars"}}]}
    result = run_pipeline(config, tmp_path / "out")
    source = result.manifest["stages"]["decontaminate"]["sources"][str(bench)]
    assert source["items"] == 5 and source["short_items"] == 1
