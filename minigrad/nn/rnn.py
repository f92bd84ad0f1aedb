"""Recurrent layers: RNN, LSTM and GRU, as cells (one time step) and as networks
(whole sequences, several layers, both directions), with PyTorch's names, shapes,
gate layouts and initialisation, so weights move between the two through NumPy.

What a recurrent layer computes
-------------------------------
A recurrent layer reads a sequence x_1 .. x_L one step at a time and carries a
*state* from step to step; the state after step t depends on x_t and on the state
before it, which is how the layer remembers. All three kinds share one pattern:

    pre-activations = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    new state       = some gates applied to the pre-activations

The weights are the same at every step. ``W_ih`` stacks one (hidden, input) block
per gate and ``W_hh`` one (hidden, hidden) block per gate, in PyTorch's order:

    RNN   (1 block)   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   (or relu)

    LSTM  (4 blocks: i, f, g, o)
          i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)        input gate
          f = sigmoid(W_if x + b_if + W_hf h + b_hf)        forget gate
          g = tanh   (W_ig x + b_ig + W_hg h + b_hg)        candidate cell values
          o = sigmoid(W_io x + b_io + W_ho h + b_ho)        output gate
          c_t = f * c_{t-1} + i * g                         the cell (the memory)
          h_t = o * tanh(c_t)

    GRU   (3 blocks: r, z, n)
          r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)        reset gate
          z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)        update gate
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     candidate state
          h_t = (1 - z) * n + z * h_{t-1}

(The reset gate multiplies ``W_hn h + b_hn``, bias included: PyTorch's (and cuDNN's)
form, slightly different from the original paper's ``W_hn (r * h)``.)

Why the LSTM's cell helps: ``c_t = f * c_{t-1} + ...`` is a sum, so the gradient
flowing back from c_t to c_{t-1} is multiplied by ``f`` only (no weight matrix, no
squashing): with f near 1 it survives hundreds of steps, where a plain RNN's
gradient is multiplied by ``W_hh^T diag(1 - h^2)`` at every step and shrinks or
explodes geometrically.

How the networks run fast
-------------------------
The input half of every gate, ``x_t W_ih^T + b_ih``, is one matrix product over the
whole sequence, and each (layer, direction) then runs as ONE Function whose backward
is backpropagation through time written out by hand (``RNNLayer``, ``LSTMLayer``,
``GRULayer`` in :mod:`minigrad.ops.rnn`, where the reasons are measured and
explained). The cells (``RNNCell``, ``LSTMCell``, ``GRUCell``) run the same
equations as ordinary Tensor operations, and so does a network with
``fused = False`` (the step-by-step version the fused one is tested against; it is
slower, but it can be differentiated twice).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from minigrad.tensor import Tensor, get_default_dtype
from minigrad.nn import init
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.ops.shape import cat, stack, unsqueeze, squeeze
from minigrad.ops.index import select, getitem
# The fused Functions (RNNLayer, LSTMLayer, GRULayer) stay reachable as minigrad.nn.rnn.*;
# they are not layers, so they stay out of the names minigrad.nn exports.
from minigrad.ops.rnn import (  # noqa: F401
    RNNLayer, LSTMLayer, GRULayer, _gru_step, _input_projection, _lstm_step, _rnn_step, _steps,
)
from minigrad.nn.functional import dropout as _dropout

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU"]


# ============================================================================ argument checks

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(who, input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{who}: {name} should be of type int, got: {type(v).__name__}")
    if hidden_size <= 0:
        raise ValueError(f"{who}: hidden_size must be greater than zero, got {hidden_size}")
    if input_size < 0:
        raise ValueError(f"{who}: input_size must be non-negative, got {input_size}")


def _check_nonlinearity(who, nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: unknown nonlinearity {nonlinearity!r}; select 'tanh' or 'relu'")


def _factory(dtype):
    return np.dtype(get_default_dtype() if dtype is None else dtype)


def _check_dtype(who, x, weight):
    if x.dtype != weight.dtype:
        raise TypeError(f"{who}: input has dtype {x.dtype} but the weights are {weight.dtype}; convert "
                        f"the input (x.to({weight.dtype})) or the module (module.to({x.dtype}))")


def _reset_uniform(module):
    """PyTorch's recurrent initialisation: every parameter of ``module`` from
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    stdv = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -stdv, stdv)


# ============================================================================ cells

