"""The real data sets staged beside the repository, in ``<repo root>/../shared/datasets``."""

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    """The folder holding mnist/, fashion-mnist/ and tinyshakespeare/; skips the test if absent."""
    if not (SHARED_DATASETS / "mnist").is_dir():
        pytest.skip(f"no shared datasets at {SHARED_DATASETS} (see shared/datasets/README.md)")
    return SHARED_DATASETS
