"""The web pipeline (pipelines/web.yaml: extraction to decontamination, dedup phases included) with 1 and 2 workers,
on the local executor and on a local Ray cluster, on the trafilatura-eval pages packed as WARC files.

Prints JSON: pages/s per (executor, workers), medians over rounds that alternate the four settings so machine noise
hits all alike, and the scaling ratios (2 workers / 1 worker) that are the figure. Every run's output is checked
against the first local run's, document for document.

    python benchmarks/bench_scale.py [--rounds 3] [--records-per-file 210] [--pages N]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.dataset as ds
import yaml

from curate import Pipeline
from curate.io.warc_pack import pack_html_to_warc

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / ".." / "shared" / "data" / "extraction" / "trafilatura-eval"
KINDS = ("train", "val", "test", "rejected")


def documents(out: Path) -> dict:
    result = {}
    for kind in KINDS:
        files = sorted(str(p) for p in (out / kind).glob("*.parquet"))
        table = ds.dataset(files, format="parquet").to_table(columns=["id"]) if files else None
        result[kind] = sorted(table.column("id").to_pylist()) if table is not None else []
    return result


def run(warcs: Path, out: Path, executor: str, workers: int) -> float:
    config = yaml.safe_load((REPO / "pipelines" / "web.yaml").read_text())
    config["input"] = {"paths": [str(warcs)], "format": "warc"}
    config["output"] = {"path": str(out)}
    config["executor"] = {"type": executor, "workers": workers}
    if executor == "ray":
        config["executor"]["options"] = {"num_cpus": workers}
    start = time.perf_counter()
    result = Pipeline(config).run(force=True)
    elapsed = time.perf_counter() - start
    assert result.manifest["conservation"]["ok"], result.manifest["conservation"]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records-per-file", type=int, default=210)
    parser.add_argument("--pages", type=int, default=None, help="use the first N pages only")
    args = parser.parse_args()
    pages = sorted(PAGES.glob("eval/*.html.gz")) + sorted(PAGES.glob("cache/*.html.gz"))
    pages = pages[:args.pages] if args.pages else pages
    settings = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
    times = {f"{e}/{w}": [] for e, w in settings}
    with tempfile.TemporaryDirectory() as tmp:
        warcs = Path(tmp) / "warcs"
        pack_html_to_warc(pages, warcs, records_per_file=args.records_per_file, root=PAGES)
        reference = None
        for round_ in range(args.rounds):
            order = settings if round_ % 2 == 0 else settings[::-1]
            for executor, workers in order:
                out = Path(tmp) / f"out-{executor}-{workers}"
                times[f"{executor}/{workers}"].append(run(warcs, out, executor, workers))
                got = documents(out)
                reference = reference or got
                assert got == reference, f"{executor} with {workers} workers wrote other documents"
                print(f"round {round_}: {executor} x{workers}: {times[f'{executor}/{workers}'][-1]:.1f} s",
                      file=sys.stderr)
    medians = {key: statistics.median(values) for key, values in times.items()}
    print(json.dumps({
        "pages": len(pages), "files": -(-len(pages) // args.records_per_file), "rounds": args.rounds,
        "pages_per_s": {key: round(len(pages) / seconds, 2) for key, seconds in medians.items()},
        "seconds": {key: [round(v, 1) for v in values] for key, values in times.items()},
        "scaling_2_over_1": {e: round(medians[f"{e}/1"] / medians[f"{e}/2"], 3) for e in ("local", "ray")},
        "ray_over_local": {w: round(medians[f"local/{w}"] / medians[f"ray/{w}"], 3) for w in (1, 2)},
        "same_documents_everywhere": True,
    }, indent=2))


if __name__ == "__main__":
    main()
