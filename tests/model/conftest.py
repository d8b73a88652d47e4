"""Session fixtures for the trainer's tests (helpers live in trainer_testdata.py)."""

from pathlib import Path

import pytest
from trainer_testdata import SHAKESPEARE, paragraphs, read_text, write_shards


@pytest.fixture(scope="session")
def shakespeare_text() -> str:
    return read_text(SHAKESPEARE)


@pytest.fixture(scope="session")
def shakespeare_out(tmp_path_factory, shakespeare_text) -> Path:
    """A curated-output folder OUT/data/ of Shakespeare's paragraphs (split by id hash)."""
    out = tmp_path_factory.mktemp("shakespeare_out")
    write_shards(out / "data", paragraphs(shakespeare_text), prefix="shakespeare")
    return out
