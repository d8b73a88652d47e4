"""LSH banding: parameters, band hashes, phase 1 (signature files) and phase 2 (buckets -> candidate pairs).

Phase 1 (`SignatureWriter`, one per pipeline task): per document with at least one token, the MinHash signature is
cut into `bands` bands of `rows` values; each band becomes one uint64 (a hash of its rows). The task writes
`<folder>/signatures/<rank:05d>.parquet`, one row per document: `position` (int64, the caller's index of the document
in the task's stream), `band_000` .. `band_<bands-1>` (uint64), `quality` (float64, null when not given) and `id`
(string) -- the keep rule's sort key -- and, with `keep_signatures`, `signature` (num_perm values) for phase 3's
signature check. The LSH parameters are in the file's schema metadata, so a later phase with
different parameters fails with a message instead of silently mixing hashes.

Phase 2 (`find_candidate_pairs`, one call per band range, independent of the others): reads only its band columns
from every phase-1 file (one band at a time: memory ~ documents x 16 bytes), sorts each band's hashes, and links every
member of a bucket (equal band hash) to the bucket's first member -- a star, not all pairs, so a bucket of k
documents costs k-1 pairs. Documents are named by their global row number: phase-1 files in rank order, rows in file
order. Output: `<folder>/pairs/<first>-<stop>.npy`, an (n_pairs, 2) int64 array of (smaller, larger) row numbers,
distinct. Every file is written to a temporary name and renamed, so a file that exists is complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from curate.dedup.minhash import DEFAULT_NGRAM, DEFAULT_NUM_PERM, DEFAULT_SEED, MinHasher
from curate.dedup.shingles import fmix64, sorted_distinct

# FineWeb: 14 bands x 8 rows over 112 permutations (datatrove MinhashConfig num_buckets=14, hashes_per_bucket=8;
# FineWeb paper §3.4), which catches ~92% of pairs at Jaccard 0.8 and ~77% at 0.75.
DEFAULT_BANDS = 14
DEFAULT_ROWS = 8
SIGNATURES = "signatures"
PAIRS = "pairs"


class PhaseError(RuntimeError):
    """A phase's inputs are missing, incomplete or were written with other parameters; the message says which phase
    to (re-)run."""


def catch_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair with this Jaccard similarity shares at least one band: 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


def optimal_bands_rows(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """datasketch's choice of (bands, rows) for a threshold: the grid search minimising the weighted false positive
    and false negative areas (datasketch.lsh._optimal_param, what MinHashLSH(threshold, num_perm) uses)."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, weights[0], weights[1])


