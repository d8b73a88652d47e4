"""The `curate` command: parse arguments, call the library, print. No curation logic lives here.

Results go to stdout, progress and logs to stderr. Exit codes: 0 ok, 1 run failure, 2 usage or config error.
"""

import json
import os
import sys
import time

import click
from rich.console import Console
from rich.table import Table

from curate import __version__
from curate.config import FORMATS

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # a line is a line, terminal or not: no wrap at 80 columns mid-phrase

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


class ConfigExit(click.ClickException):
    exit_code = 2


def _quiet_datatrove(verbose: bool) -> None:
    from curate.executors import log_to_stderr

    log_to_stderr("INFO" if verbose else "WARNING")


def _show_curate_warnings() -> None:
    """A CurateWarning (a format taken from the files, a run that kept nothing) as one plain line on stderr, each
    time it is raised; Python's other warnings as Python shows them."""
    import warnings

    from curate.config import CurateWarning

    python_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CurateWarning):
            err.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False)
        else:
            python_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", CurateWarning)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="curate")
def cli():
    """curate: raw web pages and text in; clean, deduplicated, privacy-redacted, leak-free train/val/test Parquet
    shards out.

    \b
    curate run pipelines/web.yaml          run a pipeline (see README: the YAML format)
    curate stats out/web                   documents, bytes, column distributions, the funnel
    curate head out/web --rejected         read documents, kept or rejected
    curate validate pipelines/web.yaml     check a pipeline without running it
    curate eval extraction|langid|dedup|pii|filters ...  measure stages on labelled data
    curate quality-model train ...         train the fastText quality classifier the quality_model stage uses
    curate report out/web                  one HTML page: funnel, signals, diversity, examples, config
    curate tokenize out/web --tokenizer T  token files for trainers (nanoGPT .bin, datatrove .ds)
    curate ablate pipelines/web.yaml ...   train the same GPT on raw and curated data; compare bits per byte
    curate train out/text                  train the GPT on curated shards (also sample, evaluate, ...)
    """
    _show_curate_warnings()


def _overrides(values: tuple[str, ...]) -> dict:
    from curate.config import ConfigError, parse_overrides

    try:
        return parse_overrides(values)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


def _load(pipeline_file: str, inputs: tuple[str, ...] = (), sets: tuple[str, ...] = (), fmt: str | None = None):
    from curate.config import ConfigError
    from curate.pipeline import Pipeline

    overrides = _overrides(sets)
    if inputs:
        overrides["input.paths"] = list(inputs)
    if fmt:
        overrides["input.format"] = fmt
    try:
        return Pipeline.from_yaml(pipeline_file, overrides)
    except ConfigError as error:
        raise ConfigExit(str(error)) from None


@cli.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, help="Input path or glob (repeatable); replaces input.paths.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Read every input file in this format, whatever "
              "its name says (default: input.format, or the files' names when none fits it).")
@click.option("--output", help="Output folder; replaces output.path.")
@click.option("--workers", type=click.IntRange(min=1), help="Tasks run at once (default: executor.workers).")
@click.option("--tasks", type=click.IntRange(min=1), help="Parts the input is split into (default: by input bytes, 16-256 MiB a part, at most 4 per warc, jsonl, parquet or hf file, read as interleaved parts).")
@click.option("--limit", type=int, help="Read at most N documents per task (quick trials).")
@click.option("--force", is_flag=True, help="Delete the output's earlier run and start over (once the config has "
              "passed every check).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. executor.type=ray.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show datatrove's per-task logs on stderr.")
