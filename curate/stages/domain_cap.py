"""`domain_cap`: at most `max_per_domain` documents per registered domain, decided over the whole run.

A few sites (forums, shops, link farms) can make up a large share of a crawl; capping each registered domain
(`news.bbc.co.uk` and `www.bbc.co.uk` are both `bbc.co.uk`: tldextract's bundled public-suffix list, offline)
keeps the corpus diverse. With `private_suffixes` (default) the list's private section counts too, so each blog
of `blogspot.com` or site of `github.io` is its own domain; a web-archive capture counts as the site it archived.
Which documents a domain keeps must not depend on how the input was cut into tasks, so this is a GlobalStage
(curate/stages/base.py):

    observe (every task)             -> <work>/observe/<rank>.parquet   position, domain, keep-rule keys
    rank (one task per domain range) -> <work>/ranks/<part>-<rank>.npz  each document's rank in its domain
    decide (every task)              <- its rank files: annotate, keep the first `max_per_domain`, reject the rest

Keep rule, the same whatever the task count: the highest `keep_by` value first (default `quality_score`, when a
stage wrote one; documents without it rank after those with it), then a seeded hash of the document id, so a
domain keeps a pseudo-random sample of its pages rather than the first in input order. (Two ids of one domain
with equal 64-bit hashes, chance ~k^2/2^65 for a domain of k pages, would be ordered by input position.)

Memory: the observe half holds its task's documents' keys until it writes them; each ranking task the documents of
its share of the domains (split into `tasks` shares by hash); benchmarks/bench_url_filter.py measures them.

Columns: `url_domain` (registered domain; null without a URL), `domain_docs` (the domain's documents that reached
this stage), `domain_rank` (1 = kept first), so any other cap can be re-applied from the shards. Rejection `domain_cap`, value = the rank. Mode `mark` annotates only.
"""

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from curate.dedup.lsh import atomic_write
from curate.stages.base import GlobalStage, Observer, ReduceStep, Rejection
from curate.stages.urls import archived_url, registered_domain

OBSERVE, RANKS, SUMMARY = "observe", "ranks", "summary"


class DomainKeys(Observer):
    """The observe half for one task: each live document's domain and keep-rule keys, then one Parquet file."""

    def __init__(self, stage: "DomainCap", rank: int):
        self.stage, self.rank = stage, rank
        self.positions, self.domains, self.values, self.ids = [], [], [], []

    def add(self, position: int, doc: Document) -> None:
        domain = self.stage.domain(doc)
        if domain is None:
            return  # not capped: the decide half keeps it
        self.positions.append(position)
        self.domains.append(domain)
        self.values.append(self.stage.keep_value(doc))
        self.ids.append(xxhash.xxh3_64_intdigest(str(doc.id).encode("utf-8", "surrogatepass"), seed=self.stage.seed))

    def close(self) -> None:
        folder = Path(self.stage.work_dir) / OBSERVE
        hashes = [xxhash.xxh3_64_intdigest(domain.encode()) for domain in self.domains]
        table = pa.table({"position": pa.array(self.positions, pa.int64()),
                          "domain": pa.array(self.domains, pa.string()), "domain_hash": pa.array(hashes, pa.uint64()),
                          "keep_value": pa.array(self.values, pa.float64()), "id_hash": pa.array(self.ids, pa.uint64())})
        atomic_write(folder / f"{self.rank:05d}.parquet", lambda tmp: pq.write_table(table, tmp))


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.savez on a path would append ".npz" to the temporary name
        np.savez(f, **arrays)


class DomainRanks(ReduceStep):
    """Rank phase, task `rank` of `world_size`: the domains whose hash falls in its range, from every observe file;
    each document's rank in its domain and the domain's size, written per observe task."""

    type = "🏷️ - DOMAINS"
    part = "ranks"

    def __init__(self, stage_name: str, work_dir: str, observe_tasks: int, max_per_domain: int):
        super().__init__(stage_name, observe_tasks)
        self.work_dir, self.max_per_domain = Path(work_dir), max_per_domain

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        with self.track_time():
            parts = [self._read(task, rank, world_size) for task in range(self.observe_tasks)]
            table = pa.concat_tables(parts)
            domain = table.column("domain_hash").to_numpy()
            value = table.column("keep_value").to_numpy(zero_copy_only=False)
            task = np.concatenate([np.full(len(p), i, dtype=np.int32) for i, p in enumerate(parts)])
            # keep-rule order inside each domain: highest value first (missing values last), then the id hash
            order = np.lexsort((table.column("id_hash").to_numpy(), np.where(np.isnan(value), np.inf, -value), domain))
            starts = np.flatnonzero(np.r_[True, np.diff(domain[order]) != 0]) if len(order) else np.zeros(0, np.int64)
            sizes = np.diff(np.r_[starts, len(order)])
            ranks = np.empty(len(order), dtype=np.int64)
            ranks[order] = np.arange(len(order)) - np.repeat(starts, sizes) + 1
            docs = np.empty(len(order), dtype=np.int64)
            docs[order] = np.repeat(sizes, sizes)
            positions = table.column("position").to_numpy()
            out = self.work_dir / RANKS
            for i in range(self.observe_tasks):  # one file per observe task: the decide half of task i reads them
                mine = task == i
                atomic_write(out / f"{rank:05d}-{i:05d}.npz",
                             lambda tmp: _save_npz(tmp, position=positions[mine], rank=ranks[mine], docs=docs[mine]))
            self._summary(table, sizes, starts, order, rank)
        self.stat_update("domains", value=len(sizes))
        yield from ()

    def _read(self, task: int, rank: int, world_size: int) -> pa.Table:
        path = self.work_dir / OBSERVE / f"{task:05d}.parquet"
        if not path.is_file():
            raise RuntimeError(f"{path} is missing: the observe phase did not complete")
        table = pq.read_table(path)
        mine = table.column("domain_hash").to_numpy() % np.uint64(world_size) == rank
        return table.filter(pa.array(mine))

    def _summary(self, table: pa.Table, sizes, starts, order, rank: int) -> None:
        """The part's largest domains (name, documents), for the manifest."""
        top = np.argsort(-sizes, kind="stable")[:20]
        names = table.column("domain").take(pa.array(order[starts[top]])).to_pylist() if len(top) else []
        over = sizes > self.max_per_domain
        record = {"domains": int(len(sizes)), "documents": int(len(order)), "domains_over_cap": int(over.sum()),
                  "documents_over_cap": int((sizes[over] - self.max_per_domain).sum()),
                  "largest": [[name, int(sizes[i])] for name, i in zip(names, top)]}
        (self.work_dir / SUMMARY).mkdir(exist_ok=True)
        (self.work_dir / SUMMARY / f"{rank:05d}.json").write_text(json.dumps(record))


