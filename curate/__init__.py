"""curate: clean, deduplicated, privacy-redacted, leak-free train/val/test Parquet shards from raw web pages
and text, on datatrove.

    from curate import Pipeline
    result = Pipeline.from_yaml("pipelines/web.yaml").run(output="out/web")
    print(result.manifest["funnel"])
"""

__version__ = "0.1.0"

from curate.pipeline import Pipeline, RunResult  # noqa: E402

__all__ = ["Pipeline", "RunResult", "__version__"]
