"""Every optimizer, with every option combination, follows PyTorch's trajectory.

Both frameworks start from the same weights. At each of 50 steps the gradient is
computed in NumPy from each framework's *current* weights (a quadratic pull towards
a target plus fixed noise, so that the two trajectories are coupled exactly as in
training) and handed to both as ``.grad``; the weights must agree to float32
tolerance after every step.
"""
import itertools

import numpy as np
import pytest

import minigrad
from minigrad import optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

SHAPES = [(7, 3), (3,), (2, 2, 2)]
STEPS = 50


def _combos(**choices):
    keys = list(choices)
    return [dict(zip(keys, values)) for values in itertools.product(*choices.values())]


def _sgd_cases():
    out = []
    for c in _combos(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                     weight_decay=[0.0, 0.05], maximize=[False, True]):
        if c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0):
            continue
        out.append(("SGD", c))
    return out


CASES = (
    _sgd_cases()
    + [("Adam", c) for c in _combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                    weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                    maximize=[False, True])]
    + [("AdamW", c) for c in _combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                     weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                     maximize=[False, True])]
    + [("Adagrad", c) for c in _combos(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                                       initial_accumulator_value=[0.0, 0.5],
                                       maximize=[False, True])]
    + [("RMSprop", c) for c in _combos(lr=[0.01], alpha=[0.99, 0.8], weight_decay=[0.0, 0.1],
                                       momentum=[0.0, 0.9], centered=[False, True],
                                       maximize=[False, True])]
)


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def _grad_fn(seed, maximize):
    """g_t(w) = sign * 2 (w - target) + noise_t for each parameter (deterministic)."""
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    noise = [[rng.standard_normal(s).astype(np.float32) * 0.5 for s in SHAPES]
             for _ in range(STEPS)]
    sign = -1.0 if maximize else 1.0   # maximize the negated quadratic: same fixed point

    def grads(t, weights):
        return [(sign * 2.0 * (w - tgt) + n).astype(np.float32)
                for w, tgt, n in zip(weights, targets, noise[t])]

    return grads


def _run_both(name, kw, groups=None, seed=0):
    rng = np.random.default_rng(seed + 100)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    mg = [minigrad.tensor(a.copy(), requires_grad=True) for a in init]
    th = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups is None:
        mopt = getattr(optim, name)(mg, **kw)
        topt = getattr(torch.optim, name)(th, **kw)
    else:   # groups: list of (indices, options)
        mopt = getattr(optim, name)([dict(params=[mg[i] for i in idx], **o) for idx, o in groups], **kw)
        topt = getattr(torch.optim, name)([dict(params=[th[i] for i in idx], **o) for idx, o in groups], **kw)
    grads = _grad_fn(seed, kw.get("maximize", False))
    for t in range(STEPS):
        g_m = grads(t, [p.array for p in mg])
        g_t = grads(t, [p.detach().numpy() for p in th])
        for p, g in zip(mg, g_m):
            p.grad = minigrad.tensor(g)
        for p, g in zip(th, g_t):
            p.grad = torch.from_numpy(g)
        mopt.step()
        topt.step()
        for i, (a, b) in enumerate(zip(mg, th)):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} {kw}: parameter {i} differs at step {t + 1}")
    return mopt, topt, mg, th


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch_for_50_steps(case):
    name, kw = case
    _run_both(name, kw)


@pytest.mark.parametrize("name,kw,groups", [
    ("SGD", dict(lr=0.05, momentum=0.9), [([0], dict(lr=0.2, nesterov=True)), ([1, 2], {})]),
    ("Adam", dict(lr=0.01), [([0, 2], dict(betas=(0.8, 0.99), amsgrad=True)), ([1], dict(lr=0.1))]),
    ("RMSprop", dict(lr=0.01), [([1], dict(centered=True)), ([0, 2], dict(momentum=0.5))]),
])
def test_param_groups_match_torch(name, kw, groups):
    _run_both(name, kw, groups=groups)


TORCH_ONLY_GROUP_KEYS = {"foreach", "capturable", "differentiable", "fused",
                         "decoupled_weight_decay", "dampening_nesterov"}


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
])
def test_state_dict_layout_matches_torch(name, kw):
    mopt, topt, _, _ = _run_both(name, kw)
    msd, tsd = mopt.state_dict(), topt.state_dict()
    assert set(msd["state"]) == set(tsd["state"])
    for i in tsd["state"]:
        assert set(msd["state"][i]) == set(tsd["state"][i])
        for k, v in tsd["state"][i].items():
            np.testing.assert_allclose(np.asarray(msd["state"][i][k]), v.numpy(), rtol=1e-4, atol=1e-5)
    for mg, tg in zip(msd["param_groups"], tsd["param_groups"]):
        assert mg["params"] == tg["params"]
        assert set(mg) == set(tg) - TORCH_ONLY_GROUP_KEYS


def test_torch_defaults_match():
    w = minigrad.tensor(np.ones(2, np.float32), requires_grad=True)
    tw = torch.ones(2, requires_grad=True)
    for name in ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]:
        mine = getattr(optim, name)([w]).defaults
        theirs = getattr(torch.optim, name)([tw]).defaults
        for k, v in mine.items():
            assert theirs[k] == v, (name, k, v, theirs[k])


@pytest.mark.parametrize("name,kw", [("Adam", dict(lr=0.02, amsgrad=True)),
                                     ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_loading_a_torch_state_dict_continues_like_torch(name, kw):
    """A torch state dict, its tensors turned into NumPy arrays (step becomes a 0-d
    float array), loads into minigrad and the two continue in step."""
    mopt, topt, mg, th = _run_both(name, kw)
    tsd = topt.state_dict()
    converted = {
        "state": {i: {k: v.numpy().copy() for k, v in s.items()} for i, s in tsd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k not in TORCH_ONLY_GROUP_KEYS}
                         for g in tsd["param_groups"]],
    }
    fresh = [minigrad.tensor(p.detach().numpy().copy(), requires_grad=True) for p in th]
    opt = getattr(optim, name)(fresh, lr=1.0)
    opt.load_state_dict(converted)
    assert opt.state[fresh[0]]["step"] == STEPS and isinstance(opt.state[fresh[0]]["step"], int)
    grads = _grad_fn(7, False)
    for t in range(10):
        for p, g in zip(fresh, grads(t, [p.array for p in fresh])):
            p.grad = minigrad.tensor(g)
        for p, g in zip(th, grads(t, [p.detach().numpy() for p in th])):
            p.grad = torch.from_numpy(g)
        opt.step()
        topt.step()
        for a, b in zip(fresh, th):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=2e-5, atol=2e-6)
