"""LSH parameters, band hashes, and phases 1-4 on real documents with planted near-duplicates: found above the
threshold, not found well below; cluster ids consistent; keep rule deterministic; phase 2 split by band range and
phase 1 split over tasks give the same result; a phase run out of order fails naming the phase to redo."""

import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasketch import MinHashLSH

from pipeline_helpers import shared

from curate.dedup.clusters import CLUSTERS, DecisionLookup, build_clusters, read_summary
from curate.dedup.lsh import (PAIRS, LSHParams, PhaseError, SignatureWriter, band_hashes, bucket_pairs,
                              catch_probability, find_candidate_pairs, split_bands)
from curate.dedup.shingles import jaccard, shingle_set
from curate.evaluation.dedup import split_book, wikipedia_docs


def test_parameters():
    params = LSHParams()
    assert (params.num_perm, params.bands, params.rows, params.ngram) == (112, 14, 8, 5)
    assert params.catch_probabilities() == {"0.7": 0.5645, "0.8": 0.9235, "0.9": 0.9996}
    assert catch_probability(0.8, 14, 8) == pytest.approx(1 - (1 - 0.8 ** 8) ** 14)
    for threshold in (0.5, 0.8, 0.9):
        lsh = MinHashLSH(threshold=threshold, num_perm=128)
        derived = LSHParams.for_threshold(threshold, 128)
        assert (derived.bands, derived.rows) == (lsh.b, lsh.r)
    with pytest.raises(ValueError, match="bands x rows"):
        LSHParams(num_perm=100, bands=14, rows=8)
    assert split_bands(14, 3) == [range(0, 5), range(5, 9), range(9, 14)]
    assert split_bands(14, 1) == [range(0, 14)]


def test_band_hashes_and_buckets():
    rng = np.random.default_rng(1)
    sigs = rng.integers(0, 1 << 32, (5, 112), dtype=np.uint64).astype(np.uint32)
    sigs[3] = sigs[0]
    sigs[4] = sigs[0]
    sigs[4, 17] ^= 1  # band 2 (rows 16..23) differs
    h = band_hashes(sigs, 14, 8)
    assert h.shape == (5, 14) and h.dtype == np.uint64
    assert np.array_equal(h[3], h[0])
    assert (h[4] != h[0]).tolist() == [b == 2 for b in range(14)]
    assert len(np.unique(h[:3])) == 3 * 14
    # a bucket links every member to its first (smallest row), not all pairs
    assert bucket_pairs(np.array([7, 3, 7, 7, 3, 9], dtype=np.uint64)).tolist() == [[1, 4], [0, 2], [0, 3]]


def corpus() -> list[str]:
    book = shared("text", "gutenberg", "1342", "1342-0.txt").read_text(encoding="utf-8")
    docs = [c for c in split_book(book) if len(c.split()) > 800][:14]
    docs += [t for _, t in wikipedia_docs(shared())[:30] if len(t.split()) > 600][:14]
    return docs


