"""Fuzzing every stage with hypothesis: adversarial texts (broken and deeply nested HTML, enormous lines, zero-width
characters, lone surrogates, NUL and control characters, mixed scripts) and adversarial metadata (a URL that is a
number, a language code that is not one, NaN scores, a split that does not exist), some documents already rejected
by an earlier stage. Each stage runs in this process as the pipeline runs it (a GlobalStage through its observe,
spill, reduce and decide parts), and must not raise, must keep the funnel (in = kept + rejected, + created), pass
already-rejected documents on untouched, name every rejection, and leave documents the shard writer can store.
"""

import copy
import math
import re
import tempfile
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pytest
from datatrove.data import Document
from hypothesis import example, given
from hypothesis import strategies as st

from adversarial import LANGUAGES, broken_html, fuzz_settings, mixed_encoding_bytes, real_sentences, texts
from checks import assert_funnel, assert_rejections_named, assert_storable, fresh_stats
from curate.io.spill import SpillReader, SpillTexts, SpillWriter
from curate.stages import resolve_step_class
from curate.stages.base import GlobalStage, ObserveStep, is_rejected

# every registered stage but quality_model (it needs a model trained for it: tests/stages/test_quality_model.py),
# with the options that reach the most code
STAGES = {
    "extract": {"timeout": 30.0},
    "clean": {"remove_notices": True, "remove_emoji": True, "unwrap_lines": True},
    "langid": {"languages": ["en", "de", "ja"]},
    "quality": {"rule_sets": ["gopher", "c4", "fineweb"]},
    "harmful": {},
    "pii": {},
    "chunk": {"min_chars": 300},
    "exact_dedup": {"strip_punctuation": True, "urls": True},
    "minhash_dedup": {"verify": "exact"},
    "split": {"group_by": "domain"},
    "decontaminate": {},
}
EXAMPLES = {"extract": 25, "pii": 25, "quality": 30}  # the slower stages; the others get DEFAULT_EXAMPLES
DEFAULT_EXAMPLES = 50

URLS = st.one_of(st.sampled_from(["https://www.example.co.uk/a?b=c", "http://[::1", "http://ü.de/ä", "ftp://x", "",
                                  "http://" + "a." * 200 + "com", "not a url", "//evil.com", "http://127.0.0.1:99999"]),
                 st.text(max_size=30), st.integers())
METADATA = st.fixed_dictionaries({}, optional={
    "url": URLS,
    "lang": st.one_of(st.sampled_from([*LANGUAGES, "", "xx", "zz-ZZ", "und", "EN", "zh-Hant", None]), st.integers()),
    "lang_score": st.one_of(st.floats(), st.text(max_size=3)),
    "quality_score": st.one_of(st.floats(), st.none(), st.sampled_from(["high"])),
    "split": st.sampled_from(["train", "val", "test", "bogus", None, 7]),
    "dup_cluster_id": st.one_of(st.text(max_size=10), st.none(), st.integers()),
    "title": st.text(max_size=20),
})


@st.composite
def documents(draw, html: bool = False):
    """1-6 documents; some copies (or near copies) of another, so that dedup and decontamination find matches."""
    docs = []
    for i in range(draw(st.integers(1, 6))):
        if docs and draw(st.integers(0, 4)) == 0:
            text = docs[draw(st.integers(0, len(docs) - 1))].text
            if isinstance(text, str) and draw(st.booleans()):
                text = text + draw(real_sentences())
        elif html:
            text = draw(st.one_of(broken_html(allow_surrogates=True), texts(), mixed_encoding_bytes()))
        else:
            text = draw(texts())
        metadata = draw(METADATA)
        if draw(st.integers(0, 5)) == 0:  # rejected by an earlier stage: must pass untouched
            metadata.update(rejected_by="earlier", reason="earlier_reason")
        docs.append(Document(text=text, id=f"doc-{i}", metadata=metadata))
    return docs


@lru_cache(maxsize=None)
def stage(name: str):
    """One object per stage for the whole module: models load once, as in one pipeline task."""
    return resolve_step_class(name)(**STAGES[name])


