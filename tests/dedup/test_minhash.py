"""Shingles and MinHash signatures: the numpy shingle hashes equal a plain-Python reference of the same hash, the
tokenizer rule for languages without spaces, the short-document rule, bit-for-bit equality with datasketch's MinHash
given the same 32-bit hashes (both schemes), valid datasketch objects, and estimated vs exact Jaccard on real text."""

import gzip
import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline_helpers import shared

from curate.dedup import shingles as S
from curate.dedup.exact import normalize_for_exact, text_hash, url_hash
from curate.dedup.minhash import MinHasher, estimated_jaccard

M64 = 1 << 64


def alice() -> str:
    return shared("text", "gutenberg", "11", "11-0.txt").read_text(encoding="utf-8")


def chapters() -> list[str]:
    return [c for c in alice().split("CHAPTER")[1:] if len(c) > 2000]


# --- a plain-Python transcription of shingles.shingle_hashes (token polynomial, then n-gram polynomial) ---
def _fmix(h):
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD % M64
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 % M64
    return h ^ (h >> 33)


def _poly(values):
    return sum((v + 1) * pow(S._BASE, k, M64) for k, v in enumerate(values)) % M64


def reference_hashes(text, n, unit):
    if unit == "chars":
        token_hashes = [_fmix((ord(c) * S._BASE + 1) % M64) for c in S.tokens(text, unit)]
    else:
        token_hashes = [_fmix(_poly([ord(c) for c in t]) ^ (len(t) * 0xD6E8FEB86659FD93 % M64))
                        for t in S.tokens(text, unit)]
    if not token_hashes:
        return []
    width = min(n, len(token_hashes))
    return [_fmix(_poly(token_hashes[i:i + width])) for i in range(len(token_hashes) - width + 1)]


MIXED = "Hello, wörld! 中文字 ab中c हिन्दी don't 42  ภาษาไทย ง่าย 日本語のテキスト. Ünïcödé\u3000spaces\ttabs\n"


