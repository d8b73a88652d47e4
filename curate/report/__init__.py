"""`curate report OUT`: one self-contained HTML file showing what each stage did to the data.

    gather.py    manifest + shards (column-wise) -> ReportData: funnel, signals with thresholds, diversity,
                 splits, examples per rejection reason
    signals.py   which stage owns a signal column, and the threshold the run applied to it
    plots.py     matplotlib charts as PNG bytes
    html.py      the page (inline CSS, images as data: URIs, every text escaped)
    ablation.py  the `curate ablate` section: table, verdict, evaluation curves

    from curate.report import build_report
    build_report("out/web", "out/web/report.html")
"""

import json
from pathlib import Path

from curate.report.gather import ReportError, gather

ABLATION_FILE = "ablation.json"


def build_report(output: str | Path, html_path: str | Path | None = None, ablation: dict | None = None) -> Path:
    """Write the report of OUTPUT (default OUTPUT/report.html) and return its path.

    OUTPUT may also be a `curate ablate` folder: the report is then the full pipeline's output with the ablation
    section (as it is when `ablation`, the content of ablation.json, is given)."""
    from curate.report.ablation import ablation_section
    from curate.report.html import render

    output = Path(output)
    if ablation is None and (output / ABLATION_FILE).is_file() and not (output / "manifest.json").is_file():
        try:
            ablation = json.loads((output / ABLATION_FILE).read_text())
        except ValueError as error:
            raise ReportError(f"{output / ABLATION_FILE}: cannot read it: {error}") from None
        html_path = html_path or output / "report.html"
        # the ablation folder's own copy first: ablation.json's path may be relative to another directory
        copy = output / "variants" / "full"
        output = copy if copy.is_dir() else Path(ablation["full_output"])
    html_path = Path(html_path or output / "report.html")
    page = render(gather(output), ablation_section(ablation) if ablation else "")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(html_path)
    return html_path


__all__ = ["ReportError", "build_report", "gather"]
