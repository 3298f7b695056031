"""backend: the malloc tuning applied at import (and its opt-out) and the memory-layout helpers.
BLAS (GEMM, threads) is tested in test_blas.py."""

import platform
import sys

import numpy as np
import pytest
from harness import in_fresh_process

from deepgrad import backend

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _tuned_in_fresh_process(env_value):
    return in_fresh_process("b.MALLOC_TUNED", "DEEPGRAD_MALLOC_TUNING", env_value)


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc Linux only")
def test_malloc_tuning_applies_on_glibc_and_can_be_turned_off():
    assert _tuned_in_fresh_process(None) == "True"
    assert _tuned_in_fresh_process("1") == "True"
    assert _tuned_in_fresh_process("0") == "False"


def test_full_in_order_keeps_a_layout():
    channels_last = np.zeros((2, 5, 4, 3), np.float32).transpose(0, 3, 1, 2)  # (N, C, H, W)
    order = backend.memory_order(channels_last)
    assert order == (0, 2, 3, 1)
    z = backend.full_in_order(channels_last.shape, 0, np.float32, order)
    assert z.shape == channels_last.shape and z.strides == channels_last.strides
    assert not z.any()
    assert backend.memory_order(np.zeros((3, 4))) == (0, 1)
    f = backend.full_in_order(channels_last.shape, -np.inf, np.float32, order)
    assert f.strides == channels_last.strides and (f == -np.inf).all()