def run(pipeline_file, inputs, fmt, output, workers, tasks, limit, force, sets, as_json, verbose):
    """Run PIPELINE_FILE (YAML). Re-running resumes: finished tasks are skipped."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from curate.config import ConfigError
    from curate.processes import children_die_with_this_process

    pipeline = _load(pipeline_file, inputs, sets, fmt)
    _quiet_datatrove(verbose)
    children_die_with_this_process()  # a step's sandbox process (tasks run here with one worker) dies with the run
    terminal = err.is_terminal
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json or not terminal) as bar:
        task = bar.add_task("starting", total=None)
        lines = _ProgressLines()

        def on_progress(p):
            if terminal:
                bar.update(task, description=_progress_text(p))
            else:
                lines.show(p)

        try:
            result = pipeline.run(output=output, workers=workers, tasks=tasks, limit=limit, force=force,
                                  verbose=verbose, on_progress=on_progress)
        except ConfigError as error:
            raise ConfigExit(str(error)) from None
        except Exception as error:  # a task failed: datatrove logged its traceback in OUT/logs/<phase>/logs/
            err.print(f"[red]run failed:[/red] {type(error).__name__}: {error}")
            err.print(f"task logs: {output or pipeline.config.output.path}/logs/<phase>/logs/")
            sys.exit(1)
    if result.submitted_only:
        err.print(f"submitted {result.tasks} tasks; re-run the same command when they finish to write the manifest")
        return
    if result.skipped_tasks:
        err.print(f"resumed: {result.skipped_tasks} of {result.tasks} tasks were already complete and were skipped "
                  f"(--force starts over)")
    if as_json:
        click.echo(json.dumps(result.manifest, indent=2, ensure_ascii=False))
    else:
        from curate.stats import split_sizes

        _print_funnel(result.manifest["funnel"], result.manifest["conservation"], split_sizes(result.manifest))
        kinds = ", ".join(f"{kind}/" for kind in result.manifest["output"])
        out.print(f"output: {result.output}  (manifest.json, {kinds})")
    if not result.ok:
        err.print("[red]conservation check failed:[/red] documents read (+ created) != kept + rejected; "
                  "see manifest.json")
        sys.exit(1)


def _progress_text(p) -> str:
    phase = f"phase {p.phase_number}/{p.phases} {p.phase}  " if p.phase else ""
    return f"{phase}tasks {p.tasks_done}/{p.tasks}  kept {p.kept:,}  rejected {p.rejected:,}"


class _ProgressLines:
    """Progress when stderr is not a terminal (a log file, a pipe): a plain line when a phase completes, and at
    most every PLAIN_EVERY_S seconds while one runs."""

    PLAIN_EVERY_S = 10.0

    def __init__(self):
        self.started = time.monotonic()
        self.last = 0.0
        self.last_text = None

    def show(self, p) -> None:
        now = time.monotonic()
        text = _progress_text(p) + ("  done" if p.phase_done else "")
        if text != self.last_text and (p.phase_done or now - self.last >= self.PLAIN_EVERY_S):
            elapsed = int(now - self.started)
            err.print(f"progress {elapsed // 60}:{elapsed % 60:02d}  {text}", highlight=False, soft_wrap=True)
            self.last, self.last_text = now, text


def _print_funnel(funnel: list[dict], conservation: dict, splits: dict) -> None:
    """The funnel table, each step's reasons and counters, the split sizes and the conservation line."""
    table = Table(title="funnel", title_justify="left")
    for column in ("step", "docs in", "docs out", "rejected", "MB in", "MB out", "seconds"):
        table.add_column(column, justify="left" if column == "step" else "right", no_wrap=True)
    for entry in funnel:
        rejected = sum(r["docs"] for r in entry["rejected"].values())
        table.add_row(entry["step"], f"{entry['docs_in']:,}", f"{entry['docs_out']:,}", f"{rejected:,}",
                      f"{entry['bytes_in'] / 1e6:.2f}", f"{entry['bytes_out'] / 1e6:.2f}",
                      f"{entry.get('seconds', 0):.1f}")
    out.print(table)
    # reasons below the table, one line per step: a column of them wraps into an unreadable sliver
    for entry in funnel:
        if entry["rejected"]:
            reasons = ", ".join(f"{reason} {r['docs']:,}" for reason, r in entry["rejected"].items())
            out.print(f"[bold]{entry['step']}[/bold] rejected: {reasons}", highlight=False)
    # a step's own counters (pii's spans per entity, langid's languages, ...), one line per step as the reasons
    for entry in funnel:
        counters = ", ".join(f"{name} {value:,}" for name, value in entry.get("counters", {}).items() if value)
        if counters:
            out.print(f"[bold]{entry['step']}[/bold] counted: {counters}", highlight=False)
    sizes = [f"{kind} {totals['docs']:,} docs / {totals.get('tokens', 0):,} tokens" for kind, totals in splits.items()]
    if sizes:
        out.print("splits: " + ", ".join(sizes), highlight=False)
    c = conservation
    mark = "ok" if c["ok"] else "MISMATCH"
    created = f" + created {c['created']:,}" if c.get("created") else ""
    out.print(f"read {c['read']:,}{created} = kept {c['kept']:,} + rejected {c['rejected']:,}: {mark}")


