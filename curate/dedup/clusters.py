"""Phase 3 (candidate pairs -> clusters -> keep/remove decisions) and phase 4's lookup.

Phase 3 (`build_clusters`, one task): loads the distinct candidate pairs of every phase-2 file, optionally verifies
each pair by the exact Jaccard similarity of the two documents' shingle sets (texts come from the caller's callback,
a chunk of pairs at a time), and joins the surviving pairs into clusters (connected components: union-find's
result, computed by scipy's C implementation). Memory grows with the number of pairs and of documents in a pair, not
with documents x bands: only the phase-1 rows of clustered documents are loaded, one file at a time.

Keep rule, deterministic and independent of the number of tasks: in each cluster keep the document with the highest
`quality` (documents without one rank below all that have one); ties go to the smallest `id` (string order), then to
the smallest (rank, position). The cluster's id is the kept document's id (or "rank/position" when ids are empty),
so it is also "the id of the kept one" that a removed document's reason names.

Output, per phase-1 task: `<folder>/clusters/<rank:05d>.parquet` with one row per document in a cluster of 2 or more:
`position` (int64), `cluster_id` (string), `cluster_size` (int64), `keep` (bool). A document not listed is alone
(cluster of 1, kept). `<folder>/clusters/_SUCCESS.json` (written last) holds the counts and the peak RSS; phase 4
refuses to start without it.
"""

from __future__ import annotations

import json
import re
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from curate.dedup.lsh import (PAIRS, LSHParams, PhaseError, atomic_write, row_offsets, signature_files,
                              unique_pairs)
from curate.dedup.shingles import jaccard, shingle_hashes, sorted_distinct

CLUSTERS = "clusters"
SUCCESS = "_SUCCESS.json"
VERIFY_CHUNK = 20_000  # candidate pairs whose texts are requested at once

# texts for (rank, position) keys, in the order given
TextSource = Callable[[Sequence[tuple[int, int]]], Sequence[str]]


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # no /proc (not Linux): the caller falls back to getrusage
        return None
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB.

    Linux's VmHWM where there is one: getrusage's ru_maxrss survives fork + exec, so a task process started by a
    big parent reports the parent's peak; VmHWM belongs to the process's own memory (and `reset_peak_rss` can
    restart it). Elsewhere ru_maxrss (KiB on Linux, bytes on macOS)."""
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    import sys

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1 << 20) if sys.platform == "darwin" else maxrss / 1024


def current_rss_mb() -> float | None:
    return _proc_status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Restart the peak (Linux >= 4.0: writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def read_pairs(folder: str | Path, params: LSHParams) -> np.ndarray:
    """All distinct candidate pairs; a PhaseError naming the missing bands when phase 2 did not cover them all."""
    files = sorted((Path(folder) / PAIRS).glob("*.npy"))
    covered = np.zeros(params.bands, dtype=int)
    for f in files:
        match = re.fullmatch(r"(\d+)-(\d+)", f.stem)
        if match:
            covered[int(match[1]):int(match[2])] += 1
    missing = np.flatnonzero(covered == 0)
    if len(missing):
        raise PhaseError(f"phase 2 (buckets) is incomplete in {folder}: no pairs file covers band(s) "
                         f"{missing.tolist()}; re-run phase 2 for them")
    return unique_pairs(np.concatenate([np.load(f) for f in files]))


def union_find(pairs: np.ndarray, n: int) -> np.ndarray:
    """Component label (0..k-1) of each of n nodes joined by `pairs` (local node numbers)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def verify_pairs(pairs: np.ndarray, ranks: np.ndarray, positions: np.ndarray, texts: TextSource,
                 params: LSHParams, threshold: float) -> np.ndarray:
    """Boolean mask of the pairs (local node numbers) whose exact shingle-set Jaccard is >= threshold."""
    keep = np.zeros(len(pairs), dtype=bool)
    for start in range(0, len(pairs), VERIFY_CHUNK):
        chunk = pairs[start:start + VERIFY_CHUNK]
        nodes = sorted_distinct(chunk)
        order = np.lexsort((positions[nodes], ranks[nodes]))  # file order, so the caller can stream its inputs
        nodes = nodes[order]
        got = texts([(int(ranks[i]), int(positions[i])) for i in nodes])
        sets = {int(i): sorted_distinct(shingle_hashes(t, params.ngram, params.unit)) for i, t in zip(nodes, got)}
        keep[start:start + len(chunk)] = [jaccard(sets[int(u)], sets[int(v)]) >= threshold for u, v in chunk]
    return keep


