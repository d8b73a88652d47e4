"""`curate eval dedup`: precision/recall/F1 of MinHash LSH near-duplicate detection on a labelled benchmark built
from real text.

Documents (all from ../shared/data, see its MANIFEST.md):
- Gutenberg chapters: every `*.txt` of text/gutenberg/<id>/ and every earlier edition under `old/*.txt.gz`, cut at
  chapter headings (or into blocks of 40 paragraphs where a book has no recognisable headings), after dropping the
  Project Gutenberg header and footer. Chapters of the same book in different editions are natural near-duplicates.
- Wikipedia articles from text/enwiki (bz2 XML; redirects and articles under 100 words dropped).
- Web pages from extraction/trafilatura-eval, extracted with trafilatura (fast mode).
Perturbed copies (seeded): a share of the documents gets one copy edited towards a target Jaccard similarity drawn
uniformly from [0.5, 1.0], by one of: word substitutions, insertions, deletions, reordered paragraphs (plus light
substitutions), boilerplate added (navigation/cookie/footer text shared by all such copies).

Ground truth: the exact Jaccard similarity of the word 5-gram shingle sets (curate.dedup.shingles with the
configured n-gram and unit) of every pair of documents that share a shingle (sparse incidence product: no pair is
skipped). True pairs: Jaccard >= threshold. True clusters: connected components of the true pairs.
Predicted clusters come from phases 1-3 of curate.dedup; predicted pairs are all pairs inside a predicted cluster.
Cluster scores count exact matches (a predicted cluster of 2+ documents equal to a true cluster).
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
import re
import tempfile
import time
from pathlib import Path

import click

HEADING = re.compile(r"^\s*(CHAPTER|Chapter|CHAP\.|STAVE|Stave|ADVENTURE)\s+[IVXLC\d]+\b.*$", re.M)
PG_START = re.compile(r"^\*\*\*\s*START OF.*$|^\*END\*THE SMALL PRINT.*$", re.M)
PG_END = re.compile(r"^\*\*\*\s*END OF.*$|^End of (the )?Project Gutenberg.*$", re.M | re.I)
BOILERPLATE = [
    "Home | About us | Contact | Privacy policy | Terms of use | Sitemap",
    "We use cookies to improve your experience on our website. By continuing to browse you agree to our use of "
    "cookies. Accept all cookies Manage preferences",
    "Subscribe to our newsletter and get the latest news delivered straight to your inbox every week.",
    "Share this article on Facebook Twitter LinkedIn Email Print",
    "Copyright 2024 All rights reserved. Powered by WordPress. Theme by example themes.",
    "Related posts you may also like: top ten tips for a better life, the best recipes of the year, our guide to "
    "travelling on a budget, how to save money on your energy bills.",
]
KINDS = ("substitute", "insert", "delete", "reorder", "boilerplate")


def strip_gutenberg(text: str) -> str:
    start = PG_START.search(text)
    text = text[start.end():] if start else text
    end = PG_END.search(text)
    return text[:end.start()] if end else text


def split_book(text: str, min_words: int = 100) -> list[str]:
    """Chapters (at headings when a book has 5 or more), else blocks of 40 paragraphs; tiny pieces (tables of
    contents) dropped."""
    text = strip_gutenberg(text.replace("\r\n", "\n"))
    starts = [m.start() for m in HEADING.finditer(text)]
    if len(starts) >= 5:
        pieces = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    else:
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        pieces = ["\n\n".join(paragraphs[i:i + 40]) for i in range(0, len(paragraphs), 40)]
    return [p.strip() for p in pieces if len(p.split()) >= min_words]


def gutenberg_docs(data: Path, books: int | None = None) -> list[tuple[str, str]]:
    docs = []
    for book in sorted((data / "text" / "gutenberg").iterdir(), key=lambda p: p.name)[:books]:
        editions = sorted(book.glob("*.txt")) + sorted((book / "old").glob("*.txt.gz"))
        for path in editions:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")  # the -8.txt and some old editions are ISO-8859-1
            for i, chapter in enumerate(split_book(text)):
                docs.append((f"gutenberg/{book.name}/{path.name}#{i}", chapter))
    return docs


def wikipedia_docs(data: Path, limit: int | None = None) -> list[tuple[str, str]]:
    from xml.etree import ElementTree

    docs = []
    path = next((data / "text" / "enwiki").glob("*.bz2"))
    for _, element in ElementTree.iterparse(bz2.open(path)):
        if element.tag.endswith("}page"):
            ns = element.tag[:-4]
            title = element.findtext(f"{ns}title") or ""
            text = element.findtext(f"{ns}revision/{ns}text") or ""
            if not text.lower().startswith("#redirect") and len(text.split()) >= 100:
                docs.append((f"enwiki/{title}", text))
            element.clear()
            if limit and len(docs) >= limit:
                break
    return docs


def web_docs(data: Path, limit: int | None = None) -> list[tuple[str, str]]:
    from trafilatura import extract

    folder = data / "extraction" / "trafilatura-eval"
    docs = []
    for path in sorted((folder / "eval").glob("*.gz")) + sorted((folder / "cache").glob("*.gz")):
        text = extract(gzip.decompress(path.read_bytes()), fast=True)
        if text and len(text.split()) >= 100:
            docs.append((f"web/{path.name}", text))
        if limit and len(docs) >= limit:
            break
    return docs


def perturb(text: str, target: float, kind: str, rng: random.Random, vocab: list[str], n: int = 5) -> str:
    """A copy edited towards Jaccard `target` with the original (approximately: the truth is measured after)."""
    paragraphs = [p.split() for p in re.split(r"\n\s*\n", text) if p.strip()]
    # scattered word edits at rate p keep ~(1-p)^n of the n-grams: J = q / (2 - q) with q = (1-p)^n
    rate = 1 - (2 * target / (1 + target)) ** (1 / n)
    if kind == "boilerplate":
        words = sum(len(p) for p in paragraphs)
        extra = []
        while len(extra) < words * (1 / max(target, 0.05) - 1):
            extra.extend(rng.choice(BOILERPLATE).split())
        head = [extra[:len(extra) // 2]] if rng.random() < 0.5 else []
        return "\n\n".join(" ".join(p) for p in head + paragraphs + [extra[len(head[0]) if head else 0:]])
    if kind == "reorder":
        rng.shuffle(paragraphs)
        rate /= 2
        kind = "substitute"
    out = []
    for words in paragraphs:
        edited = []
        for word in words:
            if rng.random() >= rate:
                edited.append(word)
            elif kind == "substitute":
                edited.append(rng.choice(vocab))
            elif kind == "insert":
                edited.extend([word, rng.choice(vocab)])
            # delete: drop the word
        out.append(" ".join(edited))
    return "\n\n".join(out)


def build_benchmark(data: Path, seed: int = 0, copy_share: float = 0.4, books: int | None = None,
                    wiki: int | None = None, web: int | None = 300) -> list[tuple[str, str]]:
    """(id, text) documents: the real ones, then one perturbed copy for a seeded `copy_share` of them."""
    docs = gutenberg_docs(data, books) + wikipedia_docs(data, wiki) + (web_docs(data, web) if web else [])
    rng = random.Random(seed)
    vocab = sorted({w for _, t in docs[::7] for w in t.split()[:200]})
    copies = []
    for i, (doc_id, text) in enumerate(docs):
        if rng.random() < copy_share:
            kind = KINDS[len(copies) % len(KINDS)]
            target = rng.uniform(0.5, 1.0)
            copies.append((f"{doc_id}~{kind}{target:.2f}", perturb(text, target, kind, rng, vocab)))
    return docs + copies


def true_pairs(texts: list[str], threshold: float, ngram: int = 5, unit: str = "words"):
    """(pairs (i, j) with exact Jaccard >= threshold, dict of Jaccard for every pair sharing a shingle)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from curate.dedup.shingles import shingle_set

    sets = [shingle_set(t, ngram, unit) for t in texts]
    sizes = np.array([len(s) for s in sets])
    values, columns = np.unique(np.concatenate(sets), return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), sizes)
    incidence = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns)), shape=(len(sets), len(values)))
    inter = (incidence @ incidence.T).tocoo()
    upper = inter.row < inter.col
    i, j, shared = inter.row[upper], inter.col[upper], inter.data[upper]
    similarity = shared / (sizes[i] + sizes[j] - shared)
    jaccards = {(int(a), int(b)): float(s) for a, b, s in zip(i, j, similarity)}
    return {p for p, s in jaccards.items() if s >= threshold}, jaccards


