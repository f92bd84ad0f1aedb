"""What the optimizer tests share: a small regression problem, and running a minigrad
optimizer side by side with its torch.optim twin on the same stream of gradients
(the oracle tests themselves, shared by the optimizers' test files, are in
``_oracle_50_steps.py`` and ``_oracle_float64.py``).

In the side-by-side runs both frameworks start from the same weights. At each step
the gradient is computed in NumPy from each framework's *current* weights (a
quadratic pull towards a target plus fixed noise, so that the two trajectories are
coupled exactly as in training) and handed to both as ``.grad``.
"""
import itertools

import numpy as np
import pytest

import minigrad
from minigrad import optim

try:
    import torch
except ImportError:          # the tests that compare with PyTorch are skipped
    torch = None

# Options torch.optim keeps in its parameter groups that only choose how PyTorch runs
# an update; minigrad's groups do not have them.
TORCH_RUN_OPTIONS = {"foreach", "capturable", "differentiable", "fused"}


def oracle(test):
    """Mark a test that compares with PyTorch: marked ``oracle``, skipped without torch."""
    return pytest.mark.oracle(pytest.mark.skipif(torch is None, reason="needs PyTorch")(test))


def cases_from_test_file(argnames, table, ids=None):
    """Mark an oracle test that several test files share (one per optimizer module):
    in each file that imports it, it runs over that file's list named ``table``,
    ``argnames`` being the values of one case and ``ids(case)`` its name.
    ``pytest_generate_tests`` in conftest.py does the parametrizing."""
    def mark(test):
        test.cases_from_test_file = (argnames, table, ids)
        return oracle(test)
    return mark


def combos(**choices):
    """Every combination of the given option values, as a list of dicts."""
    keys = list(choices)
    return [dict(zip(keys, values)) for values in itertools.product(*choices.values())]


# ---------------------------------------------------------------------- a regression problem

def linear_data(seed=0, n=64, d=5, dtype=np.float64):
    """``(rng, X, y)`` with ``y = X w_true + 0.5``; the generator goes on from there, so
    a caller can draw starting weights from it."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = X @ rng.standard_normal((d, 1)).astype(dtype) + 0.5
    return rng, minigrad.tensor(X), minigrad.tensor(y)


def mse(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean()


def fit(opt, X, y, params, steps):
    """Take ``steps`` steps of ``opt`` on ``mse(X, y, *params)``."""
    for _ in range(steps):
        opt.zero_grad()
        mse(X, y, *params).backward()
        opt.step()


# ---------------------------------------------------------------------- side by side with torch

def gradient_stream(shapes, steps, seed, dtype, maximize):
    """``grads(t, weights)``: g_t(w) = sign * 2 (w - target) + noise_t for each
    parameter (deterministic; sign -1 when maximizing, same fixed point)."""
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s).astype(dtype) for s in shapes]
    noise = [[(rng.standard_normal(s) * 0.5).astype(dtype) for s in shapes] for _ in range(steps)]
    sign = -1.0 if maximize else 1.0

    def grads(t, weights):
        return [np.asarray(sign * 2.0 * (w - tgt) + n, dtype=dtype)
                for w, tgt, n in zip(weights, targets, noise[t])]

    return grads


def step_both(torch, mopt, topt, mg, th, grads, t):
    """Give both frameworks their step-``t`` gradients and take one step with each."""
    for p, g in zip(mg, grads(t, [p.array for p in mg])):
        p.grad = minigrad.tensor(g)
    for p, g in zip(th, grads(t, [p.detach().numpy() for p in th])):
        p.grad = torch.from_numpy(g)
    mopt.step()
    topt.step()


def run_both(torch, name, kw, *, shapes, steps, dtype, rtol, atol, groups=None, seed=0):
    """Run optimizer ``name`` with options ``kw`` in both frameworks for ``steps``
    steps; the weights must agree after every step. ``groups``: a list of
    ``(parameter indices, options)`` pairs. Returns both optimizers and parameters."""
    rng = np.random.default_rng(seed + 100)
    init = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    mg = [minigrad.tensor(a.copy(), requires_grad=True) for a in init]
    th = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups is None:
        mopt = getattr(optim, name)(mg, **kw)
        topt = getattr(torch.optim, name)(th, **kw)
    else:
        mopt = getattr(optim, name)([dict(params=[mg[i] for i in idx], **o) for idx, o in groups], **kw)
        topt = getattr(torch.optim, name)([dict(params=[th[i] for i in idx], **o) for idx, o in groups],
                                          **kw)
    grads = gradient_stream(shapes, steps, seed, dtype, kw.get("maximize", False))
    for t in range(steps):
        step_both(torch, mopt, topt, mg, th, grads, t)
        for i, (a, b) in enumerate(zip(mg, th)):
            assert a.dtype == dtype
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{name} {kw}: parameter {i} differs at step {t + 1}")
    return mopt, topt, mg, th


def assert_state_dicts_match(mopt, topt, torch_only_keys, **tol):
    """The same state entries with the same values, the same group options."""
    msd, tsd = mopt.state_dict(), topt.state_dict()
    assert set(msd["state"]) == set(tsd["state"])
    for i in tsd["state"]:
        assert set(msd["state"][i]) == set(tsd["state"][i])
        for k, v in tsd["state"][i].items():
            np.testing.assert_allclose(np.asarray(msd["state"][i][k]), v.numpy(), **tol)
    for mg, tg in zip(msd["param_groups"], tsd["param_groups"]):
        assert mg["params"] == tg["params"]
        assert set(mg) == set(tg) - torch_only_keys


def continue_from_torch_state(torch, name, topt, th, *, steps_done, shapes, dtype, torch_only_keys,
                              rtol, atol):
    """Load ``topt``'s state dict (its tensors turned into NumPy arrays, so the step
    count becomes a 0-d array) into a minigrad optimizer over copies of ``th``; the
    two must then go on in step for 10 more steps."""
    tsd = topt.state_dict()
    converted = {
        "state": {i: {k: v.numpy().copy() for k, v in s.items()} for i, s in tsd["state"].items()},
        "param_groups": [{k: v for k, v in g.items() if k not in torch_only_keys}
                         for g in tsd["param_groups"]],
    }
    fresh = [minigrad.tensor(p.detach().numpy().copy(), requires_grad=True) for p in th]
    opt = getattr(optim, name)(fresh, lr=1.0)
    opt.load_state_dict(converted)
    assert opt.state[fresh[0]]["step"] == steps_done and isinstance(opt.state[fresh[0]]["step"], int)
    grads = gradient_stream(shapes, 10, 7, dtype, False)
    for t in range(10):
        step_both(torch, opt, topt, fresh, th, grads, t)
        for a, b in zip(fresh, th):
            np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=rtol, atol=atol)
