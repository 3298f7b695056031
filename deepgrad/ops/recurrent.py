"""Fused recurrent primitives: one autograd node per layer and direction over a whole sequence.

``LSTMLayer``, ``GRULayer`` and ``RNNLayer`` take a time-major input x (T, B, I), the weights in
PyTorch's layout (gates stacked along rows: LSTM i, f, g, o; GRU r, z, n) and the initial state,
and return one array: the outputs of all T steps followed by the final hidden state (and, for
the LSTM, the final cell state), i.e. (T + 1, B, H) or (T + 2, B, H). The modules slice it.

Forward: the input projection of all steps is one GEMM, ``X @ W_ih^T + b``; each step adds one
GEMM, ``h @ W_hh^T``, and applies the gates with in-place array math into preallocated buffers.
Sigmoids are computed as ``0.5 * tanh(0.5 * a) + 0.5`` (no overflow, and the LSTM's gates share
one ``tanh`` call): the 0.5 is folded into scaled copies of the weights and the projection.

Backward (BPTT): the activation derivatives are formed for all steps at once, then each step
costs a few fused multiplies and one GEMM (the hidden state's gradient). The gradients of the
weights, the biases and the input are one GEMM each over all steps at the end.

The per-step GEMMs are small (B rows) and there are T of them in a row: OpenBLAS's thread
pool costs more to wake and join than it saves there, and on a machine whose cores are busy with
other processes far more (a 32x256 @ 256x1024 product: 0.17 ms on one thread, 32 ms on two, on
a 2-core machine running ~8 other jobs). So the step loops run OpenBLAS on one thread when
B <= 512 (``_serial_blas``); the whole-sequence GEMMs keep the pool.

Variable lengths (packed sequences): ``batch_sizes[t]`` says how many rows are still running at
step t, rows sorted by decreasing length, so the running rows are a prefix of the batch. A step
updates only that prefix; the other rows keep their state. Forward direction: a finished row's
state stays its last one (its final state). Reverse direction: a row whose sequence has not
started keeps its initial state until its last step comes. Outputs of padded positions are 0.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from deepgrad.autograd import Function
from deepgrad.blas import gemm, get_num_threads, set_num_threads

__all__ = ["LSTMLayer", "GRULayer", "RNNLayer", "PackRows", "UnpackRows"]


_SERIAL_ROWS = 512  # per-step GEMMs with at most this many rows run on one thread


@contextmanager
def _serial_blas(rows: int):
    """Run the enclosed (small) matrix products on one OpenBLAS thread."""
    n = get_num_threads() if rows <= _SERIAL_ROWS else 1
    if n <= 1:  # also where NumPy's OpenBLAS was not found (get_num_threads() is then 1)
        yield
        return
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(n)


def _steps(T: int, reverse: bool):
    """(t, prev, new): the time index of each step in processing order and the slots of the
    state buffer (T + 1 rows) it reads and writes. Forward: 0 -> T. Reverse: T -> 0."""
    if reverse:
        return [(t, t + 1, t) for t in range(T - 1, -1, -1)]
    return [(t, t, t + 1) for t in range(T)]


def _running(batch_sizes, t: int, B: int) -> int:
    return B if batch_sizes is None else int(batch_sizes[t])


def _states(T, B, H, dt, init, reverse):
    """A (T + 1, B, H) state buffer with the initial state in its first slot."""
    s = np.empty((T + 1, B, H), dt)
    s[T if reverse else 0] = 0 if init is None else init
    return s


def _buffer(shape, dt, batch_sizes):
    """A per-step buffer; zeroed for packed batches, whose padded rows no step writes."""
    return np.empty(shape, dt) if batch_sizes is None else np.zeros(shape, dt)


def _project(x, w, bias, scale=None):
    """X @ W^T + bias for all steps at once: (T, B, G). ``scale`` multiplies gate columns."""
    T, B, _ = x.shape
    if scale is not None:
        w = w * scale[:, None]
        bias = None if bias is None else bias * scale
    out = gemm(x.reshape(T * B, -1), w.T)
    if bias is not None:
        out += bias
    return out.reshape(T, B, -1)


def _bias_sum(b_ih, b_hh):
    if b_ih is None:
        return b_hh
    return b_ih if b_hh is None else b_ih + b_hh


def _outputs(states, T, reverse, batch_sizes, extra: int):
    """The (T + 1 + extra, B, H) result: each step's output (0 at padded positions), then the
    final hidden state; the ``extra`` rows are left for the caller."""
    _, B, H = states.shape
    out = np.empty((T + 1 + extra, B, H), states.dtype)
    out[:T] = states[:T] if reverse else states[1:]
    out[T] = states[0] if reverse else states[T]
    if batch_sizes is not None:
        for t in range(T):
            out[t, int(batch_sizes[t]):] = 0
    return out


def _prev_states(states, reverse):
    """The state each step read, in time order: (T, B, H)."""
    return states[1:] if reverse else states[:-1]


def _weight_grads(fn, x, da, dgh, prev, w_ih, rows=None):
    """dx, dW_ih, dW_hh, db_ih, db_hh from the pre-activation gradients of all steps.

    ``da`` (T, B, G): gradient of the input projection's output; ``dgh``: that of the hidden
    projection (the same array except for the GRU); ``rows``: internal gate order -> PyTorch's.
    """
    need = fn.needs_input_grad
    T, B, G = da.shape
    da2 = da.reshape(T * B, G)
    dgh2 = dgh.reshape(T * B, G)

    def back(g):  # undo the internal gate order
        if rows is None:
            return g
        out = np.empty_like(g)
        out[rows] = g
        return out

    dx = gemm(da2, w_ih if rows is None else w_ih[rows]).reshape(x.shape) \
        if need[0] else None
    dw_ih = back(gemm(da2.T, x.reshape(T * B, -1))) if need[1] else None
    dw_hh = back(gemm(dgh2.T, prev.reshape(T * B, -1))) if need[2] else None
    db_ih = back(da2.sum(0)) if len(need) > 3 and need[3] else None
    db_hh = None
    if len(need) > 4 and need[4]:
        db_hh = db_ih if dgh is da and db_ih is not None else back(dgh2.sum(0))
    return dx, dw_ih, dw_hh, db_ih, db_hh


def _lstm_rows(H: int):
    """Internal LSTM gate order i, f, o, g (the three sigmoids contiguous) as PyTorch rows."""
    return np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]


class LSTMLayer(Function):
    """One LSTM layer-direction: inputs x, w_ih, w_hh, b_ih, b_hh, h0, c0 (biases and initial
    states may be None); output (T + 2, B, H): outputs, h_n, c_n."""

    __slots__ = ("x", "w_ih", "w_hh", "gates", "hs", "cs", "tanh_c", "reverse",
                 "batch_sizes")

    def forward(self, x, w_ih, w_hh, b_ih, b_hh, h0, c0, *, reverse=False, batch_sizes=None):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = w_ih.dtype
        rows = _lstm_rows(H)
        scale = np.ones(4 * H, dt)
        scale[:3 * H] = 0.5
        bias = _bias_sum(b_ih, b_hh)
        gates = _project(x, w_ih[rows], None if bias is None else bias[rows], scale)
        w_hh_t = np.ascontiguousarray((w_hh[rows] * scale[:, None]).T)
        hs = _states(T, B, H, dt, h0, reverse)
        cs = _states(T, B, H, dt, c0, reverse)
        tanh_c = _buffer((T, B, H), dt, batch_sizes)
        ig = np.empty((B, H), dt)
        H3 = 3 * H
        with _serial_blas(B):
            for t, p, q in _steps(T, reverse):
                n = _running(batch_sizes, t, B)
                g = gates[t, :n]
                gemm(hs[p, :n], w_hh_t, out=g, accumulate=True)
                np.tanh(g, out=g)
                sig = g[:, :H3]
                sig *= 0.5
                sig += 0.5
                c = cs[q, :n]
                np.multiply(g[:, H:2 * H], cs[p, :n], out=c)
                np.multiply(g[:, :H], g[:, H3:], out=ig[:n])
                c += ig[:n]
                np.tanh(c, out=tanh_c[t, :n])
                np.multiply(g[:, 2 * H:H3], tanh_c[t, :n], out=hs[q, :n])
                if n < B:  # finished (or not yet started) rows keep their state
                    hs[q, n:] = hs[p, n:]
                    cs[q, n:] = cs[p, n:]
        self.x, self.w_ih, self.w_hh = x, w_ih, w_hh
        self.gates, self.hs, self.cs, self.tanh_c = gates, hs, cs, tanh_c
        self.reverse, self.batch_sizes = reverse, batch_sizes
        out = _outputs(hs, T, reverse, batch_sizes, 1)
        out[T + 1] = cs[0] if reverse else cs[T]
        return out

    def backward(self, grad):
        x, gates, hs, cs, tanh_c = self.x, self.gates, self.hs, self.cs, self.tanh_c
        T, B, _ = x.shape
        H = hs.shape[2]
        H3 = 3 * H
        bs, reverse = self.batch_sizes, self.reverse
        rows = _lstm_rows(H)
        # activation derivatives of all steps at once
        sig = gates[..., :H3]
        dsig = np.subtract(1, sig)
        dsig *= sig
        cand = gates[..., H3:]
        dcand = np.multiply(cand, cand)
        np.subtract(1, dcand, out=dcand)
        o_dtanh = np.multiply(tanh_c, tanh_c)  # o * (1 - tanh(c)^2): dh -> dc
        np.subtract(1, o_dtanh, out=o_dtanh)
        o_dtanh *= gates[..., 2 * H:H3]
        da = np.zeros_like(gates) if bs is not None else np.empty_like(gates)
        w_hh = self.w_hh[rows]
        dh = grad[T].copy()
        dc = grad[T + 1].copy()
        tmp = np.empty((B, H), hs.dtype)
        with _serial_blas(B):
            for t, p, _ in reversed(_steps(T, reverse)):
                n = _running(bs, t, B)
                a = da[t, :n]
                g = gates[t, :n]
                dh_n, dc_n = dh[:n], dc[:n]
                dh_n += grad[t, :n]
                np.multiply(dh_n, tanh_c[t, :n], out=a[:, 2 * H:H3])
                np.multiply(dh_n, o_dtanh[t, :n], out=tmp[:n])
                dc_n += tmp[:n]
                np.multiply(dc_n, g[:, H3:], out=a[:, :H])
                np.multiply(dc_n, cs[p, :n], out=a[:, H:2 * H])
                np.multiply(dc_n, g[:, :H], out=a[:, H3:])
                a[:, H3:] *= dcand[t, :n]
                a[:, :H3] *= dsig[t, :n]
                dc_n *= g[:, H:2 * H]
                gemm(a, w_hh, out=dh_n)
        grads = _weight_grads(self, x, da, da, _prev_states(hs, reverse), self.w_ih, rows)
        need = self.needs_input_grad
        return (*grads, dh if need[5] else None, dc if need[6] else None)


class GRULayer(Function):
    """One GRU layer-direction: inputs x, w_ih, w_hh, b_ih, b_hh, h0; output (T + 1, B, H).

    PyTorch's GRU: r = s(x W_ir + b_ir + h W_hr + b_hr), z likewise, n = tanh(x W_in + b_in +
    r * (h W_hn + b_hn)), h' = (1 - z) * n + z * h.
    """

    __slots__ = ("x", "w_ih", "w_hh", "gates", "hn", "hs", "reverse", "batch_sizes")

    def forward(self, x, w_ih, w_hh, b_ih, b_hh, h0, *, reverse=False, batch_sizes=None):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = w_ih.dtype
        scale = np.ones(3 * H, dt)
        scale[:2 * H] = 0.5
        gates = _project(x, w_ih, b_ih, scale)
        w_hh_t = np.ascontiguousarray((w_hh * scale[:, None]).T)
        b_hh = None if b_hh is None else b_hh * scale
        hs = _states(T, B, H, dt, h0, reverse)
        hn = _buffer((T, B, H), dt, batch_sizes)  # h W_hn + b_hn of each step, for backward
        hidden = np.empty((B, 3 * H), dt)
        H2 = 2 * H
        with _serial_blas(B):
            for t, p, q in _steps(T, reverse):
                n = _running(batch_sizes, t, B)
                g = gates[t, :n]
                hid = hidden[:n]
                gemm(hs[p, :n], w_hh_t, out=hid)
                if b_hh is not None:
                    hid += b_hh
                rz = g[:, :H2]
                rz += hid[:, :H2]
                np.tanh(rz, out=rz)
                rz *= 0.5
                rz += 0.5
                hn[t, :n] = hid[:, H2:]
                cand = g[:, H2:]
                np.multiply(g[:, :H], hid[:, H2:], out=hid[:, H2:])
                cand += hid[:, H2:]
                np.tanh(cand, out=cand)
                h = hs[q, :n]
                np.subtract(hs[p, :n], cand, out=h)
                h *= g[:, H:H2]
                h += cand
                if n < B:
                    hs[q, n:] = hs[p, n:]
        self.x, self.w_ih, self.w_hh = x, w_ih, w_hh
        self.gates, self.hn, self.hs = gates, hn, hs
        self.reverse, self.batch_sizes = reverse, batch_sizes
        return _outputs(hs, T, reverse, batch_sizes, 0)

    def backward(self, grad):
        x, gates, hs, hn = self.x, self.gates, self.hs, self.hn
        T, B, _ = x.shape
        H = hs.shape[2]
        H2 = 2 * H
        bs, reverse = self.batch_sizes, self.reverse
        r, z, cand = gates[..., :H], gates[..., H:H2], gates[..., H2:]
        prev = _prev_states(hs, reverse)
        # per-step factors, for all steps at once
        d_cand = np.multiply(cand, cand)  # dh -> d(n's pre-activation): (1 - z)(1 - n^2)
        np.subtract(1, d_cand, out=d_cand)
        d_cand *= np.subtract(1, z)
        d_z = np.subtract(prev, cand)  # dh -> d(z's pre-activation): (h - n) z (1 - z)
        d_z *= z
        d_z *= np.subtract(1, z)
        d_r = np.subtract(1, r)  # d(n's pre-act.) -> d(r's pre-act.): (h W_hn + b_hn) r (1 - r)
        d_r *= r
        d_r *= hn
        da = np.zeros_like(gates) if bs is not None else np.empty_like(gates)
        dgh = np.zeros_like(gates) if bs is not None else np.empty_like(gates)
        w_hh = self.w_hh
        dh = grad[T].copy()
        tmp = np.empty((B, H), hs.dtype)
        with _serial_blas(B):
            for t, _, _ in reversed(_steps(T, reverse)):
                n = _running(bs, t, B)
                a, b = da[t, :n], dgh[t, :n]
                dh_n = dh[:n]
                dh_n += grad[t, :n]
                np.multiply(dh_n, d_cand[t, :n], out=a[:, H2:])
                np.multiply(dh_n, d_z[t, :n], out=b[:, H:H2])
                np.multiply(a[:, H2:], d_r[t, :n], out=b[:, :H])
                np.multiply(a[:, H2:], r[t, :n], out=b[:, H2:])
                np.multiply(dh_n, z[t, :n], out=tmp[:n])
                gemm(b, w_hh, out=dh_n)
                dh_n += tmp[:n]
        da[..., :H2] = dgh[..., :H2]
        grads = _weight_grads(self, x, da, dgh, prev, self.w_ih)
        return (*grads, dh if self.needs_input_grad[5] else None)


class RNNLayer(Function):
    """One Elman RNN layer-direction, h' = tanh or relu(x W_ih^T + b_ih + h W_hh^T + b_hh):
    inputs x, w_ih, w_hh, b_ih, b_hh, h0; output (T + 1, B, H)."""

    __slots__ = ("x", "w_ih", "w_hh", "hs", "relu", "reverse", "batch_sizes")

    def forward(self, x, w_ih, w_hh, b_ih, b_hh, h0, *, nonlinearity="tanh", reverse=False,
                batch_sizes=None):
        T, B, _ = x.shape
        H = w_hh.shape[1]
        dt = w_ih.dtype
        pre = _project(x, w_ih, _bias_sum(b_ih, b_hh))
        w_hh_t = np.ascontiguousarray(w_hh.T)
        hs = _states(T, B, H, dt, h0, reverse)
        relu = nonlinearity == "relu"
        with _serial_blas(B):
            for t, p, q in _steps(T, reverse):
                n = _running(batch_sizes, t, B)
                h = hs[q, :n]
                gemm(hs[p, :n], w_hh_t, out=h)
                h += pre[t, :n]
                if relu:
                    np.maximum(h, 0, out=h)
                else:
                    np.tanh(h, out=h)
                if n < B:
                    hs[q, n:] = hs[p, n:]
        self.x, self.w_ih, self.w_hh, self.hs = x, w_ih, w_hh, hs
        self.relu, self.reverse, self.batch_sizes = relu, reverse, batch_sizes
        return _outputs(hs, T, reverse, batch_sizes, 0)

    def backward(self, grad):
        x, hs, bs, reverse = self.x, self.hs, self.batch_sizes, self.reverse
        T, B, _ = x.shape
        new = hs[:-1] if reverse else hs[1:]
        if self.relu:
            dact = (new > 0).astype(hs.dtype)
        else:
            dact = np.multiply(new, new)
            np.subtract(1, dact, out=dact)
        da = np.zeros_like(new) if bs is not None else np.empty_like(new)
        w_hh = self.w_hh
        dh = grad[T].copy()
        with _serial_blas(B):
            for t, _, _ in reversed(_steps(T, reverse)):
                n = _running(bs, t, B)
                a = da[t, :n]
                dh_n = dh[:n]
                dh_n += grad[t, :n]
                np.multiply(dh_n, dact[t, :n], out=a)
                gemm(a, w_hh, out=dh_n)
        grads = _weight_grads(self, x, da, da, _prev_states(hs, reverse), self.w_ih)
        return (*grads, dh if self.needs_input_grad[5] else None)


class PackRows(Function):
    """Rows ``index`` (distinct) of x viewed as (N, *feature): the gather that packs a padded
    batch. Backward scatters the gradient back (0 elsewhere)."""

    __slots__ = ("shape", "index")

    def forward(self, x, *, index, lead: int):
        self.shape, self.index = x.shape, index
        return x.reshape(-1, *x.shape[lead:])[index]

    def backward(self, g):
        nlead = len(self.shape) - g.ndim + 1
        full = np.zeros((int(np.prod(self.shape[:nlead])), *g.shape[1:]), g.dtype)
        full[self.index] = g
        return full.reshape(self.shape)


class UnpackRows(Function):
    """Packed rows x (N, *feature) placed at rows ``index`` of a new (*lead, *feature) array
    filled with ``value``: the scatter that pads a packed batch. Backward gathers."""

    __slots__ = ("index", "nlead")

    def forward(self, x, *, index, lead: tuple, value=0.0):
        self.index, self.nlead = index, len(lead)
        out = np.full((int(np.prod(lead)), *x.shape[1:]), value, x.dtype)
        out[index] = x
        return out.reshape(*lead, *x.shape[1:])

    def backward(self, g):
        return g.reshape(-1, *g.shape[self.nlead:])[self.index]
