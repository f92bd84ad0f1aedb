"""Layers against PyTorch: weights copied through NumPy, then outputs and gradients
(of the input and of every parameter) compared; names, shapes and reprs equal."""
import numpy as np
import pytest

import minigrad
from minigrad import nn
import minigrad.nn.functional as F

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.oracle

RTOL, ATOL = 1e-4, 1e-5
rng = np.random.default_rng(99)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def copy_weights(ours, theirs):
    """torch -> minigrad through NumPy; also checks names and shapes agree."""
    sd = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(sd)
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k
    ours.load_state_dict(sd)


def compare(ours, theirs, *inputs, train=True):
    """Run both modules on the same inputs, backprop the same cotangent, compare
    outputs, input gradients and parameter gradients."""
    ours.train(train)
    theirs.train(train)
    mins = [minigrad.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tins = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    out, tout = ours(*mins), theirs(*tins)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(minigrad.tensor(g))
    tout.backward(torch.tensor(g))
    for m, t in zip(mins, tins):
        if t.requires_grad:
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=RTOL, atol=ATOL)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=name)
    return out, tout


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_linear(bias, shape):
    ours, theirs = nn.Linear(3, 6, bias=bias), torch.nn.Linear(3, 6, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(*shape))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(bias):
    ours, theirs = nn.Bilinear(3, 4, 5, bias=bias), torch.nn.Bilinear(3, 4, 5, bias=bias)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(6, 3), randn(6, 4))
    compare(ours, theirs, randn(2, 3, 3), randn(2, 3, 4))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.3}, {"momentum": None}, {"affine": False},
                                {"bias": False}, {"track_running_stats": False}, {"eps": 1e-3}])
@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 3)])
def test_batchnorm1d_train_then_eval(kw, shape):
    ours, theirs = nn.BatchNorm1d(4, **kw), torch.nn.BatchNorm1d(4, **kw)
    with torch.no_grad():
        if theirs.weight is not None:
            theirs.weight.uniform_(0.5, 1.5)
        if theirs.bias is not None:
            theirs.bias.uniform_(-0.5, 0.5)
    copy_weights(ours, theirs)
    assert repr(ours) == repr(theirs)
    for step in range(3):
        x = randn(*shape) * 2 + step
        for m in (ours, theirs):
            m.zero_grad()
        compare(ours, theirs, x, train=True)
    for (name, b), (tname, tb) in zip(ours.named_buffers(), theirs.named_buffers()):
        assert name == tname
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    for m in (ours, theirs):
        m.zero_grad()
    compare(ours, theirs, randn(*shape), train=False)


def test_batchnorm2d():
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(4, 3, 5, 2), train=True)
    ours.zero_grad()
    theirs.zero_grad()
    compare(ours, theirs, randn(4, 3, 5, 2), train=False)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("normalized_shape,shape", [(5, (3, 5)), ((4, 5), (2, 4, 5)), (6, (2, 3, 6)), (3, (3,))])
@pytest.mark.parametrize("kw", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-2}])
def test_layernorm(normalized_shape, shape, kw):
    ours, theirs = nn.LayerNorm(normalized_shape, **kw), torch.nn.LayerNorm(normalized_shape, **kw)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-1, 1)
    copy_weights(ours, theirs)
    compare(ours, theirs, randn(*shape))
    assert repr(ours) == repr(theirs)


ACTIVATIONS = [
    ("ReLU", {}), ("ReLU", {"inplace": True}), ("ReLU6", {}), ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("Sigmoid", {}), ("Tanh", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("SiLU", {}),
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("ELU", {}), ("ELU", {"alpha": 0.5}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 1.0}), ("LogSigmoid", {}),
    ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 1}), ("LogSoftmax", {"dim": 0}),
    ("Softmin", {"dim": 1}), ("Identity", {}),
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activation_modules(name, kw):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    x = randn(4, 5, 3) * 3
    compare(ours, theirs if not kw.get("inplace") else torch.nn.ReLU(), x)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("module,args", [("Flatten", ()), ("Flatten", (0, 1)), ("Flatten", (1, 2)),
                                         ("Unflatten", (1, (2, 3))), ("Unflatten", (-1, (2, 2)))])
def test_shape_modules(module, args):
    ours, theirs = getattr(nn, module)(*args), getattr(torch.nn, module)(*args)
    x = randn(2, 6, 4) if module == "Flatten" or args[0] == 1 else randn(3, 2, 4)
    compare(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_dropout_eval_and_p0_match_identity():
    x = randn(3, 4)
    for p in (0.0, 0.5):
        ours, theirs = nn.Dropout(p), torch.nn.Dropout(p)
        compare(ours, theirs, x, train=False)
        assert repr(ours) == repr(theirs)
    compare(nn.Dropout(0.0), torch.nn.Dropout(0.0), x, train=True)


def _pair_models():
    ours = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.2),
        nn.Sequential(nn.Linear(8, 8, bias=False), nn.LayerNorm(8), nn.Tanh()),
        nn.ModuleList([nn.Linear(8, 8), nn.SiLU()]), nn.ModuleDict({"head": nn.Linear(8, 3)}),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.GELU(), torch.nn.Dropout(0.2),
        torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.LayerNorm(8), torch.nn.Tanh()),
        torch.nn.ModuleList([torch.nn.Linear(8, 8), torch.nn.SiLU()]),
        torch.nn.ModuleDict({"head": torch.nn.Linear(8, 3)}),
    )
    return ours, theirs


