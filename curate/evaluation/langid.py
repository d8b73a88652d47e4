"""`curate eval langid`: our language identifier on lingua's test sentences, beside lingua's published report.

The data is lingua's evaluation set (github.com/pemistahl/lingua-py, `language-testdata/sentences/<iso>.txt`, one
sentence a line, up to 1,000 per language, 75 languages) and its `accuracy-reports/`. The published number quoted
is the `sentences` report (sentences-accuracy-values.csv): for each language, the percentage of that language's
sentences a detector labels correctly; a detector's figure is the mean of those percentages over languages (the
`average` report also mixes in single words and word pairs, which is not what we measure). Over the 66 languages
lid.176 has a label for, this gives lingua high-accuracy 96.0% and plain lid.176 89.4%, the figures of issue 3.

Detectors measured in the same run, language by language in turn (so machine load hits all alike):
  ours      curate's `langid` detector (fastText lid.176 + lingua on close languages; langid_model.py)
  fasttext  plain lid.176.ftz, its top label as is (`no` for Norwegian, so Bokmål counts as unsupported)
  lingua    lingua high-accuracy over its 75 languages, models preloaded (with --lingua: ~100x slower)
Speed is sentences per CPU-second of this process (single-threaded: fastText and lingua's detect_language_of run
on the calling thread), so other processes on the machine do not distort it; wall-clock rates are reported too.
"""

import csv
import json
import statistics
import time
from pathlib import Path

import click

# columns of lingua's accuracy reports that are other libraries (the lingua-<language>-detector columns are
# single-language detectors, not comparable)
PUBLISHED_COLUMNS = ("cld2", "cld3", "langdetect", "langid", "simplemma", "lingua-low-accuracy", "lingua-high-accuracy")
DETECTORS = ("ours", "fasttext", "lingua")
# sentences per language run through every detector before timing starts
WARMUP_SENTENCES = 20


def text_folder(data: Path) -> Path:
    """The folder of <iso>.txt files: `data` itself (lingua's single-words/, word-pairs/, or any folder of yours),
    or its sentences/ (lingua's test data root)."""
    for folder in (data / "sentences", data):  # the root holds LICENSE.txt too: its sentences/ first
        if folder.is_dir() and any(folder.glob("*.txt")):
            return folder
    raise click.ClickException(f"{data}: no <iso>.txt files in it or in {data / 'sentences'} (one text a line, the "
                               "file named by the ISO 639-1 code of its language, as lingua's test data)")