@cli.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, help="As `curate run --input`.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="As `curate run --format`.")
@click.option("--output", help="As `curate run --output`: checked that it can be written (nothing is created).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
def validate(pipeline_file, inputs, fmt, output, sets):
    """Check PIPELINE_FILE, with the options of the `curate run` you are about to type: keys, types, stage names and
    parameters, input paths and format, files stages need, the output folder. Runs nothing."""
    from curate.config import ConfigError

    pipeline = _load(pipeline_file, inputs, sets, fmt)
    output = output or pipeline.config.output.path
    try:
        fmt, files = pipeline.resolve_inputs()
        # every stage built (each checks its own values: a model file that is not there, ...), columns, phases
        pipeline.build(files, fmt, output, tasks=1)
        pipeline.check_output(output)
    except ConfigError as error:
        raise ConfigExit(str(error)) from None
    stages = ", ".join(s.name for s in pipeline.config.stages) or "no stages"
    out.print(f"{pipeline_file}: ok ({fmt} input, {len(files)} files; {stages}; output {output})")


@cli.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, help="As `curate run --input`.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="As `curate run --format`.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
@click.option("--fraction", default=0.005, show_default=True, type=click.FloatRange(0, 1, min_open=True),
              help="Share of the input the larger sample reads (raised to reach --min-docs).")
@click.option("--min-docs", default=300, show_default=True, type=click.IntRange(min=10),
              help="Documents the larger sample reads at least.")
@click.option("--seed", default=0, show_default=True, help="Which files and records are sampled.")
@click.option("--workers", type=click.IntRange(min=1), help="Workers of the samples and of the run forecast "
              "(default: executor.workers).")
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(min=1),
              help="Also recommend and forecast for a cluster of this many nodes...")
