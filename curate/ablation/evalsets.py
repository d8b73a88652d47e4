"""What `curate ablate` scores every model on: the same documents for every variant, none of them trained on.

    curated test   the full run's test split: held out of every variant's training data by id, but chosen by the
                   curation (it only holds documents the full pipeline kept), so it favours the curated variants
    --reference    the user's clean text, which no stage chose: a .txt file, a folder of them, a curate output's kept
                   documents (one set each), or a JSONL file of {"text": ..., "lang": ...} lines, scored per
                   language and summarised over its languages weighted by the raw variant's training mix
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curate.config import ConfigError
from curate.io.shard_writer import KEPT_KINDS

CURATED_TEST = "curated test (chosen by the curation)"
SPLIT_SUFFIX = "#"  # model.data.split_units names paragraph blocks `id#k`
# A language under 1% of the raw variant's training bytes is not scored by default: its model saw almost none of it,
# so its score says little about the data, it would weigh under 1% in the summary, and scoring costs as much per
# byte as any other language. --min-language-share changes it.
MIN_LANGUAGE_SHARE = 0.01


@dataclass
class EvalSet:
    name: str
    texts: list[str]
    lang: str | None = None  # labelled references: the language of every text
    group: str | None = None  # labelled references: the file, whose languages are summarised together
    chosen_by_curation: bool = False
    ids: list[str] = field(default_factory=list)

    @functools.cached_property
    def doc_bytes(self) -> np.ndarray:
        """What bits per byte divides by, per document: its UTF-8 bytes plus one for the separator after it (the
        trainer puts one after every document and predicts it)."""
        return np.array([len(t.encode("utf-8")) + 1 for t in self.texts], dtype=np.int64)

    @property
    def bytes(self) -> int:
        return int(self.doc_bytes.sum())

    def describe(self) -> dict:
        return {"name": self.name, "docs": len(self.texts), "bytes": self.bytes, "lang": self.lang,
                "group": self.group, "chosen_by_curation": self.chosen_by_curation}


def reference_texts(path: Path) -> list[str]:
    """A text file (one document), a curate output folder (its kept documents) or a folder of .txt files."""
    from model.data import SplitSource, iter_texts

    if path.is_file():
        return [path.read_text(encoding="utf-8", errors="replace")]
    if path.is_dir():
        kinds = [path / k for k in KEPT_KINDS if (path / k).is_dir()]
        if kinds:
            shards = tuple(sorted(p for k in kinds for p in k.glob("*.parquet")))
            return list(iter_texts(SplitSource("reference", shards))) if shards else []
        return [f.read_text(encoding="utf-8", errors="replace") for f in sorted(path.rglob("*.txt"))]
    raise ConfigError([f"--reference {str(path)!r}: no such file or folder"])


def is_labelled(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz"))


def labelled_texts(path: Path) -> dict[str, list[str]]:
    """{lang: texts} of a JSONL file whose every line is an object with a string `text` and a string `lang` (other
    keys are ignored); empty texts are skipped. A bad line is an error naming the file and the line."""
    opener = gzip.open if path.name.endswith(".gz") else open
    by_lang: dict[str, list[str]] = {}
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise ConfigError([f"--reference {path}:{number}: not JSON ({error})"]) from None
            if not (isinstance(record, dict) and isinstance(record.get("text"), str)
                    and isinstance(record.get("lang"), str) and record["lang"].strip()):
                raise ConfigError([f"--reference {path}:{number}: each line must be an object with a string "
                                   f"`text` and a non-empty string `lang`"])
            if record["text"].strip():
                by_lang.setdefault(record["lang"].strip().lower(), []).append(record["text"])
    return by_lang


def reference_sets(path: Path) -> list[EvalSet]:
    if not path.exists():
        raise ConfigError([f"--reference {str(path)!r}: no such file or folder"])
    if is_labelled(path):
        group = path.name.split(".")[0]
        sets = [EvalSet(f"{group}: {lang}", texts, lang=lang, group=group)
                for lang, texts in sorted(labelled_texts(path).items())]
    else:
        sets = [EvalSet(f"reference: {path.name}", [t for t in reference_texts(path) if t])]
    if not sets or not all(s.texts for s in sets):
        raise ConfigError([f"--reference {str(path)!r}: no text in it"])
    return sets


def base_id(unit_id: str, unit: str) -> str:
    return unit_id.rpartition(SPLIT_SUFFIX)[0] if unit == "paragraph" and SPLIT_SUFFIX in unit_id else unit_id


def eval_sets(full_output: Path, cfg, references: list[EvalSet]) -> tuple[list[EvalSet], set[str]]:
    """The curated test split and the reference sets, and the ids (whole documents) held out of every training set."""
    from model.data import find_split, iter_documents

    test = list(iter_documents(find_split(full_output, "test", cfg.val_fraction, cfg.test_fraction, cfg.split_unit)))
    if not test:
        raise ConfigError([f"the full pipeline's test split ({full_output}) has no documents: raise "
                           f"test_fraction (now {cfg.test_fraction}) or give more input"])
    sets = [EvalSet(CURATED_TEST, [text for _, text in test], chosen_by_curation=True, ids=[i for i, _ in test])]
    return sets + list(references), {base_id(i, cfg.split_unit) for i, _ in test}


# ---- the language mix that weighs a labelled reference's languages ------------------------------------------------

def language_mix(texts: list[str]) -> dict[str, int]:
    """UTF-8 bytes per language (the langid stage's detector, no threshold), largest first."""
    from curate.stages.langid import LanguageId

    detector = LanguageId(min_score=0.0).detector
    mix: dict[str, int] = {}
    for text in texts:
        if text.strip():
            lang, _ = detector.predict(text)
            mix[lang] = mix.get(lang, 0) + len(text.encode("utf-8"))
    return dict(sorted(mix.items(), key=lambda item: -item[1]))


def weigh_languages(sets: list[EvalSet], mix: dict[str, int], min_share: float) -> tuple[list[EvalSet], dict]:
    """Drop the labelled sets whose language is under `min_share` of the mix; for each labelled file, the weight of
    each kept language: its share of the mix among the file's kept languages (they sum to 1), and the languages not
    scored (with their share) or not in the training data at all."""
    total = sum(mix.values()) or 1
    kept, groups = [], {}
    for s in sets:
        share = mix.get(s.lang, 0) / total if s.lang else None
        group = groups.setdefault(s.group, {"weights": {}, "not_scored": {}, "not_in_training": []}) if s.group else None
        if group is not None and share < min_share:
            if share:
                group["not_scored"][s.lang] = round(share, 5)
            else:
                group["not_in_training"].append(s.lang)
            continue
        kept.append(s)
        if group is not None:
            group["weights"][s.name] = share
    for name, group in groups.items():
        weights = group["weights"]
        covered = sum(weights.values())
        if not covered:
            raise ConfigError([f"--reference {name}: none of its languages is at least {min_share:.1%} of the raw "
                               f"training data ({', '.join(f'{k} {v / total:.1%}' for k, v in list(mix.items())[:5])}"
                               f"); lower --min-language-share"])
        group["weights"] = {k: v / covered for k, v in weights.items()}
        group["mix_covered"] = round(covered, 5)  # the share of the raw training bytes in the scored languages
    return kept, groups