def components(pairs, n: int) -> list[frozenset]:
    """Clusters of 2+ documents joined by `pairs`."""
    import numpy as np

    from curate.dedup.clusters import union_find

    labels = union_find(np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2), n)
    groups: dict[int, list[int]] = {}
    for doc, label in enumerate(labels):
        groups.setdefault(int(label), []).append(doc)
    return [frozenset(g) for g in groups.values() if len(g) > 1]


def prf(tp: int, n_pred: int, n_true: int) -> dict:
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_positives": tp, "predicted": n_pred, "true": n_true}


MODES = {"unverified": "LSH candidates as they are",
         "signature": "candidates whose MinHash estimate over all permutations is >= the threshold",
         "verified": "candidates whose exact shingle Jaccard is >= the threshold"}


def run_dedup(texts: list[str], params, mode: str, threshold: float, tasks: int = 1) -> tuple[list[frozenset], dict]:
    """Phases 1-3 of curate.dedup on `texts` split round-robin into `tasks`; predicted clusters and timings."""
    from curate.dedup.clusters import DecisionLookup, build_clusters
    from curate.dedup.lsh import SignatureWriter, find_candidate_pairs, split_bands

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        for rank in range(tasks):
            writer = SignatureWriter(folder, rank, params, keep_signatures=mode == "signature")
            for position, doc in enumerate(range(rank, len(texts), tasks)):
                writer.add(position, texts[doc], None, f"{doc:08d}")
            writer.close()
        signed = time.perf_counter()
        for bands in split_bands(params.bands, tasks):
            find_candidate_pairs(folder, params, bands, tasks)
        source = (lambda keys: [texts[position * tasks + rank] for rank, position in keys]) if mode == "verified" else None
        summary = build_clusters(folder, params, tasks, texts=source, threshold=threshold,
                                 signature_threshold=threshold if mode == "signature" else None)
        done = time.perf_counter()
        groups: dict[str, list[int]] = {}
        for rank in range(tasks):
            lookup = DecisionLookup(folder, rank)
            for position, decision in lookup.decisions.items():
                groups.setdefault(decision.cluster_id, []).append(position * tasks + rank)
    timing = {"signature_seconds": round(signed - start, 3), "total_seconds": round(done - start, 3),
              "signature_docs_per_s": round(len(texts) / max(signed - start, 1e-9), 1),
              "docs_per_s": round(len(texts) / max(done - start, 1e-9), 1), **summary}
    return [frozenset(g) for g in groups.values()], timing


