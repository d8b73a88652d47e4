"""split: assign every kept document to `train`, `val` or `test`, so that related documents never straddle splits.

A document's split depends only on its group key and the seed: the group key's 64-bit xxh3 hash (salted with the
seed) is read as a number in [0, 1) and falls into the train, val or test part of that interval. So the split never
depends on worker or task counts, or on the order of documents, and every document of a group lands together.

Group key (`group_by`):
- `auto` (default): the near-duplicate cluster (`dup_cluster_id`, written by minhash_dedup; in `mark` mode every
  member of a cluster carries it, so near-duplicates never straddle train and test), else the exact-duplicate
  cluster (`exact_dup_cluster_id`), else the document id.
- `domain`: the URL's registered domain (tldextract's bundled public-suffix list, offline), so all pages of a site
  land in one split; documents without a URL fall back to `auto`.
- `id`: the document id alone.

The ShardWriter puts kept documents into OUT/<split>/ instead of OUT/data/. Column: `split`. Stats: `split/<name>`
and `group_key/<kind>` (which key decided, per document); the manifest records the parameters and the sizes of the
three splits in documents, bytes and tokens.
"""

from typing import Literal

import pyarrow as pa
from datatrove.data import Document

from curate.funnel import SPLITS  # the writer routes documents to these folders
from curate.stages.base import CurateStep, Rejection
from curate.stages.urls import registered_domain

# Dolma / FineWeb-style releases hold out ~1% each; the defaults
DEFAULT_FRACTIONS = {"train": 0.98, "val": 0.01, "test": 0.01}
GROUP_BY = ("auto", "domain", "id")


class Split(CurateStep):
    name = "split"

    def __init__(self, fractions: dict[str, float] | None = None, seed: int = 0,
                 group_by: Literal["auto", "domain", "id"] = "auto"):
        super().__init__()
        fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
        unknown = set(fractions) - set(SPLITS)
        if unknown or any(not 0 <= f <= 1 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
            raise ValueError(f"fractions must map {', '.join(SPLITS)} to numbers in [0, 1] summing to 1, "
                             f"got {fractions}")
        if group_by not in GROUP_BY:
            raise ValueError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
        self.fractions = {name: fractions.get(name, 0.0) for name in SPLITS}
        self.seed, self.group_by = seed, group_by
        bounds, total = [], 0.0
        for name in SPLITS:
            total += self.fractions[name]
            bounds.append((total, name))
        self.bounds = bounds

    def columns(self) -> dict[str, pa.DataType]:
        return {"split": pa.string()}

    def group_key(self, doc: Document) -> tuple[str, str]:
        """(kind of key, key) for a document."""
        if self.group_by == "domain" and doc.metadata.get("url"):
            domain = registered_domain(doc.metadata["url"])
            if domain:
                return "domain", domain
        if self.group_by != "id":
            for column, kind in (("dup_cluster_id", "dup_cluster"), ("exact_dup_cluster_id", "exact_dup_cluster")):
                if doc.metadata.get(column):
                    return kind, doc.metadata[column]
        return "id", doc.id

    def assign(self, key: str) -> str:
        import xxhash

        point = xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"), seed=self.seed) / 2**64
        for bound, name in self.bounds:
            if point < bound:
                return name
        return self.bounds[-1][1]  # rounding at the top end

    def process(self, doc: Document) -> Document | Rejection:
        kind, key = self.group_key(doc)
        doc.metadata["split"] = split = self.assign(key)
        self.stat_update(f"split/{split}")
        self.stat_update(f"group_key/{kind}")
        return doc

    def summary(self, counters: dict) -> dict:
        return {"fractions": self.fractions, "seed": self.seed, "group_by": self.group_by,
                "group_key_order": {"auto": ["dup_cluster_id", "exact_dup_cluster_id", "id"],
                                    "domain": ["registered domain of url", "dup_cluster_id", "exact_dup_cluster_id",
                                               "id"], "id": ["id"]}[self.group_by]}
