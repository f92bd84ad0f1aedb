"""RMSprop (minigrad/optim/rmsprop.py) follows torch.optim.RMSprop step by step, with
every combination of alpha, weight decay, momentum, centering and maximize."""
from _optim_helpers import combos
from _oracle_50_steps import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                              test_matches_torch_for_50_steps, test_param_groups_match_torch,
                              test_state_dict_layout_matches_torch)

CASES = [("RMSprop", c) for c in combos(lr=[0.01], alpha=[0.99, 0.8], weight_decay=[0.0, 0.1],
                                        momentum=[0.0, 0.9], centered=[False, True],
                                        maximize=[False, True])]
PARAM_GROUPS = [
    ("RMSprop", dict(lr=0.01), [([1], dict(centered=True)), ([0, 2], dict(momentum=0.5))]),
]
STATE_DICT_LAYOUT = [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))]
TORCH_STATE_DICTS = [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))]
