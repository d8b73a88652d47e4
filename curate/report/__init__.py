"""`curate report OUT`: one self-contained HTML file showing what each stage did to the data.

    gather.py    manifest + shards (column-wise) -> ReportData: funnel, signals with thresholds, diversity,
                 splits, examples per rejection reason
    signals.py   which stage owns a signal column, and the threshold the run applied to it
    plots.py     matplotlib charts as PNG bytes
    html.py      the page (inline CSS, images as data: URIs, every text escaped)
    ablation.py  the `curate ablate` section: table, verdict, evaluation curves
    filters.py   the `curate eval filters` section (OUT/filters_eval.json): false rejections per stage, rule, language

    from curate.report import build_report
    build_report("out/web", "out/web/report.html")
"""

import json
from pathlib import Path

from curate.report.gather import ReportError, gather

ABLATION_FILE = "ablation.json"


def build_report(output: str | Path, html_path: str | Path | None = None, ablation: dict | None = None,
                 filters: dict | None = None) -> Path:
    """Write the report of OUTPUT (default OUTPUT/report.html) and return its path.

    OUTPUT may also be a `curate ablate` folder: the report is then the full pipeline's output with the ablation
    section (as it is when `ablation`, the content of ablation.json, is given)."""
    from curate.report.ablation import ablation_section
    from curate.report.filters import filters_section
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
    filters = filters if filters is not None else _filters_eval(output)
    page = render(gather(output), ablation_section(ablation) if ablation else "",
                  filters_html=filters_section(filters) if filters else "")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(html_path)
    return html_path


def _filters_eval(output: Path) -> dict | None:
    """OUT/filters_eval.json (`curate eval filters --report OUT/filters_eval.json`), when there is one."""
    from curate.report.filters import FILTERS_FILE

    path = output / FILTERS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReportError(f"{path}: cannot read it: {error}") from None


__all__ = ["ReportError", "build_report", "gather"]
