"""The paired difference between two variants, its 95% interval, and the verdict it supports.

A difference is A − B in bits per byte on one evaluation set (or a weighted sum of sets: a labelled reference's
languages), paired by seed: runs A and B of one seed share the training sample's weights, the initial network and the
batch generator. Two sources of noise go into the interval:

- seeds (the training sample, initial weights, batch order): the variance of the per-seed differences over the k
  seeds, / k, with k − 1 degrees of freedom (Student's t). With 3 seeds a bootstrap over seeds has 10 distinct
  resamples and underestimates the variance by (k − 1)/k, so the t interval is the honest one here;
- evaluation documents (another sample of text of the same kind): a bootstrap over the set's documents of the
  seed-averaged per-document differences (the bits-per-byte ratio recomputed on each resample, RESAMPLES times,
  with a fixed generator so a re-run gives the same interval), independently for each set of a weighted sum.

The two variances add, and the interval is mean ± t(0.975, df) × sqrt(sum), with df from Welch-Satterthwaite: the
seed term counts with k − 1 degrees of freedom, each document term with n − 1. With one seed there is no seed
variance to estimate, so there is no interval and no verdict.
"""

from __future__ import annotations

import math

import numpy as np

RESAMPLES = 2000
BOOTSTRAP_SEED = 20240601  # fixed: the interval of the same runs is the same on every call
CONFIDENCE = 0.95


def _t_quantile(q: float, df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(q, df))


def document_variance(delta: np.ndarray, doc_bytes: np.ndarray, rng: np.random.Generator) -> float:
    """Bootstrap variance over documents of sum(delta) / sum(bytes), the set's difference in bits per byte."""
    n = len(delta)
    if n < 2:
        return 0.0
    picks = rng.integers(0, n, size=(RESAMPLES, n))
    return float(np.var(delta[picks].sum(axis=1) / doc_bytes[picks].sum(axis=1), ddof=1))


def paired_difference(a: dict[int, dict[str, np.ndarray]], b: dict[int, dict[str, np.ndarray]],
                      parts: list[tuple[str, np.ndarray, float]]) -> dict | None:
    """A − B in bits per byte over `parts` ([(set name, its documents' bytes, weight)], weights summing to 1), from
    per-seed per-document bits ({seed: {set name: bits}}); None when the two share no seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    k = len(seeds)
    per_seed = np.zeros(k)
    baseline = np.zeros(k)
    components = []  # (variance, degrees of freedom)
    for name, doc_bytes, weight in parts:
        diffs = np.array([np.asarray(a[s][name]) - np.asarray(b[s][name]) for s in seeds])  # seeds x documents
        per_seed += weight * diffs.sum(axis=1) / doc_bytes.sum()
        baseline += weight * np.array([np.sum(b[s][name]) for s in seeds]) / doc_bytes.sum()
        components.append((weight ** 2 * document_variance(diffs.mean(axis=0), doc_bytes, rng), len(doc_bytes) - 1))
    mean = float(per_seed.mean())
    result = {"mean": mean, "relative": mean / float(baseline.mean()), "seeds": seeds,
              "per_seed": [float(d) for d in per_seed], "low": None, "high": None}
    if k < 2:
        return result
    components.append((float(np.var(per_seed, ddof=1)) / k, k - 1))
    variance = sum(v for v, _ in components)
    df = variance ** 2 / sum(v ** 2 / d for v, d in components if d > 0 and v > 0) if variance > 0 else k - 1
    half = _t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(variance)
    result.update(low=mean - half, high=mean + half, df=df, se_seeds=math.sqrt(components[-1][0]),
                  se_docs=math.sqrt(sum(v for v, _ in components[:-1])))
    return result


def verdict(difference: dict | None, better: str, worse: str) -> str:
    """What the interval of (A − B) supports, in words: `better` is said of A when the whole interval is below 0."""
    if difference is None:
        return "not compared (no common seed)"
    if difference["low"] is None:
        return f"{difference['mean']:+.4f} bits/byte with 1 seed: no interval, no verdict (run --seeds 3 or more)"
    if not any(difference["per_seed"]):
        return "no difference: the same scores on every seed (the same training data)"
    span = f"{difference['mean']:+.4f} bits/byte ({difference['relative']:+.1%}), 95% interval " \
           f"[{difference['low']:+.4f}, {difference['high']:+.4f}]"
    if difference["high"] < 0:
        return f"{better}: {span}"
    if difference["low"] > 0:
        return f"{worse}: {span}"
    return f"no clear difference: {span} includes 0"
