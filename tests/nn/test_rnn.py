"""Recurrent layers (minigrad/nn/rnn.py): RNN/LSTM/GRU cells and networks.

* gradcheck (float64, central differences) of every cell, on hypothesis-drawn sizes;
  (the networks' gradchecks, fused and step by step, and the fused BPTT Functions
  against the step-by-step version are in tests/ops/test_rnn.py);
* PyTorch as an oracle: parameter names/shapes, outputs, final states and every
  gradient, after copying torch's weights in through NumPy.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
import minigrad as mg
from minigrad import nn
from minigrad.nn import rnn as rnn_mod

from _rnn_helpers import GATES, NETS, flat_outputs, make_net, t64

CELLS = {"RNNCell": rnn_mod.RNNCell, "LSTMCell": rnn_mod.LSTMCell, "GRUCell": rnn_mod.GRUCell}


# ----------------------------------------------------------------------------- construction

@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, True, False)])
def test_parameter_names_and_shapes(kind, num_layers, bidirectional, bias):
    I, H = 5, 7
    m = NETS[kind](I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    G, D = GATES[kind] * H, 2 if bidirectional else 1
    expected = []
    for k in range(num_layers):
        for sfx in ([""] if D == 1 else ["", "_reverse"]):
            expected.append((f"weight_ih_l{k}{sfx}", (G, I if k == 0 else D * H)))
            expected.append((f"weight_hh_l{k}{sfx}", (G, H)))
            if bias:
                expected.append((f"bias_ih_l{k}{sfx}", (G,)))
                expected.append((f"bias_hh_l{k}{sfx}", (G,)))
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == expected
    assert len(m.all_weights) == num_layers * D
    assert all(len(ws) == (4 if bias else 2) for ws in m.all_weights)
    assert m.flatten_parameters() is None


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_init_is_uniform_in_one_over_sqrt_hidden(kind):
    H = 64
    m = (NETS.get(kind) or CELLS[kind])(30, H)
    bound = 1 / math.sqrt(H)
    vals = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert vals.dtype == np.float32
    assert np.all(np.abs(vals) <= bound)
    # U(-b, b): mean 0, std b / sqrt(3); with > 10,000 draws both are tight
    assert abs(vals.mean()) < 0.05 * bound
    assert abs(vals.std() - bound / math.sqrt(3)) < 0.05 * bound
    minigrad.manual_seed(7)
    a = [p.numpy().copy() for p in (NETS.get(kind) or CELLS[kind])(3, 4).parameters()]
    minigrad.manual_seed(7)
    b = [p.numpy().copy() for p in (NETS.get(kind) or CELLS[kind])(3, 4).parameters()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_parameter_shapes(kind):
    G = {"RNNCell": 1, "LSTMCell": 4, "GRUCell": 3}[kind] * 6
    m = CELLS[kind](4, 6)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        ("weight_ih", (G, 4)), ("weight_hh", (G, 6)), ("bias_ih", (G,)), ("bias_hh", (G,))]
    m = CELLS[kind](4, 6, bias=False)
    assert [n for n, _ in m.named_parameters()] == ["weight_ih", "weight_hh"]
    assert m.bias_ih is None and m.bias_hh is None


def test_repr():
    assert repr(nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True)) == \
        "LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)"
    assert repr(nn.GRU(3, 4, bias=False, dropout=0.5, num_layers=2)) == \
        "GRU(3, 4, num_layers=2, bias=False, dropout=0.5)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    assert repr(nn.LSTMCell(3, 4)) == "LSTMCell(3, 4)"


# ----------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shapes(kind, batch_first, bidirectional):
    L, N, I, H, layers = 5, 3, 4, 6, 2
    D = 2 if bidirectional else 1
    m = make_net(kind, I, H, layers, bidirectional, batch_first, dtype=minigrad.float32)
    x = minigrad.randn(N, L, I) if batch_first else minigrad.randn(L, N, I)
    outs = flat_outputs(kind, m(x))
    assert outs[0].shape == ((N, L, D * H) if batch_first else (L, N, D * H))
    for s in outs[1:]:
        assert s.shape == (D * layers, N, H)
        assert s.dtype == np.float32
    # unbatched: (L, I) -> (L, D*H), states (D*layers, H); equal to the batch of one
    xu = minigrad.randn(L, I)
    ou = flat_outputs(kind, m(xu))
    assert ou[0].shape == (L, D * H)
    assert all(s.shape == (D * layers, H) for s in ou[1:])
    ob = flat_outputs(kind, m(xu.unsqueeze(0) if batch_first else xu.unsqueeze(1)))
    np.testing.assert_allclose(ou[0].numpy(), ob[0].numpy().reshape(L, D * H), rtol=1e-6, atol=1e-6)
    for a, b in zip(ou[1:], ob[1:]):
        np.testing.assert_allclose(a.numpy(), b.numpy()[:, 0], rtol=1e-6, atol=1e-6)


def test_final_state_is_last_output_step():
    """h_n of the last layer = output at the last step (forward) / first step (reverse)."""
    m = make_net("GRU", 3, 4, num_layers=2, bidirectional=True)
    x = t64((6, 2, 3), np.random.default_rng(0), requires_grad=False)
    out, h_n = m(x)
    np.testing.assert_allclose(h_n.numpy()[2], out.numpy()[-1, :, :4])
    np.testing.assert_allclose(h_n.numpy()[3], out.numpy()[0, :, 4:])


# ----------------------------------------------------------------------------- gradcheck: cells

@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"]),
       batch=st.integers(0, 3), input_size=st.integers(1, 4), hidden=st.integers(1, 4),
       bias=st.booleans(), with_state=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_cell_gradcheck(kind, batch, input_size, hidden, bias, with_state, seed):
    rng = np.random.default_rng(seed)
    name, _, nl = kind.partition("-")
    kw = {"nonlinearity": nl} if nl else {}
    m = CELLS[name](input_size, hidden, bias=bias, **kw).double()
    shape = (batch, input_size) if batch else (input_size,)
    hshape = (batch, hidden) if batch else (hidden,)
    x = t64(shape, rng)
    params = list(m.parameters())
    if name == "LSTMCell":
        states = [t64(hshape, rng), t64(hshape, rng)] if with_state else []
        fn = lambda x, *a: m(x, tuple(a[:2]) if with_state else None)  # noqa: E731
    else:
        states = [t64(hshape, rng)] if with_state else []
        fn = lambda x, *a: m(x, a[0] if with_state else None)  # noqa: E731
    assert minigrad.gradcheck(fn, (x, *states, *params))


# ----------------------------------------------------------------------------- dropout and modes

def test_dropout_between_layers_only_in_training():
    minigrad.manual_seed(0)
    m = nn.LSTM(4, 8, num_layers=3, dropout=0.5)
    x = minigrad.randn(5, 2, 4)
    ref = nn.LSTM(4, 8, num_layers=3)
    ref.load_state_dict(m.state_dict())
    m.train()
    o1, o2 = m(x)[0].numpy(), m(x)[0].numpy()
    assert not np.allclose(o1, o2)                    # a new mask each call
    assert not np.allclose(o1, ref(x)[0].numpy())
    m.eval()
    np.testing.assert_allclose(m(x)[0].numpy(), ref(x)[0].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m(x)[0].numpy(), m(x)[0].numpy())


def test_dropout_with_one_layer_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        m = nn.GRU(3, 4, dropout=0.3)
    x = minigrad.randn(4, 2, 3)
    np.testing.assert_array_equal(m(x)[0].numpy(), m(x)[0].numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.GRU(3, 4, num_layers=2, dropout=0.3)


# ----------------------------------------------------------------------------- errors

def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    with pytest.raises(ValueError, match="num_layers"):
        nn.GRU(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="hidden_size should be of type int"):
        nn.LSTM(3, 4.5)

    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"Expected 3, got 5"):
        m(minigrad.randn(6, 2, 5))
    with pytest.raises(ValueError, match="2D .* or 3D"):
        m(minigrad.randn(2, 6, 2, 3))
    with pytest.raises(ValueError, match="larger than 0"):
        m(minigrad.randn(0, 2, 3))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        m(minigrad.randn(6, 2, 3), (minigrad.zeros(1, 2, 4), minigrad.zeros(2, 2, 4)))
    with pytest.raises(TypeError, match="pair"):
        m(minigrad.randn(6, 2, 3), minigrad.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="float64 .* float32"):
        m(minigrad.randn(6, 2, 3).double())
    g = nn.GRU(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"hx of shape \(1, 5, 4\)"):
        g(minigrad.randn(5, 6, 3), minigrad.zeros(1, 6, 4))
    c = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match="input_size is 3"):
        c(minigrad.randn(2, 5))
    with pytest.raises(ValueError, match=r"expected \(2, 4\)"):
        c(minigrad.randn(2, 3), (minigrad.zeros(2, 4), minigrad.zeros(3, 4)))


# ----------------------------------------------------------------------------- hostile inputs

@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_with_batch_0(kernel_set, cls):
    layer = getattr(nn, cls)(4, 5, batch_first=True)
    x = mg.tensor(np.ones((0, 3, 4), np.float32), requires_grad=True)
    y, _ = layer(x)
    y.sum().backward()
    assert y.shape == (0, 3, 5) and x.grad.shape == (0, 3, 4)


# ----------------------------------------------------------------------------- PyTorch as the oracle

def _torch_pair(torch, kind, I, H, **kw):
    tcls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU,
            "RNNCell": torch.nn.RNNCell, "LSTMCell": torch.nn.LSTMCell, "GRUCell": torch.nn.GRUCell}[kind]
    tm = tcls(I, H, **kw)
    mm_ = getattr(rnn_mod, kind)(I, H, **kw)
    for name, p in tm.named_parameters():
        getattr(mm_, name).array[...] = p.detach().numpy()
    return tm, mm_


def _call_both(torch, tm, m, x_np, states_np, with_state, paired):
    """Torch's module and ours on the same input, and on the same initial states when
    ``with_state`` (as one (h, c) pair when ``paired``). Returns the inputs as tensors
    (tx, mx, ts, ms) and the two results."""
    tx, mx = torch.tensor(x_np, requires_grad=True), minigrad.tensor(x_np, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states_np]
    ms = [minigrad.tensor(s, requires_grad=True) for s in states_np]
    if with_state:
        return tx, mx, ts, ms, tm(tx, tuple(ts) if paired else ts[0]), m(mx, tuple(ms) if paired else ms[0])
    return tx, mx, ts, ms, tm(tx), m(mx)


def _assert_same_grads(tm, m, x_pair, state_pairs, atol):
    """Our gradients equal torch's (rtol 1e-4): the input's, each (torch, ours) initial
    state's, and every parameter's."""
    tx, mx = x_pair
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=atol)
    for a, b in state_pairs:
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=atol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=atol,
                                   err_msg=name)


@pytest.mark.oracle
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, True, False)])
def test_oracle_parameter_names_and_shapes(kind, num_layers, bidirectional, bias):
    torch = pytest.importorskip("torch")
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    tm = getattr(torch.nn, kind)(5, 7, **kw)
    m = NETS[kind](5, 7, **kw)
    assert [(n, tuple(p.shape)) for n, p in tm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in m.named_parameters()]
    assert list(tm.state_dict().keys()) == list(m.state_dict().keys())
    # weights move through NumPy: torch's state_dict loads into ours unchanged
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for n, p in tm.named_parameters():
        np.testing.assert_array_equal(getattr(m, n).numpy(), p.detach().numpy())


ORACLE_CASES = [
    # kind, num_layers, bidirectional, batch_first, with_state, nonlinearity, unbatched
    ("LSTM", 2, True, False, False, "tanh", False),
    ("LSTM", 2, True, True, True, "tanh", False),
    ("LSTM", 3, False, True, True, "tanh", False),
    ("LSTM", 2, True, False, True, "tanh", True),
    ("GRU", 2, True, False, True, "tanh", False),
    ("GRU", 2, True, True, False, "tanh", False),
    ("GRU", 1, False, True, True, "tanh", True),
    ("RNN", 2, True, False, True, "tanh", False),
    ("RNN", 2, True, True, True, "relu", False),
    ("RNN", 2, False, False, False, "relu", True),
]


@pytest.mark.oracle
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first,with_state,nl,unbatched", ORACLE_CASES)
def test_oracle_networks(kind, num_layers, bidirectional, batch_first, with_state, nl, unbatched, fused):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    I, H, L, N = 5, 6, 7, 3
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    if kind == "RNN":
        kw["nonlinearity"] = nl
    tm, m = _torch_pair(torch, kind, I, H, **kw)
    m.fused = fused
    D = 2 if bidirectional else 1
    xshape = (L, I) if unbatched else ((N, L, I) if batch_first else (L, N, I))
    hshape = (D * num_layers, H) if unbatched else (D * num_layers, N, H)
    x_np = rng.standard_normal(xshape).astype(np.float32)
    states_np = [rng.standard_normal(hshape).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]

    tx, mx, ts, ms, t_res, m_res = _call_both(torch, tm, m, x_np, states_np, with_state, kind == "LSTM")
    t_outs, m_outs = flat_outputs(kind, t_res), flat_outputs(kind, m_res)
    assert len(t_outs) == len(m_outs)
    # a loss that touches every output and every final state
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in t_outs]
    t_loss = sum((o * torch.tensor(w)).sum() for o, w in zip(t_outs, weights))
    m_loss = sum((o * minigrad.tensor(w)).sum() for o, w in zip(m_outs, weights))
    t_loss.backward()
    m_loss.backward()
    for a, b in zip(t_outs, m_outs):
        assert tuple(a.shape) == b.shape
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-4, atol=1e-5)
    _assert_same_grads(tm, m, (tx, mx), zip(ts, ms) if with_state else (), atol=1e-5)


@pytest.mark.oracle
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
def test_oracle_cells(kind, batched, with_state):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    I, H, N = 4, 5, 3
    tm, m = _torch_pair(torch, kind, I, H)
    x_np = rng.standard_normal((N, I) if batched else (I,)).astype(np.float32)
    hshape = (N, H) if batched else (H,)
    states_np = [rng.standard_normal(hshape).astype(np.float32) for _ in range(2 if kind == "LSTMCell" else 1)]
    tx, mx, ts, ms, t_out, m_out = _call_both(torch, tm, m, x_np, states_np, with_state, kind == "LSTMCell")
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    m_out = m_out if isinstance(m_out, tuple) else (m_out,)
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in t_out]
    sum((o * torch.tensor(w)).sum() for o, w in zip(t_out, weights)).backward()
    sum((o * minigrad.tensor(w)).sum() for o, w in zip(m_out, weights)).backward()
    for a, b in zip(t_out, m_out):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
    _assert_same_grads(tm, m, (tx, mx), zip(ts, ms) if with_state else (), atol=1e-6)


@pytest.mark.oracle
def test_oracle_rnn_relu_cell_and_no_bias():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    tm, m = _torch_pair(torch, "RNNCell", 3, 4, nonlinearity="relu", bias=False)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(m(minigrad.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    tg, g = _torch_pair(torch, "GRU", 3, 4, bias=False, num_layers=2)
    xs = np.random.default_rng(3).standard_normal((6, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(g(minigrad.tensor(xs))[0].numpy(), tg(torch.tensor(xs))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- GPU

@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_cuda_matches_cpu(kind):
    m = make_net(kind, 3, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=minigrad.float32)
    x = minigrad.randn(2, 6, 3, requires_grad=True)
    cpu = flat_outputs(kind, m(x))
    sum(o.sum() for o in cpu).backward()
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    m.to("cuda")
    xc = x.detach().to("cuda").requires_grad_()
    gpu = flat_outputs(kind, m(xc))
    sum(o.sum() for o in gpu).backward()
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-4, atol=1e-5)
    for a, p in zip(grads, m.parameters()):
        np.testing.assert_allclose(p.grad.cpu().numpy(), a, rtol=1e-4, atol=1e-5)
