"""`curate eval filters`: what a pipeline's per-document stages reject among known-good and known-bad documents.

Input: labelled documents, as JSONL (one object a line with `text` and `label`: good or bad; optional `id`, `lang`,
`source`, `half`; every other field travels as metadata, as the jsonl reader passes it), or as two folders
(`--good DIR --bad DIR`, each holding .txt files, one document each, and/or .jsonl files without labels).

What runs: the pipeline's stages that decide one document at a time, from `--from` on (default: every stage but
`extract`, the input being text): global stages (dedup, decontamination) and `chunk` (it turns one document into
several) are skipped, and named in the output. Every stage sees every document, as it would if the stages before it
had kept it ("annotate, then decide": a document one stage rejects is still measured by the next ones), so for each
document the run knows
  - the stage and rule that reject it first in the pipeline's order (what the pipeline does);
  - every rule that would reject it on its own: the quality stage lists every failing rule in
    `quality_failed_rules`; any other stage's rule is its rejection reason.
Reported, for good and bad documents apart, with 95% Wilson score intervals:
  - rejected (the whole chain): on good documents the false-rejection rate, on bad ones the rejection rate;
  - per stage: documents it rejects first, and documents it would reject alone;
  - per rule: documents the rule alone would drop (`alone`), and those no other rule drops (`only`: what turning
    the rule off would keep);
  - per language (the `lang` the labelled set gives, else the one the langid stage found) and per source;
all of it for the whole set and for each value of the `half` field (tune / holdout) when the set has one.
"""

import json
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import click

LABELS = ("good", "bad")


class DataError(click.ClickException):
    """The labelled set cannot be read: exit code 2, as a usage or configuration error."""

    exit_code = 2
Z_95 = 1.959964  # two-sided 95% normal quantile (Wilson score interval)
NOT_PER_DOCUMENT = {"chunk"}  # per-document, but one document in, several out: its blocks are not the document
EXAMPLES = 10  # document ids listed per rule (the good ones it drops: the false rejections to read first)


@dataclass
class Labelled:
    id: str
    text: str
    label: str
    lang: str | None = None
    source: str = ""
    half: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """What the stages did to one document."""

    doc: Labelled
    verdicts: list[tuple[str, str]]  # (stage, reason) of every stage that rejects it alone, in pipeline order
    rules: list[str]  # every failing rule, "stage: rule"
    detected_lang: str | None = None

    @property
    def rejected(self) -> bool:
        return bool(self.verdicts)

    @property
    def lang(self) -> str:
        return self.doc.lang or self.detected_lang or "und"


# ---- input ---------------------------------------------------------------------------------------------------------

def load_jsonl(path: Path, label: str | None = None) -> list[Labelled]:
    docs = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as error:
            raise DataError(f"{where}: not JSON: {error}") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f"{where}: expected an object with a string `text`")
        row_label = row.pop("label", None) if label is None else label
        if row_label not in LABELS:
            raise DataError(f"{where}: `label` must be good or bad, got {row_label!r}")
        text = row.pop("text")
        doc_id = str(row.pop("id", None) or f"{path.name}/{number}")
        docs.append(Labelled(doc_id, text, row_label, row.pop("lang", None), str(row.pop("source", "") or ""),
                             row.pop("half", None), row))
    return docs


def load_folder(folder: Path, label: str) -> list[Labelled]:
    docs = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".txt", ".jsonl"))
    if not files:
        raise DataError(f"{folder}: no .txt or .jsonl file")
    for path in files:
        if path.suffix == ".jsonl":
            docs += load_jsonl(path, label)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
            docs.append(Labelled(str(path.relative_to(folder)), text, label, source=folder.name))
    return docs


