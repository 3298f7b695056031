"""oneDNN's convolution kernels (deepgrad/onednn.py, the optional onednn-cpu-gomp package): the
same results as deepgrad's own code on the shapes of real networks, the cases it leaves to that
code, errors, threads, and turning it off. (The float32 oracle tests of tests/nn/test_conv.py
run every convolution option through it as well.)"""

import gc

import numpy as np
import pytest
from harness import in_fresh_process

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import blas, onednn

pytestmark = pytest.mark.skipif(not onednn.available(),
                                reason="the optional onednn-cpu-gomp package is not installed")


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def conv_step(fn, x, w, b, g, **options):
    """Whether oneDNN ran it, and the output and gradients of x, w and b for an output
    gradient g."""
    tx, tw, tb = (dg.tensor(a, requires_grad=True) for a in (x, w, b))
    y = fn(tx, tw, tb, **options)
    by_onednn = y.grad_fn.plan is not None  # (backward releases what the node holds)
    y.backward(dg.tensor(g))
    return by_onednn, [y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]


# a ResNet-20's three stages and its stride-2 convolution, the MNIST network's two, a 1-d and a
# grouped, dilated one
SHAPES = [((8, 16, 28, 28), (16, 16, 3, 3), dict(padding=1)),
          ((8, 32, 14, 14), (32, 32, 3, 3), dict(padding=1)),
          ((8, 64, 7, 7), (64, 64, 3, 3), dict(padding=1)),
          ((8, 16, 28, 28), (32, 16, 3, 3), dict(padding=1, stride=2)),
          ((8, 1, 28, 28), (32, 1, 3, 3), {}),
          ((8, 32, 26, 26), (64, 32, 3, 3), {}),
          ((4, 6, 30), (8, 3, 5), dict(padding=2, dilation=2, groups=2)),
          ((2, 4, 5, 6, 7), (6, 4, 3, 3, 3), dict(padding=1))]


@pytest.mark.parametrize("x_shape, w_shape, options", SHAPES)
def test_matches_deepgrads_own_code(x_shape, w_shape, options, monkeypatch):
    fn = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(x_shape)]
    x, w, b = rand(*x_shape), rand(*w_shape, seed=1), rand(w_shape[0], seed=2)
    y = fn(dg.tensor(x), dg.tensor(w), dg.tensor(b), **options)
    g = rand(*y.shape, seed=3)
    used, by_onednn = conv_step(fn, x, w, b, g, **options)
    assert used
    monkeypatch.setattr(onednn, "available", lambda: False)
    used, own = conv_step(fn, x, w, b, g, **options)
    assert not used
    for got, expected, what in zip(by_onednn, own, ("out", "gx", "gw", "gb")):
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale, err_msg=what)


def test_transposed_convolution_matches_deepgrads_own_code(monkeypatch):
    """A DCGAN generator's upsampling layer: the adjoint convolution's kernels run it."""
    x, w, b = rand(8, 64, 7, 7), rand(64, 32, 4, 4, seed=1), rand(32, seed=2)
    options = dict(stride=2, padding=1)
    g = rand(8, 32, 14, 14, seed=3)
    used, by_onednn = conv_step(F.conv_transpose2d, x, w, b, g, **options)
    assert used
    monkeypatch.setattr(onednn, "available", lambda: False)
    used, own = conv_step(F.conv_transpose2d, x, w, b, g, **options)
    assert not used
    for got, expected in zip(by_onednn, own):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_cases_left_to_deepgrads_own_code():
    """float64, an empty batch, and a transposed convolution whose output padding reaches the
    stride (its adjoint's output size would not give back the input's) run deepgrad's code."""
    w = dg.tensor(rand(4, 3, 3, 3), requires_grad=True)
    assert F.conv2d(dg.tensor(rand(2, 3, 6, 6)), w).grad_fn.plan is not None
    x64 = dg.tensor(rand(2, 3, 6, 6, dtype=np.float64), requires_grad=True)
    assert F.conv2d(x64, dg.tensor(rand(4, 3, 3, 3, dtype=np.float64))).grad_fn.plan is None
    empty = dg.tensor(np.zeros((0, 3, 6, 6), np.float32), requires_grad=True)
    assert F.conv2d(empty, w).grad_fn.plan is None
    xt = dg.tensor(rand(2, 4, 3, 3), requires_grad=True)
    y = F.conv_transpose2d(xt, dg.tensor(rand(4, 2, 2, 2)), dilation=3, output_padding=2)
    assert y.grad_fn.plan is None


