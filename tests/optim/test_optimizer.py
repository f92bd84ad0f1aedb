"""The optimizer base class (minigrad/optim/optimizer.py): what every optimizer does
through it. Each optimizer trains, climbs with ``maximize``, respects parameter groups
and frozen weights, never writes a gradient, bumps versions, checks its options and
its parameters, saves and loads its state; and its defaults and refusals are
PyTorch's. (Each optimizer's own update rule is checked against torch.optim in its
own test file: test_sgd.py, test_adam.py, ...)"""
import copy
import pickle

import numpy as np
import pytest

import minigrad
from minigrad import optim

from _optim_helpers import TORCH_RUN_OPTIONS, fit, linear_data, mse, oracle, torch

pytestmark = pytest.mark.usefixtures("reference_kernels")


ALL = [
    (optim.SGD, dict(lr=0.05)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    (optim.Adam, dict(lr=0.05)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=1e-4)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.Adagrad, dict(lr=0.3)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(ALL)]


def _regression(seed=0):
    _, X, y = linear_data(seed, dtype=np.float32)
    return X, y


def _params(seed=1, d=5):
    rng = np.random.default_rng(seed)
    w = minigrad.tensor(rng.standard_normal((d, 1)).astype(np.float32), requires_grad=True)
    b = minigrad.tensor(np.zeros((1,), np.float32), requires_grad=True)
    return w, b


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_optimizer_decreases_loss(cls, kw):
    X, y = _regression()
    w, b = _params()
    opt = cls([w, b], **kw)
    first = mse(X, y, w, b).item()
    fit(opt, X, y, [w, b], 150)
    last = mse(X, y, w, b).item()
    assert last < 0.1 * first, (first, last)


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_maximize_increases_objective(cls, kw):
    w, _ = _params()
    opt = cls([w], **kw, maximize=True)
    start = (-(w * w).sum()).item()
    for _ in range(20):
        opt.zero_grad()
        obj = -(w * w).sum()   # concave, maximum 0 at w = 0
        obj.backward()
        opt.step()
    assert (-(w * w).sum()).item() > start


def test_closure_is_called_and_its_loss_returned():
    X, y = _regression()
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.05)
    calls = []

    def closure():
        opt.zero_grad()
        loss = mse(X, y, w, b)
        loss.backward()
        calls.append(minigrad.is_grad_enabled())
        return loss

    with minigrad.no_grad():   # the closure must still run with grad mode on
        loss = opt.step(closure)
    assert calls == [True]
    assert loss.item() > mse(X, y, w, b).item()


def test_param_groups_use_their_own_options():
    a = minigrad.tensor(np.ones(3, np.float32), requires_grad=True)
    b = minigrad.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[1]["lr"] == 0.1
    assert opt.param_groups[1]["momentum"] == 0.0
    a.grad = minigrad.tensor(np.ones(3, np.float32))
    b.grad = minigrad.tensor(np.ones(3, np.float32))
    opt.step()
    np.testing.assert_allclose(a.array, 0.5)
    np.testing.assert_allclose(b.array, 0.9)
    # changing a group's lr between steps is what a scheduler does
    opt.param_groups[1]["lr"] = 0.4
    opt.step()
    np.testing.assert_allclose(b.array, 0.5)


