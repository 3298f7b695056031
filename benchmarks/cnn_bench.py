"""Shared pieces of the convolutional training-step benchmarks (``mnist_cnn_step.py``,
``resnet_step.py``): weights copied from deepgrad into torch, a stepper, peak memory, and a
per-component time breakdown of one deepgrad step from cProfile.

Peak memory is measured in a fresh process per framework: for deepgrad, the peak of
``tracemalloc`` (NumPy reports its array buffers to it) and, for both, how far the resident set
rises above its starting point (Linux resets the peak-RSS counter when "5" is written to
/proc/self/clear_refs), as ``mlp_step.py`` does.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np


def copy_weights(dg_model, torch_model) -> None:
    """Load deepgrad's initial parameters and buffers into the torch model (same names)."""
    import torch

    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in dg_model.state_dict().items()}
    torch_model.load_state_dict(state)


def set_threads(n, torch) -> None:
    """Give both frameworks n threads for their matrix products (None: leave the defaults)."""
    import deepgrad as dg

    if n is not None:
        dg.backend.set_num_threads(n)
        if torch is not None:
            torch.set_num_threads(n)
    convs = "oneDNN" if dg.onednn.available() else "deepgrad's own"
    print(f"threads: deepgrad {dg.backend.get_num_threads()} (GEMM: {dg.backend.gemm_library()}, "
          f"convolutions: {convs})" + (f", torch {torch.get_num_threads()}" if torch else ""))


def compare_cpu(deepgrad_fn, torch_fn, blocks: int = 5) -> tuple:
    """Like harness.compare (alternating blocks, best of each), timed by the process's CPU
    time instead of the wall clock: with one thread per framework this counts each one's work
    and not the time other jobs on a shared machine take the core away."""
    best = [float("inf"), float("inf")]
    for _ in range(blocks):
        for i, fn in enumerate((deepgrad_fn, torch_fn)):
            if fn is None:
                continue
            fn()
            start = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - start)
    return best[0], (best[1] if torch_fn is not None else None)


def timed(args, deepgrad_fn, torch_fn) -> tuple:
    """Best seconds per call of each framework, by wall clock or (--cpu-time) CPU time."""
    if args.cpu_time:
        print("timing: process CPU time (best of 5 alternating blocks)")
        return compare_cpu(deepgrad_fn, torch_fn)
    from harness import compare

    print("timing: wall clock (best of 5 alternating blocks)")
    return compare(deepgrad_fn, torch_fn, blocks=5, per_block=1)


def add_options(parser) -> None:
    parser.add_argument("--profile", action="store_true", help="time deepgrad's components")
    parser.add_argument("--threads", type=int, help="threads for both frameworks (default: "
                        "each one's own; 1 is the fair choice on a machine busy with other jobs)")
    parser.add_argument("--cpu-time", action="store_true", help="time by process CPU time "
                        "(meaningful with --threads 1 on a shared machine)")
    parser.add_argument("--saved-cols-mb", type=int, help="deepgrad's cap on the im2col "
                        "matrices kept for backward (ops.conv.set_saved_cols_limit), in MiB")


def data(batch: int, shape: tuple, classes: int = 10):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((batch, *shape)).astype(np.float32),
            rng.integers(0, classes, batch))


def stepper(lib, model, optimizer, x0, y0, steps: int):
    """A function running ``steps`` training steps (zero_grad, forward, loss, backward, step)."""
    from harness import training_steps

    return training_steps(model, optimizer, lib.nn.CrossEntropyLoss(), lib.from_numpy(x0),
                          lib.from_numpy(y0), steps)


def peak_memory_mb(module: str, framework: str, steps: int, saved_cols_mb=None) -> dict:
    """harness.peak_memory_mb of ``steps`` steps of ``module.build(framework)``."""
    from harness import peak_memory_mb as measure

    limit = "" if saved_cols_mb is None else (
        f"from deepgrad.ops.conv import set_saved_cols_limit; "
        f"set_saved_cols_limit({saved_cols_mb} << 20)\n")
    return measure(f"{limit}import {module} as bench\nrun = bench.build({framework!r}, {steps})",
                   framework)


# (category, test on (file, class-qualified function name)); the first match wins. NumPy's
# matmul is an operator, not a profiled call: a GEMM's time is the self time of its caller, and
# so is the time of deepgrad's blas.gemm (BLAS through ctypes) and of its compiled kernels.
CATEGORIES = [
    ("conv kernels (oneDNN)", lambda f, n: f.endswith("deepgrad/onednn.py")),
    ("im2col (copies, padding)", lambda f, n: f.endswith("ops/conv.py") and n in (
        "_cols", "_channels_last", "_zero_border")),
    ("col2im", lambda f, n: f.endswith("ops/conv.py") and n == "_col2im"),
    ("conv GEMMs (and their reshapes)", lambda f, n: f.endswith("ops/conv.py")),
    ("pooling", lambda f, n: f.endswith("ops/pool.py")),
    ("batch norm", lambda f, n: f.endswith("ops/norm.py") or f.endswith("normalization.py")),
    ("linear layers", lambda f, n: f.endswith("ops/linalg.py")),
    ("relu", lambda f, n: f.endswith("ops/elementwise.py") and n.startswith("ReLU.")),
    ("optimizer", lambda f, n: "/optim/" in f),
    ("autograd engine", lambda f, n: "/autograd/" in f),
]
REST = "rest (other ops, NumPy helpers)"


