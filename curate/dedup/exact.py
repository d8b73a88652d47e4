"""Normalised-text hashing for exact_dedup: documents whose normalised texts hash equal are exact duplicates.

Options (each on by default except strip_punctuation): lowercase, collapse whitespace (runs -> one space, stripped),
strip punctuation (datatrove's punctuation set, as curate.dedup.shingles). 64-bit xxh3 is the default: with n
documents the chance of any false collision is ~n^2 / 2^65 (0.03% at 10^8 documents, 2.7% at 10^9); a collision
removes one unrelated document. (Bands are stored as uint64, so the stage cannot use text_hash's 128 bits.) xxhash is
already a datatrove dependency.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from curate.dedup.shingles import _punctuation

_SPACES = re.compile(r"\s+")


def normalize_for_exact(text: str, lowercase: bool = True, collapse_whitespace: bool = True,
                        strip_punctuation: bool = False) -> str:
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = _punctuation().sub(" " if collapse_whitespace else "", text)
    if collapse_whitespace:
        text = _SPACES.sub(" ", text).strip()
    return text


def text_hash(text: str, bits: int = 64, lowercase: bool = True, collapse_whitespace: bool = True,
              strip_punctuation: bool = False) -> int:
    """xxh3 hash (64 or 128 bits, as an int) of the normalised text."""
    import xxhash

    data = normalize_for_exact(text, lowercase, collapse_whitespace, strip_punctuation).encode("utf-8", "surrogatepass")
    if bits == 64:
        return xxhash.xxh3_64_intdigest(data)
    if bits == 128:
        return xxhash.xxh3_128_intdigest(data)
    raise ValueError(f"hash bits must be 64 or 128, got {bits}")


def url_hash(url: str, block: int | None = None) -> int:
    """64-bit hash of a URL for URL dedup: scheme and a trailing slash dropped, host lowercased. `block`: the index of
    a block `chunk` cut from the page, so that one page's blocks are not duplicates of each other."""
    import xxhash

    url = re.sub(r"^[a-z]+://", "", url.strip(), flags=re.I).rstrip("/")
    host, _, rest = url.partition("/")
    key = host.lower() + ("/" + rest if rest else "") + ("" if block is None else f"\0block {block}")
    return xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class ExactParams:
    """exact_dedup through the same phases as MinHash (curate.dedup.lsh / .clusters): each "band" is one exact
    hash, the normalised text's and, with `urls`, the URL's. Documents that share any band are duplicates, so
    phase 2's buckets are the groups of equal hashes and phase 3 joins them (a text copy under another URL and the
    same URL with another text end in one cluster) and picks the one to keep with the MinHash keep rule."""

    lowercase: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    urls: bool = False

    @property
    def bands(self) -> int:
        return 2 if self.urls else 1

    def band_values(self, text: str, url: str | None, block: int | None, unique_key: str) -> list[int]:
        """`block`: the chunk index of a block cut from a page (None for a whole document). `unique_key`: a key no
        other document of the run has (task and position; ids may repeat across input files, or be empty), which
        gives a document without a URL a URL value of its own."""
        values = [text_hash(text, 64, self.lowercase, self.collapse_whitespace, self.strip_punctuation)]
        if self.urls:
            values.append(url_hash(url, block) if url else url_hash(f"\0no-url\0{unique_key}"))
        return values

    def to_json(self) -> str:
        return json.dumps({"exact": asdict(self)}, sort_keys=True)

    def catch_probabilities(self) -> dict[str, float]:
        return {}
