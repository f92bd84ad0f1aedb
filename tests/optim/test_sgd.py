"""SGD (minigrad/optim/sgd.py): the plain update exactly, and PyTorch's trajectory with
every combination of momentum, dampening, Nesterov, weight decay and maximize."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
from minigrad import optim

from _optim_helpers import combos
from _oracle_50_steps import (test_matches_torch_for_50_steps,  # noqa: F401
                              test_param_groups_match_torch, test_state_dict_layout_matches_torch)


@pytest.mark.usefixtures("reference_kernels")
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       lr=st.floats(1e-4, 1.0), seed=st.integers(0, 2**16))
def test_plain_sgd_is_w_minus_lr_g(shape, lr, seed):
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w = minigrad.tensor(w0, requires_grad=True)
    w.grad = minigrad.tensor(g)
    optim.SGD([w], lr=lr).step()
    np.testing.assert_array_equal(w.array, w0 - np.float32(lr) * g)
    assert w.dtype == np.float32


# ---------------------------------------------------------------------- beside torch.optim.SGD

def _sgd_cases():
    out = []
    for c in combos(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                    weight_decay=[0.0, 0.05], maximize=[False, True]):
        if c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0):
            continue
        out.append(("SGD", c))
    return out


CASES = _sgd_cases()
PARAM_GROUPS = [
    ("SGD", dict(lr=0.05, momentum=0.9), [([0], dict(lr=0.2, nesterov=True)), ([1, 2], {})]),
]
STATE_DICT_LAYOUT = [("SGD", dict(lr=0.05, momentum=0.9))]
