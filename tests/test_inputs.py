"""What a new user's input folders hold: every file read or rejected with a reason, the right reader, and a run that
keeps nothing says so."""

import gzip
import json
import shutil

from pipeline_helpers import curate_cli, read_rows, run_pipeline, shared

PAGES = ("extraction", "trafilatura-eval", "eval")
POLISH = "_Ziemniaki na szóstej, surówka na dziesiątej_. Jak pomagać, żeby nie zaszkodzić_ [PORADNIK W PIGUŁCE].html.gz"


def _page_folder(folder):
    """Three real pages (one whose name starts with `_`), a `.DS_Store`, a hidden folder's page and a JSON file."""
    folder.mkdir()
    pages = sorted(p for p in shared(*PAGES).iterdir() if not p.name.startswith("_"))[:2]
    for page in [*pages, shared(*PAGES, POLISH)]:
        shutil.copy(page, folder / page.name)
    (folder / ".DS_Store").write_bytes(pages[0].read_bytes())  # binary (gzip) bytes, as Finder's file is
    (folder / ".drafts").mkdir()
    shutil.copy(pages[1], folder / ".drafts" / pages[1].name)
    shutil.copy(shared("extraction", "trafilatura-eval", "evaldata.json"), folder / "evaldata.json")
    return [p.name for p in pages]


def test_every_file_under_a_folder_is_read_or_rejected_with_a_reason(tmp_path):
    names = _page_folder(tmp_path / "in")
    result = run_pipeline({"input": {"paths": [str(tmp_path / "in")], "format": "html"}}, tmp_path / "out")
    kept = {r["id"]: r for r in read_rows(tmp_path / "out", "data")}
    rejected = {r["source"]: r for r in read_rows(tmp_path / "out", "rejected")}
    assert result.manifest["funnel"][0]["docs_in"] == 6  # every file, none skipped
    assert set(kept) == {*names, POLISH, f".drafts/{names[1]}"}
    assert "Ziemniaki" in kept[POLISH]["text"] and kept[POLISH]["charset"] != "utf-8"  # the page, decoded
    assert rejected[".DS_Store"]["reason"] == "non_text_content"
    assert rejected["evaldata.json"]["reason"] == "wrong_format"  # a JSON file is not a page: said, not read
    assert "--format html" in rejected["evaldata.json"]["reason_detail"]
    assert result.manifest["input_paths"] == [{"path": str(tmp_path / "in"), "kind": "folder", "files": 6,
                                               "bytes": sum(f.stat().st_size for f in (tmp_path / "in").rglob("*")
                                                            if f.is_file())}]
    # only a glob the user writes leaves files out, and the manifest says what it matched
    glob = str(tmp_path / "in" / "*.html.gz")
    result = run_pipeline({"input": {"paths": [glob], "format": "html"}}, tmp_path / "glob")
    assert result.manifest["funnel"][0]["docs_in"] == 3
    assert result.manifest["input_paths"][0]["kind"] == "glob" and result.manifest["input_paths"][0]["files"] == 3


JSONL = ("warc", "dolma", "tests", "data", "multiple_files", "cc_en_head-0091.jsonl.gz")


def _yaml(path, fmt, out):
    import yaml

    path.write_text(yaml.safe_dump({"input": {"format": fmt, "paths": ["unused"]}, "output": {"path": str(out)}}))
    return path


