"""`curate eval pii`: span-level precision, recall and F1 per entity type on presidio-research's labelled samples.

Data: presidio-research's generated_large.json (a list of `{full_text, spans: [{entity_type, start_position,
end_position}, ...]}`). Systems, on the same texts:
  - `curate pii`: our stage's detector (candidate windows, then presidio), as configured by default;
  - `same recognizers, full text`: the same presidio AnalyzerEngine run on each whole text. Its spans must be the
    spans of the row above: the windows lose nothing (the report says how many documents differ: 0 expected);
  - `presidio default`: presidio's own AnalyzerEngine (its predefined recognizers, default settings) on a blank
    spaCy pipeline, the reference the issue measured (phone recall 0.61, precision 0.74).

Overlap rule ("any overlap", as presidio-research's span evaluation with overlap threshold 0 and as the issue's
reference figures): a gold span is found (TP) when a predicted span of the same entity type shares at least one
character with it, else it is a miss (FN); a predicted span sharing no character with a gold span of its type is a
false positive (FP). precision = predicted spans that match / predicted spans; recall = gold spans found / gold
spans; F1 from those two. The entity types the stage finds by default are scored; a type without a labelled span
in the data says so, and the labelled spans of types the stage does not cover (PERSON, ADDRESS, ...: NER or
nothing) are counted per type, as what the stage leaves unredacted.
"""

import json
import time
from collections import Counter
from pathlib import Path

import click

def scored_entities() -> tuple[str, ...]:
    """What the stage finds by default: every type is scored, or said to have no labelled span."""
    from curate.stages.pii_detector import DEFAULT_ENTITIES

    return tuple(DEFAULT_ENTITIES)


def uncovered_spans(samples: list[dict], covered) -> dict[str, int]:
    """Labelled spans per entity type the stage does not look for, most frequent first."""
    counts = Counter(t for sample in samples for t, _, _ in gold_spans(sample) if t not in covered)
    return dict(counts.most_common())


def load_samples(path: Path, limit: int | None = None) -> list[dict]:
    try:
        samples = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise click.ClickException(f"cannot read {path}: {error}") from None
    if not isinstance(samples, list) or not all(isinstance(s, dict) and "full_text" in s for s in samples):
        raise click.ClickException(f"{path}: expected a JSON list of {{full_text, spans}} samples "
                                   f"(presidio-research's generated_large.json)")
    return samples[:limit] if limit else samples


def gold_spans(sample: dict) -> list[tuple[str, int, int]]:
    return [(s["entity_type"], s["start_position"], s["end_position"]) for s in sample.get("spans") or []]


def score_spans(samples: list[dict], predictions: list[list[tuple[str, int, int]]], entities) -> dict[str, dict]:
    """Per entity type: tp/fp/fn, precision, recall, F1 under the any-overlap rule."""
    counts = {e: Counter() for e in entities}
    for sample, predicted in zip(samples, predictions):
        gold = gold_spans(sample)
        for entity in entities:
            g = [(s, e) for t, s, e in gold if t == entity]
            p = [(s, e) for t, s, e in predicted if t == entity]
            found = sum(any(ps < ge and gs < pe for ps, pe in p) for gs, ge in g)
            matched = sum(any(ps < ge and gs < pe for gs, ge in g) for ps, pe in p)
            counts[entity].update(tp=found, fn=len(g) - found, matched=matched, fp=len(p) - matched)
    result = {}
    for entity, c in counts.items():
        predicted, gold = c["matched"] + c["fp"], c["tp"] + c["fn"]
        precision = c["matched"] / predicted if predicted else 1.0
        recall = c["tp"] / gold if gold else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[entity] = {"gold": gold, "predicted": predicted, "tp": c["tp"], "fp": c["fp"], "fn": c["fn"],
                          "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    return result


def default_presidio():
    """presidio's AnalyzerEngine as it comes (predefined recognizers, lemma context) on a blank English pipeline.

    tldextract inside it is given the offline snapshot (the one change), so the measurement waits on no network."""
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    from curate.stages.pii_recognizers import offline_tld_extractor

    class BlankEnglish(SpacyNlpEngine):
        def __init__(self):
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])
            self.nlp = {"en": spacy.blank("en")}

    tldextract.tldextract.TLD_EXTRACTOR = offline_tld_extractor()  # the module-level extract() presidio calls
    engine = AnalyzerEngine(nlp_engine=BlankEnglish())

    def detect(texts: list[str]) -> list[list[tuple[str, int, int]]]:
        return [[(r.entity_type, r.start, r.end) for r in engine.analyze(text, language="en")] for text in texts]

    return detect


