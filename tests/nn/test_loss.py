"""Loss modules (minigrad/nn/loss.py): reprs, defaults and state against PyTorch; TripletMarginLoss;
errors. (The loss functions themselves are tested in tests/nn/test_functional.py.)"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F

from _nn_helpers import compare_with_repr, oracle, randn, torch


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: F.triplet_margin_loss(mg.ones(2, 3), mg.ones(2, 3), mg.ones(3)), ValueError,
     "triplet_margin_loss: anchor, positive and negative must have the same number of dims"),
    (lambda: nn.TripletMarginLoss(margin=0), ValueError, "margin must be greater than 0"),
    (lambda: nn.TripletMarginLoss(reduction="avg"), ValueError, "reduction must be one of"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_oracle_triplet_margin_loss(swap, reduction):
    torch = pytest.importorskip("torch")
    ours = nn.TripletMarginLoss(margin=2.0, p=2, swap=swap, reduction=reduction)
    theirs = torch.nn.TripletMarginLoss(margin=2.0, p=2, swap=swap, reduction=reduction)
    compare_with_repr(ours, theirs, randn(6, 5), randn(6, 5), randn(6, 5))
    a, p, n = randn(4), randn(4), randn(4)
    np.testing.assert_allclose(F.triplet_margin_loss(mg.tensor(a), mg.tensor(p), mg.tensor(n), p=1, swap=swap).numpy(),
                               torch.nn.functional.triplet_margin_loss(*map(torch.tensor, (a, p, n)), p=1,
                                                                       swap=swap).numpy(), rtol=1e-5)


@oracle
@pytest.mark.parametrize("cls,kw", [
    ("MSELoss", {}), ("L1Loss", {"reduction": "sum"}), ("HuberLoss", {"delta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.3}), ("CrossEntropyLoss", {"label_smoothing": 0.1}),
    ("NLLLoss", {"ignore_index": 1}), ("BCELoss", {}), ("BCEWithLogitsLoss", {}),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}),
])
def test_loss_module_repr_and_defaults(cls, kw):
    ours, theirs = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    assert repr(ours) == repr(theirs)
    assert ours.reduction == theirs.reduction
    assert list(ours.state_dict()) == list(theirs.state_dict())
