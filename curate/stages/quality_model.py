"""quality_model: score documents with a fastText quality classifier (DCLM-style) and keep the high scorers.

DCLM (Li et al. 2024, §4.4 "Model-based quality filtering") found a bigram fastText classifier, trained to tell
a reference set of good text (`__label__hq`) from random web text (`__label__cc`), the best of the quality filters
it compared. `curate quality-model train` trains one (curate/stages/quality_model_training.py); this stage writes
its probability of the positive label as `quality_score` on every document and rejects those below `threshold`
with reason `low_quality_score`.

No weights ship with curate: the model is one you trained (or DCLM's published `fasttext-oh-eli5`, which uses the
same labels and the same text preparation, so it can be used here unchanged).
"""

import re
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
from datatrove.data import Document

from curate.stages.base import CurateFilter, Rejection

# Every fastText .bin/.ftz starts with this int32 (fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32, src/fasttext.cc):
# checking it at config time turns a wrong path into a config error instead of a crash inside a worker.
FASTTEXT_MAGIC = (793712314).to_bytes(4, "little")

# Labels DCLM uses (README of mlfoundations/dclm, baselines/: "the label space must be `__label__hq` for
# high-quality and `__label__cc` for low-quality").
POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__cc"

# A word fastText takes for a label: at inference it is ignored, but in a training line it would become a label.
# The characters are fastText's word separators (Dictionary::readWord).
_LABEL_WORD = re.compile(r"(^|[ \t\v\f\r\0])__label__[^ \t\v\f\r\0]*")


def fasttext_line(text: str) -> str:
    """A document as the single line fastText predicts on, the same at training and at inference time.

    Exactly DCLM's preparation (baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py:
    `" ".join(content.strip().splitlines())`): lines joined by a space, case kept. fastText itself splits words
    on whitespace, and its `predict` refuses a newline. No lowercasing, so DCLM's own model scores as it did there.
    """
    line = " ".join(text.strip().splitlines())
    if "__label__" in line:  # rare: drop label-like words, which changes nothing at inference (fastText skips them)
        line = _LABEL_WORD.sub(r"\1", line)
    return line


def check_model_file(path: str) -> Path:
    """The model's path, or a ValueError/FileNotFoundError naming it and saying how to make one."""
    model_path = Path(path).expanduser()
    hint = "train one with `curate quality-model train --positive P --negative N --out MODEL.bin`"
    if not model_path.is_file():
        raise FileNotFoundError(f"quality_model.model: no fastText model at {str(model_path)!r}; {hint}")
    with open(model_path, "rb") as file:
        if file.read(4) != FASTTEXT_MAGIC:
            raise ValueError(f"quality_model.model: {str(model_path)!r} is not a fastText model (.bin or .ftz); {hint}")
    return model_path


def load_fasttext_model(path: Path):
    """Load with whichever `fasttext` module is installed (the full one or the predict-only fasttext-predict).

    Once per process and file version: datatrove gives every task a fresh copy of the stage, and a DCLM-sized
    model takes seconds to load."""
    stat = Path(path).stat()
    return _load_fasttext_model(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load_fasttext_model(path: str, mtime_ns: int, size: int):
    import fasttext

    try:
        return fasttext.load_model(path)
    except Exception as error:  # a truncated or foreign file: fastText raises ValueError / RuntimeError
        raise ValueError(f"quality_model.model: cannot load {path!r}: {error}") from None


def positive_probabilities(model, texts: list[str], positive_label: str) -> list[float]:
    """P(positive_label) for each text, from fastText's softmax over all labels (k=-1 returns every label)."""
    labels, probs = model.predict([fasttext_line(text) for text in texts], k=-1)
    scores = []
    for doc_labels, doc_probs in zip(labels, probs):
        score = 0.0
        for label, prob in zip(doc_labels, doc_probs):
            if label == positive_label:
                # fastText adds 1e-5 before its softmax output is returned and can exceed 1 by that much
                score = min(max(float(prob), 0.0), 1.0)
                break
        scores.append(score)
    return scores


class QualityModel(CurateFilter):
    """Writes `quality_score` (fastText's probability of `positive_label`) and keeps documents with a score at or
    above `threshold`.

    - `model`: path to a fastText supervised model (.bin or quantised .ftz) from `curate quality-model train`.
    - `threshold`: 0.5 is the classifier's own decision boundary for two labels (score > the other label's).
      DCLM kept its top 10% instead (§4.4; for its model that is a score of 0.018112, baselines_configs/
      fasttext_filter.yaml): a streaming stage cannot see the whole distribution, so for a top fraction run
      `curate quality-model threshold --model M --data OUT --top-fraction 0.1` on a sample and set the
      threshold it prints.
    - `positive_label`: the label whose probability is the score; DCLM's is `__label__hq`.
    - `batch_size`: documents per fastText call (fewer Python round trips; results do not depend on it).
    """

    name = "quality_model"

    def __init__(self, model: str, threshold: float = 0.5, positive_label: str = POSITIVE_LABEL,
                 batch_size: int = 512):
        super().__init__(batch_size=batch_size)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"quality_model.threshold must be within [0, 1] (a probability), got {threshold}")
        self.model_path = check_model_file(model)
        self.threshold = float(threshold)
        self.positive_label = positive_label
        self._model = None  # loaded on first use, inside the worker: a fastText model does not pickle

    @property
    def model(self):
        if self._model is None:
            model = load_fasttext_model(self.model_path)
            labels = list(model.get_labels())
            if self.positive_label not in labels:
                raise ValueError(f"quality_model.positive_label: {self.positive_label!r} is not a label of "
                                 f"{str(self.model_path)!r} (its labels: {', '.join(labels)})")
            self._model = model
        return self._model

    def columns(self) -> dict[str, pa.DataType]:
        return {"quality_score": pa.float64()}

    def filter(self, doc: Document) -> bool | tuple[bool, Rejection]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, Rejection]]:
        scores = positive_probabilities(self.model, [doc.text or "" for doc in batch], self.positive_label)
        results = []
        for doc, score in zip(batch, scores):
            doc.metadata["quality_score"] = score
            if score >= self.threshold:
                results.append(True)
            else:
                results.append((False, Rejection("low_quality_score", score, f"< {self.threshold}")))
        return results
