"""The fused recurrent Functions (minigrad/ops/rnn.py: RNNLayer, LSTMLayer, GRULayer,
and the step-by-step Tensor-op version): gradcheck (float64, central differences) of
networks run fused and step by step, on hypothesis-drawn configurations; the
hand-written BPTT against the step-by-step version; gradients through a 200-step
sequence; second derivatives."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad
from _ops_helpers import MODES
from _rnn_helpers import flat_outputs, make_net, t64


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
    """On both kernel sets: the LSTM and GRU loops are kernels (reference NumPy, native Numba)."""
    m, fn, inputs = _net_case(cfg, fused=True)
    for mode in MODES:
        with minigrad.kernels.use(mode):
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
    """The hand-written BPTT, on both kernel sets, gives the same values and gradients
    as autograd through the step-by-step Tensor-op version."""
    results = []
    for fused, mode in ((False, None), (True, "reference"), (True, "native")):
        minigrad.manual_seed(cfg["seed"])
        m, fn, inputs = _net_case(cfg, fused=fused)
        with minigrad.kernels.use(mode):
            outs = fn(*inputs)
            rng = np.random.default_rng(1)
            loss = sum((o * minigrad.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
            loss.backward()
        results.append(([o.numpy() for o in outs],
                        [t.grad.numpy() for t in inputs] + [p.grad.numpy() for p in m.parameters()]))
    (o1, g1) = results[0]
    for o2, g2 in results[1:]:
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
