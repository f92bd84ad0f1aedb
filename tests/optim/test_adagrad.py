"""Adagrad (minigrad/optim/adagrad.py) follows torch.optim.Adagrad step by step, with
every combination of lr decay, weight decay, initial accumulator and maximize."""
from _optim_helpers import combos
from _oracle_50_steps import (test_matches_torch_for_50_steps,  # noqa: F401
                              test_state_dict_layout_matches_torch)

CASES = [("Adagrad", c) for c in combos(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                                        initial_accumulator_value=[0.0, 0.5],
                                        maximize=[False, True])]
STATE_DICT_LAYOUT = [("Adagrad", dict(lr=0.1))]
