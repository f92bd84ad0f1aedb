"""Matrix multiplication with NumPy semantics (1-D, 2-D and batched with broadcasting).

For C = A @ B the gradients are two more matmuls:
    dL/dA = dL/dC @ B^T        dL/dB = A^T @ dL/dC
Batch dimensions that were broadcast are summed away by the engine. The
multiplication itself runs in the ``matmul`` kernel picked by the registry
(a Numba GEMM on the CPU); transposes are passed as views, never copied.
"""
from __future__ import annotations

from minigrad import _checks
from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
import numpy as np

from minigrad.backend import device_of, get_kernel
from minigrad.kernels._contracts import check_matmul
from minigrad.ops.shape import reshape, transpose


class Matmul(Function):
    """C = A @ B (A: (..., m, k), B: (..., k, n));  gA = gC @ B^T,  gB = A^T @ gC"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return get_kernel("matmul", device_of(a))(a, b)

    @staticmethod
    def backward(ctx, gc):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = Matmul.apply(gc, transpose(b, -2, -1)) if na else None
        gb = Matmul.apply(transpose(a, -2, -1), gc) if nb else None
        return ga, gb


def matmul(input, other):
    """Matrix product with NumPy/PyTorch rules: 1-D operands are promoted to a matrix
    (and the added dimension removed afterwards); leading batch dims broadcast."""
    a, b = input, other
    _checks.same_device("matmul", a, b)
    check_matmul(a, b)
    if a.dtype != b.dtype:
        dt = np.result_type(a.dtype, b.dtype)
        a, b = a.to(dt), b.to(dt)
    if a.ndim == 1 and b.ndim == 1:
        return reshape(Matmul.apply(reshape(a, (1, -1)), reshape(b, (-1, 1))), ())
    if a.ndim == 1:
        out = Matmul.apply(reshape(a, (1, -1)), b)
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = Matmul.apply(a, reshape(b, (-1, 1)))
        return reshape(out, out.shape[:-1])
    return Matmul.apply(a, b)


def mm(input, mat2):
    """The product of two matrices: (n, m) @ (m, p) -> (n, p); both must be 2-D (no broadcasting)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expects two 2-D tensors, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2):
    """A batch of matrix products: (b, n, m) @ (b, m, p) -> (b, n, p), the same b on both
    sides (no broadcasting; :func:`matmul` broadcasts)."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expects (b, n, m) and (b, m, p) tensors, got {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def dot(input, other):
    """The inner product of two 1-D tensors of the same length n: (n,) . (n,) -> a 0-d tensor."""
    if input.ndim != 1 or other.ndim != 1:
        raise ValueError(f"dot: expects two 1-D tensors, got shapes {input.shape} and {other.shape}")
    return matmul(input, other)


def outer(input, vec2):
    """The outer product: (n,) and (m,) -> (n, m), ``out[i, j] = input[i] * vec2[j]``
    (tensors with more dimensions are flattened first)."""
    return matmul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


def _rows(a):
    """``a`` (..., n) as a matrix (rows, n); unlike ``reshape(-1, n)`` also when n == 0."""
    rows = 1
    for s in a.shape[:-1]:
        rows *= s
    return a.reshape(rows, a.shape[-1])


class Linear(Function):
    """y = x @ W^T + b  (x: (..., in), W: (out, in), b: (out,));
    gx = gy @ W,  gW = gy^T @ x (summed over the leading dims),  gb = gy summed over them.

    One node instead of three (transpose, matmul, add): fewer Python calls per layer,
    and gW comes out already in W's (out, in) layout, with no copy."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        mm = get_kernel("matmul", device_of(x))
        if x.ndim == 2:
            y = mm(x, w.T)
        else:
            y = mm(_rows(x), w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        if is_grad_enabled():  # create_graph=True: express the rule with differentiable ops
            gx = matmul(gy, w) if nx else None
            g2, x2 = reshape(gy, _rows(gy).shape), reshape(x, _rows(x).shape)
            gw = matmul(transpose(g2, 0, 1), x2) if nw else None
            gb = g2.sum(0) if nb else None
            return gx, gw, gb
        mm = get_kernel("matmul", device_of(gy.array))
        g = _rows(gy.array)
        xd = _rows(x.array)
        gx = mm(g, w.array).reshape(x.shape) if nx else None
        gw = mm(g.T, xd) if nw else None
        gb = g.sum(axis=0) if nb else None
        return kernel_gradients(ctx, gx, gw, gb)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias, the affine map of ``nn.Linear``; weight is (out, in)."""
    if input.shape[-1] != weight.shape[-1] or weight.ndim != 2:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} cannot be multiplied by a weight of "
                         f"shape {tuple(weight.shape)} (in_features {input.shape[-1] if input.ndim else None} "
                         f"!= {weight.shape[-1]})")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
    if input.dtype != weight.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} does not match weight dtype {weight.dtype}")
    if input.ndim == 0:
        raise ValueError("linear: input must have at least 1 dimension")
    if input.ndim == 1:
        return reshape(Linear.apply(reshape(input, (1, -1)), weight, bias), (weight.shape[0],))
    return Linear.apply(input, weight, bias)
