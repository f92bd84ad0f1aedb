"""Conv layers (minigrad/nn/conv.py): parameter layouts, gradients, and PyTorch oracle; the
oracle and gradcheck cases also run the pooling and upsampling layers (a CNN's other layers)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

from _ops_helpers import check_raises_naming

LAYERS = [
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2)),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=(3, 2), padding="same", padding_mode="reflect")),
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, padding=2, padding_mode="circular", bias=False)),
    ("Conv2d", dict(in_channels=4, out_channels=2, kernel_size=2, padding="same", dilation=2, padding_mode="replicate")),
    ("Conv2d", dict(in_channels=4, out_channels=4, kernel_size=3, padding="valid", groups=4)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=3, kernel_size=(2, 3), dilation=2, bias=False)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("MaxPool2d", dict(kernel_size=2, ceil_mode=True)),
    ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2))),
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(5, 11))),
]
LAYERS_1D = [
    ("Conv1d", dict(in_channels=4, out_channels=3, kernel_size=3, stride=2, padding=1)),
    ("Conv1d", dict(in_channels=4, out_channels=4, kernel_size=2, padding="same", groups=2)),
    ("MaxPool1d", dict(kernel_size=2)),
    ("AvgPool1d", dict(kernel_size=3, stride=1, padding=1)),
]


def _copy_from_torch(m, t):
    names = [n for n, _ in m.named_parameters()]
    assert names == [n for n, _ in t.named_parameters()]
    for (n, p), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
        assert p.shape == tuple(tp.shape), n
        p.array[...] = tp.detach().numpy()


@pytest.mark.oracle
@pytest.mark.parametrize("name,kw", LAYERS + LAYERS_1D, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LAYERS + LAYERS_1D)])
def test_layer_matches_torch(name, kw, kernel_set):
    torch = pytest.importorskip("torch")
    m, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    _copy_from_torch(m, t)
    shape = (2, 4, 9, 8) if (name, kw) in LAYERS else (2, 4, 11)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    my, ty = m(mx), t(tx)
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = np.random.default_rng(1).normal(size=tuple(ty.shape)).astype(np.float32)
    my.backward(mg.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for p, tp in zip(m.parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,kw", [LAYERS[1], LAYERS[5], LAYERS[13], LAYERS_1D[0]])
def test_layer_gradcheck(name, kw):
    m = getattr(nn, name)(**kw).double()
    shape = (1, 4, 5, 4) if name != "Conv1d" else (1, 4, 6)
    x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
    mg.gradcheck(lambda x, *ps: m(x), (x,) + tuple(m.parameters()))


def test_init_bounds_and_shapes():
    c = nn.Conv2d(3, 8, 5, groups=1)
    assert c.weight.shape == (8, 3, 5, 5) and c.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 25)
    assert np.abs(c.weight.numpy()).max() <= bound and np.abs(c.bias.numpy()).max() <= bound
    ct = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert ct.weight.shape == (4, 3, 3, 3)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 8, 3, padding_mode="mirror")


def test_seed_cnn_shapes():
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    out = model(mg.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------- errors name the op

ERRORS = [
    ("conv2d", lambda: nn.Conv2d(3, 4, 0)(mg.ones(1, 3, 5, 5)), ValueError),
]


@pytest.mark.parametrize("op, call, err", ERRORS, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERRORS)])
def test_bad_arguments_raise_naming_the_op(kernel_set, op, call, err):
    check_raises_naming(op, call, err)
