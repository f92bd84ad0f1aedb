"""Layers for feature maps: Dropout2d (drop whole channels), Upsample (nearest) and
PixelShuffle / PixelUnshuffle (trade channels for resolution).

Both are built from differentiable Tensor ops, so their gradients come for free:
Dropout2d multiplies by a random 0/scale mask per channel, nearest upsampling
selects rows and columns with ``index_select`` (whose backward adds the gradients
of all copies of a pixel back onto it).
"""
from __future__ import annotations

import warnings

import numpy as np

from minigrad import random as _random
from minigrad.backend import to_device
from minigrad.nn.module import Module
from minigrad.ops import shape as _shape
from minigrad.ops.index import index_select
from minigrad.tensor import Tensor

__all__ = ["Dropout2d", "Upsample", "PixelShuffle", "PixelUnshuffle", "dropout2d", "interpolate", "pixel_shuffle",
           "pixel_unshuffle"]


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero each channel (everything after dim 1: a whole map) with probability ``p`` and
    scale the rest by 1/(1-p). The mask has shape ``input.shape[:2] + (1, ...)``, as in
    PyTorch 2.13: a 4-D input is (N, C, H, W); a 3-D input is read as (N, C, L), with a
    warning (PyTorch's current reading, which it plans to change to (C, H, W)); other
    ranks of at least 2 dims work with a deprecation warning (a 2-D input drops single
    elements)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p must be between 0 and 1, got {p}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: a {input.ndim}-D input is deprecated (PyTorch plans to refuse it): dropout2d "
                      "is meant for (N, C, H, W) or (C, H, W) feature maps. Channels are read from dim 1 and all "
                      "later dims are dropped together; use dropout for element-wise dropout.", UserWarning,
                      stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is read as (N, C, L), a batch of 1-D channels, as PyTorch 2.x "
                      "does, not as one (C, H, W) map; for a single map add the batch dim with unsqueeze(0).",
                      UserWarning, stacklevel=2)
    if not training or p == 0.0:
        return input
    if input.ndim < 2:
        raise RuntimeError(f"dropout2d: feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{tuple(input.shape)}")
    if p == 1.0:
        return input * 0.0
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    keep = _random.default_generator().random(shape) >= p
    mask = (keep / (1.0 - p)).astype(input.dtype)
    return input * Tensor(to_device(mask, input.device))


class Dropout2d(Module):
    """Randomly zero entire channels in training mode (identity in eval mode)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        """In training, zero whole channels of ``input`` (N, C, H, W) with probability ``p``,
        scaling the rest by 1/(1-p) (other ranks: see :func:`dropout2d`)."""
        return dropout2d(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


def _nearest_index(in_size, out_size, scale=None):
    # PyTorch's "nearest": source = floor(dst * in / out) (or dst / scale when a scale is given)
    ratio = (1.0 / scale) if scale is not None else in_size / out_size
    return np.minimum(np.floor(np.arange(out_size) * ratio).astype(np.int64), in_size - 1)


def interpolate(input, size=None, scale_factor=None, mode="nearest"):
    """Resize the spatial dims of (N, C, L), (N, C, H, W) input; ``mode="nearest"`` only."""
    if mode != "nearest":
        raise ValueError(f"interpolate: only mode='nearest' is implemented, got {mode!r}")
    spatial = input.ndim - 2
    if spatial not in (1, 2):
        raise ValueError(f"interpolate: expects 3-D or 4-D input, got shape {input.shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = input.shape[2:]
    if size is not None:
        out = (size,) * spatial if isinstance(size, int) else tuple(size)
        scales = (None,) * spatial
    else:
        scales = (float(scale_factor),) * spatial if np.isscalar(scale_factor) else tuple(map(float, scale_factor))
        out = tuple(int(np.floor(s * f)) for s, f in zip(in_sizes, scales))
    if len(out) != spatial:
        raise ValueError(f"interpolate: size {out} does not match {spatial} spatial dims")
    y = input
    for d, (n_in, n_out, sc) in enumerate(zip(in_sizes, out, scales)):
        if n_in != n_out:
            y = index_select(y, 2 + d, Tensor(_nearest_index(n_in, n_out, sc)))
    return y


class Upsample(Module):
    """Nearest-neighbour upsampling by ``scale_factor`` or to ``size``."""

    def __init__(self, size=None, scale_factor=None, mode="nearest"):
        super().__init__()
        if mode != "nearest":
            raise ValueError(f"Upsample: only mode='nearest' is implemented, got {mode!r}")
        self.size, self.scale_factor, self.mode = size, scale_factor, mode

    def forward(self, input):
        """``input`` (N, C, H, W) -> (N, C, H_out, W_out), resized by ``size`` or ``scale_factor``."""
        return interpolate(input, self.size, self.scale_factor, self.mode)

    def extra_repr(self):
        return f"scale_factor={self.scale_factor}, mode='{self.mode}'" if self.size is None else f"size={self.size}"


def _shuffle_dims(input, factor, op, name):
    if not isinstance(factor, (int, np.integer)) or factor <= 0:
        raise ValueError(f"{op}: {name} must be a positive int, got {factor!r}")
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input of shape (*, C, H, W), got {tuple(input.shape)}")
    return tuple(input.shape[:-3]), input.shape[-3:], int(factor)


def pixel_shuffle(input, upscale_factor):
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r): each group of r^2 channels becomes
    an r x r block of pixels (sub-pixel convolution upsampling)."""
    lead, (c, h, w), r = _shuffle_dims(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: the {c} channels of input {tuple(input.shape)} must be divisible by "
                         f"upscale_factor^2 = {r * r}")
    b = len(lead)
    x = _shape.reshape(input, lead + (c // (r * r), r, r, h, w))
    x = _shape.permute(x, tuple(range(b)) + (b, b + 3, b + 1, b + 4, b + 2))
    return _shape.reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """The inverse of :func:`pixel_shuffle`: (*, C, H r, W r) -> (*, C r^2, H, W)."""
    lead, (c, h, w), r = _shuffle_dims(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: height {h} and width {w} of input {tuple(input.shape)} must be "
                         f"divisible by downscale_factor {r}")
    b = len(lead)
    x = _shape.reshape(input, lead + (c, h // r, r, w // r, r))
    x = _shape.permute(x, tuple(range(b)) + (b, b + 2, b + 4, b + 1, b + 3))
    return _shape.reshape(x, lead + (c * r * r, h // r, w // r))



class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r
    block of pixels (``r = upscale_factor``); no parameters."""

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of :class:`PixelShuffle`
    (``r = downscale_factor``); no parameters."""

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
