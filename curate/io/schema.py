"""The shard schema: the columns every shard has, the rejection columns, and how stages declare their own.

A document's metadata becomes typed Parquet columns. Each column is declared once, by whoever writes it: the
reader (`url`, `source`, `date`, ...), a stage (`lang`, `lang_score`, ...), or the YAML (`columns:` on a datatrove
step). Metadata nobody declared is not lost: it lands, as JSON, in `extra_metadata`.
"""

import pyarrow as pa

from curate.funnel import REJECTION_COLUMNS  # noqa: F401 - added to rejected shards (rejections live there)

# Columns of every shard, in this order.
CORE_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),  # stable: WARC-Record-ID, or input path + record index
    "text": pa.string(),
    "url": pa.string(),  # null when the input has none
    "source": pa.string(),  # the input file, relative to its input root
}

# Everything the stages set that nobody declared a column for, as a JSON object string.
EXTRA_COLUMN = "extra_metadata"

# Fields curate sets itself on every document: an input record's field of that name (a curate output read back in
# has `rejected_by`, `reason`, `source`) is kept as `input_<name>` (curate/io/record_readers.py), so an earlier run's
# verdict is data, not a rejection by this run, and the record's own `source` is not overwritten by the file's name.
RESERVED_INPUT_FIELDS = (*REJECTION_COLUMNS, "source")

# YAML spellings of column types, for `columns:` on datatrove steps.
TYPE_NAMES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "str": pa.string(),
    "int": pa.int64(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float": pa.float64(),
    "float64": pa.float64(),
    "float32": pa.float32(),
    "bool": pa.bool_(),
    "list<string>": pa.list_(pa.string()),
    "list<int>": pa.list_(pa.int64()),
    "list<float>": pa.list_(pa.float64()),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def parse_type(name: str) -> pa.DataType:
    try:
        return TYPE_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown column type {name!r}; allowed: {', '.join(TYPE_NAMES)}") from None


def build_schema(declared: dict[str, pa.DataType], rejected: bool = False) -> pa.Schema:
    """Core columns, then the declared ones in declaration order, then extra_metadata (and the rejection columns)."""
    fields = dict(CORE_COLUMNS)
    for name, dtype in declared.items():
        if name in fields and fields[name] != dtype:
            raise ValueError(f"column {name!r} is declared twice with different types: {fields[name]} and {dtype}")
        fields[name] = dtype
    fields[EXTRA_COLUMN] = pa.string()
    if rejected:
        fields.update(REJECTION_COLUMNS)
    return pa.schema([pa.field(name, dtype) for name, dtype in fields.items()])


def arrow_type_name(dtype: pa.DataType) -> str:
    for name, candidate in TYPE_NAMES.items():
        if candidate == dtype:
            return name
    return str(dtype)
