"""`curate report`: the funnel table equals the manifest, thresholds are the ones the run used, document text is
escaped, every chart decodes; outputs where nothing (or everything) was rejected render; a real headless Chromium
loads the page without console errors, decodes every image and writes a screenshot (out/report-test/)."""

import base64
import io
import json
import re
import shutil

import pytest
import yaml
from lxml import html as lxml_html
from PIL import Image

from pipeline_helpers import REPO, curate_cli, run_pipeline

from curate.report import ReportError, build_report
from curate.report.gather import gather
from curate.report.signals import thresholds

SCREENSHOT_DIR = REPO / "out" / "report-test"  # cited by the closing note; `make clean` removes it


def pipeline(name: str) -> dict:
    config = yaml.safe_load((REPO / "pipelines" / name).read_text())
    config["input"]["paths"] = [str(REPO / p) for p in config["input"]["paths"]]
    config.pop("output", None)
    return config


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The demo's web output (examples/web through pipelines/web.yaml) and its report."""
    out = tmp_path_factory.mktemp("web")
    result = run_pipeline(pipeline("web.yaml"), out)
    return out, result.manifest, build_report(out)


def images(page: str) -> list[Image.Image]:
    decoded = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()  # decodes every pixel: a truncated PNG raises
        decoded.append(image)
    return decoded


def funnel_rows(page: str) -> list[list[str]]:
    tree = lxml_html.fromstring(page)
    return [[cell.text_content() for cell in row.findall("td")]
            for row in tree.get_element_by_id("funnel-table").find("tbody").findall("tr")]


def as_int(text: str) -> int:
    return int(text.replace(",", ""))


def test_funnel_table_equals_the_manifest(web):
    out, manifest, path = web
    page = path.read_text()
    rows = funnel_rows(page)
    assert [r[0] for r in rows] == [s["step"] for s in manifest["funnel"]] == [
        "warc", "extract", "clean", "langid", "quality", "harmful", "exact_dedup", "minhash_dedup", "pii", "split",
        "decontaminate", "writer"]
    for row, step in zip(rows, manifest["funnel"]):
        assert as_int(row[1]) == step["docs_in"] and as_int(row[2]) == step["docs_out"]
        assert as_int(row[3]) == sum(r["docs"] for r in step["rejected"].values())
        assert as_int(row[4]) == step["bytes_in"] and as_int(row[5]) == step["bytes_out"]
        for reason, counts in step["rejected"].items():
            assert f"{reason} {counts['docs']:,}" in row[-1]
    c = manifest["conservation"]
    assert f"read <b>{c['read']:,}</b> documents: kept <b>{c['kept']:,}</b>, rejected <b>{c['rejected']:,}</b>" in page
    # one example section per rejection reason, each example with its measured value
    tree = lxml_html.fromstring(page)
    reasons = {reason for step in manifest["funnel"] for reason in step["rejected"]}
    headings = {h.text_content() for h in tree.xpath("//h2[@id='examples']/following-sibling::h3")}
    assert reasons <= headings and "kept" in headings
    assert len(images(page)) >= 8  # funnel, signal groups, languages, domains, seconds per step


def test_thresholds_are_the_ones_the_run_used(web):
    out, manifest, _ = web
    signals = {s.column: s for s in gather(out).signals}
    # from the YAML (pipelines/web.yaml: min_score 0.65, max_badword_ratio 0.01) and from the stage's defaults
    assert [(t.label, t.value, t.kind) for t in signals["lang_score"].thresholds] == [("langid.min_score", 0.65, "min")]
    assert [(t.label, t.value) for t in signals["badword_ratio"].thresholds] == [("harmful.max_badword_ratio", 0.01)]
    assert {(t.label, t.value, t.kind) for t in signals["gopher_word_count"].thresholds} == {
        ("quality.gopher_min_words", 50.0, "min"), ("quality.gopher_max_words", 100000.0, "max")}
    # every value of a signal is counted once: kept rows + rows rejected by the stage + rows rejected by others
    quality = signals["gopher_alpha_words_ratio"]
    rejected_by_quality = sum(r["docs"] for r in manifest["funnel"][4]["rejected"].values())
    assert quality.kept.size == manifest["conservation"]["kept"] and quality.rejected_here.size == rejected_by_quality
    # a changed parameter, a rule switched off, a mode without the ratio rule, a stage that did not run
    config = {"stages": [{"name": "quality", "params": {"gopher_min_words": 30, "gopher_max_words": None}},
                         {"name": "harmful", "params": {"mode": "any"}}]}
    assert [(t.value, t.kind) for t in thresholds("gopher_word_count", config)] == [(30.0, "min")]
    assert thresholds("badword_ratio", config) == [] and thresholds("lang_score", config) == []


