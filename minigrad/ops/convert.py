"""Copies and conversions: clone, dtype casts, device moves (gradients flow back through each)."""
from __future__ import annotations

import numpy as np

from minigrad import backend
from minigrad.autograd import Function


class Clone(Function):
    """y = a copy of x;  gx = gy"""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, gy):
        return gy


class Cast(Function):
    """y = x converted to another dtype;  gx = gy converted back to x's dtype
    (no gradient flows into integer or bool tensors)."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, gy):
        if ctx.in_dtype.kind != "f":
            return None
        return Cast.apply(gy, ctx.in_dtype)


class ToDevice(Function):
    """y = x copied to another device;  gx = gy copied back"""

    @staticmethod
    def forward(ctx, x, device):
        ctx.src = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, gy):
        return ToDevice.apply(gy, ctx.src)


def clone(input):
    """A copy that stays connected to the graph."""
    return Clone.apply(input)


def cast(input, dtype):
    """``input`` converted to ``dtype`` (differentiable; the gradient is cast back). Returns
    ``input`` itself if the dtype already matches."""
    dtype = np.dtype(dtype)
    if input.dtype == dtype:
        return input
    if input.requires_grad and dtype.kind != "f":
        return Cast.apply(input.detach(), dtype)
    return Cast.apply(input, dtype)


def to_device(input, device):
    """``input`` copied to ``device`` (differentiable; the gradient is copied back)."""
    return ToDevice.apply(input, backend.device(device))
