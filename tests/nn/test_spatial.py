"""Spatial layers (minigrad/nn/spatial.py): Dropout2d, Upsample, PixelShuffle."""


import numpy as np

import minigrad as mg
from minigrad import nn


# -------------------------------------------------------------------- Dropout2d

def test_dropout2d_zeroes_whole_channels_and_scales():
    d = nn.Dropout2d(0.5)
    x = mg.ones(4, 16, 3, 3)
    y = d(x).numpy()
    per_channel = y.reshape(4, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    d.eval()
    assert np.array_equal(d(x).numpy(), x.numpy())
