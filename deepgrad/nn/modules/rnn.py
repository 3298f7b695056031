"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` over whole sequences and their one-step cells.

Parameters, gate order, initialisation, arguments and results are PyTorch's, so a PyTorch
state dict loads as it is. Each layer and direction runs as one fused primitive over the whole
sequence (``deepgrad/ops/recurrent.py``); a cell step is that primitive over one step. Inputs
may be padded batches (T, B, I) (or (B, T, I) with ``batch_first``), unbatched sequences (T, I),
or ``PackedSequence`` batches of variable lengths.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from deepgrad.nn import functional as F
from deepgrad.nn import init
from deepgrad.nn.modules.linear import _param_dtype
from deepgrad.nn.modules.module import Module, Parameter
from deepgrad.nn.utils.rnn import PackedSequence, _positions
from deepgrad.ops.index import index_select
from deepgrad.ops.recurrent import GRULayer, LSTMLayer, PackRows, RNNLayer, UnpackRows
from deepgrad.ops.shape import cat, stack
from deepgrad.tensor import Tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _run_layer(mode: str, x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse: bool, batch_sizes):
    """One layer-direction over x (T, B, I): returns (outputs, h_n, c_n or None)."""
    T = x.shape[0]
    if mode == "LSTM":
        out = LSTMLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse=reverse,
                              batch_sizes=batch_sizes)
        return out[:T], out[T], out[T + 1]
    if mode == "GRU":
        out = GRULayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, reverse=reverse,
                             batch_sizes=batch_sizes)
    else:
        out = RNNLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, reverse=reverse,
                             batch_sizes=batch_sizes,
                             nonlinearity="relu" if mode == "RNN_RELU" else "tanh")
    return out[:T], out[T], None