def load_sentences(data: Path, languages: list[str] | None = None, limit: int | None = None) -> dict[str, list[str]]:
    folder = text_folder(data)
    files = sorted(folder.glob("*.txt"))
    if languages:
        missing = sorted(set(languages) - {f.stem for f in files})
        if missing:
            raise click.ClickException(f"--languages: no <code>.txt for {', '.join(missing)} in {folder}")
        files = [f for f in files if f.stem in languages]
    sentences = {}
    for f in files:
        lines = [line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        sentences[f.stem] = lines[:limit] if limit else lines
    return sentences


def published_report(data: Path) -> Path | None:
    """lingua's accuracy report for the texts of `data` (sentences/, single-words/, word-pairs/), when it is there:
    accuracy-reports/<folder>-accuracy-values.csv beside the folder."""
    folder = text_folder(data)
    report = folder.parent / "accuracy-reports" / f"{folder.name}-accuracy-values.csv"
    return report if report.is_file() else None


def load_published(data: Path) -> dict[str, dict[str, float | None]]:
    """column -> {iso code -> published accuracy in % (None where the library lacks the language)}; empty when
    `data` has no published report."""
    from lingua import Language

    report = published_report(data)
    if report is None:
        return {}
    code_of = {lang.name.title(): lang.iso_code_639_1.name.lower() for lang in Language.all()}
    published = {column: {} for column in PUBLISHED_COLUMNS}
    with report.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = code_of.get(row["language"])
            if code is None:
                raise click.ClickException(f"{report}: unknown language {row['language']!r}")
            for column in PUBLISHED_COLUMNS:
                value = float(row[column])
                published[column][code] = None if value != value else value  # NaN: not supported
    return published


def mean_over(values: dict[str, float | None], languages: list[str]) -> tuple[float | None, int]:
    """Mean over `languages` of the values present, and how many were present."""
    present = [values[lang] for lang in languages if values.get(lang) is not None]
    return (statistics.mean(present) if present else None), len(present)


class Timed:
    """A detector with its CPU and wall time, called one text at a time."""

    def __init__(self, predict):
        self.predict, self.cpu, self.wall, self.count = predict, 0.0, 0.0, 0

    def run(self, texts: list[str]) -> list[str]:
        cpu, wall = time.process_time(), time.perf_counter()
        labels = [self.predict(text) for text in texts]
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        self.count += len(texts)
        return labels

    def rates(self) -> dict:
        return {"per_cpu_second": self.count / self.cpu if self.cpu else None,
                "per_wall_second": self.count / self.wall if self.wall else None, "count": self.count}


def build_detectors(names: list[str]) -> dict[str, Timed]:
    from curate.stages.langid_model import LanguageDetector

    ours = LanguageDetector(refine=True)
    detectors = {}
    if "ours" in names:
        detectors["ours"] = Timed(lambda text: ours.predict(text)[0])
    if "fasttext" in names:
        plain = LanguageDetector(refine=False).fasttext  # the raw model: its own labels, no alias

        def fasttext_top(text):
            return plain.predict(text.replace("\n", " "), k=1)[0][0][9:]

        detectors["fasttext"] = Timed(fasttext_top)
    if "lingua" in names:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def lingua_top(text):
            lang = lingua.detect_language_of(text)
            return lang.iso_code_639_1.name.lower() if lang is not None else "und"

        detectors["lingua"] = Timed(lingua_top)
    detectors["_ours_model"] = ours  # for the consultation counts
    return detectors


def evaluate(data: Path, languages: list[str] | None = None, limit: int | None = None,
             detectors: tuple[str, ...] = ("ours", "fasttext"), pages: Path | None = None,
             page_limit: int | None = None) -> dict:
    from curate.stages.langid_model import fasttext_model_path

    sentences = load_sentences(data, languages, limit)
    published = load_published(data)
    columns = [column for column in PUBLISHED_COLUMNS if column in published]
    import fasttext

    lid176 = {label[9:] for label in fasttext.load_model(str(fasttext_model_path())).get_labels()}
    langs = sorted(sentences)
    supported = [lang for lang in langs if lang in lid176]  # "the 66": languages lid.176 has a label for
    timed = build_detectors(list(detectors))
    ours_model = timed.pop("_ours_model")
    # warm-up, not timed: lingua loads each language's models on first use (once per process; the stage pays it
    # once per worker), which would otherwise be charged to whichever sentences come first
    warmup = time.perf_counter()
    for detector in timed.values():
        for lang in langs:
            for text in sentences[lang][:WARMUP_SENTENCES]:
                detector.predict(text)
    warmup = time.perf_counter() - warmup
    ours_model.calls = dict.fromkeys(ours_model.calls, 0)
    per_language = {}
    for lang in langs:
        row = {"sentences": len(sentences[lang]), "lid176_supported": lang in lid176}
        for name, detector in timed.items():
            labels = detector.run(sentences[lang])
            correct = [label == lang for label in labels]
            row[name] = 100.0 * sum(correct) / len(correct)
            # halves (even / odd lines): the detector's rules were tuned on the even half only
            row[name + "_even"] = 100.0 * sum(correct[0::2]) / max(1, len(correct[0::2]))
            row[name + "_odd"] = 100.0 * sum(correct[1::2]) / max(1, len(correct[1::2]))
        for column in columns:
            row[column] = published[column].get(lang)
        per_language[lang] = row
    summary = {}
    for name in timed:
        acc = {lang: per_language[lang][name] for lang in langs}
        summary[name] = {
            "mean_supported": mean_over(acc, supported)[0],
            "mean_supported_even": mean_over({k: per_language[k][name + "_even"] for k in langs}, supported)[0],
            "mean_supported_odd": mean_over({k: per_language[k][name + "_odd"] for k in langs}, supported)[0],
            "mean_all": mean_over(acc, langs)[0],  # unsupported languages count as what the detector got (0 for lid.176)
            "sentences_per_second": timed[name].rates(),
        }
    for column in columns:
        mean, n = mean_over(published[column], supported)
        mean_all, n_all = mean_over(published[column], langs)
        summary["published " + column] = {"mean_supported": mean, "languages_supported": n,
                                          "mean_all": mean_all, "languages_all": n_all}
    report = {"data": str(data), "published_report": str(published_report(data) or ""),
              "languages": langs, "supported": supported, "per_language": per_language,
              "summary": summary, "ours_calls": dict(ours_model.calls), "warmup_seconds": warmup}
    if pages is not None:
        report["web_documents"] = evaluate_pages(pages, timed, ours_model, page_limit)
    return report


def extracted_pages(pages: Path, limit: int | None = None) -> list[str]:
    """The main text of each HTML page under `pages` (plain or .gz), extracted with trafilatura (not timed)."""
    import gzip

    import trafilatura

    files = sorted(p for p in pages.rglob("*") if p.is_file() and p.name.endswith((".html", ".htm", ".html.gz")))
    if not files:
        raise click.ClickException(f"--pages: no .html / .html.gz files under {pages}")
    texts = []
    for f in files[:limit] if limit else files:
        raw = f.read_bytes()
        if f.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = trafilatura.extract(raw)
        if text and text.strip():
            texts.append(text)
    return texts


def evaluate_pages(pages: Path, timed: dict[str, "Timed"], ours_model, limit: int | None) -> dict:
    texts = extracted_pages(pages, limit)
    result = {"documents": len(texts), "mean_chars": statistics.mean(len(t) for t in texts) if texts else 0}
    fresh = {name: Timed(detector.predict) for name, detector in timed.items()}
    for detector in fresh.values():  # warm-up, not timed (lingua's models for the languages of these pages)
        for text in texts[:100]:
            detector.predict(text)
    before = dict(ours_model.calls)
    labels = {}
    for start in range(0, len(texts), 50):  # alternate detectors in chunks, as for sentences
        for name, detector in fresh.items():
            labels.setdefault(name, []).extend(detector.run(texts[start:start + 50]))
    for name, detector in fresh.items():
        result[name] = {"documents_per_second": detector.rates(),
                        "languages": dict(sorted(_count(labels[name]).items(), key=lambda kv: -kv[1])[:10])}
    if "ours" in labels and "fasttext" in labels:
        result["ours_differs_from_fasttext"] = sum(a != b for a, b in zip(labels["ours"], labels["fasttext"]))
    result["ours_calls"] = {k: v - before.get(k, 0) for k, v in ours_model.calls.items()}
    return result


def _count(labels: list[str]) -> dict[str, int]:
    counts = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _fmt(value, width=6) -> str:
    return f"{value:{width}.1f}" if isinstance(value, float) else f"{'-':>{width}}"


def print_report(report: dict) -> None:
    names = [n for n in DETECTORS if n in report["summary"]]
    columns = names + [c for c in report["summary"] if c.startswith("published ")]
    short = {"published lingua-high-accuracy": "lingua-hi", "published lingua-low-accuracy": "lingua-lo"}
    header = [short.get(c, c.replace("published ", "")) for c in columns]
    source = (f"published columns: {report['published_report']}" if report["published_report"]
              else "no published report for this data")
    click.echo("lang " + " ".join(f"{h:>9}" for h in header) + f"   ({source})")
    for lang, row in report["per_language"].items():
        mark = " " if row["lid176_supported"] else "*"
        values = [row.get(c.replace("published ", "")) for c in columns]
        click.echo(f"{lang:<3}{mark} " + " ".join(_fmt(v, 9) for v in values))
    summary = report["summary"]
    n = len(report["supported"])
    click.echo(f"\nmean over the {n} languages lid.176 knows (* = not known, excluded):")
    click.echo("     " + " ".join(_fmt(summary[c]["mean_supported"], 9) for c in columns))
    click.echo(f"mean over all {len(report['languages'])} (ours/fastText: unsupported count as scored; published: "
               "languages each library has):")
    click.echo("     " + " ".join(_fmt(summary[c]["mean_all"], 9) for c in columns))
    for name in names:
        s = summary[name]
        rates = s["sentences_per_second"]
        click.echo(f"{name:>9}: {s['mean_supported']:.2f}% on the {n} (even half {s['mean_supported_even']:.2f}%, "
                   f"odd half {s['mean_supported_odd']:.2f}%), {rates['per_cpu_second']:,.0f} sentences per "
                   f"CPU-second ({rates['per_wall_second']:,.0f}/s wall)")
    click.echo(f"ours: lingua's all-language pass on {report['ours_calls'].get('lingua_all', 0):,} of "
               f"{report['ours_calls'].get('fasttext', 0):,} texts (fastText unsure), lingua deciding among close "
               f"languages on {report['ours_calls'].get('lingua', 0):,}")
    web = report.get("web_documents")
    if web:
        click.echo(f"\nweb documents: {web['documents']} extracted pages, mean {web['mean_chars']:,.0f} chars")
        for name in names:
            rates = web[name]["documents_per_second"]
            click.echo(f"{name:>9}: {rates['per_cpu_second']:,.0f} documents per CPU-second "
                       f"({rates['per_wall_second']:,.0f}/s wall); top languages {web[name]['languages']}")
        if "ours_differs_from_fasttext" in web:
            click.echo(f"ours differs from plain fastText on {web['ours_differs_from_fasttext']} documents; "
                       f"calls {web['ours_calls']}")


@click.command("langid")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="a folder of <iso>.txt files, one text a line (lingua's sentences/, single-words/, word-pairs/, "
                   "or yours), or lingua's test data root (its sentences/); lingua's published accuracy is shown "
                   "when accuracy-reports/ is beside the folder")
@click.option("--languages", default=None, help="comma-separated ISO 639-1 codes (default: every file)")
@click.option("--limit", type=int, default=None, help="only the first N sentences of each language")
@click.option("--lingua", "with_lingua", is_flag=True, help="also run lingua high-accuracy alone (slow: ~100x)")
@click.option("--pages", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="HTML pages (e.g. trafilatura-eval/cache): also measure documents/s on their extracted text")
@click.option("--page-limit", type=int, default=None, help="only the first N pages")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, help="write a JSON report here")
@click.option("--json", "as_json", is_flag=True, help="print the JSON report instead of the table")
def command(data_dir, languages, limit, with_lingua, pages, page_limit, report, as_json):
    """Accuracy and speed of `langid` on lingua's sentences, beside lingua's published accuracy report."""
    codes = [c.strip() for c in languages.split(",") if c.strip()] if languages else None
    detectors = ("ours", "fasttext", "lingua") if with_lingua else ("ours", "fasttext")
    result = evaluate(data_dir, codes, limit, detectors, pages, page_limit)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_report(result)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2), encoding="utf-8")
        click.echo(f"report: {report}", err=as_json)
