"""The oracle tests of SGD, Adam, AdamW, Adagrad and RMSprop: each follows PyTorch's
trajectory with every option combination.

Both frameworks start from the same weights. At each of 50 steps the gradient is
computed in NumPy from each framework's *current* weights (a quadratic pull towards
a target plus fixed noise, so that the two trajectories are coupled exactly as in
training) and handed to both as ``.grad``; the weights must agree to float32
tolerance after every step.

The tests are imported by ``test_sgd.py``, ``test_adam.py``, ``test_adagrad.py`` and
``test_rmsprop.py`` and run over the lists of cases each of them defines:
``CASES`` (``(name, options)``), ``PARAM_GROUPS`` (``(name, options, groups)``),
``STATE_DICT_LAYOUT`` and ``TORCH_STATE_DICTS`` (``(name, options)``).
"""
import numpy as np

from _optim_helpers import (TORCH_RUN_OPTIONS, assert_state_dicts_match, cases_from_test_file,
                            continue_from_torch_state, run_both, torch)

SHAPES = [(7, 3), (3,), (2, 2, 2)]
STEPS = 50


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items() if k != "lr")


def _run_both(name, kw, groups=None):
    return run_both(torch, name, kw, shapes=SHAPES, steps=STEPS, dtype=np.float32,
                    rtol=2e-5, atol=2e-6, groups=groups)


@cases_from_test_file("case", "CASES", ids=_case_id)
def test_matches_torch_for_50_steps(case):
    name, kw = case
    _run_both(name, kw)


@cases_from_test_file("name,kw,groups", "PARAM_GROUPS")
def test_param_groups_match_torch(name, kw, groups):
    _run_both(name, kw, groups=groups)


TORCH_ONLY_GROUP_KEYS = TORCH_RUN_OPTIONS | {"decoupled_weight_decay", "dampening_nesterov"}


@cases_from_test_file("name,kw", "STATE_DICT_LAYOUT")
def test_state_dict_layout_matches_torch(name, kw):
    mopt, topt, _, _ = _run_both(name, kw)
    assert_state_dicts_match(mopt, topt, TORCH_ONLY_GROUP_KEYS, rtol=1e-4, atol=1e-5)


@cases_from_test_file("name,kw", "TORCH_STATE_DICTS")
def test_loading_a_torch_state_dict_continues_like_torch(name, kw):
    """A torch state dict, its tensors turned into NumPy arrays (step becomes a 0-d
    float array), loads into minigrad and the two continue in step."""
    _, topt, _, th = _run_both(name, kw)
    continue_from_torch_state(torch, name, topt, th, steps_done=STEPS, shapes=SHAPES,
                              dtype=np.float32, torch_only_keys=TORCH_ONLY_GROUP_KEYS,
                              rtol=2e-5, atol=2e-6)
