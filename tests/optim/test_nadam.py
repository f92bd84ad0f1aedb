"""NAdam (minigrad/optim/nadam.py) follows torch.optim.NAdam step by step, in float64
(to 1e-10) and float32, with every combination of weight decay (L2 or decoupled),
momentum decay and maximize."""
from _optim_helpers import combos
from _oracle_float64 import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                             test_matches_torch_step_by_step, test_param_groups_match_torch,
                             test_state_dict_layout_matches_torch)

NAMES = ["NAdam"]
CASES = [("NAdam", c) for c in combos(lr=[0.02], weight_decay=[0.0, 0.1],
                                      decoupled_weight_decay=[False, True],
                                      momentum_decay=[4e-3, 0.1], maximize=[False, True])]
PARAM_GROUPS = [
    ("NAdam", dict(lr=0.01), [([1], dict(momentum_decay=0.05)),
                              ([0, 2], dict(weight_decay=0.1, decoupled_weight_decay=True))]),
]