def score(predicted: list[frozenset], truth_pairs: set, truth_clusters: list[frozenset], jaccards: dict) -> dict:
    predicted_pairs = {(a, b) for c in predicted for a in c for b in c if a < b}
    found = predicted_pairs & truth_pairs
    bins = {}
    for lo, hi in ((0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95),
                   (0.95, 1.01)):
        inside = [p for p, s in jaccards.items() if lo <= s < hi]
        if inside:
            bins[f"{lo:.2f}-{min(hi, 1):.2f}"] = {"pairs": len(inside),
                                                   "in_same_cluster": round(sum(p in predicted_pairs for p in inside)
                                                                            / len(inside), 4)}
    predicted_clusters = [c for c in predicted if len(c) > 1]
    exact = len(set(predicted_clusters) & set(truth_clusters))
    return {"pairs": prf(len(found), len(predicted_pairs), len(truth_pairs)),
            "clusters": prf(exact, len(predicted_clusters), len(truth_clusters)),
            "same_cluster_rate_by_jaccard": bins}


def evaluate(data: Path, threshold: float = 0.8, seed: int = 0, books: int | None = None, wiki: int | None = None,
             web: int | None = 300, params=None, tasks: int = 1) -> dict:
    from curate.dedup.lsh import LSHParams

    params = params or LSHParams()
    started = time.perf_counter()
    docs = build_benchmark(data, seed, books=books, wiki=wiki, web=web)
    texts = [t for _, t in docs]
    built = time.perf_counter()
    truth_pairs, jaccards = true_pairs(texts, threshold, params.ngram, params.unit)
    truth_clusters = components(truth_pairs, len(texts))
    results = {}
    params.hasher().signature(texts[0])  # warm-up (tables, datasketch import) outside every mode's timing
    for mode in MODES:
        predicted, timing = run_dedup(texts, params, mode, threshold, tasks)
        results[mode] = {**score(predicted, truth_pairs, truth_clusters, jaccards), "timing": timing}
    sources = {}
    for doc_id, _ in docs:
        kind = doc_id.split("/")[0] + ("+copy" if "~" in doc_id else "")
        sources[kind] = sources.get(kind, 0) + 1
    return {"data": str(data), "threshold": threshold, "seed": seed, "documents": len(docs), "sources": sources,
            "true_pairs": len(truth_pairs), "true_clusters": len(truth_clusters),
            "pairs_sharing_a_shingle": len(jaccards), "params": json.loads(params.to_json()),
            "catch_probability": params.catch_probabilities(),
            "build_seconds": round(built - started, 2), "results": results}


