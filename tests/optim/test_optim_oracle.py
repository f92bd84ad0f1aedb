"""Every optimizer, with every option combination, follows PyTorch's trajectory.

Both frameworks start from the same weights. At each of 50 steps the gradient is
computed in NumPy from each framework's *current* weights (a quadratic pull towards
a target plus fixed noise, so that the two trajectories are coupled exactly as in
training) and handed to both as ``.grad``; the weights must agree to float32
tolerance after every step.
"""
import numpy as np
import pytest

import minigrad
from minigrad import optim

from _optim_helpers import (TORCH_RUN_OPTIONS, assert_state_dicts_match, combos,
                            continue_from_torch_state, run_both)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

SHAPES = [(7, 3), (3,), (2, 2, 2)]
STEPS = 50


def _sgd_cases():
    out = []
    for c in combos(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                    weight_decay=[0.0, 0.05], maximize=[False, True]):
        if c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0):
            continue
        out.append(("SGD", c))
    return out


CASES = (
    _sgd_cases()
    + [("Adam", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                   weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                   maximize=[False, True])]
    + [("AdamW", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                    weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                    maximize=[False, True])]
    + [("Adagrad", c) for c in combos(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                                      initial_accumulator_value=[0.0, 0.5],
                                      maximize=[False, True])]
    + [("RMSprop", c) for c in combos(lr=[0.01], alpha=[0.99, 0.8], weight_decay=[0.0, 0.1],
                                      momentum=[0.0, 0.9], centered=[False, True],
                                      maximize=[False, True])]
)


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def _run_both(name, kw, groups=None):
    return run_both(torch, name, kw, shapes=SHAPES, steps=STEPS, dtype=np.float32,
                    rtol=2e-5, atol=2e-6, groups=groups)


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


TORCH_ONLY_GROUP_KEYS = TORCH_RUN_OPTIONS | {"decoupled_weight_decay", "dampening_nesterov"}


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
])
def test_state_dict_layout_matches_torch(name, kw):
    mopt, topt, _, _ = _run_both(name, kw)
    assert_state_dicts_match(mopt, topt, TORCH_ONLY_GROUP_KEYS, rtol=1e-4, atol=1e-5)


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
    _, topt, _, th = _run_both(name, kw)
    continue_from_torch_state(torch, name, topt, th, steps_done=STEPS, shapes=SHAPES,
                              dtype=np.float32, torch_only_keys=TORCH_ONLY_GROUP_KEYS,
                              rtol=2e-5, atol=2e-6)