def test_document_text_is_escaped_and_truncated(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alice.txt").write_text((REPO / "examples" / "text" / "alice-in-wonderland.txt").read_text()[:20000])
    (docs / "xss.txt").write_text("<script>alert('report')</script> <img src=x onerror=alert(1)> & too short")
    config = {"input": {"paths": [str(docs)], "format": "text"},
              "stages": [{"quality": {"rule_sets": ["gopher"]}}, {"harmful": {}}]}
    run_pipeline(config, tmp_path / "out")
    page = build_report(tmp_path / "out").read_text()
    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&#x27;report&#x27;)&lt;/script&gt;" in page and "too short" in page
    data = gather(tmp_path / "out")
    [rejected] = [e for examples in data.examples.values() for e in examples]
    assert rejected.reason.startswith("gopher_") and rejected.rejected_by == "quality"
    [kept] = data.kept_examples
    assert len(kept.text) == 600 < kept.chars and f"… ({kept.chars:,} chars)" in page  # kept example, truncated


def test_outputs_where_nothing_or_everything_is_rejected(tmp_path):
    # the text demo's stages on the books' first 40,000 characters: no stage removes anything, no rejected/ folder
    books = tmp_path / "books"
    books.mkdir()
    for book in (REPO / "examples" / "text").glob("*.txt"):
        (books / book.name).write_text(book.read_text()[:40_000])
    config = pipeline("text.yaml")
    config["input"]["paths"] = [str(books)]
    config["executor"] = {"workers": 1}  # in this process: the second run reuses the loaded language models
    run_pipeline(config, tmp_path / "none")
    page = build_report(tmp_path / "none").read_text()
    assert "No document was rejected." in page and len(images(page)) >= 5
    assert all(as_int(row[3]) == 0 for row in funnel_rows(page))
    # a threshold nothing passes: no kept documents, no data/ folder; through the CLI, written where asked
    config["stages"] = [{"quality": {"rule_sets": ["gopher"], "gopher_min_words": 10**9}}]
    run_pipeline(config, tmp_path / "all")
    data = gather(tmp_path / "all")
    assert data.kept_docs == 0 and data.rejected_docs == 2 and set(data.examples) == {"gopher_word_count"}
    result = curate_cli("report", tmp_path / "all", "--out", tmp_path / "all.html")
    assert f"report: {tmp_path / 'all.html'}" in result.stdout
    page = (tmp_path / "all.html").read_text()
    assert len(images(page)) >= 5 and "kept <b>0</b>" in page


def test_manifest_keys_of_newer_and_older_runs(web, tmp_path):
    """The engine's keys (tokens in the funnel, split folders, stage summaries, phases) are shown; an old manifest
    with none of the optional keys still renders."""
    out, manifest, path = web
    page = path.read_text()
    header = [th.text_content() for th in lxml_html.fromstring(page).get_element_by_id("funnel-table").iter("th")]
    assert header[6:8] == ["tokens in", "tokens out"]
    assert [as_int(r[6]) for r in funnel_rows(page)] == [s["tokens_in"] for s in manifest["funnel"]]
    assert {"train", "val", "test"} <= set(manifest["output"]) and "No split stage ran" not in page
    assert "catch_probability" in page and "sources.test.ngrams" in page and "No decontaminate stage ran" not in page
    assert all(phase["name"] in page for phase in manifest["phases"])
    older = tmp_path / "older"
    shutil.copytree(out, older)
    (older / "manifest.json").write_text(json.dumps({"funnel": manifest["funnel"][:1]}))  # no other key at all
    page = build_report(older).read_text()
    assert "No split stage ran" in page and len(images(page)) >= 3


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="no manifest; run `curate run`"):
        build_report(tmp_path)
    result = curate_cli("report", tmp_path / "nowhere", check=False)
    assert result.returncode == 2 and "nowhere" in result.stderr and "no such directory" in result.stderr


