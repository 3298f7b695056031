"""Training steps of two MLPs in deepgrad and PyTorch eager, in one run (issue 3's goals):

(a) 784-512-256-10, ReLU, cross-entropy, SGD momentum 0.9, batch 128 (goal: >= 1.0x torch's speed)
(b) 2-16-16-1, tanh, BCE with logits, SGD, batch 32 (goal: >= 1.5x torch's speed)

Each step is zero_grad, forward, loss, backward, optimizer step. Peak memory is how far the
process's resident set rises above its starting point during the steps (a fresh process each).

    python benchmarks/mlp_step.py
"""

from __future__ import annotations

import numpy as np
from harness import compare, peak_memory_mb, report, training_steps, try_import_torch

CASES = {
    "a": dict(sizes=[784, 512, 256, 10], act="relu", batch=128, loss="ce", momentum=0.9),
    "b": dict(sizes=[2, 16, 16, 1], act="tanh", batch=32, loss="bce", momentum=0.0),
}
STEPS = 20


def build(nn, sizes, act):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU() if act == "relu" else nn.Tanh())
    return nn.Sequential(*layers)


def data(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["batch"], case["sizes"][0])).astype(np.float32)
    if case["loss"] == "ce":
        y = rng.integers(0, case["sizes"][-1], case["batch"])
    else:
        y = (rng.random((case["batch"], 1)) < 0.5).astype(np.float32)
    return x, y


def stepper(lib, case):
    """A function running STEPS training steps in lib (deepgrad or torch)."""
    model = build(lib.nn, case["sizes"], case["act"])
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=case["momentum"])
    loss_fn = lib.nn.CrossEntropyLoss() if case["loss"] == "ce" else lib.nn.BCEWithLogitsLoss()
    x0, y0 = data(case)
    return training_steps(model, opt, loss_fn, lib.from_numpy(x0), lib.from_numpy(y0), STEPS)


def peak_rss_mb(framework: str, case_name: str) -> float:
    """Peak resident memory above the start (MB) during STEPS steps, in a fresh process."""
    setup = (f"import mlp_step\nrun = mlp_step.stepper(__import__({framework!r}), "
             f"mlp_step.CASES[{case_name!r}])")
    return peak_memory_mb(setup, framework)["rss"]


def main() -> list:
    import deepgrad as dg

    torch = try_import_torch()
    results = []
    for name, case in CASES.items():
        dg_s, torch_s = compare(stepper(dg, case), stepper(torch, case) if torch else None)
        dg_s, torch_s = dg_s / STEPS, (torch_s / STEPS if torch else None)
        sizes = "-".join(map(str, case["sizes"]))
        title = f"MLP ({name}) {sizes} {case['act']}, batch {case['batch']}"
        result = report(title + ": one training step", dg_s, torch_s, unit="step")
        if torch:
            result["speed_vs_torch"] = torch_s / dg_s
            mem = {fw: peak_rss_mb(fw, name) for fw in ("deepgrad", "torch")}
            print(f"  peak memory above start during {STEPS} steps: deepgrad "
                  f"{mem['deepgrad']:.1f} MB, torch {mem['torch']:.1f} MB")
            result["peak_mb"] = mem
        results.append(result)
    return results


if __name__ == "__main__":
    main()
