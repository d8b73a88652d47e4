"""line_dedup on real pages: against Dolma's paragraph-dedup output, independent of the task count, the short-document
rule, mark mode, and a resume after a lost count partition."""

import gzip
import json
import shutil

from curate.dedup.lines import normalize_unit
from pipeline_helpers import funnel_counts, read_rows, run_pipeline, shared

DOLMA = ("warc", "dolma", "tests", "data")


def _dolma_docs() -> list[dict]:
    with gzip.open(shared(*DOLMA, "provided", "documents", "000.json.gz"), "rt") as f:
        return [json.loads(line) for line in f]


def _config(paths, stages, tasks=1, fmt="jsonl"):
    return {"input": {"paths": [str(p) for p in paths], "format": fmt}, "stages": stages,
            "executor": {"tasks": tasks}}


def test_removes_every_paragraph_dolma_bff_marks_as_duplicate(tmp_path):
    """Dolma's BFF marks a paragraph (a line) seen in an earlier document; we remove every occurrence of a line found
    in 2+ documents: so each line BFF flags is gone from our output, and every line we remove is in another doc."""
    docs = _dolma_docs()
    with gzip.open(shared(*DOLMA, "expected", "dedupe-paragraphs.json.gz"), "rt") as f:
        spans = {row["id"]: row["attributes"]["bff_duplicate_paragraph_spans"] for row in map(json.loads, f)}
    assert sum(map(len, spans.values())) > 20  # the fixture flags real paragraphs
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs))
    run_pipeline(_config([path], [{"line_dedup": {"min_docs": 2, "min_tokens": 0}}]), tmp_path / "out")
    kept = {row["id"]: row for row in read_rows(tmp_path / "out", "data")}
    assert len(kept) == len(docs)
    lines_of = {d["id"]: {normalize_unit(line) for line in d["text"].split("\n")} - {""} for d in docs}
    for doc in docs:
        left = {normalize_unit(line) for line in kept[doc["id"]]["text"].split("\n")}
        flagged = {normalize_unit(doc["text"][start:end]) for start, end, _ in spans[doc["id"]]} - {""}
        assert not flagged & left, doc["id"]
        removed = lines_of[doc["id"]] - left
        elsewhere = set().union(*(lines for other, lines in lines_of.items() if other != doc["id"]))
        assert removed <= elsewhere, doc["id"]
        assert kept[doc["id"]]["line_dup_removed_lines"] >= len(flagged)


def test_same_output_whatever_the_task_count_and_short_documents_rejected(tmp_path):
    """Two real WARC files of 2024 pages, split into 1 and 3 tasks: the same texts, columns and rejections."""
    warcs = sorted(shared(*DOLMA, "warc").glob("*.warc.gz"))
    stages = [{"extract": {}}, {"line_dedup": {}}]
    runs = [run_pipeline(_config(warcs, stages, tasks=tasks, fmt="warc"), tmp_path / f"t{tasks}") for tasks in (1, 3)]
    assert funnel_counts(runs[0].manifest) == funnel_counts(runs[1].manifest)
    rows = [sorted((r["id"], r["text"], r["line_dup_removed_lines"], r["line_dup_removed_chars"], r.get("reason"))
                   for kind in ("data", "rejected") for r in read_rows(tmp_path / f"t{t}", kind)) for t in (1, 3)]
    assert rows[0] == rows[1]
    summary = runs[0].manifest["stages"]["line_dedup"]
    assert summary["removed_units"] > 0 and summary["repeated_units"] > 0
    for row in read_rows(tmp_path / "t1", "rejected"):
        if row["reason"] == "empty_after_line_dedup":
            assert row["reason_value"] < 50 and row["line_dup_removed_lines"] > 0


def test_short_rule_only_for_shortened_documents_and_mark_mode(tmp_path):
    footer = "Copyright 2024 Example News. All rights reserved. Subscribe to our newsletter"
    chapters = [d["text"] for d in _dolma_docs()][:4]
    docs = [{"id": f"page{i}", "text": f"{chapter}\n{footer}"} for i, chapter in enumerate(chapters)]
    docs.append({"id": "footer-only", "text": f"Short note.\n{footer}"})
    docs.append({"id": "short-untouched", "text": "A short note nobody else wrote."})
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    run_pipeline(_config([path], [{"line_dedup": {}}]), tmp_path / "remove")
    kept = {r["id"]: r for r in read_rows(tmp_path / "remove", "data")}
    rejected = {r["id"]: r for r in read_rows(tmp_path / "remove", "rejected")}
    assert rejected["footer-only"]["reason"] == "empty_after_line_dedup"
    assert "short-untouched" in kept and kept["short-untouched"]["line_dup_removed_lines"] == 0
    for i in range(4):
        assert footer not in kept[f"page{i}"]["text"] and kept[f"page{i}"]["line_dup_removed_chars"] >= len(footer)
    run_pipeline(_config([path], [{"line_dedup": {"mode": "mark"}}]), tmp_path / "mark")
    marked = {r["id"]: r for r in read_rows(tmp_path / "mark", "data")}
    assert len(marked) == len(docs) and not read_rows(tmp_path / "mark", "rejected")
    assert all(footer in marked[f"page{i}"]["text"] and marked[f"page{i}"]["line_dup_marked_lines"] >= 1
               for i in range(4))
    assert "line_dup_removed_lines" not in marked["page0"]


def test_resume_recounts_a_lost_partition(tmp_path):
    warcs = sorted(shared(*DOLMA, "warc").glob("*.warc.gz"))
    config = _config(warcs, [{"extract": {}}, {"line_dedup": {}}], tasks=2, fmt="warc")
    config["executor"]["keep_work"] = True
    out = tmp_path / "out"
    first = run_pipeline(config, out)
    expected = {kind: sorted(map(str, read_rows(out, kind))) for kind in ("data", "rejected")}
    # as if the run died after counting partition 0 only: its later partition, and every phase after, redone
    count_phase = next(p["name"] for p in first.manifest["phases"] if p["name"].endswith("line_dedup-count"))
    for path in (out / ".work" / "line_dedup" / "frequent").glob("00001.npy"):
        path.unlink()
    (out / "logs" / count_phase / "completions" / "00001").unlink()
    last = first.manifest["phases"][-1]["name"]
    shutil.rmtree(out / "logs" / last / "completions")
    (out / "manifest.json").unlink()
    for kind in ("data", "rejected"):
        shutil.rmtree(out / kind, ignore_errors=True)
    from curate import Pipeline

    resumed = Pipeline(config | {"output": {"path": str(out)}}).run()
    assert resumed.skipped_tasks > 0 and resumed.manifest["conservation"]["ok"]
    assert {kind: sorted(map(str, read_rows(out, kind))) for kind in ("data", "rejected")} == expected
