"""Adadelta (minigrad/optim/adadelta.py) follows torch.optim.Adadelta step by step, in
float64 (to 1e-10) and float32, with every combination of lr, rho, weight decay and
maximize."""
from _optim_helpers import combos
from _oracle_float64 import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                             test_matches_torch_step_by_step, test_param_groups_match_torch,
                             test_state_dict_layout_matches_torch)

NAMES = ["Adadelta"]
CASES = [("Adadelta", c) for c in combos(lr=[1.0, 0.3], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                                         maximize=[False, True])]
PARAM_GROUPS = [
    ("Adadelta", dict(lr=1.0), [([0], dict(rho=0.5)), ([1, 2], dict(lr=0.1, weight_decay=0.1))]),
]