@click.command("dedup")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("../shared/data"), show_default=True, help="the shared data folder (see its MANIFEST.md)")
@click.option("--threshold", type=float, default=0.8, show_default=True, help="Jaccard threshold of a true pair")
@click.option("--bands", type=int, default=None, help="LSH bands (default 14, FineWeb; with --rows)")
@click.option("--rows", type=int, default=None, help="LSH rows per band (default 8, FineWeb)")
@click.option("--optimal", is_flag=True, help="bands x rows from datasketch's optimal parameters for --threshold")
@click.option("--num-perm", type=int, default=112, show_default=True)
@click.option("--ngram", type=int, default=5, show_default=True)
@click.option("--unit", type=click.Choice(["words", "chars"]), default="words", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the perturbed copies")
@click.option("--web", type=int, default=300, show_default=True, help="web pages to extract (0: none)")
@click.option("--books", type=int, default=None, help="only the first N Gutenberg books")
@click.option("--wiki", type=int, default=None, help="only the first N Wikipedia articles")
@click.option("--tasks", type=int, default=1, show_default=True, help="phase 1 and phase 2 tasks")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write a JSON report here")
def command(data_dir, threshold, bands, rows, optimal, num_perm, ngram, unit, seed, web, books, wiki, tasks, report):
    """Near-duplicate detection (MinHash LSH) on Gutenberg editions, Wikipedia, web pages and perturbed copies."""
    from curate.dedup.lsh import DEFAULT_BANDS, DEFAULT_ROWS, LSHParams

    if optimal:
        params = LSHParams.for_threshold(threshold, num_perm, ngram=ngram, unit=unit)
    else:
        params = LSHParams(num_perm=num_perm, bands=bands or DEFAULT_BANDS, rows=rows or DEFAULT_ROWS, ngram=ngram,
                           unit=unit)
    result = evaluate(data_dir, threshold, seed, books, wiki, web, params, tasks)
    click.echo(f"{result['documents']} documents {result['sources']}; {result['true_pairs']} true pairs and "
               f"{result['true_clusters']} true clusters at Jaccard >= {threshold}")
    click.echo(f"{params.bands} bands x {params.rows} rows of {params.num_perm} permutations, {params.ngram}-gram "
               f"{params.unit}; catch probability {result['catch_probability']}")
    click.echo(f"{'':<12} {'level':<9} {'precision':>9} {'recall':>7} {'F1':>6} {'docs/s':>8}")
    for name, r in result["results"].items():
        for level in ("pairs", "clusters"):
            click.echo(f"{name:<12} {level:<9} {r[level]['precision']:9.3f} {r[level]['recall']:7.3f} "
                       f"{r[level]['f1']:6.3f} {r['timing']['docs_per_s']:8.0f}")
        rejected = r["timing"]["rejected_by_verification"] + r["timing"]["rejected_by_signature"]
        click.echo(f"{'':<12} {rejected} of {r['timing']['candidate_pairs']} candidate pairs rejected; kept: "
                   f"{MODES[name]}")
    click.echo("the minhash_dedup stage's default is `verify: signature` (the signature rows); `verify: exact` is the "
               "verified rows, `verify: none` the unverified rows")
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2))
        click.echo(f"report: {report}")
