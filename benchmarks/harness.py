"""Time the same workload in deepgrad and PyTorch in one run and print the ratio."""

from __future__ import annotations

import statistics
import time


def best_time(fn, repeat: int = 7, warmup: int = 2) -> float:
    """Median seconds of fn() over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
