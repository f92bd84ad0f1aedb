"""Adadelta, Adamax, NAdam and RAdam follow torch.optim step by step, in float64 and float32.

Both frameworks start from the same weights and receive the same gradients at every
step (computed in NumPy from each one's current weights, so the trajectories are
coupled as in training). In float64 the weights must agree to 1e-10 after every
step; in float32 to float32 tolerance. PyTorch keeps NAdam's ``mu_product`` in its
default dtype, so the float64 runs set that to float64.
"""
import itertools

import numpy as np
import pytest

import minigrad
from minigrad import optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

SHAPES = [(4, 3), (5,), ()]
STEPS = 20
NEW = ["Adadelta", "Adamax", "NAdam", "RAdam"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
TORCH_ONLY_GROUP_KEYS = {"foreach", "capturable", "differentiable", "fused"}


def _combos(**choices):
    keys = list(choices)
    return [dict(zip(keys, values)) for values in itertools.product(*choices.values())]


CASES = (
    [("Adadelta", c) for c in _combos(lr=[1.0, 0.3], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                                      maximize=[False, True])]
    + [("Adamax", c) for c in _combos(lr=[0.02], betas=[(0.9, 0.999), (0.3, 0.9)],
                                      weight_decay=[0.0, 0.1], eps=[1e-8, 1e-3],
                                      maximize=[False, True])]
    + [("NAdam", c) for c in _combos(lr=[0.02], weight_decay=[0.0, 0.1],
                                     decoupled_weight_decay=[False, True],
                                     momentum_decay=[4e-3, 0.1], maximize=[False, True])]
    + [("RAdam", c) for c in _combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                     weight_decay=[0.0, 0.1],
                                     decoupled_weight_decay=[False, True], maximize=[False, True])]
)


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.fixture
def torch_default_dtype():
    """Set torch's default dtype for one test (float64 runs need float64 scalars)."""
    before = torch.get_default_dtype()
    yield torch.set_default_dtype
    torch.set_default_dtype(before)


def _grad_fn(seed, dtype, maximize):
    """g_t(w) = sign * 2 (w - target) + noise_t for each parameter (deterministic)."""
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    noise = [[(rng.standard_normal(s) * 0.5).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    sign = -1.0 if maximize else 1.0

    def grads(t, weights):
        return [np.asarray(sign * 2.0 * (w - tgt) + n, dtype=dtype)
                for w, tgt, n in zip(weights, targets, noise[t])]

    return grads


def _run_both(name, kw, dtype, groups=None, seed=0, steps=STEPS):
    rng = np.random.default_rng(seed + 100)
    init = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    mg = [minigrad.tensor(a.copy(), requires_grad=True) for a in init]
    th = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups is None:
        mopt = getattr(optim, name)(mg, **kw)
        topt = getattr(torch.optim, name)(th, **kw)
    else:   # groups: list of (indices, options)
        mopt = getattr(optim, name)([dict(params=[mg[i] for i in idx], **o) for idx, o in groups], **kw)
        topt = getattr(torch.optim, name)([dict(params=[th[i] for i in idx], **o) for idx, o in groups],
                                          **kw)
    grads = _grad_fn(seed, dtype, kw.get("maximize", False))
    for t in range(steps):
        for p, g in zip(mg, grads(t, [p.array for p in mg])):
            p.grad = minigrad.tensor(g)
        for p, g in zip(th, grads(t, [p.detach().numpy() for p in th])):
            p.grad = torch.from_numpy(g)
        mopt.step()
        topt.step()
        for i, (a, b) in enumerate(zip(mg, th)):
            assert a.dtype == dtype
            np.testing.assert_allclose(a.array, b.detach().numpy(), **TOL[dtype],
                                       err_msg=f"{name} {kw}: parameter {i} differs at step {t + 1}")
    return mopt, topt, mg, th


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch_step_by_step(case, dtype, torch_default_dtype):
    torch_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    name, kw = case
    _run_both(name, kw, dtype)


@pytest.mark.parametrize("name,kw,groups", [
    ("Adadelta", dict(lr=1.0), [([0], dict(rho=0.5)), ([1, 2], dict(lr=0.1, weight_decay=0.1))]),
    ("Adamax", dict(lr=0.01), [([0, 2], dict(betas=(0.5, 0.9))), ([1], dict(lr=0.1))]),
    ("NAdam", dict(lr=0.01), [([1], dict(momentum_decay=0.05)),
                              ([0, 2], dict(weight_decay=0.1, decoupled_weight_decay=True))]),
    ("RAdam", dict(lr=0.01), [([2], dict(betas=(0.5, 0.9))), ([0, 1], dict(weight_decay=0.01))]),
])
def test_param_groups_match_torch(name, kw, groups, torch_default_dtype):
    torch_default_dtype(torch.float64)
    _run_both(name, kw, np.float64, groups=groups)


@pytest.mark.parametrize("name", NEW)
def test_state_dict_layout_matches_torch(name, torch_default_dtype):
    torch_default_dtype(torch.float64)
    mopt, topt, _, _ = _run_both(name, dict(weight_decay=0.1), np.float64, steps=5)
    msd, tsd = mopt.state_dict(), topt.state_dict()
    assert set(msd["state"]) == set(tsd["state"])
    for i in tsd["state"]:
        assert set(msd["state"][i]) == set(tsd["state"][i])
        for k, v in tsd["state"][i].items():
            np.testing.assert_allclose(np.asarray(msd["state"][i][k]), v.numpy(), rtol=1e-10)
    for mg, tg in zip(msd["param_groups"], tsd["param_groups"]):
        assert mg["params"] == tg["params"]
        assert set(mg) == set(tg) - TORCH_ONLY_GROUP_KEYS


@pytest.mark.parametrize("name", NEW + ["LBFGS"])
def test_torch_defaults_match(name):
    w = minigrad.tensor(np.ones(2, np.float32), requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    mine = getattr(optim, name)([w]).defaults
    theirs = getattr(torch.optim, name)([tw]).defaults
    assert set(mine) == set(theirs) - TORCH_ONLY_GROUP_KEYS
    for k, v in mine.items():
        assert theirs[k] == v, (name, k, v, theirs[k])


@pytest.mark.parametrize("name", NEW)
def test_loading_a_torch_state_dict_continues_like_torch(name, torch_default_dtype):
    """A torch state dict, its tensors turned into NumPy arrays (step and mu_product
    become 0-d arrays), loads into minigrad and the two continue in step."""
    torch_default_dtype(torch.float64)
    _, topt, _, th = _run_both(name, dict(lr=0.05), np.float64, steps=8)
    tsd = topt.state_dict()
    converted = {
        "state": {i: {k: v.numpy().copy() for k, v in s.items()} for i, s in tsd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k not in TORCH_ONLY_GROUP_KEYS}
                         for g in tsd["param_groups"]],
    }
    fresh = [minigrad.tensor(p.detach().numpy().copy(), requires_grad=True) for p in th]
    opt = getattr(optim, name)(fresh, lr=1.0)
    opt.load_state_dict(converted)
    assert opt.state[fresh[0]]["step"] == 8 and isinstance(opt.state[fresh[0]]["step"], int)
    grads = _grad_fn(7, np.float64, False)
    for t in range(10):
        for p, g in zip(fresh, grads(t, [p.array for p in fresh])):
            p.grad = minigrad.tensor(g)
        for p, g in zip(th, grads(t, [p.detach().numpy() for p in th])):
            p.grad = torch.from_numpy(g)
        opt.step()
        topt.step()
        for a, b in zip(fresh, th):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=1e-10, atol=1e-12)


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
