"""What several op families share: gradients that a kernel computed.

A backward written with Tensor ops differentiates again (``create_graph=True``). Some
ops compute their plain backward in one fused kernel instead (arrays in, arrays out);
:func:`kernel_grads` turns those arrays into the Tensors the engine expects, and
refuses, with one clear message, to do so while a graph of the backward is being
recorded (a kernel's arithmetic cannot be differentiated again).
"""
from __future__ import annotations

from minigrad.autograd import is_grad_enabled
from minigrad.tensor import Tensor


def kernel_grads(ctx, *grads):
    """The gradients ``grads`` (arrays or None, one per forward argument) as Tensors.

    Call it from a ``backward`` whose arithmetic ran in a kernel. Under
    ``create_graph=True`` (grad mode on during backward) it raises instead: an op that
    supports second derivatives computes them with Tensor ops before getting here."""
    if is_grad_enabled():
        raise RuntimeError(
            f"{ctx.name()}: double backward (create_graph=True) is not supported by this op; its "
            "backward is computed by a kernel, not by Tensor ops.")
    out = tuple(None if g is None else Tensor(g) for g in grads)
    return out[0] if len(out) == 1 else out
