"""nn.Parameter (minigrad/nn/parameter.py)."""
import numpy as np

import minigrad
from minigrad import nn

from _nn_helpers import oracle, torch


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
def test_parameter_repr_matches_torch():
    a = np.array([1.0, 2.0], np.float32)
    assert repr(nn.Parameter(minigrad.tensor(a))) == repr(torch.nn.Parameter(torch.tensor(a)))
