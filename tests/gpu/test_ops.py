"""Every op on the GPU against the same op on the CPU: forward values and gradients.

Each case builds its inputs once as NumPy arrays, runs the op on "cpu" and on "cuda"
from those same arrays, takes the loss sum(output * w) for a fixed random w, calls
backward, and compares the outputs and every input's gradient. A failure names the
case, the dtype, the kernel set, which output or gradient differs, the largest
difference, where it is and both values there.

The end of the file trains each seed model (MLP, seed CNN, LSTM classifier, the
seq2seq Transformer) a few steps on each device from the same initial weights and
batches, and compares the losses step by step.

All tests are marked ``gpu`` (skipped without CuPy and a CUDA GPU).
``_compare_case(case, device)`` also runs with device="cpu" (CPU against CPU),
which is how this file's cases were checked on a machine without a GPU.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
import minigrad.nn.functional as F
from minigrad import nn

pytestmark = pytest.mark.gpu

GPU = "cuda"
TOL = {np.float64: (1e-6, 1e-8), np.float32: (2e-3, 2e-4)}  # (rtol, atol)


# ----------------------------------------------------------------------------- comparison helpers

def _host(x):
    if isinstance(x, minigrad.Tensor):
        x = x.array
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else np.asarray(x)


def assert_same(got, want, what, rtol, atol):
    """got (GPU result) against want (CPU result), with a message saying what differs."""
    got, want = _host(got), _host(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} on the GPU, {want.shape} on the CPU"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} on the GPU, {want.dtype} on the CPU"
    if got.dtype.kind in "biu":
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"{what}: {len(bad)} of {got.size} entries differ, first at {tuple(bad[0])}: "
                               f"GPU {got[tuple(bad[0])]} vs CPU {want[tuple(bad[0])]}")
        return
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    assert (nan_g == nan_w).all(), f"{what}: NaN at different places (GPU {nan_g.sum()} NaNs, CPU {nan_w.sum()})"
    g, w = np.where(nan_g, 0, g), np.where(nan_w, 0, w)
    err = np.abs(g - w) - (atol + rtol * np.abs(w))
    if err.size and err.max() > 0:
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        raise AssertionError(
            f"{what}: GPU and CPU differ beyond rtol={rtol}, atol={atol} at {int((err > 0).sum())} of {err.size} "
            f"entries; worst at index {i}: GPU {g[i]!r} vs CPU {w[i]!r} (|diff| {abs(g[i] - w[i]):.3g}); "
            f"max |diff| over all {np.abs(g - w).max():.3g}")


# ----------------------------------------------------------------------------- the cases
# An input spec is (kind, shape, ...):
#   "f": float, requires grad      "p": float in [0.5, 2], requires grad (log, sqrt, div)
#   "u": float in (0.05, 0.95), requires grad (probabilities)
#   "i": int64 in [0, high), no grad     "b": bool, no grad      "k": float constant, no grad

def _make_inputs(specs, dtype, rng):
    arrays = []
    for s in specs:
        kind, shape = s[0], s[1]
        if kind in "fk":
            a = rng.standard_normal(shape)
        elif kind == "p":
            a = rng.uniform(0.5, 2.0, shape)
        elif kind == "u":
            a = rng.uniform(0.05, 0.95, shape)
        elif kind == "i":
            arrays.append(rng.integers(0, s[2], shape).astype(np.int64))
            continue
        elif kind == "b":
            arrays.append(rng.random(shape) < 0.5)
            continue
        else:
            raise ValueError(kind)
        arrays.append(a.astype(dtype))
    return arrays


def _bn(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


def _lstm_cell_like(x, w):  # a small composite: matmul + activations + slicing
    h = minigrad.matmul(x, w)
    return minigrad.sigmoid(h[:, :3]) * minigrad.tanh(h[:, 3:])


f = ("f",)
CASES = [
    # elementwise (broadcasting included)
    ("add", lambda a, b: a + b, [("f", (3, 1, 5)), ("f", (4, 5))]),
    ("sub", lambda a, b: a - b, [("f", (4, 5)), ("f", (5,))]),
    ("mul", lambda a, b: a * b, [("f", (2, 3, 4)), ("f", (3, 1))]),
    ("div", lambda a, b: a / b, [("f", (3, 4)), ("p", (3, 4))]),
    ("scalar_ops", lambda a: (a * 2.5 + 1.0) / 3.0 - 0.5, [("f", (7,))]),
    ("rdiv", lambda a: 1.0 / a, [("p", (6,))]),
    ("pow_scalar", lambda a: a ** 3, [("f", (4, 3))]),
    ("pow_tensor", lambda a, b: a ** b, [("p", (4, 3)), ("f", (4, 3))]),
    ("neg", lambda a: -a, [("f", (5,))]),
    ("exp", minigrad.exp, [("f", (3, 7))]),
    ("log", minigrad.log, [("p", (3, 7))]),
    ("log1p", minigrad.log1p, [("p", (3, 7))]),
    ("sqrt", minigrad.sqrt, [("p", (9,))]),
    ("rsqrt", minigrad.rsqrt, [("p", (9,))]),
    ("sin", minigrad.sin, [("f", (9,))]),
    ("cos", minigrad.cos, [("f", (9,))]),
    ("tanh", minigrad.tanh, [("f", (4, 5))]),
    ("sigmoid", minigrad.sigmoid, [("f", (4, 5))]),
    ("relu", F.relu, [("f", (4, 5))]),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.1), [("f", (4, 5))]),
    ("elu", F.elu, [("f", (4, 5))]),
    ("gelu", F.gelu, [("f", (4, 5))]),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [("f", (4, 5))]),
    ("silu", F.silu, [("f", (4, 5))]),
    ("softplus", F.softplus, [("f", (4, 5))]),
    ("erf", minigrad.erf, [("f", (4, 5))]),
    ("abs", minigrad.abs, [("f", (4, 5))]),
    ("clamp", lambda a: minigrad.clamp(a, -0.5, 0.5), [("f", (4, 5))]),
    ("maximum", minigrad.maximum, [("f", (4, 5)), ("f", (5,))]),
    ("minimum", minigrad.minimum, [("f", (4, 5)), ("f", (4, 1))]),
    ("where", lambda a, b: minigrad.where(a > 0, a, b), [("f", (4, 5)), ("f", (4, 5))]),
    ("compare", lambda a, b: (a > b).float() * a, [("f", (4, 5)), ("f", (4, 5))]),
    # reductions
    ("sum_all", lambda a: a.sum(), [("f", (3, 4, 5))]),
    ("sum_dim", lambda a: a.sum(dim=1), [("f", (3, 4, 5))]),
    ("sum_dims_keepdim", lambda a: a.sum(dim=(0, 2), keepdim=True), [("f", (3, 4, 5))]),
    ("mean", lambda a: a.mean(dim=-1), [("f", (3, 4, 5))]),
    ("prod", lambda a: minigrad.prod(a, dim=1), [("p", (3, 4))]),
    ("max_dim", lambda a: minigrad.max(a, dim=1)[0], [("f", (3, 7))]),
    ("amax", lambda a: minigrad.amax(a, dim=0), [("f", (6, 4))]),
    ("amin", lambda a: minigrad.amin(a, dim=1), [("f", (6, 4))]),
    ("argmax", lambda a: minigrad.argmax(a, dim=1), [("f", (6, 4))]),
    ("var", lambda a: minigrad.var(a, dim=1), [("f", (5, 6))]),
    ("std", lambda a: minigrad.std(a, dim=0), [("f", (5, 6))]),
    ("logsumexp", lambda a: minigrad.logsumexp(a, dim=1), [("f", (5, 6))]),
    ("cumsum", lambda a: minigrad.cumsum(a, dim=1), [("f", (5, 6))]),
    ("norm", lambda a: minigrad.norm(a), [("f", (5, 6))]),
    # shape
    ("reshape", lambda a: a.reshape(6, -1) * 1.0, [("f", (3, 4, 5))]),
    ("permute", lambda a: minigrad.permute(a, (2, 0, 1)), [("f", (3, 4, 5))]),
    ("transpose", lambda a: minigrad.transpose(a, 0, 2), [("f", (3, 4, 5))]),
    ("expand", lambda a: minigrad.expand(a, (4, 3, 5)), [("f", (3, 1))]),
    ("cat", lambda a, b: minigrad.cat([a, b], dim=1), [("f", (3, 2)), ("f", (3, 5))]),
    ("stack", lambda a, b: minigrad.stack([a, b], dim=0), [("f", (3, 2)), ("f", (3, 2))]),
    ("split", lambda a: [p * (i + 1) for i, p in enumerate(minigrad.split(a, 2, dim=1))], [("f", (3, 5))]),
    ("flip", lambda a: minigrad.flip(a, (0, 1)), [("f", (3, 5))]),
    ("repeat", lambda a: a.repeat(2, 3), [("f", (3, 2))]),
    ("repeat_interleave", lambda a: minigrad.repeat_interleave(a, 2, dim=0), [("f", (3, 2))]),
    ("pad_constant", lambda a: minigrad.pad(a, (1, 2, 0, 1)), [("f", (2, 3, 4))]),
    ("pad_reflect", lambda a: minigrad.pad(a, (1, 2), mode="reflect"), [("f", (2, 3, 4))]),
    ("squeeze_unsqueeze", lambda a: minigrad.unsqueeze(minigrad.squeeze(a, 1), 0), [("f", (3, 1, 4))]),
    ("flatten", lambda a: minigrad.flatten(a, 1), [("f", (3, 2, 4))]),
    # indexing
    ("getitem_slices", lambda a: a[1:, ::2], [("f", (4, 5))]),
    ("getitem_int_tensor", lambda a, i: a[i], [("f", (6, 3)), ("i", (8,), 6)]),
    ("getitem_mask", lambda a, m: a[m], [("f", (6, 3)), ("b", (6, 3))]),
    ("index_select", lambda a, i: minigrad.index_select(a, 1, i), [("f", (4, 6)), ("i", (5,), 6)]),
    ("gather", lambda a, i: minigrad.gather(a, 1, i), [("f", (4, 6)), ("i", (4, 3), 6)]),
    ("scatter_add", lambda a, i, s: minigrad.scatter_add(a, 1, i, s), [("f", (4, 6)), ("i", (4, 3), 6), ("f", (4, 3))]),
    ("masked_fill", lambda a, m: minigrad.masked_fill(a, m, 0.5), [("f", (4, 6)), ("b", (4, 6))]),
    ("narrow", lambda a: minigrad.narrow(a, 1, 1, 3), [("f", (4, 6))]),
    ("one_hot", lambda i: F.one_hot(i, 5), [("i", (7,), 5)]),
    # matmul
    ("matmul_2d", minigrad.matmul, [("f", (5, 7)), ("f", (7, 3))]),
    ("matmul_batched_broadcast", minigrad.matmul, [("f", (2, 1, 5, 7)), ("f", (3, 7, 4))]),
    ("matmul_1d_left", minigrad.matmul, [("f", (7,)), ("f", (2, 7, 3))]),
    ("matmul_1d_right", minigrad.matmul, [("f", (2, 5, 7)), ("f", (7,))]),
    ("dot", minigrad.dot, [("f", (9,)), ("f", (9,))]),
    ("outer", minigrad.outer, [("f", (4,)), ("f", (3,))]),
    ("bmm", minigrad.bmm, [("f", (3, 4, 5)), ("f", (3, 5, 2))]),
    ("linear", F.linear, [("f", (2, 3, 7)), ("f", (5, 7)), ("f", (5,))]),
    ("matmul_large_odd", minigrad.matmul, [("f", (131, 77)), ("f", (77, 129))]),
    ("composite_gates", _lstm_cell_like, [("f", (4, 5)), ("f", (5, 6))]),
    # softmax family and losses
    ("softmax", lambda a: F.softmax(a, dim=-1), [("f", (4, 7))]),
    ("log_softmax", lambda a: F.log_softmax(a, dim=1), [("f", (4, 7))]),
    ("softmax_dim0", lambda a: F.softmax(a, dim=0), [("f", (4, 7))]),
    ("cross_entropy", F.cross_entropy, [("f", (6, 5)), ("i", (6,), 5)]),
    ("cross_entropy_smooth", lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1), [("f", (6, 5)), ("i", (6,), 5)]),
    ("cross_entropy_sum", lambda a, t: F.cross_entropy(a, t, reduction="sum"), [("f", (2, 5, 3)), ("i", (2, 3), 5)]),
    ("nll_loss", lambda a, t: F.nll_loss(F.log_softmax(a, dim=1), t), [("f", (6, 5)), ("i", (6,), 5)]),
    ("mse_loss", F.mse_loss, [("f", (4, 3)), ("k", (4, 3))]),
    ("l1_loss", F.l1_loss, [("f", (4, 3)), ("k", (4, 3))]),
    ("huber_loss", F.huber_loss, [("f", (4, 3)), ("k", (4, 3))]),
    ("smooth_l1_loss", F.smooth_l1_loss, [("f", (4, 3)), ("k", (4, 3))]),
    ("binary_cross_entropy", F.binary_cross_entropy, [("u", (4, 3)), ("u", (4, 3))]),
    ("bce_with_logits", F.binary_cross_entropy_with_logits, [("f", (4, 3)), ("u", (4, 3))]),
    ("kl_div", lambda a, t: F.kl_div(F.log_softmax(a, dim=1), t, reduction="batchmean"), [("f", (4, 3)), ("u", (4, 3))]),
    # convolution and pooling
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [("f", (2, 3, 9, 8)), ("f", (4, 3, 3, 3)), ("f", (4,))]),
    ("conv2d_groups_dilation", lambda x, w: F.conv2d(x, w, None, padding=2, dilation=2, groups=2),
     [("f", (2, 4, 7, 7)), ("f", (6, 2, 3, 3))]),
    ("conv1d", lambda x, w, b: F.conv1d(x, w, b, padding=1), [("f", (2, 3, 11)), ("f", (5, 3, 3)), ("f", (5,))]),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
     [("f", (2, 3, 5, 4)), ("f", (3, 2, 3, 3))]),
    ("unfold_fold", lambda x: F.fold(F.unfold(x, 3, padding=1), (6, 5), 3, padding=1), [("f", (2, 3, 6, 5))]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [("f", (2, 3, 8, 7))]),
    ("max_pool2d_stride_pad", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [("f", (2, 3, 9, 9))]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [("f", (2, 3, 9, 8))]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [("f", (2, 3, 7, 5))]),
    ("max_pool1d", lambda x: F.max_pool1d(x, 2), [("f", (2, 3, 9))]),
    ("avg_pool1d", lambda x: F.avg_pool1d(x, 3), [("f", (2, 3, 9))]),
    ("interpolate", lambda x: F.interpolate(x, scale_factor=2), [("f", (1, 2, 3, 4))]),
    # attention
    ("sdpa", F.scaled_dot_product_attention, [("f", (2, 3, 5, 8)), ("f", (2, 3, 6, 8)), ("f", (2, 3, 6, 8))]),
    ("sdpa_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
     [("f", (2, 2, 7, 4)), ("f", (2, 2, 7, 4)), ("f", (2, 2, 7, 4))]),
    ("sdpa_bool_mask", lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m | ~m.any(-1, keepdim=True)),
     [("f", (2, 5, 4)), ("f", (2, 6, 4)), ("f", (2, 6, 4)), ("b", (5, 6))]),
    # normalisation, embedding, dropout
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (6,), w, b), [("f", (3, 4, 6)), ("f", (6,)), ("f", (6,))]),
    ("batch_norm_train", _bn, [("f", (5, 3, 4)), ("f", (3,)), ("f", (3,))]),
    ("normalize", lambda x: F.normalize(x, dim=1), [("f", (4, 5))]),
    ("embedding", lambda i, w: F.embedding(i, w), [("i", (3, 4), 7), ("f", (7, 5))]),
    ("embedding_padding", lambda i, w: F.embedding(i, w, padding_idx=0), [("i", (3, 4), 7), ("f", (7, 5))]),
    ("dropout", lambda x: F.dropout(x, 0.3, training=True), [("f", (6, 7))]),
]
IDS = [c[0] for c in CASES]


def _run(fn, arrays, specs, device, seed):
    """Forward, sum(out * w), backward; returns (outputs, grads) as host arrays."""
    minigrad.manual_seed(seed)  # dropout draws on the CPU, so both devices get one mask
    ins = []
    for a, s in zip(arrays, specs):
        ins.append(minigrad.tensor(a, device=device, requires_grad=s[0] in "fpu"))
    out = fn(*ins)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert o.device == minigrad.device(device), f"output on '{o.device}', expected '{device}'"
    rng = np.random.default_rng(7)
    loss = None
    for o in outs:
        if o.requires_grad:
            w = minigrad.tensor(rng.standard_normal(o.shape).astype(o.dtype), device=device)
            term = (o * w).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = []
    for t in ins:
        if t.requires_grad:
            assert t.grad is None or t.grad.device == minigrad.device(device), \
                f"gradient on '{t.grad.device}', expected '{device}'"
            grads.append(None if t.grad is None else _host(t.grad))
    return [_host(o) for o in outs], grads


def _compare_case(case, device=GPU, dtype=np.float64, seed=0):
    name, fn, specs = case
    rng = np.random.default_rng(seed)
    arrays = _make_inputs(specs, dtype, rng)
    rtol, atol = TOL[dtype]
    mode = minigrad.backend.kernel_mode() or "default"
    outs_c, grads_c = _run(fn, arrays, specs, "cpu", seed)
    outs_g, grads_g = _run(fn, arrays, specs, device, seed)
    tag = f"{name} [{np.dtype(dtype).name}, kernels={mode}]"
    assert len(outs_g) == len(outs_c)
    for i, (g, c) in enumerate(zip(outs_g, outs_c)):
        assert_same(g, c, f"{tag} forward output {i}", rtol, atol)
    for i, (g, c) in enumerate(zip(grads_g, grads_c)):
        assert (g is None) == (c is None), f"{tag}: gradient of input {i} is None on one device only"
        if g is not None:
            assert_same(g, c, f"{tag} gradient of input {i}", rtol, atol)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_op_matches_cpu_float64(case, kernel_set):
    _compare_case(case, GPU, np.float64)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_op_matches_cpu_float32(case):
    _compare_case(case, GPU, np.float32)


# ----------------------------------------------------------------------------- odd shapes, drawn

dims = st.integers(1, 9)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(dims, min_size=1, max_size=4), data=st.data())
def test_elementwise_and_reductions_on_drawn_shapes(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    bshape = data.draw(st.lists(st.sampled_from([1, None]), min_size=len(shape), max_size=len(shape)))
    bshape = tuple(s if b is None else 1 for s, b in zip(shape, bshape))
    case = ("drawn", lambda a, b: (minigrad.tanh(a) * b + a.exp()).sum(dim=dim) / 3.0,
            [("f", tuple(shape)), ("f", bshape)])
    _compare_case(case, GPU, np.float64, seed=len(shape))


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 3), m=st.integers(1, 70), k=st.integers(1, 70), n=st.integers(1, 70),
       ta=st.booleans(), tb=st.booleans())
def test_matmul_grad_on_drawn_shapes(b, m, k, n, ta, tb):
    def fn(x, y):
        x2 = minigrad.transpose(x, -1, -2) if ta else x
        y2 = minigrad.transpose(y, -1, -2) if tb else y
        return minigrad.matmul(x2, y2)

    case = ("matmul_drawn", fn, [("f", (b, k, m) if ta else (b, m, k)), ("f", (n, k) if tb else (k, n))])
    _compare_case(case, GPU, np.float32)


# ----------------------------------------------------------------------------- seed models

def _train(model_fn, batches, loss_fn, device, steps, lr=1e-2, opt="adam"):
    minigrad.manual_seed(0)
    model = model_fn()
    model.to(device)
    for p in model.parameters():
        assert p.device == minigrad.device(device), f"parameter on '{p.device}' after .to('{device}')"
    optim = minigrad.optim.Adam(model.parameters(), lr=lr) if opt == "adam" else \
        minigrad.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for i in range(steps):
        xb = [minigrad.tensor(a, device=device) for a in batches[i % len(batches)]]
        optim.zero_grad()
        loss = loss_fn(model, *xb)
        loss.backward()
        optim.step()
        losses.append(loss.item())
    return losses, {k: _host(v) for k, v in model.state_dict().items()}


def _compare_training(model_fn, batches, loss_fn, steps=5, rtol=2e-3, **kw):
    loss_c, state_c = _train(model_fn, batches, loss_fn, "cpu", steps, **kw)
    loss_g, state_g = _train(model_fn, batches, loss_fn, GPU, steps, **kw)
    diff = np.abs(np.array(loss_g) - np.array(loss_c)) / np.maximum(np.abs(loss_c), 1e-6)
    assert (diff < rtol).all(), (f"losses differ between GPU and CPU beyond rtol={rtol}:\n"
                                 f"  step  : {list(range(steps))}\n  GPU   : {loss_g}\n  CPU   : {loss_c}")
    for k in state_c:
        assert_same(state_g[k], state_c[k], f"parameter {k} after {steps} steps", 2e-2, 2e-3)


def test_mlp_trains_the_same_on_gpu_and_cpu():
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 4, 32)) for _ in range(3)]

    def make():
        return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 4))

    _compare_training(make, batches, lambda m, x, y: F.cross_entropy(m(x), y), opt="sgd")


def test_seed_cnn_trains_the_same_on_gpu_and_cpu():
    from minigrad.examples.cnn import SeedCNN

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)) for _ in range(2)]
    _compare_training(lambda: SeedCNN(width=8), batches, lambda m, x, y: F.cross_entropy(m(x), y), steps=4, lr=1e-3)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_classifier_trains_the_same_on_gpu_and_cpu(cell):
    from minigrad.examples.sequence import SequenceClassifier

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((6, 8, 5)).astype(np.float32), rng.integers(0, 3, 6)) for _ in range(2)]
    _compare_training(lambda: SequenceClassifier(5, hidden_size=16, num_layers=2, num_classes=3, cell=cell),
                      batches, lambda m, x, y: F.cross_entropy(m(x), y), lr=1e-2)


def test_seq2seq_transformer_trains_the_same_on_gpu_and_cpu():
    from minigrad.examples.transformer import Seq2SeqTransformer, make_reverse_data

    src, tgt = make_reverse_data(16, 3, 6, n_symbols=10, seed=0)  # 3 special tokens + 10 symbols
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]
    batches = [(src[:8], tgt_in[:8], tgt_out[:8]), (src[8:], tgt_in[8:], tgt_out[8:])]

    def loss_fn(m, s, ti, to):
        logits = m(s, ti)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), to.reshape(-1), ignore_index=0)

    _compare_training(lambda: Seq2SeqTransformer(13, d_model=16, nhead=2, num_layers=1, dim_feedforward=32),
                      batches, loss_fn, steps=4, lr=1e-3)


def test_linear_regression_trains_the_same_on_gpu_and_cpu():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 1))
    batches = []
    for _ in range(3):
        x = rng.standard_normal((16, 3)).astype(np.float32)
        batches.append((x, (x @ w + 0.1 * rng.standard_normal((16, 1))).astype(np.float32)))
    _compare_training(lambda: nn.Linear(3, 1), batches, lambda m, x, y: F.mse_loss(m(x), y), steps=6, lr=0.1,
                      opt="sgd")


def test_char_lm_trains_the_same_on_gpu_and_cpu():
    """The decoder-only Transformer: causal attention through the fused CUDA kernels."""
    from minigrad.examples.charlm import CharLM

    chars = "abcdefghij"
    rng = np.random.default_rng(2)
    batches = []
    for _ in range(2):
        ids = rng.integers(0, len(chars), (4, 13))
        batches.append((ids[:, :-1], ids[:, 1:]))

    def loss_fn(m, x, y):
        logits = m(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    _compare_training(lambda: CharLM(chars, block_size=12, d_model=16, nhead=2, num_layers=2), batches, loss_fn,
                      steps=4, lr=1e-3)


def test_pruned_mlp_trains_the_same_on_gpu_and_cpu():
    """A model pruned on the CPU, then moved: masks travel with it and keep pruned weights at zero."""
    from minigrad.compress import prune

    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((16, 12)).astype(np.float32), rng.integers(0, 3, 16)) for _ in range(2)]

    def make():
        model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))
        prune.l1_unstructured(model[0], "weight", amount=0.5)
        return model

    _compare_training(make, batches, lambda m, x, y: F.cross_entropy(m(x), y), steps=4, lr=1e-2)
    minigrad.manual_seed(0)
    model = make().to(GPU)
    model(minigrad.tensor(batches[0][0], device=GPU)).sum().backward()
    w = _host(model[0].weight)
    assert (w == 0).sum() == w.size // 2, "half of the pruned layer's weights must be zero on the GPU"


def test_quantized_models_give_the_same_outputs_on_gpu_and_cpu():
    """PTQ on the CPU, then the int8 model moved to the GPU: the int8 products are exact on
    both, so the outputs agree to float32 rounding of the dequantization."""
    import copy

    from minigrad.compress import quantize

    rng = np.random.default_rng(4)
    minigrad.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))
    x = rng.standard_normal((16, 12)).astype(np.float32)
    minigrad.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2))
    img = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    for name, model, inp in (("MLP", mlp, x), ("CNN", cnn, img)):
        q = quantize.quantize_ptq(model, [minigrad.tensor(inp)])
        want = q(minigrad.tensor(inp))
        q_gpu = copy.deepcopy(q).to(GPU)
        got = q_gpu(minigrad.tensor(inp, device=GPU))
        assert got.device == minigrad.device(GPU), f"quantized {name}: output on {got.device}"
        assert_same(got, want, f"quantized {name} output", 1e-5, 1e-5)
