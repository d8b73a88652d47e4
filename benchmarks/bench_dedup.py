"""Near-duplicate detection: signature throughput, clustering time and peak RSS, eval F1.

1. Signatures on the same real documents (Gutenberg chapters of every edition + Wikipedia articles): docs/s of
   ours (curate.dedup.minhash.MinHasher.signature: numpy shingle hashes + numpy permutations) and of the
   straightforward datasketch loop `MinHash(num_perm=112).update_batch([s.encode() for s in shingles])` (sha1 per
   shingle; shingles = the same normalised word 5-grams as strings). Rounds alternate ours/baseline; medians; the
   ratio is the figure. Also per scheme (affine32 = datasketch 2.x default, legacy = datasketch < 2.0), and the
   option of hashing each shingle string with xxhash in a Python loop before our permutations.
2. Phases 2 and 3 on 100k and 1M synthetic documents (random band hashes in 8 phase-1 files, 10% of documents
   planted as near-duplicates of another: they share a random 1-5 of its 14 bands). Each phase runs in a fresh
   process; its peak RSS during the work (Linux VmHWM, reset after imports: getrusage's ru_maxrss would carry this
   parent's peak over fork + exec), the part above the process's RSS after imports (importing curate brings
   datatrove and pyarrow), and its time are reported.
3. `curate eval dedup` with the defaults (unless --skip-eval).

    python benchmarks/bench_dedup.py [--rounds 5] [--sizes 100000 1000000] [--skip-eval]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TASKS = 8


def real_documents() -> list[str]:
    from curate.evaluation.dedup import gutenberg_docs, wikipedia_docs

    return [t for _, t in gutenberg_docs(DATA)] + [t for _, t in wikipedia_docs(DATA)]


def bench_signatures(rounds: int) -> dict:
    import xxhash
    from datasketch import MinHash

    from curate.dedup.minhash import MinHasher
    from curate.dedup.shingles import ngram_strings

    docs = real_documents()
    words = sum(len(d.split()) for d in docs)

    def baseline(scheme):
        def run():
            for text in docs:
                m = MinHash(num_perm=112, scheme=scheme)
                m.update_batch([s.encode() for s in ngram_strings(text)])
        return run

    def ours(scheme):
        hasher = MinHasher(scheme=scheme)

        def run():
            for text in docs:
                hasher.signature(text)
        return run

    def xxhash_loop():
        hasher = MinHasher()

        def run():
            for text in docs:
                hasher.from_hashes(np.fromiter((xxhash.xxh32_intdigest(s) for s in ngram_strings(text)), np.uint32))
        return run

    systems = {"ours affine32": ours("affine32"), "datasketch affine32 (sha1 loop)": baseline("affine32"),
               "ours legacy": ours("legacy"), "datasketch legacy (sha1 loop)": baseline("legacy"),
               "xxhash loop + our permutations": xxhash_loop()}
    times = {name: [] for name in systems}
    for _ in range(rounds):
        for name, run in systems.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {name: len(docs) / statistics.median(t) for name, t in times.items()}
    return {"documents": len(docs), "words": words,
            "docs_per_s": {name: round(r, 1) for name, r in rate.items()},
            "speedup_affine32": round(rate["ours affine32"] / rate["datasketch affine32 (sha1 loop)"], 2),
            "speedup_legacy": round(rate["ours legacy"] / rate["datasketch legacy (sha1 loop)"], 2),
            "speedup_over_xxhash_loop": round(rate["ours affine32"] / rate["xxhash loop + our permutations"], 2)}


def make_synthetic(folder: Path, n: int, seed: int = 0) -> None:
    """Phase-1 files of n documents: random band hashes, 10% planted near-duplicates sharing 1-5 bands."""
    from curate.dedup.lsh import LSHParams, write_signature_file

    params = LSHParams()
    rng = np.random.default_rng(seed)
    bands = rng.integers(0, 1 << 63, (n, params.bands), dtype=np.uint64)
    dups = rng.choice(n, n // 10, replace=False)
    sources = rng.integers(0, n, len(dups))
    for doc, source in zip(dups, sources):
        shared = rng.choice(params.bands, rng.integers(1, 6), replace=False)
        bands[doc, shared] = bands[source, shared]
    quality = rng.random(n)
    per_task = np.array_split(np.arange(n), TASKS)
    for rank, rows in enumerate(per_task):
        write_signature_file(folder / "signatures" / f"{rank:05d}.parquet", params, np.arange(len(rows)),
                             bands[rows], quality[rows].tolist(), [f"doc{r:09d}" for r in rows])


PHASE = """
import json, sys, time
from pathlib import Path
from curate.dedup.lsh import LSHParams, find_candidate_pairs
from curate.dedup.clusters import build_clusters, current_rss_mb, peak_rss_mb, reset_peak_rss
folder, phase, lo, hi = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import pyarrow.parquet, scipy.sparse.csgraph  # imported before the baseline is taken, as the phases use them
params = LSHParams()
import_peak = peak_rss_mb()
reset_peak_rss()  # from here VmHWM is the work's peak (imports peak higher than they stay)
base_rss = current_rss_mb()  # imports only (curate's package import brings datatrove and pyarrow)
start = time.perf_counter()
if phase == "buckets":
    find_candidate_pairs(folder, params, range(lo, hi), expected_tasks=%d)
    extra = {}
