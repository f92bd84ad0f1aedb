"""Helpers shared by the tests of the recurrent layers (tests/nn/test_rnn.py) and of
their fused Functions (tests/ops/test_rnn.py)."""
import minigrad
from minigrad.nn import rnn as rnn_mod

NETS = {"RNN": rnn_mod.RNN, "LSTM": rnn_mod.LSTM, "GRU": rnn_mod.GRU}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def t64(shape, rng, requires_grad=True, scale=1.0):
    return minigrad.tensor(rng.standard_normal(shape) * scale, dtype=minigrad.float64,
                           requires_grad=requires_grad)


def make_net(kind, input_size, hidden, num_layers=1, bidirectional=False, batch_first=False, bias=True,
             nonlinearity="tanh", fused=True, dtype=minigrad.float64):
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if kind == "RNN":
        kw["nonlinearity"] = nonlinearity
    m = NETS[kind](input_size, hidden, **kw).to(dtype)
    m.fused = fused
    return m


def flat_outputs(kind, result):
    """(output, h_n) or (output, (h_n, c_n)) -> a flat tuple of Tensors."""
    out, state = result
    return (out,) + (tuple(state) if kind == "LSTM" else (state,))
