"""Everything the report shows, gathered from OUT/manifest.json and the shards, column by column.

Shards are read with pyarrow batch by batch, only the columns needed: the text of a big output is never held in
memory. The numeric columns are read in one pass per dataset (kept, rejected); of more than `max_values` rows, every
k-th is kept (k from the row count in the Parquet footers), so memory and plotting stay bounded however large the
output (the pass itself still reads every row). Every key of the manifest may be missing (older outputs, pipelines
without dedup, split or decontamination stages).
"""

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from curate.io.shard_writer import KEPT_KINDS
from curate.report.signals import NOT_SIGNALS, Threshold, group_of, thresholds
from curate.stats import OutputError, shard_dataset, split_sizes

MAX_VALUES = 200_000  # per column and kind: enough for a smooth histogram
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 600
TOP_N = 15


ReportError = OutputError  # OUT is not a curate output folder, or its manifest or shards cannot be read


@dataclass
class Signal:
    column: str
    group: str
    owner: str | None  # the stage that writes the column (None: not known)
    kept: np.ndarray
    rejected_here: np.ndarray  # rejected by the owning stage
    rejected_other: np.ndarray  # rejected by a later step (or, owner unknown, by any step)
    thresholds: list[Threshold]
    sampled_every: int = 1  # 1: every row

    @functools.cached_property
    def values(self) -> np.ndarray:
        return np.concatenate([self.kept, self.rejected_here, self.rejected_other])


@dataclass
class Example:
    id: str
    url: str | None
    rejected_by: str | None
    reason: str | None
    value: float | None
    detail: str | None
    text: str  # truncated to EXAMPLE_CHARS
    chars: int


@dataclass
class ReportData:
    output: str
    manifest: dict
    funnel: list[dict]
    kept_docs: int
    rejected_docs: int
    signals: list[Signal] = field(default_factory=list)
    languages_before: Counter = field(default_factory=Counter)
    languages_after: Counter = field(default_factory=Counter)
    domains_label: str = "domain"  # "domain" (from url) or "source" (inputs without URLs)
    domains_before: Counter = field(default_factory=Counter)
    domains_after: Counter = field(default_factory=Counter)
    splits: dict[str, dict] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)  # reason -> examples
    kept_examples: list[Example] = field(default_factory=list)


def load_manifest(output: str | Path) -> dict:
    path = Path(output) / "manifest.json"
    if not Path(output).is_dir():
        raise ReportError(f"{str(output)!r} is not a curate output folder (no such directory)")
    if not path.is_file():
        raise ReportError(f"{path}: no manifest; run `curate run` into {str(output)!r} first (an interrupted run "
                          f"writes its manifest when re-run to the end)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: cannot read the manifest: {error}") from None


def gather(output: str | Path, max_values: int = MAX_VALUES) -> ReportData:
    manifest = load_manifest(output)
    kept, rejected = shard_dataset(output, KEPT_KINDS), shard_dataset(output, ("rejected",))
    data = ReportData(output=str(output), manifest=manifest, funnel=manifest.get("funnel") or [],
                      kept_docs=kept.count_rows() if kept else 0,
                      rejected_docs=rejected.count_rows() if rejected else 0)
    every = max(1, math.ceil(max(data.kept_docs, data.rejected_docs, 1) / max_values))
    data.signals = gather_signals(kept, rejected, manifest.get("config") or {}, every)
    data.languages_after = value_counts(kept, "lang")
    data.languages_before = data.languages_after + value_counts(rejected, "lang")
    # the readers of html, text and jsonl inputs write a url column that is null throughout: then the source file
    domain_column = "url" if any(has_values(d, "url") for d in (kept, rejected)) else "source"
    data.domains_label = "domain" if domain_column == "url" else "source"
    transform = domains if domain_column == "url" else None
    data.domains_after = value_counts(kept, domain_column, transform, null="(no URL)")
    data.domains_before = data.domains_after + value_counts(rejected, domain_column, transform, null="(no URL)")
    data.splits = split_sizes(manifest)
    data.examples = gather_examples(rejected)
    data.kept_examples = [to_example(row) for row in head(kept, EXAMPLES_PER_REASON)]
    return data


def has_column(dataset: ds.Dataset | None, column: str) -> bool:
    return dataset is not None and column in dataset.schema.names


def has_values(dataset: ds.Dataset | None, column: str) -> bool:
    """The column exists and is not null in every row."""
    return has_column(dataset, column) and dataset.count_rows(filter=ds.field(column).is_valid()) > 0


def numeric_columns(dataset: ds.Dataset | None) -> list[str]:
    if dataset is None:
        return []
    return [f.name for f in dataset.schema
            if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)) and f.name not in NOT_SIGNALS]


