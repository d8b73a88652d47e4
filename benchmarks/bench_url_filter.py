"""url_filter against datatrove's URLFilter on the same URLs and datatrove's bundled block list; domain_cap's cost.

URLs (seeded): `--urls` of them (default 1,000,000). 94% are the 1,497 real URLs of ../shared/data (trafilatura-eval's
990 page URLs and the WARC files' records) with a random path appended; 5% hosts under a random domain of datatrove's
block list (`www.`, another subdomain, or none; a random path); 1% the entries of its URL list, given an `http://`.

Each measurement is a fresh process, alternating implementations, `--repeats` times; medians:
  - url_filter: UrlFilter() (datatrove's list, from curate's hash cache), filter_batch over 1,024 documents a time;
  - datatrove: URLFilter() (needs pyahocorasick, which curate does not declare: skipped when it is missing), filter
    per document, as its BaseFilter runs it;
  - domain_cap: the stage's three halves in one process (observe, rank, decide) with max_per_domain 100;
  - none: the documents alone, whose peak RSS the others' include (`rss_above_documents_mb` subtracts it).
Reported: seconds to load, URLs/s after loading, peak RSS, documents blocked; the load average.

    python benchmarks/bench_url_filter.py [--urls 1000000] [--repeats 3]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data"

WORKER = r'''
import json, sys, time
from datatrove.data import Document
kind, path = sys.argv[1], sys.argv[2]
urls = open(path).read().split("\n")
docs = [Document(text="", id=str(i), metadata={"url": u}) for i, u in enumerate(urls)]
started = time.perf_counter()
blocked = 0
if kind == "url_filter":
    from curate.stages.url_filter import UrlFilter
    stage = UrlFilter()
    stage.block.lookup([["x"]])
    loaded = time.perf_counter()
    for start in range(0, len(docs), 1024):
        blocked += sum(r is not True for r in stage.filter_batch(docs[start:start + 1024]))
elif kind == "datatrove":
    from datatrove.pipeline.filters import URLFilter
    from tldextract import TLDExtract
    stage = URLFilter()
    stage.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)  # offline: no 2 x 10 s network timeouts
    stage.download_data()
    loaded = time.perf_counter()
    results = [stage.filter(d) for d in docs]
    blocked = sum(r is not True for r in results)
    import collections
    reasons = collections.Counter(r[1] for r in results if r is not True)
elif kind == "none":  # the documents alone: what the others' peak RSS holds before their own
    loaded = time.perf_counter()
else:
    import tempfile
    from curate.stages.domain_cap import DomainCap
    stage = DomainCap(max_per_domain=100)
    loaded = time.perf_counter()
    blocked = sum(hasattr(result, "reason") for result in stage.decide_all(docs, tempfile.mkdtemp()))
finished = time.perf_counter()
print(json.dumps({"load_s": loaded - started, "urls_per_s": len(docs) / max(finished - loaded, 1e-9), "blocked": blocked,
                  # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's RSS at fork, and survives exec
                  "peak_rss_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024,
                  **({"reasons": dict(reasons)} if kind == "datatrove" else {})}))
'''


def real_urls() -> list[str]:
    from warcio.archiveiterator import ArchiveIterator

    urls = list(json.loads((SHARED / "extraction/trafilatura-eval/evaldata.json").read_text()))
    for warc in sorted((SHARED / "warc").rglob("*.warc.gz")):
        try:
            with open(warc, "rb") as f:
                urls += [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(f)
                         if r.rec_type in ("response", "resource")]
        except Exception:  # a truncated test fixture: what it yielded is enough
            continue
    return sorted(set(urls))


def real_urls_blocked() -> dict:
    """Which of the real URLs of ../shared/data datatrove's list blocks (url_filter's matcher)."""
    from curate.stages.url_filter import UrlFilter, url_candidates

    urls = real_urls()
    hits = UrlFilter().block.lookup([url_candidates(url)[1] for url in urls])
    return {"urls": len(urls), "blocked": {url: hit[1] for url, hit in zip(urls, hits) if hit}}


def make_urls(count: int, seed: int = 0) -> list[str]:
    import tarfile

    from curate.stages.url_lists import datatrove_lists

    rng = random.Random(seed)
    with tarfile.open(datatrove_lists()) as tar:
        domains = tar.extractfile("domains").read().decode().split()
        listed_urls = tar.extractfile("urls").read().decode().split()
    real = real_urls()
    urls = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.05:
            sub = rng.choice(["www.", f"m{rng.randrange(100)}.", ""])
            urls.append(f"https://{sub}{rng.choice(domains)}/page/{rng.randrange(10**6)}")
        elif roll < 0.06:
            urls.append("http://" + rng.choice(listed_urls))
        else:
            urls.append(f"{rng.choice(real).rstrip('/')}/p{rng.randrange(10**6)}")
    return urls


def run_worker(kind: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", WORKER, kind, str(path)], capture_output=True, text=True, env=env,
                            cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    kinds = ["none", "url_filter", "domain_cap"]
    try:
        import ahocorasick  # noqa: F401  datatrove's URLFilter imports it
        kinds.insert(1, "datatrove")
    except ImportError:
        pass
    result = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "urls": args.urls, "repeats": args.repeats,
              "real_urls_on_datatroves_list": real_urls_blocked()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "urls.txt"
        path.write_text("\n".join(make_urls(args.urls)))
        run_worker("url_filter", path)  # fills curate's list cache once, as `curate validate` or the first run does
        runs = {kind: [] for kind in kinds}
        for _ in range(args.repeats):
            for kind in kinds:
                runs[kind].append(run_worker(kind, path))
    for kind, values in runs.items():
        result[kind] = {key: round(statistics.median(v[key] for v in values), 3)
                        for key in ("load_s", "urls_per_s", "peak_rss_mb", "blocked")}
        result[kind]["urls_per_s"] = round(result[kind]["urls_per_s"])
        if kind == "none":
            del result[kind]["urls_per_s"], result[kind]["blocked"]
        else:
            result[kind]["rss_above_documents_mb"] = round(result[kind]["peak_rss_mb"] - result["none"]["peak_rss_mb"])
        if "reasons" in values[0]:  # datatrove: its own reasons (domain, subdomain, url, and the URL word rules)
            result[kind]["reasons"] = values[0]["reasons"]
    if "datatrove" in runs:
        result["speed_ratio_url_filter_vs_datatrove"] = round(result["url_filter"]["urls_per_s"] /
                                                              result["datatrove"]["urls_per_s"], 2)
    else:
        result["datatrove"] = "skipped: pyahocorasick is not installed"
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