def test_report_in_a_headless_browser(web, tmp_path):
    from browser import Browser, chromium_binary

    out, manifest, path = web
    browser = Browser(chromium_binary(), str(tmp_path / "profile"))
    try:
        browser.open(path.as_uri())
        decoded = browser.evaluate("Promise.all([...document.images].map(i => i.decode().then("
                                   "() => [i.alt, i.naturalWidth], () => [i.alt, 0])))")
        steps = browser.evaluate("[...document.querySelectorAll('#funnel-table tbody tr td:first-child')]"
                                 ".map(td => td.textContent)")
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        png = browser.screenshot(SCREENSHOT_DIR / "report.png")
        errors = browser.console_errors()
    finally:
        browser.close()
    assert errors == []
    assert len(decoded) == len(images(path.read_text())) >= 8
    assert all(width > 0 for _, width in decoded), [alt for alt, width in decoded if width == 0]
    assert steps == [s["step"] for s in manifest["funnel"]]
    shot = Image.open(io.BytesIO(png))
    assert shot.width == 1280 and shot.height > 2000
    shutil.copy(path, SCREENSHOT_DIR / "report.html")
    (SCREENSHOT_DIR / "manifest.json").write_text(json.dumps(manifest, indent=1))


def test_run_section_phases_and_stage_summaries(web):
    """The phases table shows the manifest's wall and task seconds; exact_dedup's summary has no MinHash field."""
    out, manifest, path = web
    tree = lxml_html.fromstring(path.read_text())
    [phases] = tree.xpath("//h3[text()='phases']/following-sibling::table[1]")
    rows = [[cell.text_content() for cell in row.findall("td")] for row in phases.find("tbody").findall("tr")]
    assert [r[0] for r in rows] == [p["name"] for p in manifest["phases"]]
    assert [float(r[2].replace(",", "")) for r in rows] == pytest.approx([p["wall_seconds"] for p in manifest["phases"]],
                                                                         abs=0.01)
    assert all(r[3] for r in rows)  # the summed task seconds
    [exact] = tree.xpath("//h3[text()='exact_dedup']/following-sibling::table[1]")
    keys = {row.findall("td")[0].text_content() for row in exact.find("tbody").findall("tr")}
    assert "removed" in keys and not {k for k in keys if k.startswith(("catch_probability", "verified", "signature"))}
    # integer signals: whole-number ticks; one legend above the panels, none inside one
    from curate.report import plots

    signal = next(s for s in gather(out).signals if s.column == "dup_cluster_size")
    figure = plots.signal_figure([signal])
    ticks = [t for t in figure.axes[0].get_xticks() if figure.axes[0].get_xlim()[0] <= t <= figure.axes[0].get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert figure.legends and figure.axes[0].get_legend() is None


def test_inputs_without_urls_count_by_source_and_every_input_is_listed(tmp_path):
    """A folder of 55 text files: the domain chart counts source files (not "(no URL)"), and the inputs table says
    how many files it leaves out."""
    docs = tmp_path / "docs"
    docs.mkdir()
    book = (REPO / "examples" / "text" / "alice-in-wonderland.txt").read_text()
    for i in range(55):
        (docs / f"part-{i:02d}.txt").write_text(book[i * 1500:(i + 1) * 1500])
    run_pipeline({"input": {"paths": [str(docs)], "format": "text"}}, tmp_path / "out")
    data = gather(tmp_path / "out")
    assert data.domains_label == "source" and "(no URL)" not in data.domains_after
    assert data.domains_after["part-00.txt"] == 1 and sum(data.domains_after.values()) == 55
    page = build_report(tmp_path / "out").read_text()
    assert "inputs (55 files)" in page and "… 5 more (manifest.json, `inputs`)" in page
