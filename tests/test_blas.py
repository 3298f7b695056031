"""blas: the GEMM (MKL where the optional package is installed, else NumPy's OpenBLAS, else
NumPy's matmul), the thread count, and MKL's hand-over of the threads."""

import os
import subprocess
import sys

import numpy as np
import pytest
from harness import in_fresh_process

import deepgrad as dg
from deepgrad import backend, blas


def test_set_num_threads_round_trip_and_errors():
    before = backend.get_num_threads()
    assert before >= 1
    if blas._OPENBLAS is None and blas._MKL is None:
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
    if blas._OPENBLAS is None:
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


def _library_in_fresh_process(env_value):
    return in_fresh_process("b.gemm_library()", "DEEPGRAD_MKL", env_value)


def _mkl_installed() -> bool:
    from importlib import metadata
    try:
        metadata.version("mkl")
    except metadata.PackageNotFoundError:
        return False
    return sys.platform.startswith("linux")


def test_gemm_library_is_mkl_where_installed_and_can_be_turned_off():
    fallback = "openblas" if blas._OPENBLAS is not None else "numpy"
    assert _library_in_fresh_process(None) == ("mkl" if _mkl_installed() else fallback)
    assert _library_in_fresh_process("0") == fallback


def _operands(rng, dtype):
    """(a, b) pairs covering each BLAS layout (rows, columns, padded rows) and some it cannot
    read in place (every other column; a broadcast)."""
    a = rng.standard_normal((7, 12)).astype(dtype)
    b = rng.standard_normal((12, 5)).astype(dtype)
    wide = rng.standard_normal((7, 20)).astype(dtype)
    yield a, b
    yield np.ascontiguousarray(a.T).T, b
    yield a, np.ascontiguousarray(b.T).T
    yield wide[:, 3:15], b[:, ::-1]
    yield wide[:, ::2][:, :6], b[:6]
    yield a, np.broadcast_to(b[:1], (12, 5))


@pytest.fixture
def blas_for_small_products(monkeypatch):
    """BLAS for the small products of these tests (NumPy otherwise takes them: it is faster)."""
    monkeypatch.setattr(blas, "_GEMM_MIN_WORK", 0)


@pytest.mark.usefixtures("blas_for_small_products")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_numpy_for_every_layout(dtype):
    rng = np.random.default_rng(0)
    for a, b in _operands(rng, dtype):
        expected = a.astype(np.float64) @ b.astype(np.float64)
        got = blas.gemm(a, b)
        assert got.dtype == dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        out = np.full(expected.shape, np.nan, dtype)
        assert blas.gemm(a, b, out=out) is out
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        wide_out = np.ones((expected.shape[0], 9), dtype)  # rows of out padded; added to
        assert blas.gemm(a, b, out=wide_out[:, 2:7], accumulate=True).base is wide_out
        np.testing.assert_allclose(wide_out[:, 2:7], expected + 1, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(wide_out[:, :2], 1)
        transposed_out = np.zeros(expected.shape[::-1], dtype).T  # columns: NumPy's path
        blas.gemm(a, b, out=transposed_out, accumulate=True)
        np.testing.assert_allclose(transposed_out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("blas_for_small_products")
def test_gemm_edge_cases_fall_back_to_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(blas.gemm(a, b), a @ b)  # mixed dtypes: NumPy's promotion
    assert blas.gemm(np.ones((0, 3), np.float32), np.ones((3, 2), np.float32)).shape == (0, 2)
    np.testing.assert_array_equal(
        blas.gemm(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32)), np.zeros((2, 3)))
    ints = blas.gemm(np.arange(6).reshape(2, 3), np.arange(3).reshape(3, 1))
    np.testing.assert_array_equal(ints, [[5], [14]])
    with pytest.raises(ValueError):
        blas.gemm(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))
    square = rng.standard_normal((5, 5)).astype(np.float32)
    expected = square @ square
    np.testing.assert_allclose(blas.gemm(square, square, out=square), expected, rtol=1e-5)


@pytest.mark.usefixtures("blas_for_small_products")
def test_conv_and_linear_agree_with_and_without_blas(monkeypatch):
    """The layers give the same numbers through either GEMM (here: the BLAS found, and NumPy's
    matmul with it switched off)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 16, 16)).astype(np.float32)

    def step():  # the first convolution runs by kernel offsets (accumulating GEMMs)
        dg.manual_seed(0)
        net = dg.nn.Sequential(dg.nn.Conv2d(8, 8, 3, padding=1), dg.nn.ReLU(),
                               dg.nn.Conv2d(8, 4, 3, stride=2), dg.nn.Flatten(),
                               dg.nn.Linear(196, 5))
        xt = dg.tensor(x, requires_grad=True)
        (net(xt) ** 2).mean().backward()
        return [xt.grad.numpy()] + [p.grad.numpy() for p in net.parameters()]

    default = step()
    monkeypatch.setattr(blas, "_GEMMS", {})
    for got, expected in zip(step(), default):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not _mkl_installed(), reason="the optional mkl package is not installed")
def test_mkl_takes_the_thread_count_and_openblas_keeps_one():
    # in a fresh process: PyTorch, imported by the tests, shares GNU OpenMP with MKL and its
    # set_num_threads caps MKL's threads too
    code = ("import deepgrad.backend as b; b.set_num_threads(2); "
            "import deepgrad.blas as blas; "
            "print(b.get_num_threads(), blas._OPENBLAS.scipy_openblas_get_num_threads64_())")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DEEPGRAD_MKL", "MKL_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.split() == ["2", "1"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_computes_without_hanging():
    """OpenMP's threads (MKL's, oneDNN's, the compiled kernels') do not survive fork: a child
    of a process that used them on two threads runs a GEMM, a convolution, batch norm and ReLU
    on one thread and deepgrad's own paths, with the parent's results; the compiled kernels
    called directly there refuse with an error instead of hanging."""
    import signal

    import deepgrad.nn.functional as F
    from deepgrad.ops import fused

    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal((8, 16, 28, 28)).astype(np.float32))
    w = dg.tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32))
    a = rng.standard_normal((512, 512)).astype(np.float32)

    def compute():
        y = F.relu(F.batch_norm(F.conv2d(x, w, padding=1), None, None, training=True))
        return y.numpy(), blas.gemm(a, a)

    before = backend.get_num_threads()
    backend.set_num_threads(2)
    try:
        y, p = compute()  # the parent's thread pools are running
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 only if all is right
            signal.alarm(60)  # a hang ends the child, and fails the test
            ok = False
            try:
                cy, cp = compute()
                ok = np.allclose(cy, y, rtol=1e-4, atol=1e-4) and np.allclose(cp, p, rtol=1e-4)
                ok = ok and backend.get_num_threads() == 1
                if fused._compiles():
                    try:
                        fused.relu(np.ones(4, np.float32), np.empty(4, np.float32))
                        ok = False
                    except RuntimeError as error:
                        ok = ok and "forked child" in str(error)
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        backend.set_num_threads(before)
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(compute()[0], y)  # the parent's pools still work
