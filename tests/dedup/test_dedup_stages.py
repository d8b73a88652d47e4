"""exact_dedup and minhash_dedup as pipeline stages: real chapters with planted copies at known similarities,
determinism across worker counts and re-runs, consistent cluster columns, short documents, a kill between phases."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from curate.config import ConfigError
from curate.dedup.shingles import jaccard, shingle_set
from curate.evaluation.dedup import perturb, split_book
from pipeline_helpers import REPO, assert_conserved, curate_cli, funnel_counts, read_rows, run_pipeline, shared

DEDUP = [{"exact_dedup": {}}, {"minhash_dedup": {}}]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """60 Pride and Prejudice / Moby-Dick chapters, an exact copy of 3, near copies of 6 at Jaccard ~0.9 and 6
    loose rewrites at ~0.3; returns (input folder, {copy id: (original id, exact Jaccard)})."""
    chapters = []
    for book in ("1342", "2701"):
        text = shared("text", "gutenberg", book, f"{book}.txt").read_text(encoding="utf-8")
        chapters += [(f"{book}-{i:03d}", chapter) for i, chapter in enumerate(split_book(text)[:30])]
    rng = random.Random(7)
    vocab = sorted({w for _, t in chapters for w in t.split()[:100]})
    copies = {}
    docs = list(chapters)
    for i, (doc_id, text) in enumerate(chapters[:15]):
        if i < 3:
            copy, kind = text, "exact"
        else:
            kind = "near" if i < 9 else "loose"
            copy = perturb(text, 0.9 if kind == "near" else 0.3, "substitute", rng, vocab)
        copies[f"{doc_id}-{kind}"] = (doc_id, jaccard(shingle_set(text), shingle_set(copy)))
        docs.append((f"{doc_id}-{kind}", copy))
    folder = tmp_path_factory.mktemp("planted")
    rng.shuffle(docs)  # copies and originals spread over the input files and tasks
    for part in range(3):
        with open(folder / f"part-{part}.jsonl", "w") as f:
            for doc_id, text in docs[part::3]:
                f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    return folder, copies


def _config(folder, stages=DEDUP, tasks=3):
    return {"input": {"paths": [str(folder)], "format": "jsonl"}, "stages": stages, "executor": {"tasks": tasks}}


def test_planted_copies_found_above_threshold_and_not_below(tmp_path, planted):
    folder, copies = planted
    result = run_pipeline(_config(folder), tmp_path / "out", workers=2)
    kept = {r["id"]: r for r in read_rows(tmp_path / "out", "data")}
    rejected = {r["id"]: r for r in read_rows(tmp_path / "out", "rejected")}
    for copy_id, (original, similarity) in copies.items():
        if copy_id.endswith("-exact"):
            pair = {copy_id, original}
            assert len(pair & set(kept)) == 1 and len(pair & set(rejected)) == 1
            assert rejected[(pair & set(rejected)).pop()]["reason"] == "exact_duplicate"
        elif copy_id.endswith("-near"):
            assert similarity > 0.85, similarity  # the planted similarity, measured exactly
            removed = rejected[copy_id] if copy_id in rejected else rejected[original]
            assert removed["rejected_by"] == "minhash_dedup" and removed["reason"] == "near_duplicate"
            survivor = original if copy_id in rejected else copy_id
            assert kept[survivor]["dup_cluster_id"] == survivor and kept[survivor]["dup_cluster_size"] == 2
            assert survivor in removed["reason_detail"]
        else:
            assert similarity < 0.45, similarity
            assert copy_id in kept and original in kept and kept[copy_id]["dup_cluster_size"] == 1
    assert len(kept) == 60 + 6  # one of each exact or near pair, and both of each loose pair
    funnel = {step["step"]: step for step in result.manifest["funnel"]}
    assert funnel["exact_dedup"]["rejected"]["exact_duplicate"]["docs"] == 3
    assert funnel["minhash_dedup"]["rejected"]["near_duplicate"]["docs"] == 6
    summary = result.manifest["stages"]["minhash_dedup"]
    assert summary["catch_probability"] == {"0.7": 0.5645, "0.8": 0.9235, "0.9": 0.9996}
    assert summary["catch_probability_at_threshold"] == 0.9235 and summary["removed"] == 6
    assert summary["params"]["bands"] == 14 and summary["peak_rss_mb"] > 0
    assert {p["name"] for p in result.manifest["phases"]} >= {"05-minhash_dedup-pairs", "06-minhash_dedup-clusters"}
    assert not (tmp_path / "out" / ".work").exists()  # the work folder goes once the run is complete


def test_same_output_with_1_and_2_workers_and_on_rerun(tmp_path, planted):
    folder, _ = planted
    runs = [run_pipeline(_config(folder), tmp_path / f"w{workers}", workers=workers) for workers in (1, 2)]
    assert funnel_counts(runs[0].manifest) == funnel_counts(runs[1].manifest)
    rows = [sorted((r["id"], r["dup_cluster_id"], r["dup_cluster_size"]) for r in read_rows(tmp_path / f"w{w}", "data"))
            for w in (1, 2)]
    assert rows[0] == rows[1]
    again = run_pipeline(_config(folder), tmp_path / "w1", workers=2)
    assert funnel_counts(again.manifest) == funnel_counts(runs[0].manifest)
    assert sorted((r["id"], r["dup_cluster_id"]) for r in read_rows(tmp_path / "w1", "data")) == \
        [row[:2] for row in rows[0]]


def test_mark_mode_keeps_all_and_cluster_columns_agree(tmp_path, planted):
    folder, copies = planted
    # a lower threshold than the default bands catch: with bands derived from it (the default 14 x 8 refuse it)
    stages = [{"exact_dedup": {"mode": "mark"}}, {"minhash_dedup": {"mode": "mark", "threshold": 0.6, "bands": None,
                                                                    "rows": None}}]
    result = run_pipeline(_config(folder, stages), tmp_path / "out")
    rows = read_rows(tmp_path / "out", "data")
    assert len(rows) == 60 + len(copies) and not read_rows(tmp_path / "out", "rejected")
    # nothing was removed, and the counters and summaries say so: the duplicates were marked
    funnel = {step["step"]: step for step in result.manifest["funnel"]}
    for name, marked in (("exact_dedup", 3), ("minhash_dedup", 9)):  # exact copies kept: near-duplicates too
        assert "removed" not in funnel[name]["counters"] and funnel[name]["counters"]["marked_duplicates"] == marked
        summary = result.manifest["stages"][name]
        assert summary["removed"] == 0 and summary["marked_duplicates"] == marked and summary["mode"] == "mark"
    summary = result.manifest["stages"]["minhash_dedup"]
    assert summary["params"]["bands"] == 16 and summary["catch_probability_at_threshold"] == 0.3651
    assert summary["catch_probability"]["0.6"] == 0.3651
    with pytest.raises(ConfigError, match=r"threshold 0.5 is far below what 14 bands x 8 rows catch: they find a "
                                          r"pair at Jaccard 0.5 with probability 0.053 \(half the pairs at 0.68\)"):
        run_pipeline(_config(folder, [{"minhash_dedup": {"threshold": 0.5}}]), tmp_path / "refused")
    clusters = {}
    for row in rows:
        if row["dup_cluster_id"] is not None:
            clusters.setdefault(row["dup_cluster_id"], []).append(row)
        else:
            assert row["dup_cluster_size"] == 1
    assert len(clusters) >= 6
    for cluster_id, members in clusters.items():
        # every member carries the same id and size; the id names a member, the one remove mode keeps
        assert {m["dup_cluster_size"] for m in members} == {len(members)}
        assert cluster_id in {m["id"] for m in members}


def test_short_and_empty_documents_follow_the_stated_rule(tmp_path):
    docs = [("a", "Hello there."), ("b", "hello   THERE"), ("c", "Hello world."), ("d", "..."), ("e", "!!!"),
            ("f", "one two three four five six seven"), ("g", "one two three four five six eight")]
    path = tmp_path / "short.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))
    # without exact_dedup: minhash alone sees the short texts
    run_pipeline({"input": {"paths": [str(path)]}, "stages": [{"minhash_dedup": {"verify": "none"}}]}, tmp_path / "o")
    rejected = {r["id"]: r["reason"] for r in read_rows(tmp_path / "o", "rejected")}
    # fewer than 5 words: one shingle, the whole normalised text: "hello there" twice is a duplicate, "hello world"
    # is not; punctuation-only documents have no word and are never near-duplicates
    assert rejected == {"b": "near_duplicate"}
    run_pipeline({"input": {"paths": [str(path)]}, "stages": [{"exact_dedup": {"strip_punctuation": True}}]},
                 tmp_path / "e")
    rejected = {r["id"]: r["reason"] for r in read_rows(tmp_path / "e", "rejected")}
    assert rejected == {"b": "exact_duplicate", "e": "exact_duplicate"}  # "..." and "!!!" normalise to ""


def test_keep_rule_prefers_the_keep_by_column(tmp_path):
    text = "the quick brown fox jumps over the lazy dog near the river bank at dawn"
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": text, "quality_score": q}) + "\n"
                            for i, q in (("a", 0.2), ("b", 0.9), ("c", 0.5))))
    run_pipeline({"input": {"paths": [str(path)], "columns": {"quality_score": "float"}},
                  "stages": [{"exact_dedup": {}}]}, tmp_path / "o")
    assert [r["id"] for r in read_rows(tmp_path / "o", "data")] == ["b"]
    run_pipeline({"input": {"paths": [str(path)]}, "stages": [{"exact_dedup": {"keep_by": None}}]}, tmp_path / "n")
    assert [r["id"] for r in read_rows(tmp_path / "n", "data")] == ["a"]  # smallest id


@pytest.mark.slow
def test_kill_between_dedup_phases_then_rerun_equals_uninterrupted(tmp_path, planted):
    folder, _ = planted
    # a slow stage after the dedup phases widens the window in which the run can be killed
    stages = [*DEDUP, {"quality": {"rule_sets": ["gopher"]}}]
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({**_config(folder, stages), "output": {"path": str(tmp_path / "killed")}}))
    process = subprocess.Popen([sys.executable, "-m", "curate.cli", "run", str(pipeline), "--workers", "2"],
                               cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = tmp_path / "killed" / "logs" / "06-minhash_dedup-clusters" / "completions"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None and not marker.is_dir():
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "manifest.json").exists()
    assert (tmp_path / "killed" / ".work" / "minhash_dedup" / "signatures").is_dir()
    resumed = curate_cli("run", pipeline)
    assert "resumed:" in resumed.stderr
    killed = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert_conserved(killed, tmp_path / "killed")
    clean = run_pipeline(_config(folder, stages), tmp_path / "clean", workers=2)
    assert funnel_counts(killed) == funnel_counts(clean.manifest)
    for kind in ("data", "rejected"):
        assert sorted(map(str, read_rows(tmp_path / "killed", kind))) == sorted(map(str, read_rows(tmp_path / "clean", kind)))


def test_a_fresh_run_never_reuses_an_abandoned_runs_work_files(tmp_path, planted):
    folder, _ = planted
    work = tmp_path / "shared-work"
    config = {**_config(folder), "executor": {"tasks": 3, "work_dir": str(work), "keep_work": True}}
    first = run_pipeline(config, tmp_path / "out")
    kept = sorted(r["id"] for r in read_rows(tmp_path / "out", "data"))
    assert len(list(work.iterdir())) == 1  # one subfolder per output
    # the same output folder, its logs gone (an abandoned run), now fed only the first input file: the pairs and
    # clusters left in the work folder belong to the other input and must not be used
    import shutil

    shutil.rmtree(tmp_path / "out")
    config["input"]["paths"] = [str(folder / "part-0.jsonl")]
    second = run_pipeline(config, tmp_path / "out")
    alone = run_pipeline({**config, "executor": {"tasks": 3}}, tmp_path / "alone")
    assert funnel_counts(second.manifest) == funnel_counts(alone.manifest) != funnel_counts(first.manifest)
    assert sorted(r["id"] for r in read_rows(tmp_path / "out", "data")) == \
        sorted(r["id"] for r in read_rows(tmp_path / "alone", "data")) != kept


def test_url_dedup_joins_one_url_only(tmp_path):
    """urls: true. The same URL (scheme, host case and a trailing slash ignored) with another text is a duplicate;
    documents without a URL never are, even when their ids repeat across input files; and the blocks `chunk` cuts
    from one page are not duplicates of each other."""
    book = shared("text", "gutenberg", "1342", "1342.txt").read_text(encoding="utf-8")
    chapters = split_book(book)
    first = tmp_path / "in" / "a.jsonl"
    first.parent.mkdir()
    first.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "p1", "text": chapters[1], "url": "https://example.com/page"},
        {"id": "x", "text": chapters[2]},
        {"id": "", "text": chapters[3]},
        {"id": "long", "text": "\n\n".join(chapters[4:7]), "url": "https://example.com/long"},
    ]))
    (tmp_path / "in" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "p2", "text": chapters[8], "url": "http://EXAMPLE.com/page/"},
        {"id": "x", "text": chapters[9]},
        {"id": "", "text": chapters[10]},
    ]))
    # blocks larger than any single chapter: only "long" (three chapters) is cut
    min_chars = max(len(chapters[i]) for i in (1, 2, 3, 8, 9, 10)) + 1
    stages = [{"chunk": {"min_chars": min_chars}}, {"exact_dedup": {"urls": True}}]
    result = run_pipeline({"input": {"paths": [str(tmp_path / "in")], "format": "jsonl"}, "stages": stages},
                          tmp_path / "out")
    rejected = {r["id"]: (r["reason"], r["exact_dup_cluster_id"]) for r in read_rows(tmp_path / "out", "rejected")}
    assert rejected == {"p2": ("exact_duplicate", "p1")}
    kept = read_rows(tmp_path / "out", "data")
    blocks = [r for r in kept if r["chunk_of"] == "long"]
    assert len(blocks) > 1 and len(kept) == 6 - 1 + len(blocks)
    assert {chapters[i] for i in (2, 3, 9, 10)} <= {r["text"] for r in kept}  # no URL, repeated or empty ids
    assert result.manifest["funnel"]


def test_exact_verification_reads_the_spilled_texts_across_row_groups(tmp_path):
    """verify: exact reads candidate texts back from the spilled documents (curate.io.spill.SpillTexts): copies of
    paragraphs from both row groups (1,000 rows each) of a 1,500-document task are found, and nothing else."""
    book = shared("text", "gutenberg", "1342", "1342.txt").read_text(encoding="utf-8")
    paragraphs = list(dict.fromkeys(p.strip() for p in book.split("\n\n") if len(p.strip()) > 120))
    paragraphs = [p for p in paragraphs if len(p.split()) >= 20][:1900]
    copied = [10, 1100, len(paragraphs) - 5]
    docs = [(f"p{i:04d}", p) for i, p in enumerate(paragraphs)] + [(f"z-copy{i:04d}", paragraphs[i]) for i in copied]
    path = tmp_path / "paragraphs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))
    config = {"input": {"paths": [str(path)]}, "stages": [{"minhash_dedup": {"verify": "exact"}}],
              "executor": {"tasks": 1}}
    run_pipeline(config, tmp_path / "out")
    rejected = {r["id"]: r["reason_detail"] for r in read_rows(tmp_path / "out", "rejected")}
    assert len(paragraphs) > 1000  # more than one row group
    assert set(rejected) == {f"z-copy{i:04d}" for i in copied}, rejected  # the smallest id is kept
    assert all(f"p{i:04d}" in rejected[f"z-copy{i:04d}"] for i in copied)