class RNNBase(Module):
    """The multi-layer recurrent network shared by RNN, LSTM and GRU (``mode`` picks the cell).

    Parameters per layer k and direction (suffix ``_reverse`` for the backward one):
    ``weight_ih_l{k}`` (G*H, I_k), ``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (G*H,), G gates stacked as in PyTorch; all U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{name}: unknown mode {mode!r} (expected one of {list(_GATES)})")
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or \
                isinstance(dropout, bool):
            raise ValueError(f"{name}: dropout should be a number in [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be a positive integer, got "
                             f"{hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got "
                             f"{num_layers!r}")
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size (LSTM with projections) is not "
                                      "supported")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        dt = _param_dtype(dtype, device, name)
        gates = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (gates, layer_in), "weight_hh": (gates, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for kind, shape in shapes.items():
                    setattr(self, kind + sfx, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(kind + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch code that calls it (its parameters are already separate
        arrays that each fused layer reads directly)."""

    @property
    def all_weights(self) -> list:
        """Per layer and direction, its [weight_ih, weight_hh(, bias_ih, bias_hh)]."""
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def _weights(self, layer: int, d: int) -> tuple:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- forward -------------------------------------------------------------------------------
    def forward(self, input, hx=None):
        name = type(self).__name__
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        directions = 2 if self.bidirectional else 1
        if packed:
            batch_sizes = np.asarray(input.batch_sizes.array, np.int64)
            T, B = len(batch_sizes), int(batch_sizes[0])
            index = _positions(batch_sizes, None, T, False)
            self._check_input(input.data, 2, name)
            x = UnpackRows.apply(input.data, index=index, lead=(T, B))
            unbatched = False
        else:
            batch_sizes = None
            self._check_input(input, None, name)
            unbatched = input.ndim == 2
            x = input.unsqueeze(1) if unbatched else input
            if self.batch_first and not unbatched:
                x = x.transpose(0, 1)
            B = x.shape[1]
        h0, c0 = self._initial_states(hx, lstm, unbatched, B, directions, name)
        if packed and input.sorted_indices is not None:  # states follow the sorted order
            h0 = None if h0 is None else index_select(h0, 1, input.sorted_indices)
            c0 = None if c0 is None else index_select(c0, 1, input.sorted_indices)
        x, h_n, c_n = self._layers(x, h0, c0, batch_sizes, directions, lstm)
        if packed:
            if input.unsorted_indices is not None:
                h_n = index_select(h_n, 1, input.unsorted_indices)
                c_n = None if c_n is None else index_select(c_n, 1, input.unsorted_indices)
            out = PackedSequence(PackRows.apply(x, index=index, lead=2), input.batch_sizes,
                                 input.sorted_indices, input.unsorted_indices)
        elif unbatched:
            out, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        else:
            out = x.transpose(0, 1) if self.batch_first else x
        return (out, (h_n, c_n)) if lstm else (out, h_n)

    def _layers(self, x, h0, c0, batch_sizes, directions: int, lstm: bool):
        """Run all layers over time-major x; return outputs, stacked h_n and c_n."""
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                y, h, c = _run_layer(self.mode, x, *self._weights(layer, d),
                                     None if h0 is None else h0[k],
                                     None if c0 is None else c0[k], bool(d), batch_sizes)
                outs.append(y)
                hs.append(h)
                cs.append(c)
            x = outs[0] if directions == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, stack(hs, 0), (stack(cs, 0) if lstm else None)

    def _check_input(self, input, ndim, name: str) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor or a PackedSequence as input, got "
                            f"{type(input).__name__}")
        if ndim is not None and input.ndim != ndim:
            raise ValueError(f"{name}: expected a PackedSequence's data to be 2-D (steps, "
                             f"input_size), got shape {input.shape}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input to be 2-D (unbatched) or 3-D "
                             f"(batched), got {input.ndim}-D input of shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]} (input shape "
                               f"{input.shape})")
        if input.dtype != self.weight_ih_l0.dtype:
            raise RuntimeError(f"{name}: input dtype {input.dtype} does not match the "
                               f"parameters' dtype {self.weight_ih_l0.dtype}")

    def _initial_states(self, hx, lstm: bool, unbatched: bool, B: int, directions: int,
                        name: str) -> tuple:
        if hx is None:
            return None, None
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got "
                                f"{type(hx).__name__}")
            h0, c0 = hx
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{name}: hx must be a Tensor h_0, not a {type(hx).__name__}")
            h0, c0 = hx, None
        want = (self.num_layers * directions, self.hidden_size) if unbatched else \
            (self.num_layers * directions, B, self.hidden_size)
        for label, s in (("hidden", h0), ("cell", c0)):
            if s is None:
                continue
            if tuple(s.shape) != want:
                raise RuntimeError(f"{name}: expected {label} size {want}, got "
                                   f"{tuple(s.shape)}")
            if s.dtype != self.weight_ih_l0.dtype:
                raise RuntimeError(f"{name}: {label} state dtype {s.dtype} does not match "
                                   f"the parameters' dtype {self.weight_ih_l0.dtype}")
        if unbatched:
            h0 = h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        return h0, c0


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or relu), per layer.

    Returns (output, h_n): output (T, B, D*H) holds the last layer's h_t of every step,
    h_n (num_layers*D, B, H) the final state of every layer and direction.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose 'tanh' or "
                             f"'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o from ``x_t W_ih^T + b_ih + h_{t-1} W_hh^T +
    b_hh``; ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)`` (i, f, o sigmoid; g tanh).

    ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``; states default to zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit (PyTorch's form): r, z = sigmoid(...), ``n = tanh(x W_in + b_in +
    r * (h W_hn + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``. Returns (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


class RNNCellBase(Module):
    """One step of a recurrent cell: parameters weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool,
                 device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        dt = _param_dtype(dtype, device, name)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gates = _GATES[mode] * hidden_size
        self.weight_ih = Parameter(np.empty((gates, input_size), dt))
        self.weight_hh = Parameter(np.empty((gates, hidden_size), dt))
        if bias:
            self.bias_ih = Parameter(np.empty(gates, dt))
            self.bias_hh = Parameter(np.empty(gates, dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _step(self, input, hx):
        """Check the shapes, run one fused step; returns (h', c' or None) and unbatched."""
        name = type(self).__name__
        lstm = self.mode == "LSTM"
        if not isinstance(input, Tensor) or input.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-D (unbatched) or 2-D (batched), "
                             f"got {getattr(input, 'shape', type(input).__name__)}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]}, expected {self.input_size} (input shape "
                               f"{input.shape})")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        states = (None, None)
        if hx is not None:
            states = tuple(hx) if lstm else (hx, None)
            if lstm and len(states) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h, c)")
            want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
            for s in states:
                if s is not None and tuple(s.shape) != want:
                    raise RuntimeError(f"{name}: expected hidden size {want}, got "
                                       f"{tuple(s.shape)}")
            if unbatched:
                states = tuple(None if s is None else s.unsqueeze(0) for s in states)
        _, h, c = _run_layer(self.mode, x.unsqueeze(0), self.weight_ih, self.weight_hh,
                             self.bias_ih, self.bias_hh, states[0], states[1], False, None)
        if unbatched:
            h = h.squeeze(0)
            c = None if c is None else c.squeeze(0)
        return h, c


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; choose 'tanh' "
                             f"or 'relu'")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c))`` returns ``(h', c')`` (zeros if hx is None)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple:
        return self._step(input, hx)


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, h)`` returns ``h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)[0]
