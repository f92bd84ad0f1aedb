"""CosineSimilarity and PairwiseDistance (minigrad/nn/distance.py): PyTorch as an oracle, errors."""
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F

from _nn_helpers import compare_with_repr, randn, torch


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: F.cosine_similarity(mg.ones(2, 3), mg.ones(2, 4)), ValueError, "cosine_similarity: shapes"),
    (lambda: F.cosine_similarity(mg.ones(2, 3), mg.ones(2, 3), dim=2), IndexError, "cosine_similarity: dim 2"),
    (lambda: F.pairwise_distance(mg.ones(2, 3), mg.ones(3, 2)), ValueError, "pairwise_distance: shapes"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("s1,s2,dim", [((4, 5), (4, 5), 1), ((2, 3, 4), (1, 3, 4), 2), ((5,), (5,), 0),
                                       ((3, 4), (4,), -1)])
def test_oracle_cosine_similarity(s1, s2, dim):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.CosineSimilarity(dim), torch.nn.CosineSimilarity(dim)
    compare_with_repr(ours, theirs, randn(*s1), randn(*s2))


@pytest.mark.oracle
@pytest.mark.parametrize("p,keepdim", [(2.0, False), (1.0, True), (3.0, False)])
def test_oracle_pairwise_distance(p, keepdim):
    torch = pytest.importorskip("torch")
    compare_with_repr(nn.PairwiseDistance(p, keepdim=keepdim), torch.nn.PairwiseDistance(p, keepdim=keepdim),
            randn(4, 3), randn(4, 3))
    compare_with_repr(nn.PairwiseDistance(p), torch.nn.PairwiseDistance(p), randn(3), randn(3))
