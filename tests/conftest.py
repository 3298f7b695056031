"""Shared test setup: every test starts from deepgrad's defaults and a fixed seed."""

import sys

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
