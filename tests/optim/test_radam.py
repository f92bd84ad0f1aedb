"""RAdam (minigrad/optim/radam.py) follows torch.optim.RAdam step by step, in float64
(to 1e-10) and float32, with every combination of betas, weight decay (L2 or
decoupled) and maximize."""
from _optim_helpers import combos
from _oracle_float64 import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                             test_matches_torch_step_by_step, test_param_groups_match_torch,
                             test_state_dict_layout_matches_torch)

NAMES = ["RAdam"]
CASES = [("RAdam", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                      weight_decay=[0.0, 0.1],
                                      decoupled_weight_decay=[False, True], maximize=[False, True])]
PARAM_GROUPS = [
    ("RAdam", dict(lr=0.01), [([2], dict(betas=(0.5, 0.9))), ([0, 1], dict(weight_decay=0.01))]),
]