def load_labelled(data: Path | None, good: Path | None, bad: Path | None) -> list[Labelled]:
    if data is not None and (good or bad) or data is None and not (good and bad):
        raise click.UsageError("give --data FILE.jsonl, or both --good DIR and --bad DIR")
    docs = load_jsonl(data) if data is not None else load_folder(good, "good") + load_folder(bad, "bad")
    duplicates = [i for i, n in Counter(d.id for d in docs).items() if n > 1]
    if duplicates:
        raise DataError(f"duplicate document ids: {', '.join(duplicates[:5])}")
    return docs


# ---- running the stages ----------------------------------------------------------------------------------------

def per_document_steps(pipeline_file: str, start: str | None, overrides: dict) -> tuple[list, list[str]]:
    """The pipeline's per-document steps from `start` on (default: all but extract), and the names skipped."""
    from curate.config import ConfigError, load_pipeline_config
    from curate.pipeline import make_stage
    from curate.stages.base import GlobalStage

    try:
        config = load_pipeline_config(pipeline_file, overrides)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    names = [stage.name for stage in config.stages]
    if start is not None and start not in names:
        raise click.UsageError(f"--from {start!r}: {pipeline_file} has no such stage; its stages: {', '.join(names)}")
    first = names.index(start) if start is not None else 0
    steps, skipped = [], []
    for i, stage in enumerate(config.stages):
        if i < first or (start is None and stage.name == "extract"):
            skipped.append(stage.name)
            continue
        try:
            step = make_stage(stage, where=f"stages[{i}].{stage.name}")
        except ConfigError as error:
            raise click.UsageError(str(error)) from None
        if isinstance(step, GlobalStage) or stage.name in NOT_PER_DOCUMENT:
            skipped.append(stage.name)
        else:
            steps.append(step)
    if not steps:
        raise click.UsageError(f"{pipeline_file}: no per-document stage to run")
    return steps, skipped


def run_steps(steps: list, docs: list[Labelled], log=None) -> list[Outcome]:
    """Every step on every document (a rejection is recorded, then cleared, so later steps still measure it)."""
    from datatrove.data import Document

    from curate.funnel import REASON, REASON_DETAIL, REASON_VALUE, REJECTED_BY

    documents = [Document(text=d.text, id=d.id, metadata={**d.metadata, **({"lang": d.lang} if d.lang else {}),
                                                          "source": d.source}) for d in docs]
    verdicts: dict[str, list[tuple[str, str]]] = defaultdict(list)
    rules: dict[str, list[str]] = defaultdict(list)
    for step in steps:
        start = time.perf_counter()
        for doc in step.run(iter(documents)):
            failed = [r for r in (doc.metadata.get("quality_failed_rules") or "").split(",") if r] \
                if step.name.startswith("quality") else []
            if REJECTED_BY in doc.metadata:
                reason = doc.metadata.pop(REASON)
                doc.metadata.pop(REJECTED_BY)
                doc.metadata.pop(REASON_VALUE, None)
                doc.metadata.pop(REASON_DETAIL, None)
                verdicts[doc.id].append((step.name, reason))
                failed = failed or [reason]
            rules[doc.id] += [f"{step.name}: {rule}" for rule in failed]
        if log:
            log(f"{step.name}: {time.perf_counter() - start:.1f} s")
    by_id = {doc.id: doc for doc in documents}
    return [Outcome(d, verdicts[d.id], rules[d.id], by_id[d.id].metadata.get("lang")) for d in docs]


# ---- figures -------------------------------------------------------------------------------------------------------

def wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it for
    small n and rates near 0 or 1, where the normal interval fails)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> dict:
    low, high = wilson(k, n)
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": [round(low, 4), round(high, 4)]}


