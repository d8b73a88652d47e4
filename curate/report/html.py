"""The report as one self-contained HTML page: inline CSS, PNG charts as data: URIs, no script, no network.

Every piece of document text, URL, reason or config value goes through `esc` (html.escape), so a page's own
markup shows as text and never runs.
"""

import base64
import contextlib
import html
from datetime import datetime

import yaml

from curate.report import plots
from curate.report.gather import TOP_N, ReportData

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#1d2733;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #dde3ea;padding-bottom:.2em;margin-top:2em}
h3{margin-bottom:.3em}.muted{color:#667}.bad{color:#b3261e;font-weight:bold}.good{color:#1e7b34;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}th,td{border:1px solid #dde3ea;padding:.25em .6em;
vertical-align:top}th{background:#f3f6f9;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;display:block;margin:.5em 0}nav a{margin-right:1em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.8em;margin-bottom:1.2em}
.card{border:1px solid #dde3ea;border-radius:6px;padding:.6em;background:#fbfcfd;font-size:.85em;overflow:hidden}
.card pre{white-space:pre-wrap;word-break:break-word;max-height:16em;overflow:auto;background:#fff;
border:1px solid #eef1f4;padding:.4em;margin:.4em 0 0}.card .meta{word-break:break-all}
pre.config{background:#f3f6f9;padding:.8em;overflow:auto;font-size:.85em}
"""


MAX_INPUT_ROWS = 50  # input files listed in the run section; the manifest has them all


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return f"{int(value):,}"


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), attrs: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{number(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(mapping: dict) -> str:
    """A nested dict as a two-column table (nested keys joined with dots)."""
    rows = []

    def walk(prefix, value):
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append([prefix, value if not isinstance(value, (list, dict)) else yaml.safe_dump(value).strip()])

    walk("", mapping)
    return table(["key", "value"], rows)


# ---- sections -------------------------------------------------------------------------------------------------

def funnel_section(data: ReportData) -> str:
    steps = data.funnel
    has_tokens = any("tokens_in" in s for s in steps)
    unit = "tokens" if has_tokens else "bytes"
    headers = ["step", "docs in", "docs out", "rejected", "bytes in", "bytes out"]
    headers += ["tokens in", "tokens out"] if has_tokens else []
    headers += ["seconds", "rejected by reason"]
    rows = []
    for s in steps:
        rejected = s.get("rejected") or {}
        row = [s.get("step"), s.get("docs_in", 0), s.get("docs_out", 0),
               sum(r.get("docs", 0) for r in rejected.values()), s.get("bytes_in", 0), s.get("bytes_out", 0)]
        row += [s.get("tokens_in"), s.get("tokens_out")] if has_tokens else []
        row += [s.get("seconds", 0.0), ", ".join(f"{reason} {r.get('docs', 0):,}" for reason, r in rejected.items())]
        rows.append(row)
    numeric = set(range(1, len(headers) - 1))
    chart = plots.funnel([s for s in steps if s.get("step") != "writer"], unit)
    note = ('<p class="muted">The writer row counts every document written: kept ones go to the output, rejected '
            'ones (passed through the stream, untouched after their rejection) to rejected/.</p>')
    return (f'<h2 id="funnel">Funnel</h2>{image(chart, "funnel chart")}'
            f'{table(headers, rows, numeric, attrs="id=funnel-table")}{note}')


def signals_section(data: ReportData) -> str:
    if not data.signals:
        return '<h2 id="signals">Signals</h2><p class="muted">No numeric signal columns in the shards.</p>'
    parts = ['<h2 id="signals">Signals</h2><p class="muted">Each histogram counts the documents that have the '
             "value: a document rejected by an earlier step was never measured. Blue: kept; red: rejected by the "
             "stage that measured the value; grey: rejected by another step. Dashed lines: the threshold the run "
             "applied (the pipeline config's value, or the stage's default).</p>"]
    for group in dict.fromkeys(s.group for s in data.signals):
        members = [s for s in data.signals if s.group == group]
        # a column with one value everywhere (no emoji removed, no decode errors) is a sentence, not a chart
        constant = [s for s in members if s.values.min() == s.values.max()]
        charted = [s for s in members if s not in constant]
        parts.append(f"<h3>{esc(group)}</h3>")
        notes = [f"{s.column} {'≥' if t.kind == 'min' else '≤'} {t.value:g} ({t.label})"
                 for s in members for t in s.thresholds]
        if notes:
            parts.append(f"<details><summary class=muted>{len(notes)} thresholds</summary><p class=muted>"
                         f"{esc('; '.join(notes))}</p></details>")
        if constant:
            parts.append("<p class=muted>" + esc("; ".join(f"{s.column} = {s.values[0]:g} for all {s.values.size:,}"
                                                             f" documents measured" for s in constant)) + "</p>")
        sampled = max(s.sampled_every for s in members)
        if sampled > 1:
            parts.append(f"<p class=muted>every {sampled:,}th document is counted</p>")
        if charted:
            parts.append(image(plots.signal_grid(charted), group))
    return "".join(parts)


def diversity_section(data: ReportData) -> str:
    parts = ['<h2 id="diversity">Diversity</h2>']
    for title, before, after in (("language", data.languages_before, data.languages_after),
                                 (data.domains_label, data.domains_before, data.domains_after)):
        top = before.most_common(TOP_N)
        rows = [[key, count, after.get(key, 0), f"{after.get(key, 0) / count:.0%}" if count else ""]
                for key, count in top]
        chart = plots.before_after([key for key, _ in top], before, after, f"top {TOP_N} {title}s, documents")
        seen, kept = ([k for k in counts if not k.startswith("(")] for counts in (before, after))  # not "(no URL)"
        parts.append(f"<h3>{esc(title)}s: {len(kept):,} kept of {len(seen):,} seen</h3>{image(chart, title)}"
                     f"{table([title, 'before', 'after', 'kept'], rows, {1, 2})}")
    return "".join(parts)


def splits_section(data: ReportData) -> str:
    parts = ['<h2 id="splits">Splits and contamination</h2>']
    if data.splits:
        rows = [[kind, s.get("docs", 0), s.get("bytes", 0), s.get("shards", 0)] for kind, s in data.splits.items()]
        parts.append(table(["split", "docs", "bytes", "shards"], rows, {1, 2, 3}))
        parts.append(image(plots.bars(list(data.splits), [s.get("docs", 0) for s in data.splits.values()],
                                      "documents per split", "docs"), "split sizes"))
    else:
        parts.append('<p class="muted">No split stage ran: kept documents are in data/ (the trainer splits them '
                     "by a hash of the id).</p>")
    stages = data.manifest.get("stages") or {}
    if "decontaminate" not in stages:
        parts.append('<p class="muted">No decontaminate stage ran: no contamination was measured.</p>')
    for name, summary in stages.items():
        parts.append(f"<h3>{esc(name)}</h3>{key_values(summary) if isinstance(summary, dict) else esc(summary)}")
    return "".join(parts)


def example_card(example) -> str:
    value = f" = {number(example.value)}" if example.value is not None else ""
    more = f" … ({example.chars:,} chars)" if example.chars > len(example.text) else ""
    url = f"<br>{esc(example.url)}" if example.url else ""
    detail = f"<br><i>{esc(example.detail)}</i>" if example.detail else ""
    reason = f"<b>{esc(example.rejected_by)}: {esc(example.reason)}{esc(value)}</b><br>" if example.reason else ""
    return (f'<div class="card"><div class="meta">{reason}{esc(example.id)}{url}{detail}</div>'
            f"<pre>{esc(example.text)}{esc(more)}</pre></div>")


def examples_section(data: ReportData) -> str:
    parts = ['<h2 id="examples">Examples</h2>']
    if not data.examples:
        parts.append('<p class="muted">No document was rejected.</p>')
    for reason, examples in data.examples.items():
        parts.append(f'<h3>{esc(reason)}</h3><div class="cards">{"".join(map(example_card, examples))}</div>')
    if data.kept_examples:
        parts.append(f'<h3>kept</h3><div class="cards">{"".join(map(example_card, data.kept_examples))}</div>')
    return "".join(parts)


def run_section(data: ReportData) -> str:
    m = data.manifest
    parts = ['<h2 id="run">Run: config, versions, timings</h2>']
    started, finished = m.get("started"), m.get("finished")
    timing = [["started", started], ["finished", finished]]
    with contextlib.suppress(TypeError, ValueError):  # a manifest of an unfinished run has no end time
        wall = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        timing.append(["wall seconds", wall.total_seconds()])
    executor = m.get("executor") or {}
    timing += [[f"executor.{k}", v] for k, v in executor.items()] if isinstance(executor, dict) else []
    parts.append(table(["", "value"], timing))
    steps = [s for s in data.funnel if s.get("seconds")]
    if steps:
        parts.append(image(plots.bars([s["step"] for s in steps], [s["seconds"] for s in steps],
                                      "seconds inside each step, summed over tasks", "s"), "seconds per step"))
    if m.get("phases"):  # older manifests had `seconds` where `wall_seconds` is
        rows = [[p.get("name"), p.get("tasks"), p.get("wall_seconds", p.get("seconds")), p.get("task_seconds"),
                 p.get("peak_rss_mb")] for p in m["phases"]]
        parts.append("<h3>phases</h3>" + table(["phase", "tasks", "wall seconds", "task seconds (summed)",
                                                 "peak RSS MB"], rows, {1, 2, 3, 4}))
    if m.get("versions"):
        parts.append("<h3>versions</h3>" + table(["package", "version"], list(m["versions"].items())))
    if m.get("inputs"):
        rows = [[i.get("source") or i.get("path"), i.get("bytes")] for i in m["inputs"]]
        more = (f'<p class="muted">… {len(rows) - MAX_INPUT_ROWS:,} more (manifest.json, `inputs`)</p>'
                if len(rows) > MAX_INPUT_ROWS else "")
        parts.append(f"<h3>inputs ({len(rows):,} files)</h3>" + table(["file", "bytes"], rows[:MAX_INPUT_ROWS], {1})
                     + more)
    if m.get("conservation"):
        parts.append("<h3>conservation</h3>" + key_values(m["conservation"]))
    if m.get("config"):
        config = yaml.safe_dump(m["config"], sort_keys=False, allow_unicode=True)
        parts.append(f'<h3>config (resolved)</h3><pre class="config">{esc(config)}</pre>')
    return "".join(parts)


def render(data: ReportData, ablation_html: str = "", filters_html: str = "") -> str:
    conservation = data.manifest.get("conservation") or {}
    read = conservation.get("read", data.kept_docs + data.rejected_docs)
    ok = conservation.get("ok")
    check = ("" if ok is None else '<span class="good">read = kept + rejected</span>' if ok
             else '<span class="bad">read ≠ kept + rejected: see the manifest</span>')
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (("funnel", "funnel"), ("signals", "signals"),
                  ("diversity", "diversity"), ("splits", "splits"), ("examples", "examples"),
                  *((("ablation", "ablation"),) if ablation_html else ()),
                  *((("filters", "filters"),) if filters_html else ()), ("run", "run")))
    body = "".join([funnel_section(data), signals_section(data), diversity_section(data), splits_section(data),
                    examples_section(data), ablation_html, filters_html, run_section(data)])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>curate report: {esc(data.output)}'
            f"</title><style>{CSS}</style></head><body><h1>curate report</h1>"
            f'<p class="muted">{esc(data.output)} · {esc(data.manifest.get("finished", ""))}</p>'
            f"<p>read <b>{read:,}</b> documents: kept <b>{data.kept_docs:,}</b>, rejected "
            f"<b>{data.rejected_docs:,}</b>. {check}</p><nav>{nav}</nav>{body}</body></html>")
