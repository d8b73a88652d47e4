"""`curate ablate`: the variants it builds, evaluation documents kept out of every training set, labelled references
scored per language, the seeded resample of training documents, and a tiny run end to end (pipelines, 3 seeds per
main variant, leave-one-out with 2, a labelled reference and a text reference) whose intervals and verdicts are
checked against its own runs."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from lxml import html as lxml_html

from pipeline_helpers import REPO, curate_cli, shared

from curate.ablation import CURATED_TEST, eval_sets, training_documents, variants
from curate.ablation.evalsets import language_mix, reference_sets, weigh_languages
from curate.ablation.intervals import paired_difference, verdict
from curate.ablation.runs import bootstrap_weight, resample
from curate.config import ConfigError
from curate.evaluation.corpora import lingua_docs
from curate.pipeline import Pipeline
from model.config import TrainConfig
from model.data import id_hash

TINY_MODEL = ["n_layer=1", "n_head=2", "n_embd=32", "block_size=32", "batch_size=4", "test_fraction=0.25"]


def test_variants_visible_text_raw_full_and_leave_one_out():
    web = Pipeline.from_yaml(REPO / "pipelines" / "web.yaml")
    chosen = variants(web, leave_one_out=True)
    assert [v.name for v in chosen] == ["visible_text", "raw", "full", "without_clean", "without_langid",
                                        "without_quality", "without_harmful", "without_exact_dedup",
                                        "without_minhash_dedup", "without_pii", "without_decontaminate"]
    # visible_text: every visible text of the page, split as the others; raw still extracts the main text
    assert [(s.name, s.params.get("mode")) for s in chosen[0].stages] == [("extract", "visible"), ("split", None)]
    assert [(s.name, s.params.get("mode")) for s in chosen[1].stages] == [("extract", "balanced"), ("split", None)]
    assert [s.name for s in chosen[5].stages] == ["extract", "clean", "langid", "harmful", "exact_dedup",
                                                  "minhash_dedup", "pii", "split", "decontaminate"]
    # without_langid keeps langid's language for quality, harmful and pii (else they would take every page for
    # English) and drops its decision: every language, any score
    langid = [s for s in chosen[4].stages if s.name == "langid"]
    assert len(chosen[4].stages) == len(chosen[2].stages) and langid[0].params["min_score"] == 0.0
    assert langid[0].params["languages"] == "all" and "decision" in chosen[4].description
    assert [v.name for v in variants(web, visible_text=False)] == ["raw", "full"]
    # --leave-out: only the stages named
    chosen = variants(web, visible_text=False, leave_out=["harmful", "pii"])
    assert [v.name for v in chosen] == ["raw", "full", "without_harmful", "without_pii"]
    assert "harmful" not in [s.name for s in chosen[2].stages] and len(chosen[2].stages) == len(chosen[1].stages) - 1
    with pytest.raises(ConfigError, match="--leave-out split: not a stage .* can be left out"):
        variants(web, leave_out=["split"])
    text = Pipeline.from_yaml(REPO / "pipelines" / "text.yaml")
    # text input: no page to see (no visible_text); raw = the books as read, cut into the same blocks and split
    assert [v.name for v in variants(text)] == ["raw", "full"]
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
    alice = reference_sets(REPO / "examples" / "text" / "alice-in-wonderland.txt")
    sets, held_out = eval_sets(tmp_path / "full", cfg, alice)
    assert held_out == {"d", "e"} and [s.name for s in sets] == [CURATED_TEST, "reference: alice-in-wonderland.txt"]
    assert sets[0].chosen_by_curation and not sets[1].chosen_by_curation
    docs, removed = training_documents(tmp_path / "raw", cfg, held_out)
    texts = [t for _, t in docs]
    assert removed == 2 and "text of d " * 20 not in texts and "text of e " * 20 not in texts
    assert len(texts) + removed == sum(id_hash(i) >= cfg.test_fraction for i in ids)  # the raw train split
    # bits per byte divide by the text's UTF-8 bytes plus one per document separator
    assert sets[0].bytes == sum(len(t.encode()) for t in sets[0].texts) + 2
    with pytest.raises(ConfigError, match="no such file"):
        reference_sets(tmp_path / "missing.txt")


def _neutral_jsonl(path, languages=("de", "en", "fr")):
    """Real paragraphs of lingua's Leipzig sentences (the neutral half), labelled with their language."""
    docs = [d for d in lingua_docs(shared(), list(languages)) if d.half == "neutral"]
    path.write_text("".join(json.dumps({"text": d.text, "lang": d.lang, "source": d.source}) + "\n" for d in docs))
    return docs


