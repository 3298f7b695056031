"""Shared test setup: every test starts from deepgrad's defaults and a fixed seed."""

import sys
from pathlib import Path

import pytest

import deepgrad as dg


@pytest.fixture(autouse=True)
def fresh_state():
    """Seed 0, float32 default, grad mode on; restored after the test whatever it changed."""
    dg.manual_seed(0)
    yield
    dg.set_default_dtype(dg.float32)
    dg.set_grad_enabled(True)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)


# -- the real data sets staged beside the repository, in <repo root>/../shared/datasets --------
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    """The folder holding mnist/, fashion-mnist/ and tinyshakespeare/; skips the test if absent."""
    if not (SHARED_DATASETS / "mnist").is_dir():
        pytest.skip(f"no shared datasets at {SHARED_DATASETS} (see shared/datasets/README.md)")
    return SHARED_DATASETS