@click.option("--cpus-per-node", type=click.IntRange(min=1), help="...with this many CPUs (default: this machine's)...")
@click.option("--ram-gb", type=click.FloatRange(min=0.5), help="...and this much memory each (default: this machine's).")
@click.option("--json", "as_json", is_flag=True, help="Print the forecast as JSON.")
def plan(pipeline_file, inputs, fmt, sets, fraction, min_docs, seed, workers, nodes, cpus_per_node, ram_gb, as_json):
    """Forecast a run of PIPELINE_FILE before it: wall time, peak memory per phase, work and output disk, kept
    documents and tokens per split, and the tasks and workers to use, here and on a cluster. Runs the pipeline on
    two seeded samples of the input (nested, the larger at least --min-docs documents) and extrapolates."""
    from curate.config import ConfigError
    from curate.plan import plan as make_plan

    pipeline = _load(pipeline_file, inputs, sets, fmt)
    try:
        result = make_plan(pipeline, fraction=fraction, min_docs=min_docs, seed=seed, workers=workers, nodes=nodes,
                           cpus_per_node=cpus_per_node, ram_gb=ram_gb, log=lambda line: err.print(line))
    except ConfigError as error:
        raise ConfigExit(str(error)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    _print_plan(result)


def _print_plan(result: dict) -> None:
    from rich.table import Table

    mb = 2**20
    out.print(f"input: {result['input']['bytes'] / mb:,.1f} MB, about {result['input']['docs']:,} documents")
    out.print(f"here, {result['workers']} workers: about {result['wall_seconds']:,.0f} s "
              f"({result['fixed_seconds']:,.0f} s of it fixed: start-up, models)")
    table = Table("phase", "tasks", "wall s", "s per 1k docs", "peak RSS MB", "grows with input")
    for p in result["phases"]:
        table.add_row(p["name"], str(p["tasks"]), f"{p['wall_seconds']:,.1f}", f"{p['seconds_per_1k_docs']:.2f}",
                      f"{p['peak_rss_mb']:,.0f}", "yes" if p["rss_grows_with_input"] else "")
    out.print(table)
    disk = result["disk_bytes"]
    out.print(f"disk: work {disk['work'] / mb:,.1f} MB (deleted at the end), output {disk['output'] / mb:,.1f} MB")
    kinds = ", ".join(f"{kind} {v['docs']:,} docs / {v['tokens']:,} tokens" for kind, v in result["output"].items())
    out.print(f"output: {kinds}")
    dedup = result["dedup_removed_share"]
    out.print(f"dedup removes {dedup['forecast']:.1%} of the documents (samples: "
              f"{', '.join(f'{d:.1%}' for d in dedup['samples'])}; extrapolated to the whole input)")
    r = result["recommend"]
    out.print(f"recommended: {r['nodes']} node(s), --workers {r['workers']}, --tasks {r['tasks']}: about "
              f"{r['wall_seconds']:,.0f} s")
    for key in ("note", "warning"):
        if key in r:
            err.print(f"{key}: {r[key]}")


@cli.command()
@click.argument("output", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(output, as_json):
    """Documents, bytes, shards, per-column distributions and the funnel of an OUTPUT folder."""
    from curate.stats import OutputError, output_stats

    try:
        result = output_stats(output)
    except OutputError as error:
        raise ConfigExit(str(error)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for kind, s in result["kinds"].items():
        out.print(f"[bold]{kind}[/bold]: {s['docs']:,} docs, {s['bytes'] / 1e6:.2f} MB, {s['shards']} shards")
        table = Table(show_header=True, header_style="dim")
        table.add_column("column")
        table.add_column("distribution")
        for name, col in s["columns"].items():
            if "top" in col:
                desc = ", ".join(f"{k} {v}" for k, v in list(col["top"].items())[:6]) + (
                    f" ({col['distinct']} distinct)" if col["distinct"] > 6 else "")
            else:
                desc = f"mean {col['mean']:.3g}  p5 {col.get('p5', 0):.3g}  p50 {col.get('p50', 0):.3g}  p95 {col.get('p95', 0):.3g}"
                if "sum" in col:
                    desc += f"  sum {col['sum']:,}"
            table.add_row(name, desc)
        out.print(table)
    if "funnel" in result:
        _print_funnel(result["funnel"], result["conservation"], result["splits"])
    _print_tokenized(result.get("tokenized", {}))


@cli.command()
@click.argument("output", type=click.Path())
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(),
              help="A tokenizer.json, a transformers tokenizer folder, or a `curate train` checkpoint folder.")
@click.option("--name", help="Output folder OUTPUT/tokens/NAME [the tokenizer's folder or file name].")
@click.option("--eos", help="End-of-document token [tokenizer_config.json's eos_token, else <|endoftext|>, "
              "<|end_of_text|>, </s> or <eos>, the first in the vocabulary].")
@click.option("--format", "formats", multiple=True, type=click.Choice(["nanogpt", "datatrove"]),
              help="Files to write (repeatable) [both].")
@click.option("--seq-len", type=click.IntRange(min=2), help="Also write shuffled sequences of this many tokens "
              "(SPLIT.seqN.bin; for a model with context T use T + 1).")
@click.option("--seed", default=0, show_default=True, help="Seed of the sequence shuffle.")
@click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val", "test", "data"]),
              help="Only these splits (repeatable) [all the run has].")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def tokenize(output, tokenizer_path, name, eos, formats, seq_len, seed, splits, as_json):
    """Tokenize the kept documents of OUTPUT into the token files trainers read: nanoGPT's SPLIT.bin (uint16, or
    uint32 for a vocabulary over 65,536; EOS after each document) and datatrove's .ds/.ds.index/.ds.metadata, in
    OUTPUT/tokens/NAME/. Token counts go into OUTPUT/manifest.json (`tokenized`) and `curate stats`."""
    from curate.tokenize import FORMATS, TokenizeError, load_tokenizer, tokenize_output

    try:
        tokenizer = load_tokenizer(tokenizer_path, eos, name)
        record = tokenize_output(output, tokenizer, tuple(formats) or FORMATS, seq_len, seed, tuple(splits),
                                 log=lambda line: err.print(line, highlight=False))
    except TokenizeError as error:
        raise ConfigExit(str(error)) from None
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    _print_tokenized({tokenizer.name: record})
    out.print(f"token files: {os.path.join(output, record['folder'])}" +
              ("" if record["manifest"] else "  (no manifest.json in OUTPUT: recorded in meta.json only)"))


def _print_tokenized(tokenized: dict) -> None:
    """One line per tokenizer: its vocabulary and dtype, then documents and tokens per split."""
    for name, record in tokenized.items():
        # "<name> tokens": not the funnel's model-independent word counts printed above
        sizes = ", ".join(f"{split} {s['docs']:,} docs / {s['tokenizer_tokens']:,} {name} tokens"
                          for split, s in record["splits"].items())
        out.print(f"[bold]tokenized[/bold] {name} (vocab {record['vocab_size']:,}, {record['dtype']}, EOS "
                  f"{record['eos_token']}): {sizes}", highlight=False)


@cli.command()
@click.argument("output", type=click.Path())
@click.option("-n", default=5, show_default=True, help="How many documents.")
@click.option("--rejected", is_flag=True, help="Show rejected documents.")
@click.option("--reason", help="Only rejected documents with this reason (implies --rejected).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), help="Kept documents of this split "
              "(default: data/, or train/ after a split stage).")
@click.option("--chars", default=600, show_default=True, help="Characters of text to show per document.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, full text.")
def head(output, n, rejected, reason, split, chars, as_json):
    """Print the first documents of an OUTPUT folder, kept or rejected."""
    from curate.stats import OutputError, head as read_head

    try:
        rows = read_head(output, n, rejected, reason, split)
    except OutputError as error:
        raise ConfigExit(str(error)) from None
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
            continue
        out.rule(f"{row['id']}")
        if row.get("reason"):  # why first; the metadata line after it can run to thousands of characters
            value = f" = {row['reason_value']:g}" if row.get("reason_value") is not None else ""
            out.print(f"[bold red]{row.get('rejected_by')}: {row['reason']}{value}[/bold red]  "
                      f"{row.get('reason_detail') or ''}", highlight=False)
        rejection = ("rejected_by", "reason", "reason_value", "reason_detail")
        fields = {k: v for k, v in row.items() if k not in ("id", "text", *rejection) and v is not None}
        out.print(" ".join(f"[dim]{k}=[/dim]{v}" for k, v in fields.items()), highlight=False)
        text = row["text"] or ""
        out.print(text[:chars], markup=False, highlight=False)
        if len(text) > chars:
            out.print(f"[dim]... ({len(text):,} chars)[/dim]")


@cli.command()
@click.argument("output", type=click.Path())
@click.option("--out", "html_path", type=click.Path(dir_okay=False), help="Where to write it [OUTPUT/report.html].")
@click.option("--ablation", type=click.Path(exists=True, dir_okay=False),
              help="A `curate ablate` ablation.json: adds its table and curves.")
@click.option("--filters", "filters_file", type=click.Path(exists=True, dir_okay=False),
              help="A `curate eval filters --report` JSON: adds its tables (OUT/filters_eval.json is read by itself).")
def report(output, html_path, ablation, filters_file):
    """Write the data-quality report of OUTPUT: one self-contained HTML file (charts embedded, works offline).

    OUTPUT is a `curate run` output folder, or a `curate ablate` folder (the full pipeline's output with the
    ablation's results)."""
    from curate.report import ReportError, build_report

    try:
        path = build_report(output, html_path, json.loads(open(ablation).read()) if ablation else None,
                            json.loads(open(filters_file).read()) if filters_file else None)
    except ReportError as error:
        raise ConfigExit(str(error)) from None
    out.print(f"report: {path}")


@cli.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--budget-tokens", type=click.IntRange(min=1), required=True,
              help="Training tokens per run, the same for every variant.")
