"""Recurrent layers (minigrad/nn/rnn.py): RNN/LSTM/GRU cells and networks.

* gradcheck (float64, central differences) of every cell and network, fused and
  step-by-step, on hypothesis-drawn sizes and configurations;
* the fused BPTT Functions against the step-by-step Tensor-op version;
* gradients through a 200-step sequence;
* PyTorch as an oracle: parameter names/shapes, outputs, final states and every
  gradient, after copying torch's weights in through NumPy.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
from minigrad import nn
from minigrad.nn import rnn as rnn_mod

NETS = {"RNN": rnn_mod.RNN, "LSTM": rnn_mod.LSTM, "GRU": rnn_mod.GRU}
CELLS = {"RNNCell": rnn_mod.RNNCell, "LSTMCell": rnn_mod.LSTMCell, "GRUCell": rnn_mod.GRUCell}
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


# ----------------------------------------------------------------------------- gradcheck: networks

def net_configs(max_hidden=3, max_length=4):
    return st.fixed_dictionaries({
        "kind": st.sampled_from(["RNN", "RNN-relu", "LSTM", "GRU"]),
        "num_layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "batch_first": st.booleans(),
        "bias": st.booleans(),
        "with_state": st.booleans(),
        "batch": st.integers(0, 2),          # 0: unbatched input
        "length": st.integers(1, max_length),
        "input_size": st.integers(1, 3),
        "hidden": st.integers(1, max_hidden),
        "seed": st.integers(0, 2 ** 16),
    })


def _net_case(cfg, fused):
    rng = np.random.default_rng(cfg["seed"])
    kind, _, nl = cfg["kind"].partition("-")
    m = make_net(kind, cfg["input_size"], cfg["hidden"], cfg["num_layers"], cfg["bidirectional"],
                 cfg["batch_first"], cfg["bias"], nonlinearity=nl or "tanh", fused=fused)
    L, N, I = cfg["length"], cfg["batch"], cfg["input_size"]
    if N == 0:
        xshape = (L, I)
    else:
        xshape = (N, L, I) if cfg["batch_first"] else (L, N, I)
    x = t64(xshape, rng)
    S = (2 if cfg["bidirectional"] else 1) * cfg["num_layers"]
    hshape = (S, N, cfg["hidden"]) if N else (S, cfg["hidden"])
    n_states = (2 if kind == "LSTM" else 1) if cfg["with_state"] else 0
    states = [t64(hshape, rng) for _ in range(n_states)]

    def fn(x, *rest):
        st_ = rest[:n_states]
        hx = None
        if n_states:
            hx = tuple(st_) if kind == "LSTM" else st_[0]
        return flat_outputs(kind, m(x, hx))

    return m, fn, [x, *states]


# gradcheck perturbs every weight: 2 forward passes per element, so sizes stay tiny
@settings(max_examples=10, deadline=None)
@given(cfg=net_configs(max_hidden=2, max_length=3))
def test_network_gradcheck_fused(cfg):
    m, fn, inputs = _net_case(cfg, fused=True)
    assert minigrad.gradcheck(fn, (*inputs, *m.parameters()))


@pytest.mark.slow
@settings(max_examples=5, deadline=None)
@given(cfg=net_configs(max_hidden=2, max_length=3))
def test_network_gradcheck_step_by_step(cfg):
    m, fn, inputs = _net_case(cfg, fused=False)
    assert minigrad.gradcheck(fn, (*inputs, *m.parameters()))


@settings(max_examples=15, deadline=None)
@given(cfg=net_configs())
def test_fused_matches_step_by_step(cfg):
    """The hand-written BPTT gives the same values and gradients as autograd through
    the step-by-step Tensor-op version."""
    results = []
    for fused in (True, False):
        minigrad.manual_seed(cfg["seed"])
        m, fn, inputs = _net_case(cfg, fused=fused)
        outs = fn(*inputs)
        rng = np.random.default_rng(1)
        loss = sum((o * minigrad.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
        loss.backward()
        results.append(([o.numpy() for o in outs],
                        [t.grad.numpy() for t in inputs] + [p.grad.numpy() for p in m.parameters()]))
    (o1, g1), (o2, g2) = results
    for a, b in zip(o1 + g1, o2 + g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def _finite_difference_at(fn, inputs, points, u, eps=1e-6):
    """Central differences of sum(u * fn(*inputs)) at the given (input, flat index) points."""
    vals = []
    for i, k in points:
        flat = inputs[i].array.reshape(-1)
        old = flat[k]
        flat[k] = old + eps
        plus = sum(float((o.numpy() * w).sum()) for o, w in zip(fn(*inputs), u))
        flat[k] = old - eps
        minus = sum(float((o.numpy() * w).sum()) for o, w in zip(fn(*inputs), u))
        flat[k] = old
        vals.append((plus - minus) / (2 * eps))
    return np.array(vals)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_long_sequence_gradients(kind):
    """Gradients through 200 steps stay finite and match central differences at
    points spread over the sequence and over every parameter (hidden size 2)."""
    rng = np.random.default_rng(0)
    m = make_net(kind, 1, 2)
    x = t64((200, 1, 1), rng)
    inputs = [x, *m.parameters()]
    fn = lambda x, *p: flat_outputs(kind, m(x))  # noqa: E731
    outs = fn(*inputs)
    u = [rng.uniform(0.5, 1.5, o.shape) for o in outs]
    grads = minigrad.grad(list(outs), inputs, grad_outputs=[minigrad.tensor(w) for w in u])
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))
    points = [(0, 0), (0, 50), (0, 199)] + [(i, k) for i in range(1, len(inputs)) for k in (0, inputs[i].numel() - 1)]
    analytic = np.array([grads[i].numpy().reshape(-1)[k] for i, k in points])
    numeric = _finite_difference_at(fn, inputs, points, u)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-7)
    # a wider float32 network: every gradient finite, and the last step reaches the first
    m32 = make_net(kind, 3, 16, num_layers=2, dtype=minigrad.float32)
    x32 = minigrad.randn(200, 4, 3, requires_grad=True)
    out = flat_outputs(kind, m32(x32))[0]
    out[-1].sum().backward()
    for t in [x32, *m32.parameters()]:
        assert np.all(np.isfinite(t.grad.numpy()))
    assert np.abs(x32.grad.numpy()[-1]).max() > 0


def test_double_backward_step_by_step_and_fused_refuses():
    rng = np.random.default_rng(0)
    m = make_net("LSTM", 1, 2, fused=False)
    x = t64((2, 1, 1), rng)
    assert minigrad.gradgradcheck(lambda x: m(x)[0], (x,))
    m.fused = True
    (g,) = minigrad.grad(m(x)[0].sum(), x, create_graph=False)
    assert g.shape == x.shape
    with pytest.raises(RuntimeError, match="create_graph"):
        minigrad.grad(m(x)[0].sum(), x, create_graph=True)


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


# ----------------------------------------------------------------------------- PyTorch as the oracle

def _torch_pair(torch, kind, I, H, **kw):
    tcls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU,
            "RNNCell": torch.nn.RNNCell, "LSTMCell": torch.nn.LSTMCell, "GRUCell": torch.nn.GRUCell}[kind]
    tm = tcls(I, H, **kw)
    mm_ = getattr(rnn_mod, kind)(I, H, **kw)
    for name, p in tm.named_parameters():
        getattr(mm_, name).array[...] = p.detach().numpy()
    return tm, mm_


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

    tx = torch.tensor(x_np, requires_grad=True)
    mx = minigrad.tensor(x_np, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states_np]
    ms = [minigrad.tensor(s, requires_grad=True) for s in states_np]
    if with_state:
        t_res = tm(tx, tuple(ts) if kind == "LSTM" else ts[0])
        m_res = m(mx, tuple(ms) if kind == "LSTM" else ms[0])
    else:
        t_res, m_res = tm(tx), m(mx)
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
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    if with_state:
        for a, b in zip(ts, ms):
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


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
    tx, mx = torch.tensor(x_np, requires_grad=True), minigrad.tensor(x_np, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states_np]
    ms = [minigrad.tensor(s, requires_grad=True) for s in states_np]
    if with_state:
        t_out = tm(tx, tuple(ts) if kind == "LSTMCell" else ts[0])
        m_out = m(mx, tuple(ms) if kind == "LSTMCell" else ms[0])
    else:
        t_out, m_out = tm(tx), m(mx)
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    m_out = m_out if isinstance(m_out, tuple) else (m_out,)
    weights = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in t_out]
    sum((o * torch.tensor(w)).sum() for o, w in zip(t_out, weights)).backward()
    sum((o * minigrad.tensor(w)).sum() for o, w in zip(m_out, weights)).backward()
    for a, b in zip(t_out, m_out):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    if with_state:
        for a, b in zip(ts, ms):
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-6)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


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


# ----------------------------------------------------------------------------- the seed models

def test_sequence_example_smoke():
    from minigrad.examples.sequence import train_lstm, digit_rows

    X_train, X_test, y_train, y_test = digit_rows(8, seed=0)
    assert X_train.shape[1:] == (8, 8) and len(X_train) + len(X_test) == 1797
    r = train_lstm(quick=True, epochs=2, hidden_size=32)
    assert {"what", "final_loss", "accuracy", "seconds", "passed", "model"} <= set(r)
    assert np.isfinite(r["final_loss"])
    assert r["accuracy"] > 0.5          # chance is 0.1
    assert isinstance(r["model"].rnn, nn.LSTM) and r["model"].rnn.batch_first


@pytest.mark.slow
def test_sequence_examples_reach_their_targets():
    from minigrad.examples.sequence import train_gru, train_lstm, train_parity

    for fn in (train_lstm, train_gru, train_parity):
        r = fn(quick=True)
        assert r["passed"], (r["what"], r["accuracy"])
