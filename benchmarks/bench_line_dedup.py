"""line_dedup: how much repeated text survives extraction, how much the stage removes, and what it wrongly removes.

Each corpus runs through extract -> exact_dedup -> minhash_dedup -> line_dedup (pipelines/web.yaml's settings for
the first three) twice, in `mark` mode (the text before removal) and in `remove` mode, and reports:
- lines: non-blank lines of the kept documents; repeated: lines in >= min_docs documents (the marked ones); their
  share of the characters; documents shortened and documents rejected as empty_after_line_dedup;
- on the trafilatura-eval pages (evaldata.json's `with` snippets, text a good extraction must keep): the snippets
  present before line_dedup and gone after it (removed with a line, or with the whole rejected document).

Corpora (all from ../shared/data):
- `dolma_warc`: Dolma's 2024 crawl sample (warc/dolma; the bundled examples/web WARCs are the same two files);
- `crawl_like`: every WARC/ARC file under ../shared/data/warc (631 records: Common Crawl 2008-2020 samples, Wayback
  captures of spam/hotel/casino sites, ClueWeb; many pages per site, as a crawl has);
- `trafilatura_eval`: the 1,032 trafilatura-eval pages (about 970 sites: little repeats, so what is removed here is
  mostly a false removal).

    python benchmarks/bench_line_dedup.py [--min-docs 3] [--unit line] [--workers 2]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
BEFORE = [{"extract": {"mode": "balanced", "timeout": 5.0}}, {"exact_dedup": {}}, {"minhash_dedup": {"threshold": 0.8}}]


def corpora(tmp: Path) -> dict[str, tuple[list[str], dict]]:
    """name -> (WARC paths, {file name: with-snippets} for the pages that have them)."""
    from curate.io.warc_pack import pack_html_to_warc

    pages_root = DATA / "extraction" / "trafilatura-eval"
    pages = sorted(pages_root.glob("eval/*.html.gz")) + sorted(pages_root.glob("cache/*.html.gz"))
    packed = pack_html_to_warc(pages, tmp / "trafilatura-eval", records_per_file=210, root=pages_root)
    evaldata = json.loads((pages_root / "evaldata.json").read_text(encoding="utf-8"))
    snippets = {item["file"]: item["with"] for item in evaldata.values() if item.get("with")}
    warc_root = DATA / "warc"
    return {
        "dolma_warc": ([str(p) for p in sorted(warc_root.glob("dolma/**/*.warc.gz"))], {}),
        "crawl_like": ([str(p) for p in sorted([*warc_root.rglob("*.warc.gz"), *warc_root.rglob("*.arc.gz")])], {}),
        "trafilatura_eval": ([str(p) for p in packed], snippets),
    }


def run(paths: list[str], line_dedup: dict, out: Path, workers: int):
    from curate import Pipeline

    config = {"input": {"paths": paths, "format": "warc"}, "stages": [*BEFORE, {"line_dedup": line_dedup}],
              "output": {"path": str(out)}, "executor": {"workers": workers}}
    started = time.perf_counter()
    result = Pipeline(config).run(force=True)
    assert result.manifest["conservation"]["ok"], result.manifest["conservation"]
    return result.manifest, time.perf_counter() - started


def rows(out: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    found = {}
    for kind in ("data", "rejected"):
        for shard in sorted((out / kind).glob("*.parquet")):
            for row in pq.read_table(shard).to_pylist():
                found[row["id"]] = row
    return found


def measure(name: str, paths: list[str], snippets: dict, params: dict, tmp: Path, workers: int) -> dict:
    from curate.evaluation.extraction import norm

    marked_manifest, _ = run(paths, {**params, "mode": "mark"}, tmp / name / "mark", workers)
    removed_manifest, seconds = run(paths, {**params, "mode": "remove"}, tmp / name / "remove", workers)
    before, after = rows(tmp / name / "mark"), rows(tmp / name / "remove")
    live = {i: r for i, r in before.items() if r.get("rejected_by") is None}  # documents line_dedup saw
    lines = sum(sum(1 for line in r["text"].split("\n") if line.strip()) for r in live.values())
    repeated = sum(r["line_dup_marked_lines"] for r in live.values())
    chars = sum(len(r["text"]) for r in live.values())
    rejected = [i for i, r in after.items() if r.get("rejected_by") == "line_dedup"]
    funnel = {step["step"]: step for step in removed_manifest["funnel"]}
    result = {"documents": len(live), "lines": lines, "repeated_lines": repeated,
              "repeated_line_share": round(repeated / lines, 4) if lines else 0.0,
              "repeated_char_share": round(sum(r["line_dup_marked_chars"] for r in live.values()) / chars, 4)
              if chars else 0.0,
              "documents_with_repeats": sum(1 for r in live.values() if r["line_dup_marked_lines"]),
              "rejected_empty_after_line_dedup": len(rejected),
              "stage_seconds": round(funnel.get("line_dedup", {}).get("seconds", 0.0), 3),
              "run_seconds": round(seconds, 1), "summary": removed_manifest["stages"].get("line_dedup", {})}
    if snippets:
        present = removed = 0
        examples = []
        for doc_id, row in live.items():
            name_in_eval = (row.get("url") or "").rsplit("/", 1)[-1].removesuffix(".gz")  # file:///eval/<file>.gz
            text_before = norm(row["text"])
            kept = after[doc_id]
            text_after = norm(kept["text"]) if kept.get("rejected_by") is None else ""
            for snippet in snippets.get(name_in_eval, []):
                if norm(snippet) in text_before:
                    present += 1
                    if norm(snippet) not in text_after:
                        removed += 1
                        examples.append({"page": name_in_eval, "snippet": snippet[:120]})
        result["with_snippets"] = {"present_before": present, "removed": removed,
                                   "removed_share": round(removed / present, 4) if present else 0.0,
                                   "examples": examples[:10]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-docs", type=int, default=3)
    parser.add_argument("--unit", default="line", choices=["line", "paragraph"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpora", nargs="*", default=None, help="only these corpora")
    args = parser.parse_args()
    params = {"min_docs": args.min_docs, "unit": args.unit}
    with tempfile.TemporaryDirectory(prefix="bench-line-dedup-") as tmp:
        tmp = Path(tmp)
        results = {}
        for name, (paths, snippets) in corpora(tmp).items():
            if args.corpora and name not in args.corpora:
                continue
            print(f"[{name}] {len(paths)} files", file=sys.stderr)
            results[name] = measure(name, paths, snippets, params, tmp, args.workers)
    print(json.dumps({"params": params, "corpora": results}, indent=2))


if __name__ == "__main__":  # datatrove's extraction sandbox re-imports __main__
    main()