def test_files_of_another_format_than_the_yaml_are_read_by_their_reader(tmp_path):
    jsonl = shared(*JSONL)
    for fmt in ("text", "warc"):  # text.yaml turned the file into one document; web.yaml gave 10 non_text_content
        result = curate_cli("run", _yaml(tmp_path / f"{fmt}.yaml", fmt, tmp_path / fmt), "--input", jsonl, "--json")
        manifest = json.loads(result.stdout)
        assert manifest["config"]["input"]["format"] == "jsonl" and manifest["conservation"]["kept"] == 10
        assert f"the files are jsonl (1 jsonl file), not {fmt}" in result.stderr
        assert manifest["warnings"] and "reading them as jsonl" in manifest["warnings"][0]
    # --format reads every file in the format named, whatever the name says: here the whole file is one document
    forced = curate_cli("run", tmp_path / "text.yaml", "--input", jsonl, "--format", "text", "--output",
                        tmp_path / "forced", "--json")
    assert json.loads(forced.stdout)["conservation"]["read"] == 1 and "warning" not in forced.stderr
    # files that no one reader reads stop the run before it starts, naming what was found
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(jsonl, mixed)
    shutil.copy(shared("warc", "dolma", "tests", "data", "warc", "sample-0000.warc.gz"), mixed)
    refused = curate_cli("run", tmp_path / "text.yaml", "--input", mixed, check=False)
    assert refused.returncode == 2 and "1 jsonl file, 1 warc file" in refused.stderr
    assert "--format" in refused.stderr and not (tmp_path / "text" / "mixed").exists()
    assert curate_cli("validate", tmp_path / "text.yaml", "--format", "warc", "--set", f"input.paths=[{mixed}]").stdout


def test_a_jsonl_line_with_an_invalid_utf8_byte_is_kept_and_counted(tmp_path):
    lines = gzip.decompress(shared(*JSONL).read_bytes()).splitlines()
    cut = lines[3].index(b". ") + 1  # a stray Latin-1 byte after a sentence of a real Common Crawl document
    lines[3] = lines[3][:cut] + b" \xe9" + lines[3][cut:]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # a binary file named .jsonl: one rejection, not one per "line" (random bytes gave hundreds)
    (tmp_path / "in" / "binary.jsonl").write_bytes(shared(*PAGES, POLISH).read_bytes())
    run_pipeline({"input": {"paths": [str(tmp_path / "in")], "format": "jsonl"}}, tmp_path / "out")
    kept = read_rows(tmp_path / "out", "data")
    rejected = read_rows(tmp_path / "out", "rejected")
    assert len(kept) == 10 and sum(r["decode_errors"] for r in kept) == 1
    damaged = next(r for r in kept if r["decode_errors"])
    original = gzip.decompress(shared(*JSONL).read_bytes()).splitlines()[3]
    assert damaged["text"].replace(" \ufffd", "", 1) == json.loads(original)["text"]
    assert [(r["source"], r["reason"]) for r in rejected] == [("binary.jsonl", "non_text_content")]


def test_a_run_that_keeps_nothing_says_so_and_names_the_likely_fix(tmp_path):
    from datasets import Dataset

    text = shared("text", "tinyshakespeare", "input.txt").read_text()
    speeches = [s for s in text.split("\n\n") if s.strip()][:60]
    Dataset.from_dict({"content": speeches, "speaker": [s.split(":")[0] for s in speeches]}).save_to_disk(tmp_path / "ds")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(json.dumps({"input": {"format": "hf", "paths": [str(tmp_path / "ds")]},
                                    "output": {"path": str(tmp_path / "out")}}))
    stderr = " ".join(curate_cli("run", pipeline).stderr.split())
    assert "warning: the run kept no document: all 60 read were rejected (hf: missing_text 60)" in stderr
    assert "name the text field with --set input.text_key=content" in stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "input.text_key=content" in manifest["warnings"][0]
    fixed = curate_cli("run", pipeline, "--set", "input.text_key=content", "--force")
    assert "warning" not in fixed.stderr and "kept 60 + rejected 0" in fixed.stdout


def test_a_stray_nul_byte_costs_its_line_not_the_jsonl_file(tmp_path):
    lines = gzip.decompress(shared(*JSONL).read_bytes()).splitlines()
    lines[1] = lines[1][:50] + b"\x00" + lines[1][50:]  # raw NUL: not JSON, but the file is text
    (tmp_path / "docs.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run_pipeline({"input": {"paths": [str(tmp_path / "docs.jsonl")]}}, tmp_path / "out")
    assert len(read_rows(tmp_path / "out", "data")) == 9
    assert [r["reason"] for r in read_rows(tmp_path / "out", "rejected")] == ["invalid_json"]