def test_names_shapes_repr_of_a_nested_model():
    ours, theirs = _pair_models()
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [(n, tuple(b.shape)) for n, b in ours.named_buffers()] == \
        [(n, tuple(b.shape)) for n, b in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert repr(ours) == repr(theirs)


def test_weights_round_trip_both_ways():
    ours, theirs = _pair_models()
    copy_weights(ours, theirs)
    x = randn(5, 6)

    def run(o, t):
        h = o[:5](minigrad.tensor(x))
        th = t[:5](torch.tensor(x))
        h = o[6]["head"](o[5][1](o[5][0](h)))
        th = t[6]["head"](t[5][1](t[5][0](th)))
        return h.numpy(), th.detach().numpy()

    ours.eval()
    theirs.eval()
    a, b = run(ours, theirs)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # minigrad -> torch: perturb ours, load into a fresh torch model
    for p in ours.parameters():
        minigrad.nn.init.normal_(p, 0, 0.3)
    fresh = _pair_models()[1].eval()
    fresh.load_state_dict({k: torch.tensor(np.array(v.numpy())) for k, v in ours.state_dict().items()})
    a, b = run(ours, fresh)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("size", [(64, 300), (300, 64), (16, 8, 3)])
def test_default_init_distribution_matches_torch(size):
    """Both draw every parameter from U(-b, b) with b = 1/sqrt(fan_in)."""
    torch.manual_seed(0)
    minigrad.manual_seed(0)
    if len(size) == 2:
        ours, theirs = nn.Linear(size[1], size[0]), torch.nn.Linear(size[1], size[0])
    else:
        ours = nn.Bilinear(size[1], size[2], size[0])
        theirs = torch.nn.Bilinear(size[1], size[2], size[0])
    bound = 1 / np.sqrt(size[1])
    for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        a, b = p.numpy(), tp.detach().numpy()
        assert n == tn and a.dtype == b.dtype == np.float32 and a.shape == b.shape
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound, n
        if a.size >= 300:  # large samples reach the bound and have the uniform's std b/sqrt(3)
            assert np.abs(a).max() > 0.97 * bound, n
            assert a.std() == pytest.approx(bound / np.sqrt(3), rel=0.08), n
            assert b.std() == pytest.approx(bound / np.sqrt(3), rel=0.08), n


@pytest.mark.parametrize("fn,kw", [
    ("xavier_uniform_", {}), ("xavier_normal_", {"gain": 2.0}), ("kaiming_uniform_", {}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform_", {"a": 0.2, "nonlinearity": "leaky_relu"}),
])
def test_init_std_matches_torch(fn, kw):
    t = torch.empty(400, 50, 3)
    getattr(torch.nn.init, fn)(t, **kw)
    m = minigrad.zeros(400, 50, 3)
    getattr(nn.init, fn)(m, **kw)
    assert m.numpy().std() == pytest.approx(t.numpy().std(), rel=0.03)
    assert np.abs(m.numpy()).max() <= np.abs(t.numpy()).max() * 1.3


@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3), ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    copy_weights(ours, theirs)
    x = randn(6, 4)
    (ours(minigrad.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    n = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    assert float(n) == pytest.approx(float(tn), rel=1e-5)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_torch():
    ours, theirs = nn.Linear(4, 3), torch.nn.Linear(4, 3)
    copy_weights(ours, theirs)
    x = randn(6, 4) * 5
    (ours(minigrad.tensor(x)) ** 2).sum().backward()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    nn.utils.clip_grad_value_(ours.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.5)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_functional_linear_and_dropout_eval_match():
    x, w, b = randn(2, 3, 4), randn(5, 4), randn(5)
    np.testing.assert_allclose(F.linear(minigrad.tensor(x), minigrad.tensor(w), minigrad.tensor(b)).numpy(),
                               torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy(),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(F.dropout(minigrad.tensor(x), 0.3, training=False).numpy(), x)


def test_parameter_repr_matches_torch():
    a = np.array([1.0, 2.0], np.float32)
    assert repr(nn.Parameter(minigrad.tensor(a))) == repr(torch.nn.Parameter(torch.tensor(a)))


@pytest.mark.parametrize("name,kw", [("conv2d", {"padding": 1, "stride": 2}), ("max_pool2d", {"kernel_size": 2}),
                                     ("avg_pool2d", {"kernel_size": 3, "stride": 1, "padding": 1})])
def test_functional_reexports_conv_and_pool_under_torch_names(name, kw):
    if not hasattr(F, name):
        pytest.skip(f"ops providing F.{name} not present")
    x = randn(2, 3, 6, 5)
    args, targs = (), ()
    if name == "conv2d":
        w = randn(4, 3, 3, 3)
        args, targs = (minigrad.tensor(w),), (torch.tensor(w),)
    out = getattr(F, name)(minigrad.tensor(x), *args, **kw)
    ref = getattr(torch.nn.functional, name)(torch.tensor(x), *targs, **kw)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=RTOL, atol=ATOL)
