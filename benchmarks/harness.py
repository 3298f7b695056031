"""Time the same workload in deepgrad and PyTorch in one run and print the ratio."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time


def best_time(fn, repeat: int = 7, warmup: int = 2) -> float:
    """Median seconds of fn() over `repeat` runs after `warmup` runs (one framework alone)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(deepgrad_fn, torch_fn, blocks: int = 3, per_block: int = 5) -> tuple:
    """Best seconds of one call of each, timed in alternating blocks of calls.

    Alternating spreads the drift of a shared machine over both frameworks; whole blocks, each
    begun with an untimed call, let the other framework's worker threads go idle first (their
    spinning would otherwise be charged to this one).
    """
    if torch_fn is None:
        return best_time(deepgrad_fn, blocks * per_block), None
    best = [float("inf"), float("inf")]
    for _ in range(blocks):
        for i, fn in enumerate((deepgrad_fn, torch_fn)):
            fn()
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def training_steps(model, optimizer, loss_fn, x, y, steps: int):
    """A function running ``steps`` training steps (zero_grad, forward, loss, backward, step) on
    one batch; the same loop serves deepgrad and torch."""

    def run():
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()

    return run


def try_import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def report(name: str, deepgrad_s: float, torch_s: float | None, unit: str = "run") -> dict:
    """Print one line per framework and the time ratio; return the numbers."""
    print(f"{name}")
    print(f"  deepgrad: {deepgrad_s * 1e3:9.3f} ms per {unit}")
    result = {"benchmark": name, "deepgrad_s": deepgrad_s, "torch_s": torch_s}
    if torch_s is None:
        print("  torch:    not installed (pip install torch==2.13.0 to compare)")
        return result
    print(f"  torch:    {torch_s * 1e3:9.3f} ms per {unit}")
    ratio = deepgrad_s / torch_s
    print(f"  time ratio deepgrad/torch = {ratio:.2f}  (speed = {1 / ratio:.2f}x torch)")
    result["time_ratio"] = ratio
    return result


def peak_memory_mb(setup: str, framework: str) -> dict:
    """Peak memory of ``run()`` in a fresh process, where ``setup`` (code, with the benchmarks
    folder on the path) defines ``run``: {"rss": MB of resident memory above the start} and, for
    deepgrad, "traced": tracemalloc's peak of its arrays in MB. deepgrad's compiled kernels and
    oneDNN are loaded before the start, as torch's come compiled and loaded at import. (Linux
    resets the peak-RSS counter when "5" is written to /proc/self/clear_refs.)"""
    traced = framework == "deepgrad"
    code = f"""
import sys, json, tracemalloc
sys.path.insert(0, {json.dumps(os.path.dirname(os.path.abspath(__file__)))})
{setup}
if {traced}:
    from deepgrad import onednn
    from deepgrad.ops import fused
    fused.warm_up()
    onednn.available()
def kb(field):
    lines = open("/proc/self/status").read().splitlines()
    return next(int(line.split()[1]) for line in lines if line.startswith(field))
start = kb("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
if {traced}:
    tracemalloc.start()
run()
out = {{"rss": (kb("VmHWM:") - start) / 1024}}
if {traced}:
    out["traced"] = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps(out))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