@dataclass
class ClusterNodes:
    """What phase 3 needs of each document that appears in a candidate pair (local number i = row i): its phase-1
    task and position, its quality, its id, and with `signature_threshold` its MinHash signature."""

    ranks: np.ndarray  # int64
    positions: np.ndarray  # int64
    quality: np.ndarray  # float64, NaN where missing
    ids: np.ndarray  # object (str); "rank/position" where the document has no id
    signatures: np.ndarray | None  # (documents, num_perm)

    @classmethod
    def load(cls, files: list[Path], offsets: np.ndarray, nodes: np.ndarray, params: LSHParams,
             with_signatures: bool) -> ClusterNodes:
        """The rows of `nodes` (global row numbers, sorted) from the phase-1 files, one file at a time."""
        import pyarrow.parquet as pq

        n = len(nodes)
        loaded = cls(np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64),
                     np.empty(n, dtype=object),
                     np.empty((n, params.num_perm), dtype=params.hasher().dtype) if with_signatures else None)
        for f, lo, hi in zip(files, offsets[:-1], offsets[1:]):
            a, b = np.searchsorted(nodes, [lo, hi])
            if a == b:
                continue
            rows = nodes[a:b] - lo
            if with_signatures:
                if "signature" not in pq.read_schema(f).names:
                    raise PhaseError(f"{f} has no signatures (phase 1 ran without keep_signatures); re-run phase 1 "
                                     "with keep_signatures=True, or cluster without signature_threshold")
                flat = pq.read_table(f, columns=["signature"]).column(0).combine_chunks().flatten().to_numpy()
                loaded.signatures[a:b] = flat.reshape(-1, params.num_perm)[rows]
                del flat
            table = pq.read_table(f, columns=["position", "quality", "id"])
            loaded.ranks[a:b] = int(f.stem)
            loaded.positions[a:b] = table.column("position").to_numpy()[rows]
            loaded.quality[a:b] = table.column("quality").to_numpy(zero_copy_only=False)[rows]
            loaded.ids[a:b] = np.asarray(table.column("id").to_pylist(), dtype=object)[rows]
            del table
        empty_ids = loaded.ids == ""
        loaded.ids[empty_ids] = [f"{r}/{p}" for r, p in zip(loaded.ranks[empty_ids], loaded.positions[empty_ids])]
        return loaded

    def winners(self, labels: np.ndarray, clusters: int) -> np.ndarray:
        """The node each cluster keeps, by cluster label: sorted by cluster, then -quality (missing last), id,
        rank, position, the first of each cluster wins."""
        neg_quality = np.where(np.isnan(self.quality), np.inf, -self.quality)
        id_rank = np.unique(self.ids.astype(str), return_inverse=True)[1]
        order = np.lexsort((self.positions, self.ranks, id_rank, neg_quality, labels))
        first = np.ones(len(order), dtype=bool)
        first[1:] = labels[order][1:] != labels[order][:-1]
        winner = np.empty(clusters, dtype=np.int64)
        winner[labels[order][first]] = order[first]
        return winner