def figures(outcomes: list[Outcome], stages: list[str]) -> dict:
    """Chain, per-stage and per-rule rates on good and bad documents of one group."""
    by_label = {label: [o for o in outcomes if o.doc.label == label] for label in LABELS}
    result: dict = {label: rate(sum(o.rejected for o in docs), len(docs)) for label, docs in by_label.items()}
    result["stages"] = {}
    for stage in stages:
        entry = {}
        for label, docs in by_label.items():
            entry[f"{label}_first"] = rate(sum(bool(o.verdicts) and o.verdicts[0][0] == stage for o in docs), len(docs))
            entry[f"{label}_alone"] = rate(sum(any(s == stage for s, _ in o.verdicts) for o in docs), len(docs))
        result["stages"][stage] = entry
    names = sorted({rule for o in outcomes for rule in o.rules}, key=lambda r: (stages.index(r.split(": ")[0])
                                                                                if r.split(": ")[0] in stages else 99, r))
    result["rules"] = {}
    for rule in names:
        entry = {}
        for label, docs in by_label.items():
            alone = [o for o in docs if rule in o.rules]
            entry[f"{label}_alone"] = rate(len(alone), len(docs))
            entry[f"{label}_only"] = rate(sum(set(o.rules) == {rule} for o in alone), len(docs))
        entry["good_examples"] = [o.doc.id for o in by_label["good"] if rule in o.rules][:EXAMPLES]
        result["rules"][rule] = entry
    return result


