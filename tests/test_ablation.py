"""`curate ablate`: the variants it builds, evaluation documents kept out of every training set, and a tiny run end
to end (pipelines, two seeds per variant, leave-one-out, a reference text) that writes its table and report."""

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from lxml import html as lxml_html

from pipeline_helpers import REPO, curate_cli

from curate.ablation import eval_sets, training_texts, variants
from curate.config import ConfigError
from curate.pipeline import Pipeline
from model.config import TrainConfig
from model.data import id_hash

TINY_MODEL = ["n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4", "test_fraction=0.25"]


def test_variants_raw_full_and_leave_one_out():
    web = Pipeline.from_yaml(REPO / "pipelines" / "web.yaml")
    chosen = variants(web, leave_one_out=True)
    assert [v.name for v in chosen] == ["raw", "full", "without_clean", "without_langid", "without_quality",
                                        "without_harmful", "without_exact_dedup", "without_minhash_dedup",
                                        "without_pii", "without_decontaminate"]
    # the raw baseline still extracts text from HTML, and splits it as the full pipeline does
    assert [s.name for s in chosen[0].stages] == ["extract", "split"]
    assert [s.name for s in chosen[4].stages] == ["extract", "clean", "langid", "harmful", "exact_dedup",
                                                  "minhash_dedup", "pii", "split", "decontaminate"]
    text = Pipeline.from_yaml(REPO / "pipelines" / "text.yaml")
    # text input: raw = the books as read, cut into the same blocks and split the same way
    assert [s.name for s in variants(text)[0].stages] == ["chunk", "split"] and len(variants(text)[1].stages) == 10
    only_extract = Pipeline({"input": {"paths": ["x.warc.gz"]}, "stages": [{"extract": {}}], "output": {"path": "o"}})
    with pytest.raises(ConfigError, match="nothing to ablate"):  # (only extraction, chunk or split)
        variants(only_extract)


def _shard(folder, ids):
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": ids, "text": [f"text of {i} " * 20 for i in ids]}), folder / "part-0.parquet")


def test_evaluation_documents_never_train_any_variant(tmp_path):
    # the full run split its data with a split stage; the raw run did not (the trainer hash-splits it by id)
    _shard(tmp_path / "full" / "train", ["a", "b"])
    _shard(tmp_path / "full" / "val", ["c"])
    _shard(tmp_path / "full" / "test", ["d", "e"])
    ids = [f"doc{i}" for i in range(200)] + ["d", "e"]
    _shard(tmp_path / "raw" / "data", ids)
    cfg = TrainConfig(val_fraction=0.0, test_fraction=0.0001)
    sets, held_out = eval_sets(tmp_path / "full", cfg, [REPO / "examples" / "text" / "alice-in-wonderland.txt"])
    assert held_out == {"d", "e"} and [s.name for s in sets] == ["curated test", "reference: alice-in-wonderland.txt"]
    texts, removed = training_texts(tmp_path / "raw", cfg, held_out)
    assert removed == 2 and "text of d " * 20 not in texts and "text of e " * 20 not in texts
    assert len(texts) + removed == sum(id_hash(i) >= cfg.test_fraction for i in ids)  # the raw train split
    # bits per byte divide by the text's UTF-8 bytes plus one per document separator
    assert sets[0].bytes == sum(len(t.encode()) for t in sets[0].texts) + 2
    with pytest.raises(ConfigError, match="no such file"):
        eval_sets(tmp_path / "full", cfg, [tmp_path / "missing.txt"])


@pytest.mark.slow
def test_ablate_end_to_end_on_the_bundled_web_pages(tmp_path):
    pipeline = tmp_path / "web.yaml"
    pipeline.write_text(yaml.safe_dump({
        "input": {"paths": [str(p) for p in sorted((REPO / "examples" / "web").glob("*.warc.gz"))]},
        "stages": [{"extract": {}}, {"quality": {"rule_sets": ["gopher"]}}, {"harmful": {}}],
        "output": {"path": str(tmp_path / "unused")}}))
    reference = tmp_path / "alice.txt"
    reference.write_text((REPO / "examples" / "text" / "alice-in-wonderland.txt").read_text()[20_000:60_000])
    budget = 3000
    result = curate_cli("ablate", pipeline, "--budget-tokens", budget, "--out", tmp_path / "abl", "--leave-one-out",
                        "--reference", reference, *TINY_MODEL)
    ablation = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    names = [v["name"] for v in ablation["variants"]]
    assert names == ["raw", "full", "without_quality", "without_harmful"]
    assert [s["name"] for s in ablation["eval_sets"]] == ["curated test", "reference: alice.txt"]
    steps = math.ceil(budget / (4 * 32))
    for variant in ablation["variants"]:
        assert [r["seed"] for r in variant["runs"]] == [1337, 1338]
        for run in variant["runs"]:  # the same budget for every run, and a score on every evaluation set
            assert run["steps"] == steps and run["tokens_seen"] == steps * 128 and len(run["curve"]) >= 2
            assert all(0 < run["eval"][s]["bits_per_byte"] < 10 for s in ("curated test", "reference: alice.txt"))
        assert variant["summary"]["curated test"]["spread"] >= 0
    by_name = {v["name"]: v for v in ablation["variants"]}
    assert by_name["raw"]["train_docs"] > by_name["full"]["train_docs"] > 0  # quality rejected some pages
    assert len(ablation["verdict"]) == 2
    # the table on stdout (Markdown) and in the report
    assert "| variant | stages | train docs |" in result.stdout
    assert "| full | extract, quality, harmful |" in result.stdout
    page = (tmp_path / "abl" / "report.html").read_text()
    rows = lxml_html.fromstring(page).get_element_by_id("ablation-table").find("tbody").findall("tr")
    assert [row.findall("td")[0].text_content() for row in rows] == names
    # `curate report` on the ablation folder renders the same page
    curate_cli("report", tmp_path / "abl", "--out", tmp_path / "again.html")
    assert 'id="ablation"' in (tmp_path / "again.html").read_text()