elif phase == "clusters":
    extra = build_clusters(folder, params, expected_tasks=%d)
else:  # the bare process: same imports, no work
    extra = {}
print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
                  "rss_after_imports_mb": round(base_rss, 1), "peak_over_imports_mb": round(peak_rss_mb() - base_rss, 1),
                  "import_peak_mb": round(import_peak, 1),
                  **{k: extra[k] for k in ("candidate_pairs", "clusters", "removed") if k in extra}}))
""" % (TASKS, TASKS)


def phase(folder: Path, name: str, lo: int = 0, hi: int = 0) -> dict:
    out = subprocess.run([sys.executable, "-c", PHASE, str(folder), name, str(lo), str(hi)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_clustering(sizes: list[int], band_tasks: int = 2) -> dict:
    from curate.dedup.lsh import split_bands

    results = {"bare_process": phase(Path("."), "bare")}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_synthetic(folder, n)
            buckets = [phase(folder, "buckets", r.start, r.stop) for r in split_bands(14, band_tasks)]
            clusters = phase(folder, "clusters")
            results[str(n)] = {"phase2_tasks": buckets, "phase3": clusters,
                               "phase2_seconds": round(sum(b["seconds"] for b in buckets), 2),
                               "clustering_seconds": round(sum(b["seconds"] for b in buckets) + clusters["seconds"], 2),
                               "peak_rss_mb": max([b["peak_rss_mb"] for b in buckets] + [clusters["peak_rss_mb"]]),
                               "peak_over_imports_mb": max([b["peak_over_imports_mb"] for b in buckets]
                                                           + [clusters["peak_over_imports_mb"]])}
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--skip-signatures", action="store_true")
    args = parser.parse_args()
    report = {}
    if not args.skip_signatures:
        report["signatures"] = bench_signatures(args.rounds)
        print(json.dumps(report, indent=2), flush=True)
    report["clustering"] = bench_clustering(args.sizes)
    print(json.dumps(report["clustering"], indent=2), flush=True)
    if not args.skip_eval:
        from curate.evaluation.dedup import evaluate

        result = evaluate(DATA)
        report["eval"] = {name: {"pairs_f1": r["pairs"]["f1"], "clusters_f1": r["clusters"]["f1"],
                                 "pairs_precision": r["pairs"]["precision"], "pairs_recall": r["pairs"]["recall"],
                                 "docs_per_s": r["timing"]["docs_per_s"]}
                          for name, r in result["results"].items()}
        report["eval"]["documents"] = result["documents"]
        print(json.dumps(report["eval"], indent=2))


if __name__ == "__main__":
    main()
