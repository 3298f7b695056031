"""Training steps of a character-level LSTM language model in deepgrad and PyTorch eager.

Embedding(65, 64) -> LSTM(64, 256), 1 layer, batch_first -> Linear(256, 65); sequences of 64
tokens, batch 32, cross-entropy over every position, Adam (lr 1e-3). Both frameworks start
from the same weights (torch's, loaded through load_state_dict) and see the same batch. Each
step is zero_grad, forward, loss, backward, optimizer step; throughput is tokens per second
(batch * sequence length per step). Goal: deepgrad >= 1.0x torch's speed.

    python benchmarks/lstm_lm.py              # each library's default threads
    python benchmarks/lstm_lm.py --threads 1  # both on one thread (OpenBLAS and torch)
"""

from __future__ import annotations

import argparse
import os
import time

if __name__ == "__main__":  # OpenBLAS reads its thread count when NumPy loads it
    _args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _args.add_argument("--threads", type=int, default=None,
                       help="threads for both libraries (default: each library's own)")
    THREADS = _args.parse_args().threads
    if THREADS:
        os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)

import numpy as np  # noqa: E402
from harness import compare, report, try_import_torch  # noqa: E402

VOCAB, EMBED, HIDDEN, SEQ, BATCH = 65, 64, 256, 64, 32
STEPS = 5


def build(nn):
    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, VOCAB)

        def forward(self, x):
            out, _ = self.lstm(self.embed(x))
            return self.head(out)

    return CharLSTM()


def data():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCAB, (BATCH, SEQ + 1))
    return tokens[:, :-1], tokens[:, 1:]


def stepper(lib, state=None):
    """A function running STEPS training steps in lib (deepgrad or torch); the model's
    initial state dict is returned too, so the other framework can start from it."""
    model = build(lib.nn)
    if state is not None:
        model.load_state_dict(state)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    x0, y0 = data()
    x, y = lib.from_numpy(x0), lib.from_numpy(y0.reshape(-1))
    losses = []

    def run():
        for _ in range(STEPS):
            opt.zero_grad()
            logits = model(x)
            loss = loss_fn(logits.reshape(-1, VOCAB), y)
            loss.backward()
            opt.step()
        losses.append(loss.item())

    return run, model.state_dict(), losses


def main(threads: int | None = None) -> dict:
    import deepgrad as dg

    torch = try_import_torch()
    if torch:
        torch.manual_seed(0)
        if threads:
            torch.set_num_threads(threads)
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"threads: torch {torch.get_num_threads() if torch else '-'}, "
          f"OPENBLAS_NUM_THREADS={blas}")
    torch_run, state, torch_losses = stepper(torch) if torch else (None, None, None)
    if state is not None:
        state = {k: v.detach().numpy().copy() for k, v in state.items()}
    dg_run, _, dg_losses = stepper(dg, state)
    if torch:  # same weights and data: the first steps' losses agree
        dg_run()
        torch_run()
        print(f"loss after {STEPS} steps: deepgrad {dg_losses[0]:.5f}, torch "
              f"{torch_losses[0]:.5f}")
    dg_s, torch_s = compare(dg_run, torch_run)
    dg_s, torch_s = dg_s / STEPS, (torch_s / STEPS if torch else None)
    tokens = BATCH * SEQ
    title = (f"char LSTM LM: Embedding({VOCAB},{EMBED}) -> LSTM({HIDDEN}) -> "
             f"Linear({HIDDEN},{VOCAB}), seq {SEQ}, batch {BATCH}, Adam: one training step")
    result = report(title, dg_s, torch_s, unit="step")
    print(f"  tokens/s: deepgrad {tokens / dg_s:,.0f}" +
          (f", torch {tokens / torch_s:,.0f}, ratio {torch_s / dg_s:.2f}x torch" if torch else ""))
    result["tokens_per_s"] = {"deepgrad": tokens / dg_s,
                              "torch": tokens / torch_s if torch else None}
    if torch:  # CPU seconds are steadier than wall time on a busy machine
        dg_cpu, torch_cpu = cpu_time(dg_run), cpu_time(torch_run)
        print(f"  CPU time per step (all threads): deepgrad {dg_cpu * 1e3:.1f} ms, torch "
              f"{torch_cpu * 1e3:.1f} ms, ratio {torch_cpu / dg_cpu:.2f}x torch")
        result["cpu_s"] = {"deepgrad": dg_cpu, "torch": torch_cpu}
    return result


def cpu_time(run, blocks: int = 3) -> float:
    """The least CPU time (of this process, all its threads) of one step, over a few blocks."""
    best = float("inf")
    for _ in range(blocks):
        start = time.process_time()
        run()
        best = min(best, (time.process_time() - start) / STEPS)
    return best


if __name__ == "__main__":
    main(THREADS)