def main(argv, description: str, title: str, module: str, build, steps: int) -> dict:
    """The whole benchmark of one network's training step: time both frameworks (``build``
    makes a runner of ``steps`` steps), print steps/s and the ratio, measure peak memory in a
    fresh process (``module`` is the benchmark's module name), and profile on ``--profile``."""
    from harness import report, try_import_torch

    parser = argparse.ArgumentParser(description=description)
    add_options(parser)
    args = parser.parse_args(argv)
    torch = try_import_torch()
    set_threads(args.threads, torch)
    if args.saved_cols_mb is not None:
        from deepgrad.ops.conv import set_saved_cols_limit

        set_saved_cols_limit(args.saved_cols_mb << 20)
    dg_s, torch_s = timed(args, build("deepgrad"), build("torch") if torch else None)
    dg_s, torch_s = dg_s / steps, (torch_s / steps if torch else None)
    result = report(f"{title}: one training step", dg_s, torch_s, unit="step")
    print(f"  steps/s: deepgrad {1 / dg_s:.2f}" + (f", torch {1 / torch_s:.2f}; speed "
                                                   f"deepgrad/torch = {torch_s / dg_s:.2f}x"
                                                   if torch else ""))
    mem = {"deepgrad": peak_memory_mb(module, "deepgrad", steps, args.saved_cols_mb)}
    if torch:
        mem["torch"] = peak_memory_mb(module, "torch", steps)
    print(f"  peak memory during {steps} steps: deepgrad {mem['deepgrad']['traced']:.0f} MB "
          f"traced by tracemalloc ({mem['deepgrad']['rss']:.0f} MB resident above start)"
          + (f", torch {mem['torch']['rss']:.0f} MB resident above start" if torch else ""))
    result["peak_mb"] = mem
    if args.profile:
        breakdown(build("deepgrad"), steps)
    return result


def breakdown(run, steps: int) -> None:
    """Print where one deepgrad step's time goes: cProfile self time grouped by component
    (NumPy helpers such as ``copyto`` or ``einsum`` are charged to their caller's group)."""
    run()  # warm up
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    stats = pstats.Stats(profile).stats
    totals = dict.fromkeys([name for name, _ in CATEGORIES] + [REST], 0.0)
    for func, (_, _, self_time, _, _) in stats.items():
        _charge(totals, func, self_time, stats)
    whole = sum(totals.values())
    print(f"  deepgrad time per step by component (cProfile self time over {steps} steps; "
          f"{whole / steps * 1e3:.0f} ms per profiled step):")
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"    {name:34s} {seconds / steps * 1e3:8.1f} ms  {100 * seconds / whole:5.1f}%")


def _charge(totals, func, seconds, stats, depth=0) -> None:
    """Add a profiled function's self time to its group; a built-in, NumPy function,
    blas.gemm or compiled kernel (ops/fused*.py) has no group of its own and shares its time
    among its callers' groups (in proportion to the time each caller's calls took)."""
    filename, line, function = func
    helper = "site-packages" in filename or filename == "~" or not filename.endswith(".py") \
        or (filename.endswith("deepgrad/blas.py") and function == "gemm") \
        or filename.endswith(("deepgrad/ops/fused.py", "deepgrad/ops/fused_kernels.py"))
    if not helper:
        name = _qualname(filename, line, function)
        totals[next((group for group, test in CATEGORIES if test(filename, name)), REST)] += \
            seconds
        return
    callers = {c: t for c, t in stats[func][4].items() if isinstance(t, tuple)} \
        if func in stats and depth < 8 else {}
    share = sum(t[2] for t in callers.values())
    if not callers or share <= 0:
        totals[REST] += seconds
        return
    for caller, t in callers.items():
        _charge(totals, caller, seconds * t[2] / share, stats, depth + 1)


_LINES: dict = {}


def _qualname(filename: str, line: int, function: str) -> str:
    """``Class.function`` for a method (the class enclosing its line), else the function."""
    if filename not in _LINES:
        try:
            with open(filename) as f:
                _LINES[filename] = f.read().splitlines()
        except OSError:
            _LINES[filename] = []
    for text in reversed(_LINES[filename][:line]):
        if text.startswith("class "):
            return text[6:].split("(")[0].split(":")[0] + "." + function
        if text.startswith("def "):
            return function
    return function
