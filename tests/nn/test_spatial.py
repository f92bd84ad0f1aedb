"""Spatial layers (minigrad/nn/spatial.py): Dropout2d, Upsample, PixelShuffle."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F

from _nn_helpers import compare_with_repr, randn, torch


# ----------------------------------------------------------------------------- behaviour

def test_dropout2d_zeroes_whole_channels_and_scales():
    d = nn.Dropout2d(0.5)
    x = mg.ones(4, 16, 3, 3)
    y = d(x).numpy()
    per_channel = y.reshape(4, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    d.eval()
    assert np.array_equal(d(x).numpy(), x.numpy())


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,err,match", [
    (lambda: F.pixel_shuffle(mg.ones(1, 3, 2, 2), 2), ValueError, "pixel_shuffle: the 3 channels"),
    (lambda: F.pixel_shuffle(mg.ones(4, 2), 2), ValueError, r"pixel_shuffle: expected input of shape \(\*, C, H, W\)"),
    (lambda: F.pixel_unshuffle(mg.ones(1, 1, 3, 2), 2), ValueError, "pixel_unshuffle: height 3"),
    (lambda: nn.PixelShuffle(0)(mg.ones(1, 1, 2, 2)), ValueError, "upscale_factor must be a positive int"),
])
def test_errors_name_the_layer(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@pytest.mark.parametrize("r,shape", [(2, (1, 8, 3, 2)), (3, (9, 2, 2)), (2, (2, 3, 4, 4, 2))])
def test_oracle_pixel_shuffle(r, shape):
    torch = pytest.importorskip("torch")
    compare_with_repr(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), randn(*shape))
    un_shape = shape[:-3] + (shape[-3] // (r * r), shape[-2] * r, shape[-1] * r)
    compare_with_repr(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), randn(*un_shape))


@pytest.mark.oracle
def test_oracle_dropout2d_input_ranks():
    torch = pytest.importorskip("torch")
    for shape in [(6, 40), (4, 6, 40), (2, 3, 4, 5, 6)]:
        x = np.ones(shape, np.float32)
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            y = nn.Dropout2d(0.5)(mg.tensor(x)).numpy()
        with warnings.catch_warnings(record=True) as torch_w:
            warnings.simplefilter("always")
            torch.nn.Dropout2d(0.5)(torch.tensor(x))
        assert len(ours_w) == len(torch_w) >= 1
        flat = y.reshape(shape[0], shape[1], -1)  # one decision per (dim 0, dim 1) pair, as in PyTorch
        assert np.all((flat == 0).all(-1) | (flat == 2).all(-1))
        assert 0 < (flat[..., 0] == 0).mean() < 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Dropout2d(0.5)(mg.ones(2, 3, 4, 4))  # 4-D: no warning
    with pytest.raises(RuntimeError, match="at least 2 dimensions"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        F.dropout2d(mg.ones(3), 0.5)
