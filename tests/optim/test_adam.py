"""Adam and AdamW (minigrad/optim/adam.py) follow torch.optim.Adam and AdamW step by
step, with every combination of betas, weight decay, amsgrad and maximize."""
from _optim_helpers import combos
from _oracle_50_steps import (test_loading_a_torch_state_dict_continues_like_torch,  # noqa: F401
                              test_matches_torch_for_50_steps, test_param_groups_match_torch,
                              test_state_dict_layout_matches_torch)

CASES = (
    [("Adam", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                 weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                 maximize=[False, True])]
    + [("AdamW", c) for c in combos(lr=[0.02], betas=[(0.9, 0.999), (0.5, 0.9)],
                                    weight_decay=[0.0, 0.1], amsgrad=[False, True],
                                    maximize=[False, True])]
)
PARAM_GROUPS = [
    ("Adam", dict(lr=0.01), [([0, 2], dict(betas=(0.8, 0.99), amsgrad=True)), ([1], dict(lr=0.1))]),
]
STATE_DICT_LAYOUT = [("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01))]
TORCH_STATE_DICTS = [("Adam", dict(lr=0.02, amsgrad=True))]