def columns_values(dataset: ds.Dataset | None, columns: list[str], every: int, owners: dict[str, str | None]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """In one pass over `dataset`: the finite values of each numeric column (every `every`-th row; "text_chars":
    the text's length), split into (rows rejected by the column's owning stage, the other rows). A column without
    an owner (or a dataset without `rejected_by`) has every row in the second array."""
    present = [c for c in columns if dataset is not None and (c == "text_chars" or c in dataset.schema.names)]
    if not present:
        return {}
    by_owner = "rejected_by" in dataset.schema.names
    sources = list(dict.fromkeys("text" if c == "text_chars" else c for c in present))
    here: dict[str, list] = {c: [] for c in present}
    other: dict[str, list] = {c: [] for c in present}
    offset = 0
    for batch in dataset.to_batches(columns=sources + (["rejected_by"] if by_owner else []), batch_size=8192):
        first = (-offset) % every  # the rows whose global index is a multiple of `every`
        offset += batch.num_rows
        if first >= batch.num_rows:
            continue
        if every > 1:
            batch = batch.take(pa.array(range(first, batch.num_rows, every)))
        masks: dict[str, np.ndarray] = {}  # per owner, once per batch
        for column in present:
            array = pc.utf8_length(batch["text"]) if column == "text_chars" else batch[column]
            values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=float)
            finite = np.isfinite(values)
            owner = owners.get(column)
            if by_owner and owner is not None and owner not in masks:  # "quality" also owns "quality#2"
                names = batch["rejected_by"]
                masks[owner] = np.asarray(pc.fill_null(pc.or_(pc.equal(names, owner), pc.starts_with(
                    names, owner + "#")), False).to_numpy(zero_copy_only=False), dtype=bool)
            mine = masks.get(owner) if by_owner and owner is not None else np.zeros(len(values), dtype=bool)
            here[column].append(values[finite & mine])
            other[column].append(values[finite & ~mine])
    return {c: (np.concatenate(here[c]) if here[c] else np.empty(0),
                np.concatenate(other[c]) if other[c] else np.empty(0)) for c in present}


def gather_signals(kept: ds.Dataset | None, rejected: ds.Dataset | None, config: dict, every: int) -> list[Signal]:
    columns = [*dict.fromkeys(numeric_columns(kept) + numeric_columns(rejected)), "text_chars"]
    groups = {c: ("document length", None) if c == "text_chars" else group_of(c) for c in columns}
    empty = (np.empty(0), np.empty(0))
    kept_values = columns_values(kept, columns, every, {})
    rejected_values = columns_values(rejected, columns, every, {c: owner for c, (_, owner) in groups.items()})
    signals = []
    for column in columns:
        group, owner = groups[column]
        kept_column = kept_values.get(column, empty)[1]
        here, other = rejected_values.get(column, empty)
        if kept_column.size + here.size + other.size == 0:
            continue  # the stage never measured it (every document was rejected before, or the column is null)
        signals.append(Signal(column, group, owner, kept_column, here, other, thresholds(column, config), every))
    return signals


# scheme://[user@][www.]HOST[:port][/...]: the host, vectorised (a billion URLs through urlsplit would take hours)
HOST = r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?(?:www\.)?(?P<host>[^/:?#]+)"


def domains(urls: pa.Array) -> pa.Array:
    """The host of each URL, lower-cased, without "www."; null for a missing or unparsable URL."""
    return pc.utf8_lower(pc.struct_field(pc.extract_regex(urls, HOST), [0]))


def value_counts(dataset: ds.Dataset | None, column: str, transform=None, null: str = "(not measured)") -> Counter:
    """How often each value of a string column (through `transform`, an array function) occurs; null counts as
    `null`, and so does every row when the column is absent."""
    counts: Counter = Counter()
    if not has_column(dataset, column):
        if dataset is not None:
            counts[null] = dataset.count_rows()
        return counts
    for batch in dataset.to_batches(columns=[column], batch_size=65536):
        array = batch.column(0) if transform is None else transform(batch.column(0))
        for item in pc.value_counts(array).to_pylist():
            value = item["values"]
            counts[str(value) if value is not None else null] += item["counts"]
    return counts


EXAMPLE_COLUMNS = ("id", "url", "rejected_by", "reason", "reason_value", "reason_detail", "text")


def head(dataset: ds.Dataset | None, n: int, flt=None) -> list[dict]:
    if dataset is None:
        return []
    columns = [c for c in EXAMPLE_COLUMNS if c in dataset.schema.names]
    return dataset.head(n, columns=columns, filter=flt).to_pylist()


def to_example(row: dict) -> Example:
    text = row.get("text") or ""
    return Example(id=str(row.get("id")), url=row.get("url"), rejected_by=row.get("rejected_by"),
                   reason=row.get("reason"), value=row.get("reason_value"), detail=row.get("reason_detail"),
                   text=text[:EXAMPLE_CHARS], chars=len(text))


def gather_examples(rejected: ds.Dataset | None) -> dict[str, list[Example]]:
    """A few rejected documents for each reason, most frequent reason first."""
    reasons = value_counts(rejected, "reason")
    return {reason: [to_example(row) for row in head(rejected, EXAMPLES_PER_REASON, ds.field("reason") == reason)]
            for reason, _ in reasons.most_common() if reason != "(not measured)"}