def run_stage(step, docs: list[Document], work: Path) -> list[Document]:
    """Run `step` over `docs` as a pipeline task does; a GlobalStage through all its parts, with the spill between."""
    if not isinstance(step, GlobalStage):
        return list(step.run(iter(docs), rank=0, world_size=1))
    step.work_dir, step.spill_dir = str(work / "stage"), str(work / "spill")
    step.spill_texts = SpillTexts(step.spill_dir)
    columns = {**step.columns(), "split": pa.string()}
    observed = ObserveStep(step).run(iter(docs), rank=0, world_size=1)
    list(SpillWriter(step.spill_dir, columns).run(observed, rank=0, world_size=1))
    for _, tasks, reduce_step in step.reduce_steps(1):
        for rank in range(tasks):
            list(reduce_step.run(None, rank=rank, world_size=tasks))
    return list(step.run(SpillReader(step.spill_dir, "before").run(None, rank=0, world_size=1), rank=0, world_size=1))


def _storable(text):
    """A text as the spill between phases stores it: Parquet holds no lone surrogate (U+FFFD instead)."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text) if isinstance(text, str) else text


def _same(got: dict, expected: dict) -> bool:
    """Metadata equal as the spill keeps it: a null value may be left out, NaN equals NaN, 3 equals 3.0."""
    got, expected = ({k: v for k, v in d.items() if v is not None} for d in (got, expected))
    return got.keys() == expected.keys() and all(
        got[k] == expected[k] or (isinstance(got[k], float) and isinstance(expected[k], float)
                                  and math.isnan(got[k]) and math.isnan(expected[k])) for k in got)


# inputs that once broke a stage or the writer behind it; each runs before the generated examples
REGRESSIONS = {
    "clean": [[Document(text="\ud800", id="surrogate", metadata={"rejected_by": "earlier", "reason": "r"})]],
    # spaCy's tokenizer raises on a lone surrogate; pii rejects that document (stage_error), not the whole batch
    "pii": [[Document(text="000000\ud800", id="surrogate"), Document(text="call +1 415 555 0132", id="phone")]],
    # a page that arrives as bytes (binary, then mixed encodings): counted, decoded or rejected with its text as str
    "extract": [[Document(text=b"\x89PNG\r\n\x1a\n\x00\x00", id="png"),
                 Document(text="<p>caf\u00e9</p>".encode("latin-1") + "<p>日本</p>".encode("shift_jis"),
                          id="mixed")]],
    # a URL that is a number (JSON input): exact_dedup's observe half failed on it and stopped the phase
    "exact_dedup": [[Document(text="same", id="a", metadata={"url": 1}), Document(text="same", id="b"),
                     Document(text="same", id="c", metadata={"url": "http://example.com/c"})]],
}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_survives_adversarial_documents(name):
    def check(docs):
        docs = copy.deepcopy(docs)  # the stage changes them; an explicit example must stay as written
        step = stage(name)
        fresh_stats(step)
        before = {doc.id: (doc.text, copy.deepcopy(doc.metadata)) for doc in docs if is_rejected(doc)}
        with tempfile.TemporaryDirectory() as work:
            out = run_stage(step, docs, Path(work))
        live = len(docs) - len(before)
        assert_funnel(step, live_in=live, out=out)
        assert_rejections_named(out)
        created = len(out) - len(docs)
        assert created >= 0 and (created == 0 or name == "chunk")
        for doc in out:
            if doc.id in before and doc.metadata.get("rejected_by") == "earlier":  # untouched (but for the spill)
                assert _storable(doc.text) == _storable(before[doc.id][0]), doc.id
                assert _same(doc.metadata, before[doc.id][1]), doc.id
        assert sum(doc.metadata.get("rejected_by") == "earlier" for doc in out) == len(before)
        assert_storable(out, {**step.columns(), "split": pa.string()})

    for docs in REGRESSIONS.get(name, []):
        check = example(docs=docs)(check)
    fuzz_settings(EXAMPLES.get(name, DEFAULT_EXAMPLES))(given(docs=documents(html=name == "extract"))(check))()


def test_a_long_run_without_spaces_is_one_word():
    """Found by the pipeline fuzz: spaCy's suffix search is quadratic in a whitespace-free run (10,000 emoji took
    8 s, a 250,000-character page 8 minutes in the quality stage). Such a run is one word; the text around it is
    tokenized as before."""
    from curate.stages.language_words import word_splitter

    text = "앞으로 국부펀드의 " + "💩" * 200_000 + " 더욱 치열해질 것이. Hello, world!"
    for lang in ("ko", "en"):
        words = word_splitter(lang).split(text).words
        assert words == ["앞으로", "국부펀드의", "💩" * 200_000, "더욱", "치열해질", "것이", ".", "Hello", ",", "world",
                         "!"]