def test_a_geometry_with_only_the_reference_kernel_falls_back(monkeypatch):
    """Where oneDNN offers only its slow reference kernel, no plan: deepgrad's own code runs."""
    onednn._plan.cache_clear()
    monkeypatch.setattr(onednn.ConvPlan, "fast", lambda self: False)
    try:
        y = F.conv2d(dg.tensor(rand(2, 3, 6, 6), requires_grad=True), dg.tensor(rand(4, 3, 3, 3)))
        assert y.grad_fn.plan is None
    finally:
        onednn._plan.cache_clear()


def test_plans_are_cached_and_freed():
    args = ((2, 3, 6, 6), (4, 3, 3, 3), (4, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, False)
    plan = onednn.conv_plan(*args)
    assert onednn.conv_plan(*args) is plan
    assert plan.fwd.impl() and plan.fast()
    del plan
    onednn._plan.cache_clear()
    gc.collect()  # the plan's oneDNN objects are destroyed without error
    assert onednn.conv_plan(*args) is not None


def test_arrays_that_do_not_fit_the_kernel_are_refused():
    """The kernels read raw pointers: a wrong dtype, layout or size is an error, not a crash."""
    plan = onednn.conv_plan((2, 3, 6, 6), (4, 3, 3, 3), (4, 4), (1, 1), ((0, 0), (0, 0)),
                            (1, 1), 1, False)
    w = rand(4, 3, 3, 3)
    for x in (rand(2, 6, 6, 3, dtype=np.float64), rand(2, 6, 6, 2), rand(2, 6, 6, 6)[..., ::2]):
        with pytest.raises(ValueError, match=r"oneDNN .*: argument 1 must be a C-contiguous "
                                             r"float32 array of 864 bytes"):
            plan.forward(x, w)


def test_in_a_forked_child_it_steps_aside(monkeypatch):
    """(Simulated: test_blas forks for real.) No plans, and a plan made before the fork refuses
    to run rather than wait for threads that are gone."""
    plan = onednn.conv_plan((2, 3, 6, 6), (4, 3, 3, 3), (4, 4), (1, 1), ((0, 0), (0, 0)),
                            (1, 1), 1, False)
    monkeypatch.setattr(blas, "_FORKED", [True])
    assert not onednn.available()
    with pytest.raises(onednn.OneDNNError, match="cannot run in a forked child process"):
        plan.forward(rand(2, 6, 6, 3), rand(4, 3, 3, 3))


def test_a_failed_call_names_the_function():
    lib = onednn._library()
    with pytest.raises(onednn.OneDNNError, match="dnnl_primitive_create failed with status"):
        lib.create("dnnl_primitive_create", None)


def test_threads_follow_set_num_threads():
    """oneDNN runs on GNU OpenMP's threads: set_num_threads sets their count as well."""
    before = dg.get_num_threads()
    try:
        dg.set_num_threads(2)
        assert blas._GOMP.omp_get_max_threads() == 2
        dg.set_num_threads(1)
        assert blas._GOMP.omp_get_max_threads() == 1
    finally:
        dg.set_num_threads(before)


def test_openmp_takes_openblas_thread_count_at_start(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert in_fresh_process("__import__('deepgrad').blas._GOMP.omp_get_max_threads()",
                            "OPENBLAS_NUM_THREADS", "1") == "1"


def test_turned_off_by_the_environment():
    assert in_fresh_process("__import__('deepgrad').onednn.available()",
                            "DEEPGRAD_ONEDNN", "0") == "False"
    assert in_fresh_process("__import__('deepgrad').onednn.available()",
                            "DEEPGRAD_ONEDNN", None) == "True"


def test_resnet_layer_keeps_only_its_input_for_backward():
    """The oneDNN path saves the (channels-last) input, no im2col matrix."""
    x = dg.tensor(rand(2, 16, 28, 28), requires_grad=True)
    y = F.conv2d(x, dg.tensor(rand(16, 16, 3, 3), requires_grad=True), padding=1)
    fn = y.grad_fn
    assert fn.cols is None and fn.x.shape == (2, 28, 28, 16) and fn.x.flags.c_contiguous
    assert np.moveaxis(y.detach().numpy(), 1, -1).flags.c_contiguous  # the output is channels-last
    z = F.conv2d(y, dg.tensor(rand(16, 16, 3, 3)), padding=1)
    assert np.shares_memory(z.grad_fn.x, y.detach().numpy())  # which the next layer saves as it is