def similar_by_signature(pairs: np.ndarray, signatures: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask of the pairs (local node numbers) whose MinHash estimate (share of equal values over all
    permutations) is >= threshold."""
    mask = np.empty(len(pairs), dtype=bool)
    for start in range(0, len(pairs), 1 << 20):  # bounded: 2^20 pairs x num_perm values at a time
        chunk = pairs[start:start + (1 << 20)]
        estimate = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(axis=1)
        mask[start:start + len(chunk)] = estimate >= threshold
    return mask


def write_decisions(out: Path, files: list[Path], docs: ClusterNodes, clustered: np.ndarray, cluster_ids: np.ndarray,
                    member_size: np.ndarray, keep: np.ndarray) -> None:
    """One decision file per phase-1 task: its documents in clusters of 2 or more, by position."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in files:
        rank = int(f.stem)
        mine = clustered & (docs.ranks == rank)
        order_in_task = np.argsort(docs.positions[mine], kind="stable")
        table = pa.table({
            "position": pa.array(docs.positions[mine][order_in_task], pa.int64()),
            "cluster_id": pa.array(cluster_ids[mine][order_in_task].tolist(), pa.string()),
            "cluster_size": pa.array(member_size[mine][order_in_task], pa.int64()),
            "keep": pa.array(keep[mine][order_in_task], pa.bool_()),
        })
        atomic_write(out / f"{rank:05d}.parquet", lambda tmp, t=table: pq.write_table(t, tmp))


def build_clusters(folder: str | Path, params: LSHParams, expected_tasks: int | None = None,
                   texts: TextSource | None = None, threshold: float = 0.8,
                   signature_threshold: float | None = None) -> dict:
    """Phase 3: pairs -> clusters -> per-task decision files. Returns (and writes to _SUCCESS.json) the counts.

    `texts`: optional callback for exact-Jaccard verification of candidate pairs at `threshold`.
    `signature_threshold`: drop candidate pairs whose MinHash estimate (share of equal signature values over all
    num_perm permutations, not only the bands) is below it; needs phase 1 run with `keep_signatures=True`. Cheaper
    than text verification (no texts), coarser (standard error ~0.04 at Jaccard 0.8 with 112 permutations)."""
    started = time.perf_counter()
    folder = Path(folder)
    files = signature_files(folder, params, expected_tasks)
    offsets = row_offsets(files)
    pairs = read_pairs(folder, params)
    candidates = len(pairs)
    # local numbering of the documents that appear in a pair
    nodes = sorted_distinct(pairs)
    local = np.searchsorted(nodes, pairs)
    del pairs
    docs = ClusterNodes.load(files, offsets, nodes, params, with_signatures=signature_threshold is not None)

    rejected = rejected_by_signature = 0
    if docs.signatures is not None and len(local):
        mask = similar_by_signature(local, docs.signatures, signature_threshold)
        rejected_by_signature = int((~mask).sum())
        local = local[mask]
    docs.signatures = None  # the (documents x num_perm) matrix freed before verification and union-find
    if texts is not None and len(local):
        mask = verify_pairs(local, docs.ranks, docs.positions, texts, params, threshold)
        rejected = int((~mask).sum())
        local = local[mask]

    labels = union_find(local, len(nodes))
    sizes = np.bincount(labels)
    winner = docs.winners(labels, sizes.shape[0])
    keep = np.zeros(len(nodes), dtype=bool)
    keep[winner] = True
    cluster_ids = docs.ids[winner][labels]
    member_size = sizes[labels]
    clustered = member_size > 1
    write_decisions(folder / CLUSTERS, files, docs, clustered, cluster_ids, member_size, keep)
    summary = {
        "documents": int(offsets[-1]), "candidate_pairs": candidates, "rejected_by_verification": rejected,
        "rejected_by_signature": rejected_by_signature, "signature_threshold": signature_threshold,
        "verified": texts is not None, "clusters": int((sizes > 1).sum()), "documents_in_clusters": int(clustered.sum()),
        "removed": int((clustered & ~keep).sum()), "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "params": json.loads(params.to_json()),
        "catch_probability": params.catch_probabilities(),
    }
    atomic_write(folder / CLUSTERS / SUCCESS, lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))
    return summary


@dataclass(frozen=True)
class Decision:
    cluster_id: str
    cluster_size: int
    keep: bool


class DecisionLookup:
    """Phase 4 for one task: `lookup[position]` -> Decision, or None for a document alone in its cluster."""

    def __init__(self, folder: str | Path, rank: int):
        import pyarrow.parquet as pq

        folder = Path(folder) / CLUSTERS
        if not (folder / SUCCESS).exists():
            raise PhaseError(f"phase 3 (clusters) has not finished in {folder.parent}: re-run phase 3")
        path = folder / f"{rank:05d}.parquet"
        self.decisions: dict[int, Decision] = {}
        if not path.exists():  # a task with no document that has a token writes no phase-1 file
            return
        table = pq.read_table(path).to_pydict()
        for position, cluster_id, size, keep in zip(table["position"], table["cluster_id"], table["cluster_size"],
                                                    table["keep"]):
            self.decisions[position] = Decision(cluster_id, size, keep)

    def __getitem__(self, position: int) -> Decision | None:
        return self.decisions.get(position)


def read_summary(folder: str | Path) -> dict:
    """Phase 3's counts (_SUCCESS.json): candidate pairs, rejected, clusters, removed, seconds, peak RSS, params."""
    path = Path(folder) / CLUSTERS / SUCCESS
    if not path.exists():
        raise PhaseError(f"phase 3 (clusters) has not finished in {folder}: re-run phase 3")
    return json.loads(path.read_text())