@pytest.mark.parametrize("unit", ["words", "chars"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_numpy_shingle_hashes_equal_the_python_reference(unit, n):
    for text in [MIXED, alice()[3000:6000], "a b", "", "  ,,, !!", "x"]:
        assert S.shingle_hashes(text, n, unit).tolist() == reference_hashes(text, n, unit)


def test_tokens_split_scripts_without_spaces_per_character_and_keep_combining_marks():
    toks = S.tokens(MIXED)
    assert toks[:4] == ["hello", "wörld", "中", "文"]
    assert ["ab", "中", "c", "हिन्दी", "don", "t", "42"] == toks[5:12]  # Devanagari vowel signs stay in the word
    assert "ภ" in toks and "日" in toks and "の" in toks and "ünïcödé" in toks and "spaces" in toks
    # n-grams equal the token n-grams: distinct n-gram strings <-> distinct hashes
    text = alice()
    assert len(set(S.ngram_strings(text))) == len(np.unique(S.shingle_hashes(text)))


def test_short_documents_rule():
    # fewer than n tokens: one shingle, the whole token sequence; no token: no shingle, no signature
    assert len(S.shingle_hashes("only three words")) == 1
    assert S.ngram_strings("only three words!") == ["only three words"]
    assert np.array_equal(S.shingle_hashes("Only, three WORDS."), S.shingle_hashes("only three words"))
    assert len(S.shingle_hashes("")) == 0 and len(S.shingle_hashes(" ... !? ")) == 0
    hasher = MinHasher()
    assert hasher.signature("") is None and hasher.signature("—") is None
    assert np.array_equal(hasher.signature("Short doc."), hasher.signature("short doc"))
    assert estimated_jaccard(hasher.signature("short doc"), hasher.signature("short docs")) < 0.1


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signature_equals_datasketch_given_the_same_hashes(scheme):
    hasher = MinHasher(num_perm=112, seed=1, scheme=scheme)
    rng = np.random.default_rng(0)
    cases = [hasher.shingles(c) for c in chapters()[:3]]
    cases += [rng.integers(0, 1 << 32, size, dtype=np.uint64).astype(np.uint32) for size in (1, 7, 5000)]
    cases += [np.array([0, 0, (1 << 32) - 1], dtype=np.uint32)]
    for hashes in cases:
        reference = MinHash(num_perm=112, seed=1, scheme=scheme, hashfunc=lambda x: x)
        reference.update_batch(hashes.tolist())
        ours = hasher.from_hashes(hashes)
        assert ours.dtype == reference.hashvalues.dtype
        assert np.array_equal(ours, reference.hashvalues)
    # the empty set is datasketch's empty MinHash
    assert np.array_equal(hasher.from_hashes(np.empty(0, np.uint32)),
                          MinHash(num_perm=112, seed=1, scheme=scheme).hashvalues)
    other = MinHasher(num_perm=64, seed=7, scheme=scheme)
    reference = MinHash(num_perm=64, seed=7, scheme=scheme, hashfunc=lambda x: x)
    reference.update_batch(cases[0].tolist())
    assert np.array_equal(other.from_hashes(cases[0]), reference.hashvalues)


def test_signatures_are_valid_datasketch_objects():
    hasher = MinHasher()
    docs = chapters()[:4]
    copy = docs[0].replace("Alice", "Alicia")
    sigs = [hasher.signature(t) for t in docs + [copy]]
    leans = [hasher.lean(s) for s in sigs]
    assert leans[0].jaccard(leans[4]) == pytest.approx(estimated_jaccard(sigs[0], sigs[4]))
    lsh = MinHashLSH(threshold=0.5, num_perm=112)
    for i, lean in enumerate(leans[:4]):
        lsh.insert(str(i), lean)
    assert lsh.query(leans[4]) == ["0"]
    batch, kept = hasher.signatures(["", docs[1], "  ", docs[2]])
    assert kept.tolist() == [1, 3] and np.array_equal(batch[0], sigs[1])


def substitute(text: str, rate: float, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split()
    return " ".join(w if rng.random() >= rate else f"zz{rng.randrange(10**6)}" for w in words)


def test_estimated_jaccard_tracks_exact_jaccard():
    hasher = MinHasher()
    errors, outside = [], 0
    for i, chapter in enumerate(chapters()):
        for rate in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2):
            copy = substitute(chapter, rate, seed=i * 10 + int(rate * 100))
            exact = S.jaccard(S.shingle_set(chapter), S.shingle_set(copy))
            estimate = estimated_jaccard(hasher.signature(chapter), hasher.signature(copy))
            sd = max((exact * (1 - exact) / 112) ** 0.5, 1e-3)
            errors.append(estimate - exact)
            outside += abs(estimate - exact) > 3.5 * sd
    errors = np.array(errors)
    assert len(errors) >= 50
    assert abs(errors.mean()) < 0.01  # unbiased
    assert np.abs(errors).mean() < 0.03  # sd at J=0.5 with 112 permutations is 0.047
    assert outside <= 1


def test_char_shingles_and_old_edition_similarity():
    old = gzip.decompress(shared("text", "gutenberg", "11", "old", "alice30.txt.gz").read_bytes()).decode("latin-1")
    new = alice()
    start_old, start_new = old.index("Alice was beginning"), new.index("Alice was beginning")
    a, b = old[start_old:start_old + 20000], new[start_new:start_new + 20000]
    words = S.jaccard(S.shingle_set(a), S.shingle_set(b))
    chars = S.jaccard(S.shingle_set(a, 5, "chars"), S.shingle_set(b, 5, "chars"))
    assert words > 0.6 and chars > words  # editions differ in small edits; character 5-grams are more forgiving
    hasher = MinHasher(unit="chars")
    assert abs(estimated_jaccard(hasher.signature(a), hasher.signature(b)) - chars) < 0.15


def test_exact_hash_normalisation_options():
    assert text_hash("Hello   World\n") == text_hash("hello world")
    assert text_hash("Hello World", lowercase=False) != text_hash("hello world", lowercase=False)
    assert text_hash("hello, world!") != text_hash("hello world")
    assert text_hash("hello, world!", strip_punctuation=True) == text_hash("hello world", strip_punctuation=True)
    assert normalize_for_exact("A  b,\tC!", strip_punctuation=True) == "a b c"
    assert text_hash("x", bits=128) >= 0 and text_hash("x", bits=128) != text_hash("x")
    with pytest.raises(ValueError, match="64 or 128"):
        text_hash("x", bits=32)
    assert url_hash("https://Example.com/a/") == url_hash("http://example.com/a")
    assert url_hash("https://example.com/A") != url_hash("https://example.com/a")


def test_sorted_distinct_equals_numpy_unique():
    from curate.dedup.shingles import shingle_hashes, sorted_distinct

    rng = np.random.default_rng(3)
    for values in (np.empty(0, dtype=np.uint64), np.array([7], dtype=np.uint64),
                   rng.integers(0, 2**63, 5000, dtype=np.uint64), rng.integers(0, 50, 5000).astype(np.uint64),
                   shingle_hashes(shared("text", "tinyshakespeare", "input.txt").read_text()[:200_000], 5)):
        assert np.array_equal(sorted_distinct(values), np.unique(values))
        assert sorted_distinct(values).dtype == values.dtype
