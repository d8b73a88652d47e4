"""What exact_dedup and minhash_dedup share: their phases between observing and deciding, and the decision.

Both stages hash each document into "bands" (minhash: LSH bands of its MinHash signature; exact: the normalised
text's hash, and the URL's), then run the phases of curate/dedup (see curate/dedup/README.md):

    observe (every task of the phase before)   -> <work>/signatures/<rank>.parquet
    pairs   (one task per band range)          -> <work>/pairs/<lo>-<hi>.npy       buckets of equal band hashes
    clusters (one task)                        -> <work>/clusters/<rank>.parquet   union-find, keep rule
    decide  (every task of the phase after)    <- its clusters file: annotate, keep or reject

Keep rule (curate/dedup/clusters.py): in each cluster keep the document with the highest `keep_by` value (a
numeric column such as `quality_score`; documents without it rank last), then the smallest id. The cluster's id is
the kept document's id, so a removed document's detail names the one that was kept.
"""

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

from curate.dedup.clusters import CLUSTERS, SUCCESS, DecisionLookup, build_clusters, read_summary
from curate.dedup.lsh import PhaseError, find_candidate_pairs, split_bands
from curate.funnel import timed
from curate.stages.base import GlobalStage, ReduceStep, Rejection


class CandidatePairs(ReduceStep):
    """Phase 2: task `rank` of `world_size` finds the buckets of its contiguous range of bands."""

    type = "🪣 - BUCKETS"
    part = "pairs"

    def __init__(self, stage_name: str, work_dir: str, params, observe_tasks: int):
        super().__init__(stage_name, observe_tasks)
        self.work_dir, self.params = work_dir, params

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        bands = split_bands(self.params.bands, world_size)[rank]
        with timed(self):
            path = find_candidate_pairs(self.work_dir, self.params, bands, expected_tasks=self.observe_tasks)
        self.stat_update("candidate_pairs_in_bands", value=len(np.load(path, mmap_mode="r")))
        yield from ()


class Clusters(ReduceStep):
    """Phase 3 (one task): candidate pairs -> verified pairs -> clusters -> per-task keep/remove decisions."""

    type = "🔗 - CLUSTERS"
    part = "clusters"

    def __init__(self, stage_name: str, work_dir: str, params, observe_tasks: int, texts=None,
                 threshold: float = 0.8, signature_threshold: float | None = None, mode: str = "remove"):
        super().__init__(stage_name, observe_tasks)
        self.work_dir, self.params = work_dir, params
        self.texts, self.threshold, self.signature_threshold = texts, threshold, signature_threshold
        self.mode = mode

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        with timed(self):
            summary = build_clusters(self.work_dir, self.params, expected_tasks=self.observe_tasks, texts=self.texts,
                                     threshold=self.threshold, signature_threshold=self.signature_threshold)
        for key in ("candidate_pairs", "rejected_by_verification", "rejected_by_signature", "clusters",
                    "documents_in_clusters"):
            self.stat_update(key, value=summary[key])
        # mode mark removes nothing: the documents that remove would drop are counted as marked
        self.stat_update("removed" if self.mode == "remove" else "marked_duplicates", value=summary["removed"])
        yield from ()


class DedupStage(GlobalStage):
    """The decide half and the manifest summary of a clustering dedup stage; subclasses give the observer, the
    band parameters (`self.params`) and the verification of candidate pairs."""

    reason = "duplicate"  # the rejection reason of a removed document
    column_prefix = "dup"  # columns <prefix>_cluster_id, <prefix>_cluster_size

    def __init__(self, mode: Literal["remove", "mark"] = "remove", keep_by: str | None = "quality_score"):
        super().__init__()
        if mode not in ("remove", "mark"):
            raise ValueError(f"mode must be 'remove' or 'mark', got {mode!r}")
        self.mode, self.keep_by = mode, keep_by

    def columns(self) -> dict[str, pa.DataType]:
        return {f"{self.column_prefix}_cluster_id": pa.string(), f"{self.column_prefix}_cluster_size": pa.int64()}

    def keep_value(self, doc: Document) -> float | None:
        """The keep rule's value of a document: its `keep_by` column, when numeric."""
        value = doc.metadata.get(self.keep_by) if self.keep_by else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def verification(self) -> dict:
        """Keyword arguments of `build_clusters` that check candidate pairs (none by default)."""
        return {}

    def reduce_steps(self, tasks: int) -> list[tuple[str, int, PipelineStep]]:
        pair_tasks = len(split_bands(self.params.bands, tasks))
        return [("pairs", pair_tasks, CandidatePairs(self.name, self.work_dir, self.params, tasks)),
                ("clusters", 1, Clusters(self.name, self.work_dir, self.params, tasks, mode=self.mode,
                                         **self.verification()))]

    def decider(self, rank: int):
        try:
            lookup = DecisionLookup(self.work_dir, rank)
        except PhaseError as error:
            raise PhaseError(f"{self.name}: {error} (if the work folder was deleted after its phases completed, "
                             "start over with --force)") from None
        id_column, size_column = f"{self.column_prefix}_cluster_id", f"{self.column_prefix}_cluster_size"

        def decide(doc: Document, position: int) -> Document | Rejection:
            decision = lookup[position]
            if decision is None:  # alone in its cluster
                doc.metadata[size_column] = 1
                return doc
            doc.metadata[id_column] = decision.cluster_id
            doc.metadata[size_column] = decision.cluster_size
            if decision.keep or self.mode == "mark":
                return doc
            return Rejection(self.reason, value=decision.cluster_size,
                             detail=f"duplicate of {decision.cluster_id} (cluster of {decision.cluster_size})")

        return decide

    def summary(self, counters: dict) -> dict:
        if not self.work_dir or not (Path(self.work_dir) / CLUSTERS / SUCCESS).exists():
            return {}
        summary = read_summary(self.work_dir)
        summary.update(mode=self.mode, keep_by=self.keep_by)
        if self.mode == "mark":  # nothing was removed: the duplicates are marked (cluster columns) and kept
            summary["marked_duplicates"], summary["removed"] = summary["removed"], 0
        return summary