class DomainCap(GlobalStage):
    name = "domain_cap"

    rank_tasks = 1  # set when the pipeline plans the phases (reduce_steps)

    def __init__(self, max_per_domain: int, keep_by: str | None = "quality_score", seed: int = 0,
                 private_suffixes: bool = True, mode: Literal["remove", "mark"] = "remove"):
        super().__init__()
        if not isinstance(max_per_domain, int) or isinstance(max_per_domain, bool) or max_per_domain < 1:
            raise ValueError(f"max_per_domain must be a whole number of at least 1, got {max_per_domain!r}")
        if mode not in ("remove", "mark"):
            raise ValueError(f"mode must be 'remove' or 'mark', got {mode!r}")
        self.max_per_domain, self.keep_by, self.seed, self.mode = max_per_domain, keep_by, seed, mode
        self.private_suffixes = private_suffixes

    def domain(self, doc: Document) -> str | None:
        """The registered domain of the document's URL (of the archived page, for a web-archive capture)."""
        url = doc.metadata.get("url")
        return registered_domain(archived_url(url) or url, self.private_suffixes) if url else None

    def columns(self) -> dict[str, pa.DataType]:
        return {"url_domain": pa.string(), "domain_docs": pa.int64(), "domain_rank": pa.int64()}

    def keep_value(self, doc: Document) -> float:
        value = doc.metadata.get(self.keep_by) if self.keep_by else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")

    def observer(self, rank: int) -> Observer:
        return DomainKeys(self, rank)

    def reduce_steps(self, tasks: int) -> list[tuple[str, int, PipelineStep]]:
        self.rank_tasks = tasks  # one ranking task per share of the domains
        return [("ranks", tasks, DomainRanks(self.name, self.work_dir, tasks, self.max_per_domain))]

    def decider(self, rank: int):
        files = sorted((Path(self.work_dir) / RANKS).glob(f"*-{rank:05d}.npz"))
        if len(files) != self.rank_tasks:
            raise RuntimeError(f"{self.name}: {len(files)} of {self.rank_tasks} rank files for task {rank} in "
                               f"{self.work_dir}/{RANKS} (if the work folder was deleted after its phases completed, "
                               "start over with --force)")
        loaded = [np.load(f) for f in files]
        positions = np.concatenate([f["position"] for f in loaded]) if loaded else np.zeros(0, np.int64)
        ranks = np.concatenate([f["rank"] for f in loaded]) if loaded else np.zeros(0, np.int64)
        docs = np.concatenate([f["docs"] for f in loaded]) if loaded else np.zeros(0, np.int64)
        order = np.argsort(positions)
        positions, ranks, docs = positions[order], ranks[order], docs[order]

        def decide(doc: Document, position: int) -> Document | Rejection:
            at = int(np.searchsorted(positions, position))
            if at == len(positions) or positions[at] != position:  # no URL, or no registered domain
                doc.metadata.update(url_domain=None, domain_docs=None, domain_rank=None)
                self.stat_update("no_domain")
                return doc
            doc.metadata.update(url_domain=self.domain(doc), domain_docs=int(docs[at]),
                                domain_rank=int(ranks[at]))
            if ranks[at] <= self.max_per_domain or self.mode == "mark":
                return doc
            return Rejection("domain_cap", value=int(ranks[at]),
                             detail=f"{doc.metadata['url_domain']}: document {int(ranks[at])} of {int(docs[at])}, "
                                    f"above the cap of {self.max_per_domain}")

        return decide

    def summary(self, counters: dict) -> dict:
        parts = [json.loads(p.read_text()) for p in sorted((Path(self.work_dir or ".") / SUMMARY).glob("*.json"))]
        if not parts:
            return {}
        largest = sorted((pair for part in parts for pair in part["largest"]), key=lambda p: (-p[1], p[0]))[:20]
        totals = {key: sum(p[key] for p in parts) for key in ("domains", "documents", "domains_over_cap",
                                                               "documents_over_cap")}
        return {"max_per_domain": self.max_per_domain, "keep_by": self.keep_by, "seed": self.seed, "mode": self.mode,
                "private_suffixes": self.private_suffixes,
                **totals, "largest_domains": largest}