@dataclass(frozen=True)
class LSHParams:
    """Everything that must agree between phases. `bands * rows <= num_perm` (extra permutations are unused)."""

    num_perm: int = DEFAULT_NUM_PERM
    bands: int = DEFAULT_BANDS
    rows: int = DEFAULT_ROWS
    ngram: int = DEFAULT_NGRAM
    unit: str = "words"
    seed: int = DEFAULT_SEED
    scheme: str = "affine32"

    def __post_init__(self):
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands} x {self.rows} needs at most num_perm={self.num_perm} "
                             "permutations, and both must be >= 1")

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int = DEFAULT_NUM_PERM, **kwargs) -> LSHParams:
        """Bands x rows from datasketch's optimal parameters for `threshold`."""
        bands, rows = optimal_bands_rows(threshold, num_perm)
        return cls(num_perm=num_perm, bands=bands, rows=rows, **kwargs)

    def catch_probabilities(self, similarities=(0.7, 0.8, 0.9)) -> dict[str, float]:
        """For the manifest: probability of catching a pair at each Jaccard similarity."""
        return {f"{s:g}": round(catch_probability(s, self.bands, self.rows), 4) for s in similarities}

    def hasher(self) -> MinHasher:
        return MinHasher(num_perm=self.num_perm, seed=self.seed, ngram=self.ngram, unit=self.unit, scheme=self.scheme)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: each band's `rows` signature values folded into one 64-bit hash (vectorised over documents
    and bands). Equal bands give equal hashes; unequal bands collide with probability ~2^-64."""
    signatures = np.atleast_2d(signatures)
    cut = signatures[:, :bands * rows].astype(np.uint64).reshape(len(signatures), bands, rows)
    h = np.full((len(signatures), bands), 0x243F6A8885A308D3, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            h = fmix64(h * np.uint64(0x100000001B3) + cut[:, :, r])
    return h


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename to `path`: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


class SignatureWriter:
    """Phase 1 for one task: `add(position, text, quality, doc_id)` per document, then `close()`.

    Holds only band hashes and sort keys (bands x 8 bytes + the id per document) and the signatures of at most
    BATCH documents, not texts."""

    BATCH = 1024

    def __init__(self, folder: str | Path, rank: int, params: LSHParams = LSHParams(), keep_signatures: bool = False):
        self.path = Path(folder) / SIGNATURES / f"{rank:05d}.parquet"
        self.params = params
        self.keep_signatures = keep_signatures  # for phase 3's signature check (num_perm x 4 bytes per document)
        self.signatures: list[np.ndarray] = []
        self.hasher = params.hasher()
        self.positions: list[int] = []
        self.bands: list[np.ndarray] = []
        self.pending: list[np.ndarray] = []
        self.quality: list[float | None] = []
        self.ids: list[str] = []
        self.no_tokens = 0

    def add(self, position: int, text: str, quality: float | None = None, doc_id: str = "") -> bool:
        """Add one document; False (nothing recorded) when it has no token: such a document is never a duplicate."""
        signature = self.hasher.signature(text)
        if signature is None:
            self.no_tokens += 1
            return False
        self.add_signature(position, signature, quality, doc_id)
        return True

    def add_signature(self, position: int, signature: np.ndarray, quality: float | None = None, doc_id: str = ""):
        self.positions.append(position)
        self.pending.append(signature)
        self.quality.append(None if quality is None else float(quality))
        self.ids.append(doc_id)
        if len(self.pending) >= self.BATCH:
            self._flush()

    def _flush(self):
        # band hashing is vectorised over a batch of documents (per document it would be ~40 numpy calls)
        if self.pending:
            batch = np.stack(self.pending)
            self.bands.append(band_hashes(batch, self.params.bands, self.params.rows))
            if self.keep_signatures:
                self.signatures.append(batch)
            self.pending = []

    def close(self) -> Path:
        self._flush()
        bands = np.concatenate(self.bands) if self.bands else np.empty((0, self.params.bands), dtype=np.uint64)
        signatures = None
        if self.keep_signatures:
            signatures = (np.concatenate(self.signatures) if self.signatures
                          else np.empty((0, self.params.num_perm), dtype=self.hasher.dtype))
        write_signature_file(self.path, self.params, np.asarray(self.positions, dtype=np.int64), bands,
                             self.quality, self.ids, signatures)
        return self.path


def write_signature_file(path: Path, params: LSHParams, positions, bands, quality, ids, signatures=None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"position": pa.array(positions, pa.int64())}
    for b in range(params.bands):
        columns[f"band_{b:03d}"] = pa.array(bands[:, b], pa.uint64())
    columns["quality"] = pa.array(quality, pa.float64())
    columns["id"] = pa.array(ids, pa.string())
    if signatures is not None:
        flat = pa.array(signatures.reshape(-1), pa.from_numpy_dtype(signatures.dtype))
        columns["signature"] = pa.FixedSizeListArray.from_arrays(flat, params.num_perm)
    table = pa.table(columns).replace_schema_metadata({"curate.lsh": params.to_json()})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save on a path would append ".npy" to the temporary name
        np.save(f, array)


def signature_files(folder: str | Path, params: LSHParams, expected_tasks: int | None = None) -> list[Path]:
    """The phase-1 files in rank order, checked: all tasks present (when `expected_tasks` is given), same parameters."""
    import pyarrow.parquet as pq

    files = sorted((Path(folder) / SIGNATURES).glob("*.parquet"))
    if expected_tasks is not None:
        have = {int(f.stem) for f in files}
        missing = sorted(set(range(expected_tasks)) - have)
        if missing:
            raise PhaseError(f"phase 1 (signatures) is incomplete in {folder}: no file for task(s) "
                             f"{missing[:10]}; re-run phase 1 for them")
    for f in files:
        written = pq.read_schema(f).metadata.get(b"curate.lsh", b"").decode()
        if written != params.to_json():
            raise PhaseError(f"{f} was written with LSH parameters {written}, not {params.to_json()}; "
                             "re-run phase 1 (signatures) with the current parameters, or delete the work folder")
    return files


def row_offsets(files: list[Path]) -> np.ndarray:
    """Global row number of each file's first row, plus the total at the end."""
    import pyarrow.parquet as pq

    counts = [pq.read_metadata(f).num_rows for f in files]
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def bucket_pairs(hashes: np.ndarray) -> np.ndarray:
    """(n_pairs, 2) int64 pairs (first, member) for every bucket of equal values in `hashes`, first = smallest row."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return np.empty((0, 2), dtype=np.int64)
    # bucket start for each sorted position: index of the first element of its run
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    run_start = starts[np.cumsum(np.concatenate([[True], ~same])) - 1]
    members = np.flatnonzero(np.concatenate([[False], same]))
    return np.stack([order[run_start[members]], order[members]], axis=1).astype(np.int64)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct (smaller, larger) pairs, sorted."""
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(pairs, axis=1)
    if pairs.max() < 2**31:  # both halves in one int64 key: a 1-D sort, 5x faster than np.unique(axis=0) on 2 M pairs
        keys = sorted_distinct((pairs[:, 0] << 32) | pairs[:, 1])
        return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1).astype(np.int64)
    return np.unique(pairs, axis=0)