def substitute(text: str, rate: float, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(w if rng.random() >= rate else f"zz{rng.randrange(10**6)}" for w in text.split())


@pytest.fixture(scope="module")
def planted():
    """(texts, ids, quality, [(base, copy, exact Jaccard)]): real documents plus copies at planted similarities."""
    base = corpus()
    texts, plants = list(base), []
    # substitution rates -> Jaccard ~0.97, 0.9, 0.87 (found) and ~0.4, 0.25 (well below)
    for i, rate in enumerate([0.003, 0.01, 0.014, 0.1, 0.16] * 5):
        b = i % len(base)
        texts.append(substitute(base[b], rate, seed=i))
        plants.append((b, len(texts) - 1, jaccard(shingle_set(base[b]), shingle_set(texts[-1]))))
    texts += ["Short doc.", "short doc", "", "!!!", "Another short one"]
    ids = [f"d{i:03d}" for i in range(len(texts))]
    rng = random.Random(5)
    quality = [round(rng.random(), 2) for _ in texts]
    return texts, ids, quality, plants


def run_phases(folder: Path, texts, ids, quality=None, tasks: int = 1, band_tasks: int = 1, verify=False,
               params=LSHParams()) -> dict:
    """Phases 1-3 with documents spread round-robin over `tasks`; {id: (cluster_id, size, keep)} for clustered ones."""
    for rank in range(tasks):
        writer = SignatureWriter(folder, rank, params)
        for position, doc in enumerate(range(rank, len(texts), tasks)):
            writer.add(position, texts[doc], None if quality is None else quality[doc], ids[doc])
        writer.close()
    for bands in split_bands(params.bands, band_tasks):
        find_candidate_pairs(folder, params, bands, tasks)
    source = (lambda keys: [texts[p * tasks + r] for r, p in keys]) if verify else None
    build_clusters(folder, params, tasks, texts=source)
    out = {}
    for rank in range(tasks):
        for position, d in DecisionLookup(folder, rank).decisions.items():
            out[ids[position * tasks + rank]] = (d.cluster_id, d.cluster_size, d.keep)
    return out


def test_planted_near_duplicates_found_above_and_not_well_below(tmp_path, planted):
    texts, ids, _, plants = planted
    result = run_phases(tmp_path, texts, ids)
    above = [(b, c) for b, c, j in plants if j >= 0.85]
    below = [(b, c) for b, c, j in plants if j <= 0.45]
    assert len(above) >= 12 and len(below) >= 8
    for b, c in above:
        assert ids[c] in result and result[ids[c]][0] == result[ids[b]][0]
    for b, c in below:
        assert ids[c] not in result
    # short documents: equal normalised texts are duplicates; no-token documents are never clustered
    assert result["d" + f"{texts.index('Short doc.'):03d}"][:2] == result[f"d{texts.index('short doc'):03d}"][:2]
    assert f"d{texts.index(''):03d}" not in result and f"d{texts.index('!!!'):03d}" not in result


def test_cluster_ids_consistent_and_keep_rule(tmp_path, planted):
    texts, ids, quality, _ = planted
    for name, q in (("no_quality", None), ("quality", quality)):
        result = run_phases(tmp_path / name, texts, ids, q)
        clusters = {}
        for doc, (cluster, size, keep) in result.items():
            clusters.setdefault(cluster, []).append((doc, size, keep))
        for cluster, members in clusters.items():
            assert {size for _, size, _ in members} == {len(members)} and len(members) > 1
            kept = [doc for doc, _, keep in members if keep]
            assert kept == [cluster]  # one kept per cluster; the cluster id is the kept document's id
            if q is None:
                assert cluster == min(doc for doc, _, _ in members)  # smallest id
            else:
                best = max(quality[ids.index(doc)] for doc, _, _ in members)
                assert cluster == min(doc for doc, _, _ in members if quality[ids.index(doc)] == best)
        assert run_phases(tmp_path / f"{name}_again", texts, ids, q) == result  # deterministic across re-runs


def test_split_phases_give_identical_results(tmp_path, planted):
    texts, ids, quality, _ = planted
    one = run_phases(tmp_path / "one", texts, ids, quality, tasks=1, band_tasks=1)
    three_band_tasks = run_phases(tmp_path / "three", texts, ids, quality, tasks=1, band_tasks=3)
    assert three_band_tasks == one
    pairs_one = np.load(next((tmp_path / "one" / PAIRS).glob("*.npy")))
    pairs_three = np.unique(np.concatenate([np.load(f) for f in (tmp_path / "three" / PAIRS).glob("*.npy")]), axis=0)
    assert np.array_equal(pairs_one, pairs_three)
    # two phase-1 tasks and two phase-2 tasks: the same clusters, ids, sizes and kept documents
    assert run_phases(tmp_path / "two", texts, ids, quality, tasks=2, band_tasks=2) == one


def test_verification_rejects_candidates_below_threshold(tmp_path, planted):
    texts, ids, _, plants = planted
    params = LSHParams(bands=20, rows=5, num_perm=100)  # a loose index: catches pairs around J=0.5 as well
    loose = run_phases(tmp_path / "loose", texts, ids, params=params)
    verified = run_phases(tmp_path / "verified", texts, ids, verify=True, params=params)
    summary = read_summary(tmp_path / "verified")
    assert summary["rejected_by_verification"] > 0
    for b, c, j in plants:
        together = ids[c] in verified and verified[ids[c]][0] == verified.get(ids[b], (None,))[0]
        assert together == (j >= 0.8)
    assert len(verified) < len(loose)


def test_signature_check_needs_kept_signatures_and_drops_low_estimates(tmp_path, planted):
    texts, ids, _, plants = planted
    params = LSHParams(bands=20, rows=5, num_perm=100)
    for folder, keep in ((tmp_path / "without", False), (tmp_path / "with", True)):
        writer = SignatureWriter(folder, 0, params, keep_signatures=keep)
        for position, text in enumerate(texts):
            writer.add(position, text, None, ids[position])
        writer.close()
        find_candidate_pairs(folder, params)
    with pytest.raises(PhaseError, match="keep_signatures"):
        build_clusters(tmp_path / "without", params, signature_threshold=0.8)
    loose = build_clusters(tmp_path / "without", params)
    checked = build_clusters(tmp_path / "with", params, signature_threshold=0.8)
    assert checked["rejected_by_signature"] > 0 and checked["removed"] < loose["removed"]
    decisions = DecisionLookup(tmp_path / "with", 0).decisions
    for b, c, j in plants:
        if j >= 0.9:
            assert decisions[c].cluster_id == decisions[b].cluster_id
        if j <= 0.5:
            assert c not in decisions


def test_out_of_order_phases_fail_naming_the_phase(tmp_path, planted):
    texts, ids, _, _ = planted
    params = LSHParams()
    writer = SignatureWriter(tmp_path, 0, params)
    for position, text in enumerate(texts):
        writer.add(position, text, None, ids[position])
    writer.close()
    with pytest.raises(PhaseError, match=r"phase 1 \(signatures\) is incomplete.*task\(s\) \[1\]"):
        find_candidate_pairs(tmp_path, params, range(0, 7), expected_tasks=2)
    with pytest.raises(PhaseError, match="phase 1 .* with the current parameters"):
        find_candidate_pairs(tmp_path, LSHParams(bands=10, rows=8), range(0, 5))
    find_candidate_pairs(tmp_path, params, range(0, 7))
    with pytest.raises(PhaseError, match=r"phase 2 \(buckets\) is incomplete.*\[7, 8, 9, 10, 11, 12, 13\]"):
        build_clusters(tmp_path, params)
    with pytest.raises(PhaseError, match=r"phase 3 \(clusters\) has not finished"):
        DecisionLookup(tmp_path, 0)
    find_candidate_pairs(tmp_path, params, range(7, 14))
    build_clusters(tmp_path, params)
    first = pq.read_table(tmp_path / CLUSTERS / "00000.parquet").to_pylist()
    # a crash that lost a phase-2 file and the phase-3 output: re-running the missing parts gives the same output
    (tmp_path / PAIRS / "007-014.npy").unlink()
    for f in (tmp_path / CLUSTERS).iterdir():
        f.unlink()
    find_candidate_pairs(tmp_path, params, range(7, 14))
    build_clusters(tmp_path, params)
    assert pq.read_table(tmp_path / CLUSTERS / "00000.parquet").to_pylist() == first
