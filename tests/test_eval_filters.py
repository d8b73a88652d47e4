"""`curate eval filters`: labelled real text (lingua news paragraphs, Gutenberg paragraphs) and junk through
pipelines/web.yaml's per-document stages; rates per stage, rule, language and half; two-folder input; input errors;
the section in `curate report`."""

import json
import random

import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.evaluation.filters import wilson
from pipeline_helpers import REPO, SHARED, read_rows, run_pipeline, shared


def lingua_paragraph(lang: str, start: int, lines: int = 25) -> str:
    path = shared("langid", "lingua", "sentences", f"{lang}.txt")
    return " ".join(path.read_text(encoding="utf-8").splitlines()[start:start + lines])


def labelled_set() -> list[dict]:
    rng = random.Random("curate-test-eval-filters")
    good = [{"id": f"{lang}/{start}", "text": lingua_paragraph(lang, start), "label": "good", "lang": lang,
             "source": "lingua", "half": "tune" if start < 100 else "holdout"}
            for lang in ("en", "de") for start in (0, 50, 100, 150)]
    sentence = lingua_paragraph("en", 200, 1)
    bad = [{"id": "repeated", "text": "\n".join([sentence] * 20), "label": "bad", "source": "junk", "half": "tune"},
           {"id": "symbols", "text": "\n".join(" ".join(rng.choice("{}();=<>") for _ in range(30)) for _ in range(30)),
            "label": "bad", "source": "junk", "half": "holdout"},
           {"id": "menu", "text": "\n".join(["Home", "News", "Sport", "Weather", "Contact", "Login"] * 5),
            "label": "bad", "source": "junk", "half": "holdout"}]
    return good + bad


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["eval", "filters", *map(str, args)])
    return result.exit_code, result.output


def test_rates_per_stage_rule_language_and_half(tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in labelled_set()))
    code, output = run("--data", data, "--json", "--report", tmp_path / "r.json")
    assert code == 0, output
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    assert result == json.loads((tmp_path / "r.json").read_text())
    assert result["documents"] == {"good": 8, "bad": 3}
    assert result["stages"] == ["clean", "langid", "quality", "harmful", "pii", "split"]
    assert set(result["skipped"]) == {"extract", "exact_dedup", "minhash_dedup", "decontaminate"}
    groups = result["groups"]
    assert list(groups) == ["all", "half=tune", "half=holdout"]
    assert groups["all"]["bad"]["k"] == 3 and groups["all"]["good"]["n"] == 8
    assert groups["half=tune"]["good"]["n"] + groups["half=holdout"]["good"]["n"] == 8
    # every rule's "only" documents are among its "alone" ones; the repeated page fails the duplicate-line rule
    for rule, r in groups["all"]["rules"].items():
        assert r["bad_only"]["k"] <= r["bad_alone"]["k"] and r["good_only"]["k"] <= r["good_alone"]["k"], rule
    assert groups["all"]["rules"]["quality: gopher_dup_line_frac"]["bad_alone"]["k"] >= 1
    assert groups["all"]["stages"]["quality"]["bad_alone"]["k"] == 3
    assert {"en", "de"} <= set(groups["all"]["per_language"])  # the labels' languages
    low, high = groups["all"]["bad"]["ci95"]
    assert (low, high) == tuple(round(x, 4) for x in wilson(3, 3))
    assert {d["id"] for d in result["good_rejected"]} == {r["id"] for r in result["good_rejected"]}


def test_two_folders_and_the_table(tmp_path):
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    for i, start in enumerate((0, 40, 80)):
        (tmp_path / "good" / f"{i}.txt").write_text(lingua_paragraph("en", start))
    (tmp_path / "bad" / "menu.txt").write_text("\n".join(["Home", "Shop", "Cart", "Login"] * 10))
    code, output = run("--good", tmp_path / "good", "--bad", tmp_path / "bad")
    assert code == 0, output
    assert "3 good and 1 bad documents" in output and "per rule" in output and "per language" in output


def test_input_errors_name_the_file_and_line(tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({"text": "x", "label": "good"}) + "\n" + json.dumps({"text": "y", "label": "ok"}))
    code, output = run("--data", data)
    assert code == 2 and f"{data}:2" in output and "good or bad" in output
    code, output = run("--data", data, "--good", tmp_path)
    assert code == 2 and "--data" in output
    data.write_text(json.dumps({"text": "x", "label": "good"}) + "\n")
    code, output = run("--data", data, "--pipeline", "pipelines/web.yaml", "--from", "nosuchstage")
    assert code == 2 and "nosuchstage" in output


@pytest.mark.slow
def test_report_section(tmp_path):
    from curate.report import build_report

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": lingua_paragraph("en", 40 * i)}) + "\n" for i in range(3)))
    run_pipeline({"input": {"paths": [str(src)], "format": "jsonl"}, "stages": [{"clean": {}}]}, tmp_path / "out")
    assert len(read_rows(tmp_path / "out", "data")) == 3
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in labelled_set()))
    code, output = run("--data", data, "--report", tmp_path / "out" / "filters_eval.json")
    assert code == 0, output
    page = build_report(tmp_path / "out").read_text()
    assert 'id="filters"' in page and "id=filters-table" in page and "quality: gopher_dup_line_frac" in page


# The development set's copycat records (benchmarks/filters_devset.py: Wayback captures of casino and hotel pages)
# carry their URL, so a pipeline's url_filter is measured by eval filters; their text is the page's, not the
# Wayback Machine's toolbar. A user's list of two casino directories blocks exactly their captures.
def test_devset_pages_carry_their_url_to_url_filter(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from filters_devset import copycat_docs

    records = copycat_docs(SHARED)
    assert len(records) == 104
    assert all(r["url"] and r["id"] == f"copycat/{r['url']}" for r in records)
    assert not [r["id"] for r in records if "Internet Archive" in r["text"] or "Kenji Nagahashi" in r["text"]]
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "block.txt").write_text("casinocity.com\nuscasinofinder.com\n")
    (tmp_path / "p.yaml").write_text(json.dumps({"input": {"format": "jsonl", "paths": [str(data)]},
                                                 "stages": [{"url_filter": {"block_lists": [str(tmp_path / "block.txt")]}}],
                                                 "output": {"path": str(tmp_path / "out")}}))  # JSON is YAML
    code, output = run("--data", data, "--pipeline", tmp_path / "p.yaml", "--json")
    assert code == 0, output
    result = json.loads(output[output.index("{"):output.rindex("}") + 1])
    blocked = {r["id"] for r in records} - {r["id"] for r in result["bad_kept"]}
    expected = {r["id"] for r in records if "casinocity.com" in r["url"] or "uscasinofinder.com" in r["url"]}
    assert blocked == expected and len(expected) >= 10
