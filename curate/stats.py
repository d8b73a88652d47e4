"""`curate stats` and `curate head`: look inside an output folder without re-running anything."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from curate.io.manifest import TOKENIZED
from curate.io.shard_writer import KEPT_KINDS, OUTPUT_KINDS, SPLITS

NUMERIC_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class OutputError(ValueError):
    """OUT is not a curate output folder, or its shards cannot be read."""


def shard_dataset(output: str | Path, kinds: tuple[str, ...]) -> ds.Dataset | None:
    """The shards of OUTPUT/<kind>/ for each of `kinds` as one pyarrow dataset (None when there are none)."""
    files = [str(f) for kind in kinds for f in sorted((Path(output) / kind).glob("*.parquet"))]
    if not files:
        return None
    try:
        return ds.dataset(files, format="parquet")
    except (OSError, pa.ArrowInvalid) as error:
        raise OutputError(f"cannot read the shards of {output}: {error}") from None


def output_stats(output: str) -> dict:
    """Documents, bytes, shards, per-column distributions of kept and rejected shards, and the manifest's funnel."""
    root = Path(output)
    if not root.is_dir():
        raise OutputError(f"{output!r} is not a curate output folder (no such directory)")
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    result = {"output": str(root), "kinds": {}}
    for kind in OUTPUT_KINDS:
        dataset = shard_dataset(output, (kind,))
        if dataset is not None:
            result["kinds"][kind] = _kind_stats(dataset)
    if not result["kinds"] and manifest is None:
        raise OutputError(f"{output!r} holds no shards and no manifest.json")
    if manifest:
        result["funnel"] = manifest["funnel"]
        result["conservation"] = manifest["conservation"]
        result["splits"] = split_sizes(manifest)
        if manifest.get(TOKENIZED):
            result[TOKENIZED] = manifest[TOKENIZED]
    return result


def split_sizes(manifest: dict) -> dict:
    """The run's train/val/test sizes (docs, bytes, tokens) as its manifest recorded them; older manifests have none."""
    output = manifest.get("output")
    return {kind: totals for kind, totals in output.items() if kind in SPLITS} if isinstance(output, dict) else {}


def _kind_stats(dataset: ds.Dataset) -> dict:
    table = dataset.to_table()
    text = table.column("text")
    lengths = np.asarray(pa.compute.utf8_length(text).fill_null(0))
    stats = {"docs": table.num_rows, "shards": len(dataset.files),
             "bytes": int(pa.compute.sum(pa.compute.binary_length(text.cast(pa.binary()))).as_py() or 0),
             "chars": int(lengths.sum()), "columns": {}}
    for field in table.schema:
        if field.name in ("id", "text", "url", "extra_metadata", "reason_detail"):
            continue
        column = table.column(field.name)
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            values = np.asarray(column.drop_null().to_numpy(zero_copy_only=False), dtype=float)
            values = values[np.isfinite(values)]
            if values.size:
                stats["columns"][field.name] = {
                    "count": int(values.size), "mean": float(values.mean()),
                    # a total is what counts mean (pii_* spans, badword_count): how many in all
                    **({"sum": int(values.sum())} if pa.types.is_integer(field.type) else {}),
                    **{f"p{int(q * 100)}": float(v) for q, v in zip(NUMERIC_QUANTILES, np.quantile(values, NUMERIC_QUANTILES))},
                }
        elif pa.types.is_string(field.type) or pa.types.is_boolean(field.type):
            counts = pa.compute.value_counts(column.drop_null()).to_pylist()
            if counts:
                top = sorted(counts, key=lambda c: -c["counts"])[:10]
                stats["columns"][field.name] = {"distinct": len(counts), "top": {str(c["values"]): c["counts"] for c in top}}
    stats["columns"]["text_chars"] = {"count": int(lengths.size), "mean": float(lengths.mean()) if lengths.size else 0.0,
                                      **({f"p{int(q * 100)}": float(v) for q, v in zip(NUMERIC_QUANTILES, np.quantile(lengths, NUMERIC_QUANTILES))} if lengths.size else {})}
    return stats


def head(output: str, n: int = 5, rejected: bool = False, reason: str | None = None,
         split: str | None = None) -> list[dict]:
    """The first `n` documents of the kept shards (`split`: of that split's; by default data/, else train/), or of
    the rejected ones, optionally only those rejected for `reason`. A `reason` or `split` with no document is an
    OutputError naming the reasons or the kept folders that have some."""
    if not Path(output).is_dir():
        raise OutputError(f"{output!r} is not a curate output folder (no such directory)")
    if rejected or reason:
        kind = "rejected"
    elif split:
        kind = split
    else:
        kind = next((k for k in ("data", "train") if (Path(output) / k).is_dir()), "data")
    dataset = shard_dataset(output, (kind,))
    rows = [] if dataset is None else dataset.head(
        n, filter=(ds.field("reason") == reason) if reason else None).to_pylist()
    if not rows and reason:
        reasons = _value_counts(dataset, "reason") if dataset is not None else ""
        raise OutputError(f"no rejected document has reason {reason!r} in {output}; "
                          + (f"the reasons there: {reasons}" if reasons else "no document was rejected"))
    if not rows and split:
        kept = {k: d.count_rows() for k in KEPT_KINDS if (d := shard_dataset(output, (k,))) is not None}
        where = ", ".join(f"{k}/ ({docs:,})" for k, docs in kept.items() if docs) or "none"
        hint = "" if set(kept) & set(SPLITS) else " (no split stage ran: kept documents are in data/)"
        raise OutputError(f"no kept document in {split}/ of {output}; kept documents are in: {where}{hint}")
    return rows


def _value_counts(dataset: ds.Dataset, column: str) -> str:
    """The values of a string column with their counts, most frequent first: "a 3, b 1"."""
    counts = pa.compute.value_counts(dataset.to_table(columns=[column]).column(column).drop_null()).to_pylist()
    return ", ".join(f"{c['values']} {c['counts']:,}" for c in sorted(counts, key=lambda c: -c["counts"]))
