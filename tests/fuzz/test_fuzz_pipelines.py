"""Fuzzing whole runs: the shipped web and text pipelines (their stages as in pipelines/*.yaml) over folders of
adversarial files, through Pipeline.run with every phase (dedup, split, decontamination). Each run must complete,
keep the conservation law (read + created = kept + rejected, checked against the shards), name every rejection,
leave no temporary file, and its funnel must chain (each stage takes what the one before let through).
"""

import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from adversarial import file_bytes, fuzz_settings, gzipped, texts
from pipeline_helpers import REPO, run_pipeline


def _stages(name: str) -> list:
    return yaml.safe_load((REPO / "pipelines" / f"{name}.yaml").read_text())["stages"]


def _run(fmt: str, stages: list, write_inputs) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "in")
        folder.mkdir()
        write_inputs(folder)
        config = {"input": {"paths": [str(folder)], "format": fmt}, "stages": stages, "executor": {"tasks": 2}}
        result = run_pipeline(config, Path(tmp, "out"), workers=1)  # asserts conservation against the shards
        funnel = result.manifest["funnel"]
        for earlier, later in zip(funnel[:-2], funnel[1:-1]):  # the writer, last, sees rejected documents too
            assert later["docs_in"] == earlier["docs_out"], (earlier, later)


@fuzz_settings(8)
@given(pages=st.lists(st.tuples(st.sampled_from([".html", ".htm", ".html.gz"]), file_bytes(html=True)),
                      min_size=1, max_size=8))
def test_web_pipeline_on_adversarial_pages(pages):
    def write(folder):
        for i, (suffix, data) in enumerate(pages):
            (folder / f"p{i}{suffix}").write_bytes(gzipped(data, None) if suffix.endswith(".gz") else data)
        first = folder / f"p0{pages[0][0]}"
        (folder / f"copy{pages[0][0]}").write_bytes(first.read_bytes())  # an exact copy

    _run("html", _stages("web"), write)


@fuzz_settings(8)
@given(docs=st.lists(texts(allow_surrogates=False), min_size=1, max_size=8))
def test_text_pipeline_on_adversarial_documents(docs):
    def write(folder):
        for i, text in enumerate([*docs, docs[0]]):  # and an exact copy
            (folder / f"d{i}.txt").write_text(text, encoding="utf-8")

    _run("text", _stages("text"), write)
