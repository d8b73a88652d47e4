"""What a new user's input folders hold: every file read or rejected with a reason, the right reader, and a run that
keeps nothing says so."""

import shutil

from pipeline_helpers import read_rows, run_pipeline, shared

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
