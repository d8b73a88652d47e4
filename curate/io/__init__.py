"""Readers, the Parquet shard writer with its schema and sidecar stats, the manifest and funnel."""
