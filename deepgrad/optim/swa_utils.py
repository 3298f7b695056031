"""Weight averaging: a running average of a model's weights along its training trajectory.

``AveragedModel`` keeps a copy of a model whose parameters are an average of the trained
model's parameters over the updates so far, with PyTorch's names (torch.optim.swa_utils):

- the default average is the equal-weight one of Stochastic Weight Averaging (Izmailov et al.
  2018, "Averaging Weights Leads to Wider Optima and Better Generalization");
- ``get_ema_multi_avg_fn(decay)`` makes it an exponential moving average, which for GAN
  generators gives markedly better samples than the last iterate (Yazici et al. 2019, "The
  Unusual Effectiveness of Averaging in GAN Training").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from deepgrad import nn
from deepgrad.autograd import no_grad
from deepgrad.nn.modules.normalization import _BatchNorm
from deepgrad.tensor import Tensor

__all__ = ["AveragedModel", "get_ema_multi_avg_fn", "get_ema_avg_fn", "update_bn"]


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """avg_fn(averaged, current, num_averaged) -> decay * averaged + (1 - decay) * current."""
    _check_decay(decay)

    def ema_update(averaged: np.ndarray, current: np.ndarray, num_averaged) -> np.ndarray:
        return decay * averaged + (1 - decay) * current

    return ema_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """multi_avg_fn(averaged_list, current_list, num_averaged): the EMA in place on every array."""
    _check_decay(decay)

    def ema_update(averaged: list, current: list, num_averaged) -> None:
        for avg, cur in zip(averaged, current):
            avg *= decay
            avg += (1 - decay) * cur  # dtype stays avg's: float32 arrays stay float32

    return ema_update


def _check_decay(decay) -> None:
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA: decay must be in [0, 1], got {decay!r}")


def _swa_update(averaged: list, current: list, num_averaged: int) -> None:
    """The equal-weight running mean: avg += (cur - avg) / (n + 1)."""
    for avg, cur in zip(averaged, current):
        avg += (cur - avg) / (num_averaged + 1)


class AveragedModel(nn.Module):
    """A copy of ``model`` whose weights average ``model``'s over ``update_parameters`` calls.

    The first call copies the weights; later calls blend them in with ``multi_avg_fn`` (in place
    on lists of arrays) or ``avg_fn`` (one array at a time, returning the new value); with
    neither, the equal-weight mean (SWA). ``use_buffers=True`` averages the buffers (batch-norm
    running statistics) the same way; otherwise they are left to ``update_bn``. Calling the
    averaged model calls its copy. Its state dict holds ``module.*`` and ``n_averaged``.
    """

    def __init__(self, model: nn.Module, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.register_buffer("n_averaged", Tensor(np.zeros((), dtype=np.int64)))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = avg_fn, multi_avg_fn, use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _arrays(self, model: nn.Module) -> list:
        tensors = list(model.parameters()) + (list(model.buffers()) if self.use_buffers else [])
        return [t.array for t in tensors]

    @no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Blend ``model``'s current weights into the average."""
        averaged, current = self._arrays(self.module), self._arrays(model)
        if len(averaged) != len(current):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(current)} "
                             f"weight arrays, the averaged copy {len(averaged)}")
        n = int(self.n_averaged.array)
        if n == 0:
            for avg, cur in zip(averaged, current):
                avg[...] = cur
        else:
            self._blend(averaged, current, n)
        if not self.use_buffers:  # keep the copy's buffers those of the model
            for mine, theirs in zip(self.module.buffers(), model.buffers()):
                mine.array[...] = theirs.array
        self.n_averaged.array[...] = n + 1


    def _blend(self, averaged: list, current: list, n: int) -> None:
        # integer buffers (batch counts) keep their first value, as in PyTorch
        floating = [i for i, a in enumerate(averaged) if np.issubdtype(a.dtype, np.floating)]
        averaged, current = [averaged[i] for i in floating], [current[i] for i in floating]
        if self.multi_avg_fn is not None:
            self.multi_avg_fn(averaged, current, n)
        elif self.avg_fn is not None:
            for avg, cur in zip(averaged, current):
                avg[...] = self.avg_fn(avg, cur, n)
        else:
            _swa_update(averaged, current, n)


@no_grad()
def update_bn(loader, model: nn.Module) -> None:
    """Recompute the batch-norm running statistics of ``model`` with one pass over ``loader``
    (batches of inputs, or tuples whose first element is the input), as cumulative averages."""
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not norms:
        return
    saved = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    for batch in loader:
        model(batch[0] if isinstance(batch, (tuple, list)) else batch)
    for m, momentum in saved.items():
        m.momentum = momentum
    model.train(was_training)
