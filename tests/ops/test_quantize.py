"""Fake quantization (minigrad/ops/quantize.py: FakeQuantizeFunction, called through
minigrad.compress.quantize.fake_quantize): the forward rounds onto the int grid, the
backward is the straight-through estimator (zero where the value was clamped).
"""


import numpy as np

import minigrad
from minigrad.compress import quantize as Q


# ----------------------------------------------------------------------------- fake quantization (STE)

def test_fake_quantize_forward_and_straight_through_gradient():
    rng = np.random.default_rng(0)
    x_np = rng.uniform(-3, 3, size=(4, 50)).astype(np.float32)
    scale, zp = 0.01, 20   # representable range [-1.48, 1.07]: many values are clamped
    x = minigrad.tensor(x_np, requires_grad=True)
    y = Q.fake_quantize(x, scale, zp)
    np.testing.assert_allclose(y.array, Q.dequantize(Q.quantize_per_tensor(x_np, scale, zp), scale, zp),
                               rtol=1e-6, atol=1e-7)
    g = rng.standard_normal(x_np.shape).astype(np.float32)
    (y * minigrad.tensor(g)).sum().backward()
    codes = np.rint(x_np / np.float32(scale)) + zp
    inside = (codes >= -128) & (codes <= 127)
    assert inside.any() and (~inside).any()
    np.testing.assert_array_equal(x.grad.array, np.where(inside, g, 0))


def test_fake_quantize_per_channel_gradient():
    # column 0: scale 1 (0.5 rounds to 0, 1.5 to 2); column 1: scale 0.01 (5.0 clamps to 1.27)
    x = minigrad.tensor([[0.5, 5.0], [1.5, 0.5]], requires_grad=True)
    y = Q.fake_quantize(x, np.array([1.0, 0.01], np.float32), np.array([0, 0]), axis=1)
    np.testing.assert_allclose(y.array, [[0.0, 1.27], [2.0, 0.5]], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[1, 0], [1, 1]])
