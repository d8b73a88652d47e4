from pathlib import Path

import pytest

from pipeline_helpers import shared


@pytest.fixture(scope="session")
def trafilatura_pages() -> list[Path]:
    root = shared("extraction", "trafilatura-eval")
    return sorted(root.glob("eval/*.html.gz")) + sorted(root.glob("cache/*.html.gz"))


@pytest.fixture(scope="session")
def page_warcs(tmp_path_factory, trafilatura_pages) -> Path:
    """The 1,033 trafilatura-eval pages packed as 5 WARC files."""
    from curate.io.warc_pack import pack_html_to_warc

    out = tmp_path_factory.mktemp("page_warcs")
    pack_html_to_warc(trafilatura_pages, out, records_per_file=210, root=trafilatura_pages[0].parents[1])
    return out