def grouped(outcomes: list[Outcome], key) -> dict[str, dict]:
    """Good and bad rates per value of `key(outcome)`, and the rule that rejects most of the group's good documents."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[key(o)].append(o)
    result = {}
    for name in sorted(groups):
        docs = groups[name]
        good = [o for o in docs if o.doc.label == "good"]
        bad = [o for o in docs if o.doc.label == "bad"]
        first = Counter(f"{o.verdicts[0][0]}: {o.verdicts[0][1]}" for o in good if o.rejected)
        result[name] = {"good": rate(sum(o.rejected for o in good), len(good)),
                        "bad": rate(sum(o.rejected for o in bad), len(bad)),
                        "good_rejected_first_by": dict(first.most_common())}
    return result


def evaluate(outcomes: list[Outcome], stages: list[str]) -> dict:
    halves = sorted({o.doc.half for o in outcomes if o.doc.half}, key=lambda h: (h != "tune", h))
    groups = {"all": outcomes, **{f"half={h}": [o for o in outcomes if o.doc.half == h] for h in halves}}
    return {
        "groups": {name: {**figures(docs, stages),
                          "per_language": grouped(docs, lambda o: o.lang),
                          "per_source": grouped(docs, lambda o: f"{o.doc.label}/{o.doc.source or '-'}")}
                   for name, docs in groups.items()},
        "good_rejected": [{"id": o.doc.id, "lang": o.lang, "source": o.doc.source, "half": o.doc.half,
                           "first": list(o.verdicts[0]), "rules": o.rules} for o in outcomes
                          if o.doc.label == "good" and o.rejected],
        "bad_kept": [{"id": o.doc.id, "lang": o.lang, "source": o.doc.source, "half": o.doc.half}
                     for o in outcomes if o.doc.label == "bad" and not o.rejected],
    }


# ---- output --------------------------------------------------------------------------------------------------------

def pct(entry: dict, interval: bool = True) -> str:
    if not entry["n"]:
        return "-"
    text = f"{100 * entry['rate']:5.1f}%"
    if interval:
        low, high = entry["ci95"]
        text += f" [{100 * low:4.1f}, {100 * high:5.1f}]"
    return f"{text} {entry['k']:>4}/{entry['n']:<5}"


def print_tables(result: dict, min_language_docs: int) -> None:
    echo = click.echo
    groups = result["groups"]
    docs = result["documents"]
    echo(f"{docs['good']:,} good and {docs['bad']:,} bad documents; {result['pipeline']}: "
         f"{', '.join(result['stages'])} (skipped: {', '.join(result['skipped']) or 'none'})")
    echo("rates with 95% Wilson intervals; good: false rejections, bad: rejections\n")
    echo(f"{'group':<16} {'good rejected':<33} {'bad rejected':<33}")
    for name, g in groups.items():
        echo(f"{name:<16} {pct(g['good']):<33} {pct(g['bad']):<33}")
    columns = [name for name in groups]
    echo(f"\nper stage: documents it rejects first (alone: on its own)   [{', '.join(columns)}]")
    for stage in result["stages"]:
        cells = [f"{pct(g['stages'][stage]['good_first'], False).split()[0]:>6} "
                 f"({pct(g['stages'][stage]['good_alone'], False).split()[0]:>6}) / "
                 f"{pct(g['stages'][stage]['bad_first'], False).split()[0]:>6} "
                 f"({pct(g['stages'][stage]['bad_alone'], False).split()[0]:>6})" for g in groups.values()]
        echo(f"  {stage:<14} good / bad: " + "  |  ".join(cells))
    all_rules = groups["all"]["rules"]
    echo("\nper rule, all documents: alone = the rule would drop it; only = no other rule does")
    echo(f"  {'rule':<40} {'good alone':>15} {'good only':>10} {'bad alone':>15} {'bad only':>10}")
    for rule, r in all_rules.items():
        echo(f"  {rule:<40} {r['good_alone']['k']:>5} {_short(r['good_alone']):>9} {r['good_only']['k']:>10} "
             f"{r['bad_alone']['k']:>5} {_short(r['bad_alone']):>9} {r['bad_only']['k']:>10}")
    echo(f"\nper language, all documents (good documents >= {min_language_docs}; JSON has every language)")
    echo(f"  {'lang':<6} {'good rejected':<33} {'bad rejected':<33} first rule on good")
    for lang, g in groups["all"]["per_language"].items():
        if g["good"]["n"] >= min_language_docs:
            top = next(iter(g["good_rejected_first_by"].items()), ("", 0))
            echo(f"  {lang:<6} {pct(g['good']):<33} {pct(g['bad']):<33} {top[0]} {top[1] or ''}")
    echo("\nper source, all documents")
    for source, g in groups["all"]["per_source"].items():
        label = source.split("/")[0]
        top = ", ".join(f"{k} {v}" for k, v in list(g["good_rejected_first_by"].items())[:3])
        echo(f"  {source:<24} {pct(g[label]):<33} {top}")


def _short(entry: dict) -> str:
    return f"{100 * entry['rate']:.1f}%" if entry["n"] else "-"


@click.command("filters")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="labelled JSONL: text, label (good|bad), optional id, lang, source, half")
@click.option("--good", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a folder of good documents (.txt files, or .jsonl without labels)")
@click.option("--bad", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a folder of bad documents")
@click.option("--pipeline", "pipeline_file", default="pipelines/web.yaml", show_default=True,
              help="the pipeline whose per-document stages run")
@click.option("--from", "start", default=None, help="first stage to run (default: every stage but extract)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="override a pipeline key, as in `curate run` (stages.3.quality.gopher_min_words=40)")
@click.option("--min-language-docs", default=20, show_default=True, help="languages shown in the table")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the JSON report here (OUT/filters_eval.json puts it in `curate report OUT`)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON report instead of the tables")
def command(data_file, good, bad, pipeline_file, start, sets, min_language_docs, report, as_json):
    """False rejections on good documents and rejections of bad ones, per stage, rule, language and half."""
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from loguru import logger

    logger.remove()  # datatrove's per-step logging
    docs = load_labelled(data_file, good, bad)
    from curate.config import ConfigError, parse_overrides

    try:
        overrides = parse_overrides(sets)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    steps, skipped = per_document_steps(pipeline_file, start, overrides)

    def log(line):
        click.echo(line, err=True)

    outcomes = run_steps(steps, docs, log)
    stages = [step.name for step in steps]
    result = {"pipeline": pipeline_file, "overrides": list(sets), "data": str(data_file or f"{good} + {bad}"),
              "stages": stages, "skipped": skipped,
              "documents": {label: sum(d.label == label for d in docs) for label in LABELS},
              **evaluate(outcomes, stages)}
    if as_json:
        click.echo(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        print_tables(result, min_language_docs)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        click.echo(f"report: {report}", err=True)