def test_labelled_reference_is_scored_per_language_weighted_by_the_training_mix(tmp_path):
    docs = _neutral_jsonl(tmp_path / "neutral.jsonl")
    sets = reference_sets(tmp_path / "neutral.jsonl")
    assert [(s.name, s.lang, s.group) for s in sets] == [("neutral: de", "de", "neutral"),
                                                        ("neutral: en", "en", "neutral"),
                                                        ("neutral: fr", "fr", "neutral")]
    assert sum(len(s.texts) for s in sets) == len(docs)
    # the training mix, by the langid stage's detector on real text: 3 parts German to 1 part English, a trace of French
    de, en, fr = ([d.text for d in lingua_docs(shared(), [lang]) if d.half == "dev"] for lang in ("de", "en", "fr"))
    mix = language_mix(de[:9] + en[:3] + [fr[0][:200]])
    assert list(mix)[:2] == ["de", "en"] and mix["fr"] < 0.01 * sum(mix.values())
    kept, groups = weigh_languages(sets, mix, min_share=0.01)
    assert [s.name for s in kept] == ["neutral: de", "neutral: en"]  # French is under 1% of the mix: not scored
    weights = groups["neutral"]["weights"]
    assert math.isclose(sum(weights.values()), 1.0)
    assert math.isclose(weights["neutral: de"] / weights["neutral: en"], mix["de"] / mix["en"])
    assert list(groups["neutral"]["not_scored"]) == ["fr"] and groups["neutral"]["mix_covered"] > 0.99
    with pytest.raises(ConfigError, match="none of its languages"):
        weigh_languages(sets, {"ja": 100}, min_share=0.01)


def test_a_bad_reference_line_names_the_file_and_line_before_any_pipeline_runs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Guten Tag", "lang": "de"}\n{"text": "no language"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: .*`lang`"):
        reference_sets(bad)
    result = curate_cli("ablate", REPO / "pipelines" / "web.yaml", "--budget-tokens", 1000, "--reference", bad,
                        "--out", tmp_path / "abl", check=False)
    assert result.returncode == 2 and "bad.jsonl:2" in result.stderr and not (tmp_path / "abl").exists()


def test_the_seed_resamples_training_documents_the_same_way_in_every_variant():
    docs = [(f"<urn:uuid:{i}>", f"page {i}") for i in range(4000)]
    weights = {seed: [bootstrap_weight(seed, i) for i, _ in docs] for seed in (1, 2)}
    for w in weights.values():  # Poisson(1): mean 1, about e^-1 of the documents left out
        assert abs(np.mean(w) - 1) < 0.05 and abs(np.mean(np.array(w) == 0) - math.exp(-1)) < 0.03
    assert weights[1] != weights[2]  # another seed, another training sample
    curated = docs[::3]  # a variant that kept a third of the documents: the same weight for each of them
    sample = resample(curated, 1)
    assert sorted(sample) == sorted(t for (i, t), w in zip(docs, weights[1]) if (i, t) in set(curated)
                                    for _ in range(w))
    assert resample(curated, 1) == sample and resample(curated, 2) != sample