class RNNCellBase(Module):
    """Shared parts of RNNCell, LSTMCell and GRUCell: the four parameters

    * ``weight_ih``: (gates * hidden_size, input_size)
    * ``weight_hh``: (gates * hidden_size, hidden_size)
    * ``bias_ih``, ``bias_hh``: (gates * hidden_size,) (None with ``bias=False``)

    all drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as in PyTorch.
    """

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        who = type(self).__name__
        _check_sizes(who, input_size, hidden_size)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)
        dt = _factory(dtype)
        G = num_chunks * self.hidden_size
        self.weight_ih = Parameter(Tensor(np.empty((G, self.input_size), dtype=dt)))
        self.weight_hh = Parameter(Tensor(np.empty((G, self.hidden_size), dtype=dt)))
        if self.bias:
            self.bias_ih = Parameter(Tensor(np.empty((G,), dtype=dt)))
            self.bias_hh = Parameter(Tensor(np.empty((G,), dtype=dt)))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        if device is not None:
            self.to(device=device)

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _reset_uniform(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prepare(self, input, hx_list):
        """Check shapes; return (input as (N, in), states as (N, H), batched?)."""
        who = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{who}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{who}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                             f"(shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{who}: input has {input.shape[-1]} features (shape {tuple(input.shape)}) "
                             f"but input_size is {self.input_size}")
        _check_dtype(who, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else unsqueeze(input, 0)
        N = x.shape[0]
        states = []
        for k, h in enumerate(hx_list):
            if h is None:
                states.append(Tensor(x._xp().zeros((N, self.hidden_size), dtype=x.dtype)))
                continue
            want = (N, self.hidden_size) if batched else (self.hidden_size,)
            if tuple(h.shape) != want:
                raise ValueError(f"{who}: hidden state {k} has shape {tuple(h.shape)}, expected {want} "
                                 f"for an input of shape {tuple(input.shape)}")
            _check_dtype(who, h, self.weight_ih)
            states.append(h if batched else unsqueeze(h, 0))
        return x, states, batched


class RNNCell(RNNCellBase):
    """One step of an Elman RNN:  h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
    (or relu with ``nonlinearity="relu"``).

    ``cell(input, hx=None)``: input (N, input_size) or (input_size,), hx (N, hidden_size)
    or (hidden_size,) (zeros if None); returns h' shaped like hx.
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """``input`` (N, input_size) or (input_size,), ``hx`` (N, hidden_size) or None (zeros) ->
        the next hidden state, (N, hidden_size)."""
        x, (h,), batched = self._prepare(input, [hx])
        h = _rnn_step(_input_projection(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      self.nonlinearity)
        return h if batched else squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One step of an LSTM (gates i, f, g, o stacked in that order in the weights):

        i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')

    ``cell(input, hx=None)``: hx is a pair (h, c) or None (zeros); returns (h', c').
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        """``input`` (N, input_size), ``hx`` = (h, c) each (N, hidden_size) or None -> the next (h,
        c)."""
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("LSTMCell: hx must be a pair (h, c) of Tensors or None")
        x, (h, c), batched = self._prepare(input, list(hx))
        h, c = _lstm_step(_input_projection(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                          self.bias_hh)
        if not batched:
            h, c = squeeze(h, 0), squeeze(c, 0)
        return h, c


class GRUCell(RNNCellBase):
    """One step of a GRU (gates r, z, n stacked in that order in the weights):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h

    ``cell(input, hx=None)``: returns h' shaped like hx.
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        """``input`` (N, input_size) or (input_size,), ``hx`` (N, hidden_size) or None -> the next
        hidden state, (N, hidden_size)."""
        x, (h,), batched = self._prepare(input, [hx])
        h = _gru_step(_input_projection(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else squeeze(h, 0)


# ============================================================================ networks

class RNNBase(Module):
    """Shared parts of RNN, LSTM and GRU: a stack of ``num_layers`` recurrent layers,
    each running over the whole sequence (in both directions when ``bidirectional``)
    and feeding its outputs to the next.

    Parameters, per layer k and direction (suffix ``_reverse`` for the backward one),
    with G gates (RNN 1, LSTM 4, GRU 3) and D = 2 if bidirectional else 1:

    * ``weight_ih_l{k}``: (G * hidden_size, input_size) for k = 0, else (G * hidden_size, D * hidden_size)
    * ``weight_hh_l{k}``: (G * hidden_size, hidden_size)
    * ``bias_ih_l{k}``, ``bias_hh_l{k}``: (G * hidden_size,)

    all drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), in the order of
    PyTorch's ``named_parameters()``.

    Set ``fused = False`` on an instance to run every step as ordinary Tensor
    operations (slower; needed only for second derivatives through the network).
    """

    fused = True

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        who = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        _check_sizes(who, input_size, hidden_size)
        if not isinstance(num_layers, numbers.Integral) or isinstance(num_layers, bool):
            raise TypeError(f"{who}: num_layers should be of type int, got: {type(num_layers).__name__}")
        if num_layers <= 0:
            raise ValueError(f"{who}: num_layers must be greater than zero, got {num_layers}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{who}: dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{who}: dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got dropout={dropout} "
                          f"and num_layers={num_layers}", UserWarning, stacklevel=3)
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        D = 2 if self.bidirectional else 1
        G = _GATES[mode] * self.hidden_size
        dt = _factory(dtype)
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else D * self.hidden_size
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (G, layer_in)), ("weight_hh", (G, self.hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                names = []
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(Tensor(np.empty(shape, dtype=dt))))
                    names.append(base + sfx)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()
        if device is not None:
            self.to(device=device)

    def reset_parameters(self):
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _reset_uniform(self)

    def flatten_parameters(self):
        """Does nothing (PyTorch packs the weights into one buffer for cuDNN; minigrad
        keeps them separate). Present so code written for PyTorch runs unchanged."""
        return None

    @property
    def all_weights(self):
        """The parameters as a list per (layer, direction): [[w_ih, w_hh, b_ih, b_hh], ...]."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _weights(self, layer, direction):
        names = self._all_weights[layer * (2 if self.bidirectional else 1) + direction]
        ws = [getattr(self, n) for n in names]
        if not self.bias:
            ws += [None, None]
        return ws

    # -- shape checks ----------------------------------------------------------------------
    def _who(self):
        return type(self).__name__

    def _check_input(self, input):
        """Check the input's type, rank, features, dtype and length; return (batched?, N)."""
        who = self._who()
        if not isinstance(input, Tensor):
            raise TypeError(f"{who}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{who}: Expected input to be 2D (unbatched: L, H_in) or 3D "
                             f"({'N, L' if self.batch_first else 'L, N'}, H_in), got {input.ndim}D "
                             f"instead (shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{who}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {input.shape[-1]} (input shape {tuple(input.shape)})")
        _check_dtype(who, input, self.weight_ih_l0)
        tdim = 1 if (self.batch_first and input.ndim == 3) else 0
        if input.shape[tdim] == 0:
            raise ValueError(f"{who}: Expected sequence length to be larger than 0, got input of shape "
                             f"{tuple(input.shape)}")
        batched = input.ndim == 3
        return batched, (input.shape[0 if self.batch_first else 1] if batched else 1)

    def _check_state(self, h, name, batched, N):
        D = 2 if self.bidirectional else 1
        want = (D * self.num_layers, N, self.hidden_size) if batched else (D * self.num_layers, self.hidden_size)
        if not isinstance(h, Tensor):
            raise TypeError(f"{self._who()}: {name} must be a Tensor, got {type(h).__name__}")
        if tuple(h.shape) != want:
            raise ValueError(f"{self._who()}: Expected {name} of shape {want} "
                             f"(D * num_layers, {'N, ' if batched else ''}hidden_size), got {tuple(h.shape)}")
        _check_dtype(self._who(), h, self.weight_ih_l0)
        return h if batched else unsqueeze(h, 1)

    # -- the run -----------------------------------------------------------------------------
    def _run_one_state(self, input, hx):
        """The forward of RNN and GRU (one state, ``hx``): (output, h_n)."""
        batched, N = self._check_input(input)
        h0 = None if hx is None else self._check_state(hx, "hx", batched, N)
        output, (h_n,) = self._run(input, [h0])
        return output, h_n

    def _run(self, input, states):
        """Run all layers. ``states``: a list of (D*num_layers, N, H) tensors or None
        (one for RNN/GRU, two for LSTM). Returns (output, [final states])."""
        batched = input.ndim == 3
        bf = self.batch_first and batched
        x = input if batched else unsqueeze(input, 1)    # (L, N, F) or (N, L, F)
        tdim = 1 if bf else 0
        D = 2 if self.bidirectional else 1
        n_states = len(states)
        finals = [[] for _ in range(n_states)]
        H = self.hidden_size
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                init_states = [None if s is None else select(s, 0, k) for s in states]
                xw = _input_projection(x, w_ih, b_ih)
                out, last = self._direction(xw, w_hh, b_hh, init_states, d == 1, bf, tdim)
                outs.append(out)
                for j in range(n_states):
                    finals[j].append(last[j])
            x = outs[0] if D == 1 else cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = _dropout(x, p=self.dropout, training=True)
        output = x if batched else squeeze(x, 1)
        finals = [stack(f, dim=0) for f in finals]
        if not batched:
            finals = [squeeze(f, 1) for f in finals]
        return output, finals

    def _direction(self, xw, w_hh, b_hh, init_states, reverse, bf, tdim):
        """One layer in one direction: (hidden states at every step, [final states])."""
        L = xw.shape[tdim]
        last_t = 0 if reverse else L - 1
        if self.fused:
            return self._fused(xw, w_hh, b_hh, init_states, reverse, bf, tdim, last_t)
        h_list = [None] * L
        c_list = [None] * L
        h = init_states[0]
        c = init_states[1] if len(init_states) > 1 else None
        N = xw.shape[1 - tdim]
        zeros = lambda: Tensor(xw._xp().zeros((N, self.hidden_size), dtype=xw.dtype))  # noqa: E731
        h = zeros() if h is None else h
        if self.mode == "LSTM":
            c = zeros() if c is None else c
        for t in _steps(L, reverse):
            xt = select(xw, tdim, t)
            if self.mode == "LSTM":
                h, c = _lstm_step(xt, h, c, w_hh, b_hh)
                c_list[t] = c
            elif self.mode == "GRU":
                h = _gru_step(xt, h, w_hh, b_hh)
            else:
                h = _rnn_step(xt, h, w_hh, b_hh, "tanh" if self.mode == "RNN_TANH" else "relu")
            h_list[t] = h
        out = stack(h_list, dim=tdim)
        last = [h_list[last_t]] + ([c_list[last_t]] if self.mode == "LSTM" else [])
        return out, last

    def _fused(self, xw, w_hh, b_hh, init_states, reverse, bf, tdim, last_t):
        H = self.hidden_size
        idx = (slice(None),) * tdim + (last_t,)
        if self.mode == "LSTM":
            y = LSTMLayer.apply(xw, w_hh, b_hh, init_states[0], init_states[1], reverse=reverse, batch_first=bf)
            out = getitem(y, (Ellipsis, slice(0, H)))
            final = getitem(y, idx)                       # (N, 2H): [h_n | c_n]
            return out, [getitem(final, (Ellipsis, slice(0, H))), getitem(final, (Ellipsis, slice(H, None)))]
        if self.mode == "GRU":
            y = GRULayer.apply(xw, w_hh, b_hh, init_states[0], reverse=reverse, batch_first=bf)
        else:
            nl = "tanh" if self.mode == "RNN_TANH" else "relu"
            y = RNNLayer.apply(xw, w_hh, b_hh, init_states[0], reverse=reverse, batch_first=bf,
                               nonlinearity=nl)
        return y, [getitem(y, idx)]


class RNN(RNNBase):
    """A multi-layer Elman RNN:  h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Args: input_size, hidden_size, num_layers=1, nonlinearity="tanh" (or "relu"),
    bias=True, batch_first=False, dropout=0.0 (between layers, in training mode),
    bidirectional=False.

    ``rnn(input, hx=None)`` with input (L, N, input_size), (N, L, input_size) when
    batch_first, or (L, input_size) unbatched; hx (D * num_layers, N, hidden_size)
    (zeros if None). Returns ``output, h_n``: output (L, N, D * hidden_size) (N first
    when batch_first) holds the last layer's h_t at every step (both directions
    side by side); h_n (D * num_layers, N, hidden_size) the final state of every
    layer and direction.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        _check_nonlinearity("RNN", nonlinearity)
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        """``input`` (L, N, input_size) ((N, L, input_size) if batch_first), ``hx`` (num_layers *
        D, N, hidden_size) or None -> (output (L, N, D * hidden_size), h_n), D = 2 if
        bidirectional else 1."""
        return self._run_one_state(input, hx)


class LSTM(RNNBase):
    """A multi-layer LSTM (gates i, f, g, o stacked in that order in each weight):

        i = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     f, o likewise
        g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0 (between layers, in training mode), bidirectional=False.

    ``lstm(input, hx=None)`` with hx a pair (h_0, c_0), each (D * num_layers, N,
    hidden_size), or None (zeros). Returns ``output, (h_n, c_n)``, shaped as for
    :class:`RNN`.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        """``input`` (L, N, input_size) ((N, L, input_size) if batch_first), ``hx`` = (h_0, c_0) or
        None -> (output (L, N, D * hidden_size), (h_n, c_n)), states (num_layers * D, N,
        hidden_size)."""
        batched, N = self._check_input(input)
        if hx is None:
            states = [None, None]
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a pair (h_0, c_0) of Tensors or None")
            states = [self._check_state(hx[0], "h_0", batched, N), self._check_state(hx[1], "c_0", batched, N)]
        output, (h_n, c_n) = self._run(input, states)
        return output, (h_n, c_n)


class GRU(RNNBase):
    """A multi-layer GRU (gates r, z, n stacked in that order in each weight):

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Args and call as for :class:`RNN` (without ``nonlinearity``); returns ``output, h_n``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        """``input`` (L, N, input_size) ((N, L, input_size) if batch_first), ``hx`` (num_layers *
        D, N, hidden_size) or None -> (output (L, N, D * hidden_size), h_n)."""
        return self._run_one_state(input, hx)
