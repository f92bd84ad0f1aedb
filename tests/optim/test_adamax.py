"""Adamax (minigrad/optim/adamax.py) follows torch.optim.Adamax step by step, in float64
(to 1e-10) and float32, with every combination of betas, weight decay, eps and
maximize."""
from _optim_helpers import combos
from _oracle_float64 import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                             test_matches_torch_step_by_step, test_param_groups_match_torch,
                             test_state_dict_layout_matches_torch)

NAMES = ["Adamax"]
CASES = [("Adamax", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.3, 0.9)],
                                       weight_decay=[0.0, 0.1], eps=[1e-8, 1e-3],
                                       maximize=[False, True])]
PARAM_GROUPS = [
    ("Adamax", dict(lr=0.01), [([0, 2], dict(betas=(0.5, 0.9))), ([1], dict(lr=0.1))]),
]
