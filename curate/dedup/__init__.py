"""Deduplication: exact (normalised-text hashes) and MinHash LSH near-duplicates in four phases.

1. `lsh.SignatureWriter` (per task, streaming): band hashes + keep-rule keys -> signatures/<rank>.parquet
2. `lsh.find_candidate_pairs` (per band range, independent): buckets -> pairs/<start>-<stop>.npy
3. `clusters.build_clusters` (one task): union-find (+ optional exact-Jaccard verification) -> clusters/<rank>.parquet
4. `clusters.DecisionLookup` (per task, streaming): position -> Decision(cluster_id, cluster_size, keep)

Heavy imports (datasketch, pyarrow, scipy) happen inside functions; importing this package is cheap.
"""