def find_candidate_pairs(folder: str | Path, params: LSHParams, band_range: range | None = None,
                         expected_tasks: int | None = None) -> Path:
    """Phase 2 for the bands in `band_range` (default all): candidate pairs to `<folder>/pairs/<start>-<stop>.npy`.

    Independent of the other band ranges; reruns skip a range whose file exists."""
    import pyarrow.parquet as pq

    band_range = band_range if band_range is not None else range(params.bands)
    if band_range.step != 1 or band_range.start < 0 or band_range.stop > params.bands:
        raise ValueError(f"band range {band_range} must be contiguous within 0..{params.bands}")
    out = Path(folder) / PAIRS / f"{band_range.start:03d}-{band_range.stop:03d}.npy"
    if out.exists():
        return out
    files = signature_files(folder, params, expected_tasks)
    found = []
    for band in band_range:
        column = f"band_{band:03d}"
        hashes = np.concatenate([pq.read_table(f, columns=[column]).column(0).to_numpy() for f in files]
                                or [np.empty(0, dtype=np.uint64)])
        found.append(bucket_pairs(hashes))
        del hashes
        # keep the running set small: pairs found by several bands are stored once
        if sum(len(p) for p in found) > 1 << 22:
            found = [unique_pairs(np.concatenate(found))]
    pairs = unique_pairs(np.concatenate(found)) if found else np.empty((0, 2), dtype=np.int64)
    atomic_write(out, lambda tmp: save_npy(tmp, pairs))
    return out


def split_bands(bands: int, tasks: int) -> list[range]:
    """Contiguous band ranges for `tasks` phase-2 tasks (the first ones get one band more when it does not divide)."""
    tasks = max(1, min(tasks, bands))
    edges = np.linspace(0, bands, tasks + 1).round().astype(int)
    return [range(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]
