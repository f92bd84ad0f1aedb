"""Adadelta, Adamax, NAdam and RAdam follow torch.optim step by step, in float64 and float32.

Both frameworks start from the same weights and receive the same gradients at every
step (computed in NumPy from each one's current weights, so the trajectories are
coupled as in training). In float64 the weights must agree to 1e-10 after every
step; in float32 to float32 tolerance. PyTorch keeps NAdam's ``mu_product`` in its
default dtype, so the float64 runs set that to float64.
"""
import numpy as np
import pytest

import minigrad
from minigrad import optim

from _optim_helpers import (TORCH_RUN_OPTIONS, assert_state_dicts_match, combos,
                            continue_from_torch_state, run_both)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

SHAPES = [(4, 3), (5,), ()]
STEPS = 20
NEW = ["Adadelta", "Adamax", "NAdam", "RAdam"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
TORCH_ONLY_GROUP_KEYS = TORCH_RUN_OPTIONS


CASES = (
    [("Adadelta", c) for c in combos(lr=[1.0, 0.3], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                                     maximize=[False, True])]
    + [("Adamax", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.3, 0.9)],
                                     weight_decay=[0.0, 0.1], eps=[1e-8, 1e-3],
                                     maximize=[False, True])]
    + [("NAdam", c) for c in combos(lr=[0.02], weight_decay=[0.0, 0.1],
                                    decoupled_weight_decay=[False, True],
                                    momentum_decay=[4e-3, 0.1], maximize=[False, True])]
    + [("RAdam", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
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


def _run_both(name, kw, dtype, groups=None, steps=STEPS):
    return run_both(torch, name, kw, shapes=SHAPES, steps=steps, dtype=dtype, **TOL[dtype],
                    groups=groups)


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
    assert_state_dicts_match(mopt, topt, TORCH_ONLY_GROUP_KEYS, rtol=1e-10)


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
    continue_from_torch_state(torch, name, topt, th, steps_done=8, shapes=SHAPES,
                              dtype=np.float64, torch_only_keys=TORCH_ONLY_GROUP_KEYS,
                              rtol=1e-10, atol=1e-12)


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