def curate_detector(windows: bool, **params):
    from curate.stages.pii_detector import PiiDetector

    detector = PiiDetector(windows=windows, **params)

    def detect(texts: list[str]) -> list[list[tuple[str, int, int]]]:
        return [[(s.entity, s.start, s.end) for s in spans] for spans in detector.detect_batch(texts)]

    return detect


def run_systems(texts: list[str], systems: dict) -> dict[str, tuple[list, float]]:
    """name -> (predictions, seconds), each system timed on all texts."""
    out = {}
    for name, detect in systems.items():
        detect(texts[:3])  # warm-up: lazy compilation, first spaCy call
        start = time.perf_counter()
        predictions = detect(texts)
        out[name] = (predictions, time.perf_counter() - start)
    return out


@click.command("pii")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="presidio-research's generated_large.json (../shared/data/pii/presidio/generated_large.json)")
@click.option("--limit", type=int, default=None, help="only the first N samples")
@click.option("--redact-private-ips", is_flag=True, help="score our stage with keep_private_ips: false")
@click.option("--no-default", is_flag=True, help="skip presidio's default engine")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write a JSON report here")
def command(data_file, limit, redact_private_ips, no_default, report):
    """Precision, recall, F1 per entity type (any-overlap) and characters/s: our pii stage beside presidio."""
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    samples = load_samples(data_file, limit)
    texts = [s["full_text"] for s in samples]
    params = {"keep_private_ips": not redact_private_ips}
    systems = {"curate pii": curate_detector(True, **params),
               "same recognizers, full text": curate_detector(False, **params)}
    if not no_default:
        systems["presidio default"] = default_presidio()
    runs = run_systems(texts, systems)
    chars = sum(map(len, texts))
    entities = scored_entities()
    results = {name: {"entities": score_spans(samples, predictions, entities), "seconds": round(seconds, 3),
                      "chars_per_s": round(chars / seconds) if seconds else None}
               for name, (predictions, seconds) in runs.items()}
    ours, full = runs["curate pii"][0], runs["same recognizers, full text"][0]
    differing = sum(sorted(a) != sorted(b) for a, b in zip(ours, full))
    click.echo(f"{len(samples)} samples, {chars:,} characters; any-overlap span matching, per entity type")
    click.echo(f"{'entity':<14} {'gold':>5}  " + "  ".join(f"{name[:27]:>27}" for name in results))
    click.echo(f"{'':<14} {'':>5}  " + "  ".join(f"{'P     R     F1':>27}" for _ in results))
    for entity in entities:
        gold = next(iter(results.values()))["entities"][entity]["gold"]
        if gold:
            row = [f"{r['entities'][entity]['precision']:.3f} {r['entities'][entity]['recall']:.3f} "
                   f"{r['entities'][entity]['f1']:.3f}" for r in results.values()]
        else:  # nothing to find: a score would be a made-up 1.0
            row = [f"no labelled spans ({r['entities'][entity]['predicted']} found)" for r in results.values()]
        click.echo(f"{entity:<14} {gold:>5}  " + "  ".join(f"{cell:>27}" for cell in row))
    click.echo(f"{'chars/s':<14} {'':>5}  " + "  ".join(f"{r['chars_per_s']:>27,}" for r in results.values()))
    click.echo(f"documents whose spans differ between windows and full text: {differing}")
    uncovered = uncovered_spans(samples, entities)
    if uncovered:
        click.echo("labelled spans of types the stage does not look for (left unredacted; PERSON, LOCATION and "
                   "ORGANIZATION with ner: true): " + ", ".join(f"{t} {n:,}" for t, n in uncovered.items()))
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({"data": str(data_file), "samples": len(samples), "chars": chars,
                                      "overlap_rule": "any overlap, same entity type", "keep_private_ips": params,
                                      "windows_vs_full_text_differing_docs": differing, "results": results,
                                      "uncovered_labelled_spans": uncovered}, indent=2))
        click.echo(f"report: {report}")