@pytest.mark.slow
def test_ablate_end_to_end_intervals_and_verdicts_from_real_runs(tmp_path):
    from curate.io.warc_pack import pack_html_to_warc

    # the bundled English pages and a dozen German ones of trafilatura's evaluation set: two languages to weigh
    pages = shared("extraction", "trafilatura-eval")
    german = pack_html_to_warc(sorted(pages.glob("eval/*.de.*.html.gz"))[:12], tmp_path / "de", root=pages)
    pipeline = tmp_path / "web.yaml"
    pipeline.write_text(yaml.safe_dump({
        "input": {"paths": [str(p) for p in sorted((REPO / "examples" / "web").glob("*.warc.gz"))] + [str(german[0])]},
        "stages": [{"extract": {}}, {"quality": {"rule_sets": ["gopher"]}}, {"harmful": {}}],
        "output": {"path": str(tmp_path / "unused")}}))
    _neutral_jsonl(tmp_path / "neutral.jsonl", ("en", "de", "ru"))
    alice = tmp_path / "alice.txt"
    alice.write_text((REPO / "examples" / "text" / "alice-in-wonderland.txt").read_text()[20_000:40_000])
    budget = 3000
    args = ["ablate", pipeline, "--budget-tokens", budget, "--out", tmp_path / "abl", "--leave-one-out",
            "--reference", tmp_path / "neutral.jsonl", "--reference", alice, *TINY_MODEL]
    result = curate_cli(*args)
    ablation = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    names = [v["name"] for v in ablation["variants"]]
    assert names == ["visible_text", "raw", "full", "without_quality", "without_harmful"]
    steps = math.ceil(budget / (4 * 32))
    by_name = {v["name"]: v for v in ablation["variants"]}
    for v in ablation["variants"]:
        seeds = [1337, 1338, 1339] if v["name"] in ("visible_text", "raw", "full") else [1337, 1338]
        assert [r["seed"] for r in v["runs"]] == seeds
        for run in v["runs"]:  # the same budget for every run, the byte vocabulary, a score on every set
            assert run["steps"] == steps and run["tokens_seen"] == steps * 128 and len(run["curve"]) >= 2
            assert run["vocab_size"] == 257 and all(0 < e["bits_per_byte"] < 10 for e in run["eval"].values())
            assert all(e["unknown_token_share"] == 0 for e in run["eval"].values())
    assert by_name["visible_text"]["train_bytes"] > by_name["raw"]["train_bytes"]  # boilerplate kept
    assert by_name["raw"]["train_docs"] > by_name["full"]["train_docs"] > 0  # quality rejected some pages
    # English and German are scored, weighted by their share of raw's training bytes; no page is Russian
    sets = {s["name"]: s for s in ablation["eval_sets"]}
    assert list(sets) == [CURATED_TEST, "neutral: de", "neutral: en", "reference: alice.txt"]
    assert sets[CURATED_TEST]["chosen_by_curation"]
    mix, groups = ablation["language_mix"]["bytes"], ablation["language_mix"]["references"]
    weights = groups["neutral"]["weights"]
    assert math.isclose(weights["neutral: de"] / weights["neutral: en"], mix["de"] / mix["en"])
    assert "ru" in groups["neutral"]["not_in_training"]

    runs = {(name, int(path.name.split("-seed")[1])): json.loads((path / "score.json").read_text())
            for name in names for path in (tmp_path / "abl" / "runs").glob(f"{name}-{budget}-seed*")}
    assert len(runs) == 3 * 3 + 2 * 2

    def bits(name, seeds=None):
        return {s: {k: np.asarray(v) for k, v in r["doc_bits"].items()} for (n, s), r in runs.items()
                if n == name and (seeds is None or s in seeds)}

    comparisons = {(c["a"], c["b"]): c for c in ablation["comparisons"]}
    assert set(comparisons) == {("raw", "visible_text"), ("full", "raw"), ("full", "without_quality"),
                                ("full", "without_harmful")}
    neutral = {s.name: s for s in reference_sets(tmp_path / "neutral.jsonl")}  # as ablate saw them
    parts = [(name, neutral[name].doc_bytes, w) for name, w in weights.items()]
    summary_name = "neutral: all languages, weighted by raw's mix"
    for (a, b), c in comparisons.items():
        for target, d in c["targets"].items():
            assert d["low"] <= d["mean"] <= d["high"] and len(d["per_seed"]) == (3 if b in ("raw", "visible_text") else 2)
            word = d["verdict"].split(":")[0]
            if any(d["per_seed"]):
                assert word == (f"{a} better than {b}" if d["high"] < 0 else f"{a} worse than {b}" if d["low"] > 0
                                else "no clear difference")
        # the same numbers from the runs' per-document bits; swapping the variants mirrors the interval
        again = paired_difference(bits(a), bits(b), parts)
        assert math.isclose(again["mean"], c["targets"][summary_name]["mean"], abs_tol=1e-9)
        assert math.isclose(again["low"], c["targets"][summary_name]["low"], abs_tol=1e-9)
        swapped = paired_difference(bits(b), bits(a), parts)
        assert math.isclose(swapped["low"], -again["high"]) and math.isclose(swapped["high"], -again["low"])
        one_seed = paired_difference(bits(a, {1337}), bits(b, {1337}), parts)
        assert one_seed["low"] is None and "no verdict" in verdict(one_seed, "x", "y")
        # the summary over languages is the weighted sum of its languages' differences
        assert math.isclose(c["targets"][summary_name]["mean"],
                            sum(w * c["targets"][name]["mean"] for name, w in weights.items()), abs_tol=1e-9)
    # harmful removes nothing from these pages: without it the training data, hence (same seed, same start) every
    # score, is the same bit for bit, and the interval is exactly 0
    removed = {r["step"]: r for r in ablation["removed_by_stage"]}
    assert removed["harmful"]["docs_removed"] == 0 and removed["quality"]["docs_removed"] > 0
    harmful = comparisons[("full", "without_harmful")]["targets"][CURATED_TEST]
    assert harmful["low"] == harmful["high"] == 0 and harmful["verdict"].startswith("no difference")

    # the tables on stdout (Markdown) and in the report
    assert "| variant | budget | seeds | train docs |" in result.stdout and "| stage quality | 3,000 | 2 |" in result.stdout
    page = (tmp_path / "abl" / "report.html").read_text()
    rows = lxml_html.fromstring(page).get_element_by_id("ablation-table").find("tbody").findall("tr")
    assert [row.findall("td")[0].text_content() for row in rows] == names
    effects = lxml_html.fromstring(page).get_element_by_id("ablation-effects").find("tbody").findall("tr")
    assert [row.findall("td")[0].text_content() for row in effects] == [c["effect"] for c in ablation["comparisons"]]
    # a second run reuses every finished pipeline and training run: the same numbers
    curate_cli(*args)
    assert json.loads((tmp_path / "abl" / "ablation.json").read_text())["comparisons"] == ablation["comparisons"]
    # `curate report` on the ablation folder renders the same page
    curate_cli("report", tmp_path / "abl", "--out", tmp_path / "again.html")
    again = lxml_html.fromstring((tmp_path / "again.html").read_text()).get_element_by_id("ablation-effects")
    assert len(again.find("tbody").findall("tr")) == len(ablation["comparisons"])
