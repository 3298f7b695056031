"""backend: the malloc tuning applied at import (and its opt-out) and the BLAS thread count."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _tuned_in_fresh_process(env_value):
    env = dict(os.environ)
    env.pop("DEEPGRAD_MALLOC_TUNING", None)
    if env_value is not None:
        env["DEEPGRAD_MALLOC_TUNING"] = env_value
    out = subprocess.run([sys.executable, "-c",
                          "import deepgrad.backend as b; print(b.MALLOC_TUNED)"],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="malloc tuning applies to glibc Linux only")
def test_malloc_tuning_applies_on_glibc_and_can_be_turned_off():
    assert _tuned_in_fresh_process(None) == "True"
    assert _tuned_in_fresh_process("1") == "True"
    assert _tuned_in_fresh_process("0") == "False"


def test_set_num_threads_round_trip_and_errors():
    before = backend.get_num_threads()
    assert before >= 1
    if backend._OPENBLAS is None:
        with pytest.raises(RuntimeError, match="set_num_threads"):
            backend.set_num_threads(1)
        return
    try:
        backend.set_num_threads(1)
        assert backend.get_num_threads() == 1
        a = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
        np.testing.assert_allclose(a @ a.T, a.astype(np.float64) @ a.T, rtol=1e-4, atol=1e-3)
    finally:
        backend.set_num_threads(before)
    assert backend.get_num_threads() == before
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"set_num_threads: expected a positive int"):
            backend.set_num_threads(bad)


def test_training_step_unchanged_by_thread_count():
    """A conv step gives the same numbers on one thread as on the default pool."""
    if backend._OPENBLAS is None:
        pytest.skip("NumPy's OpenBLAS not found")
    before = backend.get_num_threads()
    results = []
    try:
        for n in (1, before):
            backend.set_num_threads(n)
            dg.manual_seed(0)
            conv = dg.nn.Conv2d(3, 8, 3, padding=1)
            x = dg.tensor(np.random.default_rng(1).standard_normal((4, 3, 9, 9))
                          .astype(np.float32))
            (conv(x) ** 2).mean().backward()
            results.append(conv.weight.grad.numpy().copy())
    finally:
        backend.set_num_threads(before)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
