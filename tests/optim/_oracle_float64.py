"""The oracle tests of Adadelta, Adamax, NAdam and RAdam: each follows torch.optim step
by step, in float64 and float32.

Both frameworks start from the same weights and receive the same gradients at every
step (computed in NumPy from each one's current weights, so the trajectories are
coupled as in training). In float64 the weights must agree to 1e-10 after every
step; in float32 to float32 tolerance. PyTorch keeps NAdam's ``mu_product`` in its
default dtype, so the float64 runs set that to float64 (the ``torch_default_dtype``
fixture of conftest.py).

The tests are imported by ``test_adadelta.py``, ``test_adamax.py``, ``test_nadam.py``
and ``test_radam.py`` and run over the lists each of them defines: ``CASES``
(``(name, options)``), ``PARAM_GROUPS`` (``(name, options, groups)``) and ``NAMES``
(the optimizer's name).
"""
import numpy as np
import pytest

from _optim_helpers import (TORCH_RUN_OPTIONS, assert_state_dicts_match, cases_from_test_file,
                            continue_from_torch_state, run_both, torch)

SHAPES = [(4, 3), (5,), ()]
STEPS = 20
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}
TORCH_ONLY_GROUP_KEYS = TORCH_RUN_OPTIONS


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def _run_both(name, kw, dtype, groups=None, steps=STEPS):
    return run_both(torch, name, kw, shapes=SHAPES, steps=steps, dtype=dtype, **TOL[dtype],
                    groups=groups)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@cases_from_test_file("case", "CASES", ids=_case_id)
def test_matches_torch_step_by_step(case, dtype, torch_default_dtype):
    torch_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    name, kw = case
    _run_both(name, kw, dtype)


@cases_from_test_file("name,kw,groups", "PARAM_GROUPS")
def test_param_groups_match_torch(name, kw, groups, torch_default_dtype):
    torch_default_dtype(torch.float64)
    _run_both(name, kw, np.float64, groups=groups)


@cases_from_test_file("name", "NAMES")
def test_state_dict_layout_matches_torch(name, torch_default_dtype):
    torch_default_dtype(torch.float64)
    mopt, topt, _, _ = _run_both(name, dict(weight_decay=0.1), np.float64, steps=5)
    assert_state_dicts_match(mopt, topt, TORCH_ONLY_GROUP_KEYS, rtol=1e-10)


@cases_from_test_file("name", "NAMES")
def test_loading_a_torch_state_dict_continues_like_torch(name, torch_default_dtype):
    """A torch state dict, its tensors turned into NumPy arrays (step and mu_product
    become 0-d arrays), loads into minigrad and the two continue in step."""
    torch_default_dtype(torch.float64)
    _, topt, _, th = _run_both(name, dict(lr=0.05), np.float64, steps=8)
    continue_from_torch_state(torch, name, topt, th, steps_done=8, shapes=SHAPES,
                              dtype=np.float64, torch_only_keys=TORCH_ONLY_GROUP_KEYS,
                              rtol=1e-10, atol=1e-12)
