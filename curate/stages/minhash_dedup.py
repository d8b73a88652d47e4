"""minhash_dedup: near-duplicate removal by MinHash LSH (curate/dedup: signatures bit-identical to datasketch's).

Each document's shingles (word n-grams; every character of a script written without spaces is a word, so zh/ja/th
get character n-grams; `unit: chars` for character n-grams everywhere) are hashed into a MinHash signature of
`num_perm` values, cut into `bands` bands of `rows` values. Two documents that agree on a whole band are candidate
duplicates; candidates are checked (`verify`), joined into clusters (union-find), and all but one document of each
cluster are removed (`mode: remove`) or only annotated (`mode: mark`).

A GlobalStage (curate/stages/base.py): signatures are computed in the phase before it, in every task, and written to
its work folder; buckets are found one band range per task and clusters in one task (curate/stages/dedup_phases.py);
the phase after it decides. Memory in the clustering phases grows with one band of all documents and with the
candidate pairs, not with bands x documents (see curate/dedup/README.md for figures).

Documents with fewer than `ngram` words have one shingle, their whole text (duplicates only of an equal text); a
document with no word at all is never a near-duplicate. Both are stated rules of curate/dedup/shingles.py.

Columns: `dup_cluster_id` (the id of the document the cluster keeps; null for a document alone), `dup_cluster_size`
(1 alone). Rejection: `near_duplicate`, value = the cluster size, detail = the id of the kept document.
"""

from pathlib import Path
from typing import Literal

from datatrove.data import Document

from curate.dedup.lsh import LSHParams, SignatureWriter, catch_probability
from curate.dedup.minhash import SCHEMES
from curate.dedup.shingles import UNITS
from curate.stages.base import Observer
from curate.stages.dedup_phases import DedupStage

VERIFY = ("signature", "exact", "none")
# Bands that find a pair at the threshold with less than this share of the probability that datasketch's optimal
# bands for that threshold (MinHashLSH(threshold)) give are refused: the threshold then only cuts candidates, and the
# pairs just above it are mostly never candidates. The defaults, 14 x 8, find a pair at 0.8 with probability 0.924,
# at 0.6 with 0.211 (optimum 16 x 7: 0.365, accepted) and at 0.5 with 0.053 (optimum 22 x 5: 0.503, refused).
MIN_SHARE_OF_OPTIMAL_CATCH = 0.5


class MinhashSignatures(Observer):
    """Phase 1 for one task: curate.dedup.lsh.SignatureWriter over the task's live documents."""

    def __init__(self, stage: "MinhashDedup", rank: int):
        self.stage = stage
        self.writer = SignatureWriter(Path(stage.work_dir), rank, stage.params,
                                      keep_signatures=stage.verify == "signature")

    def add(self, position: int, doc: Document) -> None:
        self.writer.add(position, doc.text or "", self.stage.keep_value(doc), doc.id or "")

    def close(self) -> None:
        self.writer.close()


class MinhashDedup(DedupStage):
    name = "minhash_dedup"
    reason = "near_duplicate"
    column_prefix = "dup"

    def __init__(self, mode: Literal["remove", "mark"] = "remove", threshold: float = 0.8, ngram: int = 5,
                 unit: Literal["words", "chars"] = "words", num_perm: int = 112, bands: int | None = 14,
                 rows: int | None = 8, seed: int = 1, scheme: Literal["affine32", "legacy"] = "affine32",
                 verify: Literal["signature", "exact", "none"] = "signature", keep_by: str | None = "quality_score"):
        """Defaults: FineWeb's word 5-grams, 112 permutations in 14 bands x 8 rows, seed 1 (datatrove
        `MinhashConfig`; Penedo et al. 2024, §3.4). `bands`/`rows` null: derived from `threshold` (datasketch's
        optimal parameters, as `MinHashLSH(threshold)`). `threshold` 0.8: the Jaccard similarity above which a pair
        is a duplicate, used by verification. `verify`: `signature` drops candidate pairs whose MinHash estimate
        over all `num_perm` values is below `threshold` (F1 0.964 against 0.890 unverified on `curate eval dedup`),
        `exact` computes the exact Jaccard of the two shingle sets from the spilled texts (F1 0.991, about half the
        speed), `none` keeps every candidate (FineWeb's setting)."""
        super().__init__(mode=mode, keep_by=keep_by)
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if unit not in UNITS or scheme not in SCHEMES or verify not in VERIFY:
            raise ValueError(f"unit must be one of {UNITS}, scheme one of {SCHEMES}, verify one of {VERIFY}")
        if (bands is None) != (rows is None):
            raise ValueError("give both bands and rows, or neither (then they are derived from threshold)")
        common = dict(num_perm=num_perm, ngram=ngram, unit=unit, seed=seed, scheme=scheme)
        self.params = (LSHParams.for_threshold(threshold, **common) if bands is None
                       else LSHParams(bands=bands, rows=rows, **common))
        self.threshold, self.verify = threshold, verify
        caught = catch_probability(threshold, self.params.bands, self.params.rows)
        derived = LSHParams.for_threshold(threshold, **common)
        if caught < MIN_SHARE_OF_OPTIMAL_CATCH * catch_probability(threshold, derived.bands, derived.rows):
            half = (1 - 0.5 ** (1 / self.params.bands)) ** (1 / self.params.rows)
            raise ValueError(
                f"threshold {threshold:g} is far below what {self.params.bands} bands x {self.params.rows} rows catch: "
                f"they find a pair at Jaccard {threshold:g} with probability {caught:.3f} (half the pairs at "
                f"{half:.2f}), so a lower threshold finds few more pairs; set bands: null, rows: null to derive them "
                f"from the threshold ({derived.bands} x {derived.rows} here: probability "
                f"{catch_probability(threshold, derived.bands, derived.rows):.3f}), or give bands and rows that catch it")

    def observer(self, rank: int) -> Observer:
        return MinhashSignatures(self, rank)

    def verification(self) -> dict:
        if self.verify == "signature":
            return {"signature_threshold": self.threshold}
        if self.verify == "exact":
            return {"texts": self.spill_texts, "threshold": self.threshold}
        return {}

    def summary(self, counters: dict) -> dict:
        summary = super().summary(counters)
        if summary:
            summary.update(threshold=self.threshold, verify=self.verify)
            summary["catch_probability"] = self.params.catch_probabilities(sorted({0.7, 0.8, 0.9, self.threshold}))
            summary["catch_probability_at_threshold"] = round(catch_probability(
                self.threshold, self.params.bands, self.params.rows), 4)
        return summary
