"""`curate eval extraction`: trafilatura's own evaluation, run on plain trafilatura and on our `extract` stage.

The scheme is trafilatura's (tests/evaluate.py and tests/eval_common.py in adbar/trafilatura, the script behind the
table in its docs/evaluation.rst): each page of `evaldata.json` lists up to 6 `with` snippets that a good extraction
contains and up to 6 `without` snippets (boilerplate) that it must not. After whitespace normalisation
(`\\s+` -> one space) a `with` snippet found is a true positive, one missing a false negative; a `without` snippet
found is a false positive, one absent a true negative. No output (None, an error) counts every `with` as a false
negative and every `without` as a true negative. Counts add up over all pages; precision = TP/(TP+FP),
recall = TP/(TP+FN), accuracy = (TP+TN)/all, F1 = 2TP/(2TP+FP+FN).

Plain trafilatura gets the raw bytes, as in upstream's benchmark (it decodes them itself) with upstream's options
(`include_comments=False, include_tables=True, include_formatting=False`, fallbacks on). Our stage gets what it
gets in a pipeline: the page decoded to str by curate's readers (curate/decoding.py).
"""

import json
import re
import time
from pathlib import Path

import click

# The published rows of docs/evaluation.rst ("Results (2026-08-04)", 990 documents, 2951 text & 2966 boilerplate
# segments) that correspond to our modes. evaluation.rst has no row for trafilatura 1.11.0 (the version datatrove
# 0.10.1 pins below 1.12); these 2.2.0 rows on the same 990 pages are the published reference the issue names.
PUBLISHED = {
    "standard": {"package": "trafilatura 2.2.0 (standard)", "precision": 0.906, "recall": 0.943, "accuracy": 0.923, "f1": 0.924},
    "precision": {"package": "trafilatura 2.2.0 (precision)", "precision": 0.925, "recall": 0.915, "accuracy": 0.921, "f1": 0.920},
    "recall": {"package": "trafilatura 2.2.0 (recall)", "precision": 0.899, "recall": 0.939, "accuracy": 0.917, "f1": 0.918},
    "fast": {"package": "trafilatura 2.2.0 (fast)", "precision": 0.907, "recall": 0.930, "accuracy": 0.917, "f1": 0.918},
}
# our mode -> the published trafilatura row it maps to
MODE_ROW = {"balanced": "standard", "precision": "precision", "recall": "recall"}
# upstream's EXTRACT_OPTS (tests/eval_common.py)
UPSTREAM_OPTS = {"include_comments": False, "include_tables": True, "include_formatting": False}

_SPACES = re.compile(r"\s+")


def norm(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def count_item(item: dict, result: str | None) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) for one page, as upstream's eval_common.count_item."""
    if isinstance(result, str):
        text = norm(result)
        tp = sum(1 for snippet in item["with"] if norm(snippet) in text)
        fp = sum(1 for snippet in item["without"] if norm(snippet) in text)
    else:
        tp = fp = 0
    return tp, fp, len(item["with"]) - tp, len(item["without"]) - fp


def scores(tp: int, fp: int, fn: int, tn: int) -> dict:
    total = tp + fp + fn + tn
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "accuracy": (tp + tn) / total if total else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def load_pages(data: Path, limit: int | None = None) -> list[tuple[str, dict, bytes]]:
    """(url, item, raw bytes) for the pages of `data`/evaldata.json, looked up in cache/ then eval/ (plain or .gz),
    in file order; the first `limit` pages if given."""
    import gzip

    evaldata = data / "evaldata.json"
    if not evaldata.is_file():
        raise click.ClickException(f"{evaldata} not found (expected trafilatura's evaldata.json in --data)")
    items = json.loads(evaldata.read_text(encoding="utf-8"))
    pages, missing = [], []
    for url, item in items.items():
        found = None
        for folder in ("cache", "eval"):
            for candidate in (data / folder / item["file"], data / folder / (item["file"] + ".gz")):
                if candidate.is_file():
                    found = candidate
                    break
            if found:
                break
        if found is None:
            missing.append(item["file"])
            continue
        raw = found.read_bytes()
        pages.append((url, item, gzip.decompress(raw) if found.suffix == ".gz" else raw))
        if limit and len(pages) >= limit:
            break
    if missing:
        raise click.ClickException(f"{len(missing)} pages of {evaldata} are missing, e.g. {missing[:3]}")
    return pages


