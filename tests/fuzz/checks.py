"""What every fuzz test asserts about a step it drove: nothing lost, every rejection named, the output storable."""

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.utils.stats import Stats

from curate.funnel import DOCS_CREATED, DOCS_IN, DOCS_OUT, REASON, REJECTED_BY, REJECTED_DOCS, is_rejected
from curate.io.shard_writer import OUTPUT_KINDS, ShardWriter


def fresh_stats(step) -> None:
    """Start a step's counters from zero (a step object is reused across examples: its models load once)."""
    step.stats = Stats(str(step))


def counters(step) -> dict[str, float]:
    return {name: metric.total for name, metric in step.stats.stats.items()}


def assert_funnel(step, live_in: int, out: list[Document]) -> None:
    """The step's own funnel: documents in = out + rejected (- created), and the documents it passed on that carry
    its name as `rejected_by` are exactly those it counted as rejected."""
    counts = counters(step)
    rejected = sum(value for name, value in counts.items() if name.startswith(REJECTED_DOCS))
    assert counts.get(DOCS_IN, 0) == live_in, counts
    assert counts.get(DOCS_OUT, 0) + rejected == live_in + counts.get(DOCS_CREATED, 0), counts
    assert sum(doc.metadata.get(REJECTED_BY) == step.name for doc in out) == rejected, counts


def assert_rejections_named(docs: list[Document]) -> None:
    for doc in docs:
        if is_rejected(doc):
            assert doc.metadata.get(REJECTED_BY) and doc.metadata.get(REASON), (doc.id, doc.metadata)


def assert_storable(docs: list[Document], columns: dict) -> None:
    """The documents go through the ShardWriter into Parquet and come back: as many rows, the same ids, every
    rejected row with its stage and reason."""
    with tempfile.TemporaryDirectory() as folder:
        writer = ShardWriter(folder, columns)
        list(writer.run(iter(docs), rank=0, world_size=1))
        rows = {kind: [row for path in sorted(Path(folder, kind).glob("*.parquet"))
                       for row in pq.read_table(path).to_pylist()]
                for kind in OUTPUT_KINDS if Path(folder, kind).is_dir()}
        assert not list(Path(folder).rglob("*.tmp"))
    assert sorted(row["id"] for kind in rows for row in rows[kind]) == sorted(doc.id for doc in docs)
    assert len(rows.get("rejected", [])) == sum(map(is_rejected, docs))
    for row in rows.get("rejected", []):
        assert row["rejected_by"] and row["reason"], row["id"]
