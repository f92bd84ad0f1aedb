"""Dropout (minigrad/nn/dropout.py): train/eval, statistics, the global generator; PyTorch as an oracle."""
import numpy as np
import pytest

import minigrad
from minigrad import nn
import minigrad.nn.functional as F

from _nn_helpers import compare, oracle, randn, torch


# ----------------------------------------------------------------------------- behaviour

def test_dropout_train_eval_and_statistics():
    minigrad.manual_seed(0)
    d = nn.Dropout(0.25)
    x = minigrad.ones(200, 100)
    y = d(x).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # inverted dropout keeps the expectation
    d.eval()
    assert d(x) is x
    assert not F.dropout(x, 1.0).numpy().any()
    # gradient flows only through kept elements, scaled the same way
    xr = minigrad.ones(10, 10, requires_grad=True)
    d.train()
    out = d(xr)
    out.sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), out.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)


def test_dropout_uses_the_global_generator():
    x = minigrad.ones(5, 5)
    minigrad.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    minigrad.manual_seed(3)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- PyTorch oracle

@oracle
def test_dropout_eval_and_p0_match_identity():
    x = randn(3, 4)
    for p in (0.0, 0.5):
        ours, theirs = nn.Dropout(p), torch.nn.Dropout(p)
        compare(ours, theirs, x, train=False)
        assert repr(ours) == repr(theirs)
    compare(nn.Dropout(0.0), torch.nn.Dropout(0.0), x, train=True)
