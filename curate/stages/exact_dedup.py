"""exact_dedup: remove documents whose normalised text (optionally: whose URL) equals another document's.

Normalisation (each an option): lowercase, whitespace runs -> one space, punctuation removed (datatrove's
punctuation set). The normalised text is hashed with 64-bit xxh3 (curate/dedup/exact.py): with n documents the
chance of any false collision is about n^2 / 2^65 (0.03% at 10^8 documents).

A GlobalStage (curate/stages/base.py): it hashes every document in the phase before it, groups equal hashes in the
phases between (curate/stages/dedup_phases.py), and decides in the phase after. Which copy is kept is deterministic
and independent of task and worker counts: the highest `keep_by` value (default `quality_score`, when a stage
wrote one), then the smallest id. Empty texts are equal to each other: all but one are removed.

Columns: `exact_dup_cluster_id` (the kept copy's id; null for a unique document), `exact_dup_cluster_size` (copies,
1 for a unique document). Rejection (mode `remove`): `exact_duplicate`, value = the number of copies, detail =
the id of the kept copy. Mode `mark` keeps every copy and only annotates.
"""

from typing import Literal

import numpy as np
from datatrove.data import Document

from curate.dedup.exact import ExactParams
from curate.dedup.lsh import SIGNATURES, write_signature_file
from curate.stages.base import Observer
from curate.stages.dedup_phases import DedupStage


class ExactHashes(Observer):
    """Phase 1 of exact_dedup for one task: each document's band hashes and keep-rule keys, then one file."""

    def __init__(self, stage: "ExactDedup", rank: int):
        self.stage, self.rank = stage, rank
        self.positions, self.bands, self.quality, self.ids = [], [], [], []

    def add(self, position: int, doc: Document) -> None:
        bands = self.stage.params.band_values(doc.text or "", doc.metadata.get("url"), doc.metadata.get("chunk_index"),
                                              f"{self.rank}/{position}")  # may raise: first
        self.positions.append(position)
        self.bands.append(bands)
        self.quality.append(self.stage.keep_value(doc))
        self.ids.append(doc.id or "")

    def close(self) -> None:
        from pathlib import Path

        bands = np.asarray(self.bands, dtype=np.uint64).reshape(-1, self.stage.params.bands)
        write_signature_file(Path(self.stage.work_dir) / SIGNATURES / f"{self.rank:05d}.parquet", self.stage.params,
                             np.asarray(self.positions, dtype=np.int64), bands, self.quality, self.ids)


class ExactDedup(DedupStage):
    name = "exact_dedup"
    reason = "exact_duplicate"
    column_prefix = "exact_dup"

    def __init__(self, mode: Literal["remove", "mark"] = "remove", lowercase: bool = True,
                 collapse_whitespace: bool = True, strip_punctuation: bool = False, urls: bool = False,
                 keep_by: str | None = "quality_score"):
        """`urls`: a document whose URL (scheme and trailing slash ignored, host lowercased) equals another's is a
        duplicate too. `keep_by`: numeric column whose highest value is kept (then the smallest id)."""
        super().__init__(mode=mode, keep_by=keep_by)
        self.params = ExactParams(lowercase=lowercase, collapse_whitespace=collapse_whitespace,
                                  strip_punctuation=strip_punctuation, urls=urls)

    def observer(self, rank: int) -> Observer:
        return ExactHashes(self, rank)

    def summary(self, counters: dict) -> dict:
        # equal hashes are duplicates: no candidate to verify, no LSH band to miss a pair (MinHash's fields)
        dropped = ("rejected_by_verification", "rejected_by_signature", "signature_threshold", "verified",
                   "catch_probability")
        return {k: v for k, v in super().summary(counters).items() if k not in dropped}
