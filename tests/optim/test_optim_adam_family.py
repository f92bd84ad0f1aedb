"""Adadelta, Adamax, NAdam, RAdam without an oracle: they train, keep dtypes, never
write gradients, bump versions, and resume exactly from a saved state dict."""
import numpy as np
import pytest
import minigrad
from minigrad import optim

from _optim_helpers import fit, linear_data, mse

pytestmark = pytest.mark.usefixtures("reference_kernels")

CASES = [
    (optim.Adadelta, dict(lr=1.0)),
    (optim.Adadelta, dict(lr=1.0, rho=0.8, weight_decay=1e-3, maximize=False)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.Adamax, dict(lr=0.05, weight_decay=1e-3)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05, weight_decay=1e-3, decoupled_weight_decay=True)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05, weight_decay=1e-3, decoupled_weight_decay=True)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CASES)]


def _problem(seed=0, d=5):
    rng, X, y = linear_data(seed, d=d)
    w = minigrad.tensor(rng.standard_normal((d, 1)), requires_grad=True)
    b = minigrad.tensor(np.zeros(1), requires_grad=True)
    return X, y, w, b


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_training_decreases_the_loss(cls, kw):
    X, y, w, b = _problem()
    opt = cls([w, b], **kw)
    first = mse(X, y, w, b).item()
    fit(opt, X, y, [w, b], 100)
    assert mse(X, y, w, b).item() < 0.5 * first


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_maximize_climbs(cls, kw):
    X, y, w, b = _problem()
    opt = cls([w, b], **{**kw, "maximize": True})
    first = mse(X, y, w, b).item()
    fit(opt, X, y, [w, b], 20)
    assert mse(X, y, w, b).item() > first


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_grad_untouched_version_bumped(cls, kw, dtype):
    w = minigrad.tensor(np.linspace(-1, 1, 6).astype(dtype).reshape(2, 3), requires_grad=True)
    g = np.full((2, 3), 0.25, dtype)
    w.grad = minigrad.tensor(g.copy())
    frozen = minigrad.tensor(np.ones(3, dtype), requires_grad=False)
    frozen.grad = minigrad.tensor(np.ones(3, dtype))
    opt = cls([w, frozen], **kw)
    before, version = w.array.copy(), w._version[0]
    opt.step()
    opt.step()
    assert w.dtype == dtype and w._version[0] == version + 2
    assert not np.array_equal(w.array, before)
    np.testing.assert_array_equal(w.grad.array, g)          # the gradient was only read
    np.testing.assert_array_equal(frozen.array, np.ones(3))  # requires_grad=False: skipped
    assert frozen not in opt.state
    assert all(v.dtype == dtype for v in opt.state[w].values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("cls,kw", CASES, ids=IDS)
def test_state_dict_through_a_checkpoint_resumes_exactly(cls, kw, tmp_path):
    """Save the optimizer's state dict with minigrad.save, load it into a new optimizer
    over copies of the weights: both continue identically."""
    X, y, w, b = _problem()
    opt = cls([{"params": [w]}, {"params": [b], "lr": kw["lr"] / 2}], **kw)
    fit(opt, X, y, [w, b], 5)
    minigrad.save({"optim": opt.state_dict(), "w": w, "b": b}, tmp_path / "ckpt.pt")
    ckpt = minigrad.load(tmp_path / "ckpt.pt")
    w2 = minigrad.tensor(ckpt["w"].array, requires_grad=True)
    b2 = minigrad.tensor(ckpt["b"].array, requires_grad=True)
    opt2 = cls([{"params": [w2]}, {"params": [b2]}], **kw)
    opt2.load_state_dict(ckpt["optim"])
    assert opt2.param_groups[1]["lr"] == kw["lr"] / 2
    fit(opt, X, y, [w, b], 7)
    fit(opt2, X, y, [w2, b2], 7)
    np.testing.assert_array_equal(w.array, w2.array)
    np.testing.assert_array_equal(b.array, b2.array)


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.Adadelta(p, lr=-1), r"Adadelta: invalid learning rate: -1 \(must be >= 0\)"),
    (lambda p: optim.Adadelta(p, rho=1.01), r"Adadelta: invalid rho value: 1.01 \(must be in \[0, 1\]\)"),
    (lambda p: optim.Adadelta(p, eps=-1e-6), r"Adadelta: invalid epsilon value"),
    (lambda p: optim.Adamax(p, betas=(0.9,)), r"Adamax: betas must be a pair"),
    (lambda p: optim.Adamax(p, weight_decay=float("nan")), r"Adamax: invalid weight_decay value: nan"),
    (lambda p: optim.NAdam(p, momentum_decay=-1), r"NAdam: invalid momentum_decay value"),
    (lambda p: optim.NAdam(p, betas=(1.0, 0.9)), r"NAdam: invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.RAdam(p, eps=-1), r"RAdam: invalid epsilon value"),
    (lambda p: optim.RAdam([{"params": p, "lr": -2}]), r"RAdam: invalid learning rate: -2"),
])
def test_invalid_options_raise(make, match):
    w = minigrad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        make([w])


def test_mismatched_state_dict_raises_and_changes_nothing():
    w = minigrad.tensor(np.ones(3), requires_grad=True)
    opt = optim.NAdam([w], lr=0.1)
    w.grad = minigrad.tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = np.zeros(4)
    before = opt.state[w]["exp_avg"].copy()
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(4,\)"):
        opt.load_state_dict(sd)
    np.testing.assert_array_equal(opt.state[w]["exp_avg"], before)


@pytest.mark.parametrize("cls", [optim.Adadelta, optim.Adamax, optim.NAdam, optim.RAdam])
def test_torch_only_switches(cls):
    """foreach and capturable only choose how PyTorch runs the same update: accepted.
    differentiable=True would need the update in the autograd graph: refused."""
    w = minigrad.tensor(np.ones(3), requires_grad=True)
    cls([w], foreach=False, capturable=False)
    with pytest.raises(ValueError, match=f"{cls.__name__}: differentiable=True .* not supported"):
        cls([w], differentiable=True)