def evaluate(pages, systems: dict) -> dict:
    """Run each system (name -> callable(bytes) -> str|None) on every page; counts, scores and seconds per system
    (wall and CPU: on a shared machine CPU time is the steadier figure; every system runs in this process)."""
    counts = {name: [0, 0, 0, 0] for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    cpu_seconds = dict.fromkeys(systems, 0.0)
    errors = dict.fromkeys(systems, 0)
    for _, item, raw in pages:
        for name, run in systems.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                result = run(raw)
            except Exception:  # a crash counts as a full miss, as upstream's run_and_count
                result = None
                errors[name] += 1
            seconds[name] += time.perf_counter() - start
            cpu_seconds[name] += time.process_time() - cpu_start
            for i, value in enumerate(count_item(item, result)):
                counts[name][i] += value
    return {name: {**scores(*counts[name]), "seconds": round(seconds[name], 3), "errors": errors[name],
                   "ms_per_page": round(1000 * seconds[name] / max(1, len(pages)), 2),
                   "cpu_ms_per_page": round(1000 * cpu_seconds[name] / max(1, len(pages)), 2)} for name in systems}


def stage_runner(mode: str):
    """Our extract stage's extraction (no sandbox: the time limit is the pipeline's business) on decoded text."""
    from curate.decoding import decode_bytes
    from curate.stages.extract import Extract

    stage = Extract(mode=mode)

    def run(raw: bytes) -> str | None:
        html, _, _ = decode_bytes(raw, None, html=True)
        return stage.extract_text(html)

    return run


def plain_runner():
    from trafilatura import extract

    return lambda raw: extract(raw, fast=False, **UPSTREAM_OPTS)


@click.command("extraction")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="trafilatura's evaluation folder (evaldata.json, cache/, eval/)")
@click.option("--limit", type=int, default=None, help="only the first N pages of evaldata.json")
@click.option("--mode", type=click.Choice(list(MODE_ROW)), default="balanced", show_default=True,
              help="our stage's mode to evaluate")
@click.option("--all-modes", is_flag=True, help="evaluate our stage in every mode")
@click.option("--no-plain", is_flag=True, help="skip plain trafilatura.extract (the harness check)")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write a JSON report here")
def command(data_dir, limit, mode, all_modes, no_plain, report):
    """trafilatura's extraction benchmark (with/without snippets) on plain trafilatura and our extract stage."""
    import trafilatura

    pages = load_pages(data_dir, limit)
    modes = list(MODE_ROW) if all_modes else [mode]
    systems = {} if no_plain else {f"trafilatura {trafilatura.__version__} (standard)": plain_runner()}
    systems.update({f"curate extract ({m})": stage_runner(m) for m in modes})
    results = evaluate(pages, systems)
    n_with = sum(len(item["with"]) for _, item, _ in pages)
    n_without = sum(len(item["without"]) for _, item, _ in pages)
    rows = [(name, r, False) for name, r in results.items()]
    shown = ["standard"] + [MODE_ROW[m] for m in modes if MODE_ROW[m] != "standard"]
    rows += [(f"published: {PUBLISHED[key]['package']}", PUBLISHED[key], True) for key in shown]
    click.echo(f"{len(pages)} documents, {n_with} text & {n_without} boilerplate segments"
               + ("" if limit is None else f" (first {len(pages)} only: published rows are on all 990)"))
    click.echo(f"{'system':<44} {'precision':>9} {'recall':>7} {'accuracy':>8} {'F1':>6} {'CPU ms/page':>11}")
    for name, r, published in rows:
        ms = "" if published else f"{r['cpu_ms_per_page']:11.1f}"
        click.echo(f"{name:<44} {r['precision']:9.3f} {r['recall']:7.3f} {r['accuracy']:8.3f} {r['f1']:6.3f} {ms}")
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({
            "data": str(data_dir), "documents": len(pages), "with_segments": n_with, "without_segments": n_without,
            "trafilatura_version": trafilatura.__version__, "results": results,
            "published": {key: PUBLISHED[key] for key in shown},
            "published_source": "trafilatura docs/evaluation.rst, Results (2026-08-04), 990 documents",
        }, indent=2))
        click.echo(f"report: {report}")