@click.option("--config", "train_config", type=click.Path(dir_okay=False),
              help="Trainer preset: a YAML file or a name in model/configs/ [ablation_cpu: byte tokenizer].")
@click.option("--reference", "references", multiple=True, type=click.Path(exists=True),
              help="Clean text to evaluate on too (repeatable): a .txt file, a folder of them, a curate output, or a "
                   "JSONL file of {\"text\", \"lang\"} lines (scored per language, summarised by the raw training "
                   "mix). It must not be in the pipeline's input.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="Training runs per main variant (visible_text, raw, full); each seed draws its own training sample.")
@click.option("--leave-one-out", is_flag=True, help="Also run the full pipeline without each stage in turn.")
@click.option("--leave-out", "leave_out", multiple=True, metavar="STAGE",
              help="Leave out only this stage (repeatable): a leave-one-out run for the stages named, not all.")
@click.option("--loo-seeds", default=2, show_default=True, type=click.IntRange(min=1),
              help="Training runs per leave-one-out variant (and full at the leave-one-out budget).")
@click.option("--loo-budget-tokens", type=click.IntRange(min=1),
              help="Training tokens per leave-one-out run [--budget-tokens].")
@click.option("--no-visible-text", "visible_text", is_flag=True, flag_value=False, default=True,
              help="Skip the visible_text variant (all visible text of each page, no main-text extraction).")
@click.option("--min-language-share", default=0.01, show_default=True, type=click.FloatRange(0, 1),
              help="Score a labelled reference's language only if it is at least this share of raw's training bytes.")
@click.option("--out", "out_dir", default=None, help="Ablation folder [out/ablate/<pipeline name>].")
@click.option("--workers", type=click.IntRange(min=1), help="Pipeline tasks run at once.")
@click.option("--force", is_flag=True, help="Re-run the pipelines and the training runs instead of reusing finished ones.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a pipeline config key, as in `curate run` (stages.8.split.fractions=...).")
@click.option("--json", "as_json", is_flag=True, help="Print ablation.json.")
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
def ablate(pipeline_file, budget_tokens, train_config, references, seeds, leave_one_out, leave_out, loo_seeds,
           loo_budget_tokens, visible_text, min_language_share, out_dir, workers, force, sets, as_json, overrides):
    """Run PIPELINE_FILE keeping all visible text of each page (visible_text), with only extraction, chunk and split
    (raw), and in full; train the same GPT with the same seeds and token budget on each training split; compare bits
    per byte on the curated test split and the references: each variant against raw, paired by seed, with 95%
    intervals.

    KEY=VALUE overrides the trainer preset (n_layer=2 learning_rate=3e-3 ...), --set the pipeline. Writes
    ablation.json and report.html."""
    from pathlib import Path

    from curate.ablation import run_ablation
    from curate.config import ConfigError
    from curate.report.ablation import ablation_markdown

    _quiet_datatrove(False)
    out_dir = out_dir or str(Path("out/ablate") / Path(pipeline_file).stem)
    def log(line):
        err.print(line, highlight=False, markup=False)

    try:
        result = run_ablation(pipeline_file, budget_tokens, out_dir, train_config, list(overrides), list(references),
                              seeds, leave_one_out, workers, force, log=log, pipeline_overrides=_overrides(sets),
                              loo_seeds=loo_seeds, loo_budget_tokens=loo_budget_tokens, visible_text=visible_text,
                              min_language_share=min_language_share, leave_out=list(leave_out))
    except (ConfigError, ValueError, FileNotFoundError) as error:
        raise ConfigExit(str(error)) from None
    except Exception as error:  # a pipeline task or a training run failed
        err.print(f"[red]ablation failed:[/red] {type(error).__name__}: {error}", highlight=False)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    out.print("bits per byte, lower is better; mean over seeds; differences paired by seed with 95% intervals")
    click.echo(ablation_markdown(result))
    for line in result["verdict"]:
        out.print(line, highlight=False)
    out.print(f"ablation: {out_dir}/ablation.json  report: {result['report']}")


@cli.group("eval")
def eval_group():
    """Measure a stage's own quality on labelled data, beside published numbers (writes a JSON report)."""


# `curate eval NAME` -> "module:command"; modules keep heavy imports inside the command.
EVAL_COMMANDS = {
    "extraction": "curate.evaluation.extraction:command",
    "langid": "curate.evaluation.langid:command",
    "dedup": "curate.evaluation.dedup:command",
    "pii": "curate.evaluation.pii:command",
    "filters": "curate.evaluation.filters:command",
}

# other command groups that live beside the stage they serve
STAGE_COMMANDS = {
    "quality-model": "curate.stages.quality_model_training:command",
}


def _import_command(target: str) -> click.Command:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _add_stage_commands() -> None:
    for name, target in EVAL_COMMANDS.items():
        try:
            eval_group.add_command(_import_command(target), name)
        except ImportError:  # not landed yet, or an optional extra missing
            continue
    for name, target in STAGE_COMMANDS.items():
        try:
            cli.add_command(_import_command(target), name)
        except ImportError:
            continue


_add_stage_commands()


def _add_trainer_commands() -> None:
    """The trainer's commands (train, sample, evaluate, finetune, export) live in model/cli.py."""
    try:
        from model.cli import COMMANDS
    except ImportError:  # torch not installed (the `train` extra): curation still works
        return
    for command in COMMANDS:
        cli.add_command(command)


_add_trainer_commands()


def main():
    cli()


if __name__ == "__main__":
    main()
