"""Block and allow lists of domains and URLs, held as sorted 64-bit hashes and looked up a batch at a time.

A list is a text file (optionally gzipped), one entry a line; `#` starts a comment. An entry with a path or query
(`example.com/page`, `http://example.com/a?b=1`) is a URL, anything else a domain (`example.com`, `*.example.com`,
`.example.com`: all three mean the domain and every host under it). Entries are normalised as URLs are
(curate/stages/urls.py). `datatrove` names the merged list datatrove bundles (datatrove/assets/
url_filterblacklistsv0_3_0.tar.gz: 4,558,940 domains and 19,587 URLs, the lists FineWeb's URLFilter uses).

Memory and speed: an entry is its 64-bit xxh3 hash in one sorted numpy array (8 bytes an entry: 36 MB for
datatrove's list, where a Python set of its strings takes ~800 MB per process), searched with np.searchsorted for a
whole batch of candidates at once. With n entries a URL falsely matches with probability ~6 n / 2^64 (its host,
parent domains and URL are about 6 candidates): 1.5e-12 for datatrove's list, one false block in ~10^12 URLs.
Parsing and hashing a list of millions of lines takes seconds, so the arrays are cached in
$XDG_CACHE_HOME/curate/url_lists/ (default ~/.cache), keyed by the file's path, size and modification time, and
loaded memory-mapped (the page cache shares them between worker processes).
"""

import gzip
import hashlib
import os
import re
import tarfile
from contextlib import suppress
from pathlib import Path

import numpy as np
import xxhash

from curate.dedup.lsh import atomic_write, save_npy
from curate.dedup.shingles import sorted_distinct
from curate.stages.urls import normalise_url

DATATROVE = "datatrove"
FORMAT_VERSION = 1  # of the cache files: bump when normalisation or hashing changes
# a line that is already a normalised host (most of a domain list): hashed as it is, 8x faster than parse_entry
_PLAIN_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def datatrove_lists() -> Path:
    from datatrove.utils._import_utils import ASSETS_PATH

    return Path(ASSETS_PATH) / "url_filterblacklistsv0_3_0.tar.gz"


def entry_hash(key: str) -> int:
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"))


def parse_entry(line: str) -> str | None:
    """The normalised key of one list line: a host, or a host with its path and query; None for a blank line."""
    line = line.partition("#")[0].strip()
    if line.startswith("*."):
        line = line[2:]
    host, url = normalise_url(line.lstrip("."))
    return url or None


def _lines(path: Path):
    """The lines of a list: a text file, a gzipped one, or datatrove's tarball (its `domains` and `urls` members)."""
    if path == datatrove_lists():
        with tarfile.open(path) as tar:
            for member in ("domains", "urls"):
                yield from tar.extractfile(member).read().decode("utf-8", "replace").split("\n")
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        yield from f


def _keys(lines):
    for line in lines:
        line = line.strip()
        if _PLAIN_HOST.fullmatch(line) and not line.startswith("www."):
            yield line
        elif key := parse_entry(line):
            yield key


def load_list(path: Path) -> np.ndarray:
    """The sorted unique hashes of a list file's entries, from the cache when it is current."""
    stat = path.stat()
    key = hashlib.sha1(f"{FORMAT_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curate" / "url_lists" / f"{key}.npy"
    if cache.is_file():
        return np.load(cache, mmap_mode="r")
    try:
        hashes = sorted_distinct(np.fromiter(map(entry_hash, _keys(_lines(path))), dtype=np.uint64))
    except (OSError, EOFError, tarfile.TarError, KeyError) as error:
        raise ValueError(f"cannot read the list {path}: {error}") from None
    # atomically: another worker may be writing the same file; with no writable cache, the hashes from memory
    with suppress(OSError):
        atomic_write(cache, lambda tmp: save_npy(tmp, hashes))
    return hashes


class UrlLists:
    """Several lists, looked up together: which list (if any) holds one of a URL's candidate keys. Each list stays
    its own memory-mapped array (no merged copy to build or hold); the first list named wins."""

    def __init__(self, named_paths: dict[str, Path]):
        self.names = list(named_paths)
        self.paths = [named_paths[name] for name in self.names]
        self._arrays = None

    def lookup(self, candidates: list[list[str]]) -> list[tuple[str, str] | None]:
        """For each document's candidate keys (most specific first): (list name, the key found) of the first key
        on a list, or None."""
        if self._arrays is None:
            self._arrays = [load_list(path) for path in self.paths]
        flat = [key for keys in candidates for key in keys]
        if not flat or not self._arrays:
            return [None] * len(candidates)
        hashes = np.fromiter(map(entry_hash, flat), dtype=np.uint64, count=len(flat))
        on_list = np.full(len(flat), -1, dtype=np.int32)
        for index, array in enumerate(self._arrays):
            if len(array):
                where = np.minimum(np.searchsorted(array, hashes), len(array) - 1)
                on_list[(array[where] == hashes) & (on_list < 0)] = index
        results, position = [], 0
        for keys in candidates:
            hit = next((i for i in range(position, position + len(keys)) if on_list[i] >= 0), None)
            results.append(None if hit is None else (self.names[on_list[hit]], flat[hit]))
            position += len(keys)
        return results
