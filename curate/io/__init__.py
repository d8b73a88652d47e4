"""Readers, the Parquet shard writer with its schema and per-shard statistics, the manifest and funnel."""