def test_named_parameters_are_accepted():
    w, b = _params()
    opt = optim.Adam([("w", w), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.param_groups[0]["params"][0] is w


def test_add_param_group_trains_new_params():
    w, b = _params()
    opt = optim.Adam([w], lr=0.1)
    opt.add_param_group({"params": b, "lr": 0.2})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["lr"] == 0.2
    b.grad = minigrad.tensor(np.ones(1, np.float32))
    opt.step()
    np.testing.assert_allclose(b.array, [-0.2], rtol=1e-5)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_frozen_and_gradless_params_do_not_move(cls, kw):
    w, b = _params()
    frozen = minigrad.tensor(np.ones(4, np.float32) * 3)   # requires_grad=False
    frozen.grad = minigrad.tensor(np.ones(4, np.float32))  # even with a stale grad
    nograd = minigrad.tensor(np.ones(4, np.float32) * 2, requires_grad=True)  # grad stays None
    kw = dict(kw, weight_decay=0.5)  # weight decay must not touch them either
    opt = cls([w, b, frozen, nograd], **kw)
    X, y = _regression()
    w0 = w.array.copy()
    fit(opt, X, y, [w, b], 3)
    np.testing.assert_array_equal(frozen.array, 3)
    np.testing.assert_array_equal(nograd.array, 2)
    assert frozen not in opt.state and nograd not in opt.state
    assert not np.array_equal(w.array, w0)


def test_gradient_arrays_are_never_written():
    w, _ = _params()
    for cls, kw in ALL:
        g = np.arange(5, dtype=np.float32).reshape(5, 1) - 2
        w.grad = minigrad.Tensor(g)
        opt = cls([w], **kw, maximize=True) if cls is not optim.SGD else cls([w], **kw)
        for _ in range(3):
            opt.step()
        np.testing.assert_array_equal(g, np.arange(5, dtype=np.float32).reshape(5, 1) - 2)


def test_step_bumps_the_version_so_stale_graphs_refuse_backward():
    w, b = _params()
    X, y = _regression()
    opt = optim.SGD([w, b], lr=0.1)
    mse(X, y, w, b).backward()
    loss = mse(X, y, w, b)   # saved w for backward
    opt.step()                 # ...then w changed in place
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_zero_grad_modes():
    w, b = _params()
    opt = optim.SGD([w, b], lr=0.1)
    shared = np.ones((5, 1), np.float32)
    w.grad = minigrad.Tensor(shared)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.array, 0)
    np.testing.assert_array_equal(shared, 1)   # a fresh array: the old one may be shared
    assert b.grad is None
    opt.zero_grad()
    assert w.grad is None


def test_float64_params_stay_float64():
    for cls, kw in ALL:
        w = minigrad.tensor(np.ones(3), dtype=np.float64, requires_grad=True)
        w.grad = minigrad.tensor(np.full(3, 0.5), dtype=np.float64)
        opt = cls([w], **kw)
        opt.step()
        opt.step()
        assert w.dtype == np.float64
        assert all(v.dtype == np.float64 for v in opt.state.get(w, {}).values()
                   if hasattr(v, "dtype"))


# ---------------------------------------------------------------------- argument checking

@pytest.mark.parametrize("make,match", [
    (lambda p: optim.Adam(p, betas=(1.5, 0.9)),
     r"Adam: invalid beta parameter at index 0: 1.5 \(must be in \[0, 1\)\)"),
    (lambda p: optim.AdamW(p, betas=(0.9, 1.0)), r"AdamW: invalid beta parameter at index 1: 1.0"),
    (lambda p: optim.Adam(p, betas=0.9), r"betas must be a pair"),
    (lambda p: optim.Adam(p, lr=-1), r"Adam: invalid learning rate: -1 \(must be >= 0\)"),
    (lambda p: optim.Adam(p, eps=-1e-8), r"invalid epsilon value"),
    (lambda p: optim.Adam(p, weight_decay=-0.1), r"invalid weight_decay value"),
    (lambda p: optim.SGD(p, lr=float("nan")), r"SGD: invalid learning rate: nan"),
    (lambda p: optim.SGD(p, momentum=-0.5), r"SGD: invalid momentum value"),
    (lambda p: optim.SGD(p, nesterov=True), r"Nesterov momentum requires a momentum > 0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), r"zero dampening"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), r"Adagrad: invalid lr_decay value"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), r"initial_accumulator_value"),
    (lambda p: optim.RMSprop(p, alpha=1.5), r"RMSprop: invalid alpha value: 1.5 \(must be in \[0, 1\]\)"),
    (lambda p: optim.RMSprop(p, momentum=-1), r"RMSprop: invalid momentum value"),
    (lambda p: optim.SGD([{"params": p, "lr": -0.1}], lr=0.1), r"SGD: invalid learning rate: -0.1"),
])
def test_invalid_options_raise(make, match):
    w, _ = _params()
    with pytest.raises(ValueError, match=match):
        make([w])


def test_invalid_params_raise():
    w, b = _params()
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({w, b}, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([w, np.ones(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="same tensor more than once"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w, b]}], lr=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        optim.SGD([minigrad.tensor([1, 2])], lr=0.1)
    with pytest.raises(TypeError, match="wrap a parameter group in a list"):
        optim.SGD({"params": [w]}, lr=0.1)


def test_wrong_grad_shape_raises():
    w, _ = _params()
    w.grad = minigrad.tensor(np.ones(3, np.float32))
    with pytest.raises(RuntimeError, match=r"shape \(5, 1\) has shape \(3,\)"):
        optim.SGD([w], lr=0.1).step()


# ---------------------------------------------------------------------- state_dict

def _train(opt, params, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in params:
            p.grad = minigrad.tensor(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_state_dict_round_trip_continues_identically(cls, kw):
    w, b = _params()
    opt = cls([{"params": [w]}, {"params": [b], "lr": kw["lr"] / 2}], **kw)
    _train(opt, [w, b], 5, seed=0)
    saved = pickle.loads(pickle.dumps(opt.state_dict()))   # it must pickle
    w2 = minigrad.tensor(w.array, requires_grad=True)
    b2 = minigrad.tensor(b.array, requires_grad=True)
    opt2 = cls([{"params": [w2]}, {"params": [b2]}], **kw)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == kw["lr"] / 2
    _train(opt, [w, b], 7, seed=1)
    _train(opt2, [w2, b2], 7, seed=1)
    np.testing.assert_array_equal(w.array, w2.array)
    np.testing.assert_array_equal(b.array, b2.array)


def test_state_dict_is_a_copy_and_load_copies():
    w, b = _params()
    opt = optim.Adam([w, b], lr=0.1)
    _train(opt, [w, b], 2, seed=0)
    sd = opt.state_dict()
    before = copy.deepcopy(sd)
    _train(opt, [w, b], 2, seed=1)      # later steps do not change the saved dict
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
    assert sd["state"][0]["step"] == 2 and opt.state[w]["step"] == 4
    assert sd["param_groups"][0]["params"] == [0, 1]
    opt2 = optim.Adam([w, b], lr=0.1)
    opt2.load_state_dict(sd)
    sd["state"][0]["exp_avg"][...] = 123.0  # the loaded state is not the dict's array
    assert not np.any(opt2.state[w]["exp_avg"] == 123.0)


def test_load_state_dict_casts_to_the_param_dtype():
    w = minigrad.tensor(np.ones(3), dtype=np.float64, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = minigrad.tensor(np.ones(3), dtype=np.float64)
    opt.step()
    sd = opt.state_dict()
    w32 = minigrad.tensor(np.ones(3, np.float32), requires_grad=True)
    opt32 = optim.Adam([w32], lr=0.1)
    opt32.load_state_dict(sd)
    assert opt32.state[w32]["exp_avg"].dtype == np.float32
    assert opt32.state[w32]["step"] == 1


@pytest.mark.parametrize("mutate,match", [
    (lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), "2 parameter group"),
    (lambda sd: sd["param_groups"][0]["params"].pop(), "has 1 parameters in the state dict but 2"),
    (lambda sd: sd["state"].__setitem__(7, {"step": 1}), "parameter index 7"),
    (lambda sd: sd["state"][0].__setitem__("exp_avg", np.zeros((2, 2), np.float32)),
     r"has shape \(2, 2\), but the parameter has shape \(5, 1\)"),
    (lambda sd: sd["param_groups"][0].__setitem__("lr", -1.0), "invalid learning rate"),
    (lambda sd: sd.pop("state"), "expected a dict with 'state'"),
])
def test_mismatched_state_dict_raises_and_changes_nothing(mutate, match):
    w, b = _params()
    opt = optim.Adam([w, b], lr=0.1)
    _train(opt, [w, b], 2, seed=0)
    sd = opt.state_dict()
    mutate(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i in before["state"]:
        for k, v in before["state"][i].items():
            np.testing.assert_array_equal(after["state"][i][k], v)


def test_repr_lists_groups():
    w, b = _params()
    text = repr(optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.5" in text


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_zero_dim_parameters_train_and_round_trip(cls, kw):
    w = minigrad.tensor(np.float32(2.0), requires_grad=True)
    opt = cls([w], **kw)
    for _ in range(3):
        opt.zero_grad()
        (w * w).backward()
        opt.step()
    assert 0 <= abs(w.item()) < 2.0 and w.shape == ()
    sd = opt.state_dict()
    w2 = minigrad.tensor(w.array, requires_grad=True)
    opt2 = cls([w2], **kw)
    opt2.load_state_dict(sd)
    for k, v in opt.state.get(w, {}).items():
        assert np.shape(opt2.state[w2][k]) == np.shape(v)
    for _ in range(3):
        for o, p in ((opt, w), (opt2, w2)):
            p.grad = minigrad.tensor(np.float32(-0.5))
            o.step()
    assert w.item() == w2.item()


# ---------------------------------------------------------------------- Adadelta, Adamax, NAdam, RAdam
# The same promises, kept by the four optimizers that compare with PyTorch in float64.

FAMILY_CASES = [
    (optim.Adadelta, dict(lr=1.0)),
    (optim.Adadelta, dict(lr=1.0, rho=0.8, weight_decay=1e-3, maximize=False)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.Adamax, dict(lr=0.05, weight_decay=1e-3)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05, weight_decay=1e-3, decoupled_weight_decay=True)),
    (optim.RAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05, weight_decay=1e-3, decoupled_weight_decay=True)),
]
FAMILY_IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(FAMILY_CASES)]


def _problem(seed=0, d=5):
    rng, X, y = linear_data(seed, d=d)
    w = minigrad.tensor(rng.standard_normal((d, 1)), requires_grad=True)
    b = minigrad.tensor(np.zeros(1), requires_grad=True)
    return X, y, w, b


@pytest.mark.parametrize("cls,kw", FAMILY_CASES, ids=FAMILY_IDS)
def test_training_decreases_the_loss(cls, kw):
    X, y, w, b = _problem()
    opt = cls([w, b], **kw)
    first = mse(X, y, w, b).item()
    fit(opt, X, y, [w, b], 100)
    assert mse(X, y, w, b).item() < 0.5 * first


@pytest.mark.parametrize("cls,kw", FAMILY_CASES, ids=FAMILY_IDS)
def test_maximize_climbs(cls, kw):
    X, y, w, b = _problem()
    opt = cls([w, b], **{**kw, "maximize": True})
    first = mse(X, y, w, b).item()
    fit(opt, X, y, [w, b], 20)
    assert mse(X, y, w, b).item() > first


@pytest.mark.parametrize("cls,kw", FAMILY_CASES, ids=FAMILY_IDS)
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


@pytest.mark.parametrize("cls,kw", FAMILY_CASES, ids=FAMILY_IDS)
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
def test_family_invalid_options_raise(make, match):
    w = minigrad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=match):
        make([w])


def test_family_mismatched_state_dict_raises_and_changes_nothing():
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


# ---------------------------------------------------------------------- defaults and refusals, as torch.optim's

NEW = ["Adadelta", "Adamax", "NAdam", "RAdam"]
TORCH_ONLY_GROUP_KEYS = TORCH_RUN_OPTIONS


@oracle
def test_torch_defaults_match():
    w = minigrad.tensor(np.ones(2, np.float32), requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    for name in ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]:
        mine = getattr(optim, name)([w]).defaults
        theirs = getattr(torch.optim, name)([tw]).defaults
        for k, v in mine.items():
            assert theirs[k] == v, (name, k, v, theirs[k])


@oracle
@pytest.mark.parametrize("name", NEW + ["LBFGS"])
def test_family_torch_defaults_match(name):
    w = minigrad.tensor(np.ones(2, np.float32), requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    mine = getattr(optim, name)([w]).defaults
    theirs = getattr(torch.optim, name)([tw]).defaults
    assert set(mine) == set(theirs) - TORCH_ONLY_GROUP_KEYS
    for k, v in mine.items():
        assert theirs[k] == v, (name, k, v, theirs[k])


@oracle
@pytest.mark.parametrize("name,kw,match", [
    ("Adadelta", dict(lr=-1.0), "Invalid learning rate"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value"),
    ("Adadelta", dict(eps=-1.0), "Invalid epsilon value"),
    ("Adadelta", dict(weight_decay=-1.0), "Invalid weight_decay value"),
    ("Adamax", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0"),
    ("Adamax", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value"),
    ("NAdam", dict(lr=-0.1), "Invalid learning rate"),
    ("RAdam", dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1"),
    ("RAdam", dict(weight_decay=-0.5), "Invalid weight_decay value"),
    ("LBFGS", dict(lr=-1.0), "Invalid learning rate"),
])
def test_torch_refuses_what_minigrad_refuses(name, kw, match):
    """Both raise ValueError for the same bad hyper-parameters, with the same words."""
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=f"{name}: (?i:{match})"):
        getattr(optim, name)([minigrad.tensor(np.ones(2), requires_grad=True)], **kw)
