"""Shared test setup: every test starts from deepgrad's defaults and a fixed seed."""

import sys
from pathlib import Path

import pytest

import deepgrad as dg


def pytest_configure(config):
    """Each test process does its matrix products on one thread: under ``pytest -n 2`` two
    processes share the cores, and BLAS pools larger than a process's share spend their time
    waiting for each other (measured: a product 250x slower on an oversubscribed machine)."""
    if dg.get_num_threads() > 1:
        dg.set_num_threads(1)
    try:  # the oracle, where installed (deepgrad itself never imports it)
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


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


@pytest.fixture
def without_onednn(monkeypatch):
    """deepgrad's own convolution code (im2col, kernel offsets) instead of oneDNN's kernels,
    where the optional onednn package is installed."""
    from deepgrad import onednn

    monkeypatch.setattr(onednn, "available", lambda: False)


# -- the real data sets staged beside the repository, in <repo root>/../shared/datasets --------
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def datasets_root() -> Path:
    """The folder holding mnist/, fashion-mnist/ and tinyshakespeare/; skips the test if absent."""
    if not (SHARED_DATASETS / "mnist").is_dir():
        pytest.skip(f"no shared datasets at {SHARED_DATASETS} (see shared/datasets/README.md)")
    return SHARED_DATASETS
