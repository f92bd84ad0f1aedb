"""Convolutions: conv2d, conv1d, conv_transpose2d, unfold and fold.

A 2-D convolution (really a cross-correlation, as in every framework) slides a
``(C_in/groups, kH, kW)`` filter over the input; each output channel is one filter:

    y[n, o, i, j] = b[o] + sum_{c, a, b'} w[o, c, a, b'] * xpad[n, c, i*s + a*d, j*s + b'*d]

It is linear in ``x`` and linear in ``w``, so both gradients are again convolutions:

* ``dL/dx`` sends every output gradient back through the filter taps that produced
  it: a **transposed convolution** of ``gy`` with the same ``w`` (:class:`Conv2dGradInput`;
  ``conv_transpose2d`` is exactly this op with a bias and a user-chosen output size);
* ``dL/dw`` correlates the input with the output gradient, summed over the batch
  (:class:`Conv2dGradWeight`);
* ``dL/db`` sums ``gy`` over batch and pixels (:class:`Conv2dGradBias`).

These three ops are each other's derivatives (a convolution ``y = x * w`` is
bilinear: ``<gy, x * w> = <T(gy, w), x> = <G(gy, x), w>``), so their backward rules
call each other and second derivatives work with ``create_graph=True``.

The arithmetic runs in kernels picked by the registry: ``conv2d_forward``,
``conv2d_grad_input``, ``conv2d_grad_weight``, ``conv2d_grad_bias``, ``unfold`` and
``fold`` (readable im2col in ``kernels/reference/conv.py``; Numba in
``kernels/cpu/conv.py``). This file only checks arguments and wires the gradients.
"""
from __future__ import annotations

import numpy as np

from minigrad import _checks
from minigrad.autograd import Function
from minigrad.backend import device_of, get_kernel
from minigrad.ops.shape import expand, pad as _pad, reshape

__all__ = ["conv1d", "conv2d", "conv_transpose2d", "unfold", "fold"]


# ----------------------------------------------------------------------------- argument helpers

def _ntuple(value, n, name, op, minimum=0):
    """``3`` -> (3, 3); ``(1, 2)`` -> (1, 2); checks length, type and lower bound."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return out


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _same_dtype(*tensors):
    """Promote like NumPy when dtypes differ (as matmul does)."""
    ts = [t for t in tensors if t is not None]
    dt = np.result_type(*[t.dtype for t in ts])
    return [None if t is None else (t if t.dtype == dt else t.to(dt)) for t in tensors]


# The rank of an unbatched input, its layout and the batched layout.
_IMAGE = (3, "(C, H, W)", "(N, C, H, W)")
_SEQUENCE = (2, "(C, L)", "(N, C, L)")


def _conv_operands(op, input, weight, bias, weight_layout, layouts):
    """Check the ranks of a convolution's operands (the weight has one dim more than the
    unbatched input) and their device; promote them to one dtype."""
    n, unbatched, batched = layouts
    if weight.ndim != n + 1:
        raise ValueError(f"{op}: weight must be {n + 1}-D {weight_layout}, got shape {tuple(weight.shape)}")
    if input.ndim not in (n, n + 1):
        raise ValueError(f"{op}: expected a {n}-D {unbatched} or {n + 1}-D {batched} input, got shape "
                         f"{tuple(input.shape)}")
    _checks.same_device(op, input, weight, bias)
    return _same_dtype(input, weight, bias)


# ----------------------------------------------------------------------------- Functions

class Conv2d(Function):
    """y = conv2d(x, w) + b;  gx = Conv2dGradInput(gy, w),  gw = Conv2dGradWeight(gy, x),
    gb = gy summed over (N, H_out, W_out)"""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.conf = (stride, padding, dilation, groups)
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        ctx.save_for_backward(x, w)
        return get_kernel("conv2d_forward", device_of(x))(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = Conv2dGradInput.apply(gy, w, ctx.x_shape, *ctx.conf) if need_x else None
        gw = Conv2dGradWeight.apply(gy, x, ctx.w_shape, *ctx.conf) if need_w else None
        gb = Conv2dGradBias.apply(gy) if need_b else None
        return gx, gw, gb


class _ConvGrad(Function):
    """The two gradients of conv2d that are (transposed) convolutions themselves, z = F(gy, other),
    ``other`` being the conv's weight or input. Forward runs the registry's ``kernel``;
    F is bilinear, so backward is two more convolutions, which each subclass names:
    ``_d_gy(g, other)`` and ``_d_other(gy, g)``, g the gradient arriving at z."""

    kernel = None

    @staticmethod
    def forward(ctx, gy, other, out_shape, stride, padding, dilation, groups):
        ctx.conf = (stride, padding, dilation, groups)
        ctx.other_shape = other.shape
        ctx.save_for_backward(gy, other)
        return get_kernel(ctx.kernel, device_of(gy))(gy, other, out_shape, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        gy, other = ctx.saved_tensors
        need_gy, need_other = ctx.needs_input_grad[:2]
        return (ctx._d_gy(g, other) if need_gy else None), (ctx._d_other(gy, g) if need_other else None)


class Conv2dGradInput(_ConvGrad):
    """z = T(gy, w): the gradient of conv2d wrt its input, a transposed convolution.

    Bilinear in (gy, w): with upstream gradient g (shaped like the conv input),
    d/dgy = conv2d(g, w)  and  d/dw = Conv2dGradWeight(gy, g)."""

    kernel = "conv2d_grad_input"

    def _d_gy(ctx, g, w):
        return Conv2d.apply(g, w, None, *ctx.conf)

    def _d_other(ctx, gy, g):
        return Conv2dGradWeight.apply(gy, g, ctx.other_shape, *ctx.conf)


class Conv2dGradWeight(_ConvGrad):
    """gw = G(gy, x): the gradient of conv2d wrt its weight (summed over the batch).

    Bilinear in (gy, x): with upstream gradient h (shaped like the weight),
    d/dgy = conv2d(x, h)  and  d/dx = Conv2dGradInput(gy, h)."""

    kernel = "conv2d_grad_weight"

    def _d_gy(ctx, h, x):
        return Conv2d.apply(x, h, None, *ctx.conf)

    def _d_other(ctx, gy, h):
        return Conv2dGradInput.apply(gy, h, ctx.other_shape, *ctx.conf)


class Conv2dGradBias(Function):
    """gb[o] = sum_{n, i, j} gy[n, o, i, j];  d/dgy = gb's gradient broadcast back"""

    @staticmethod
    def forward(ctx, gy):
        ctx.shape = gy.shape
        return get_kernel("conv2d_grad_bias", device_of(gy))(gy)

    @staticmethod
    def backward(ctx, h):
        return expand(reshape(h, (1, -1, 1, 1)), ctx.shape)


class Unfold(Function):
    """cols = unfold(x): every sliding block as a column;  gx = fold(g)  (its adjoint)"""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation):
        ctx.conf = (kernel_size, stride, padding, dilation)
        ctx.size = x.shape[-2:]
        return get_kernel("unfold", device_of(x))(x, kernel_size, stride, padding, dilation)

    @staticmethod
    def backward(ctx, g):
        return Fold.apply(g, ctx.size, *ctx.conf)


class Fold(Function):
    """x = fold(cols): sum every column back onto its block;  gcols = unfold(g)"""

    @staticmethod
    def forward(ctx, cols, output_size, kernel_size, stride, padding, dilation):
        ctx.conf = (kernel_size, stride, padding, dilation)
        return get_kernel("fold", device_of(cols))(cols, output_size, kernel_size, stride, padding,
                                                   dilation)

    @staticmethod
    def backward(ctx, g):
        return Unfold.apply(g, *ctx.conf)


# ----------------------------------------------------------------------------- functional API

def _conv2d(input, weight, bias, stride, padding, dilation, groups, op):
    """conv2d on validated 4-D input (``op`` names the public function in errors)."""
    N, C, H, W = input.shape
    C_out, C_g, kH, kW = weight.shape
    if C_out == 0 or kH == 0 or kW == 0:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} needs at least one output channel and a "
                         "kernel of at least 1 in every spatial dim")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if C_g * groups != C:
        raise ValueError(f"{op}: input has {C} channels but weight expects {C_g * groups} "
                         f"(groups={groups}); input shape {tuple(input.shape)}, weight shape "
                         f"{tuple(weight.shape)}")
    if C_out % groups:
        raise ValueError(f"{op}: weight has {C_out} output channels, not divisible by groups={groups}")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},) to match weight {tuple(weight.shape)}, "
                         f"got {tuple(bias.shape)}")
    stride = _ntuple(stride, 2, "stride", op, 1)
    dilation = _ntuple(dilation, 2, "dilation", op, 1)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            # total padding d*(k-1) per axis; when it is odd the extra row/column goes
            # at the bottom/right (as PyTorch), by padding the input explicitly.
            total = (dilation[0] * (kH - 1), dilation[1] * (kW - 1))
            padding = (total[0] // 2, total[1] // 2)
            extra = (total[0] - 2 * padding[0], total[1] - 2 * padding[1])
            if extra != (0, 0):
                input = _pad(input, (0, extra[1], 0, extra[0]))
                H, W = H + extra[0], W + extra[1]
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    else:
        padding = _ntuple(padding, 2, "padding", op, 0)
    H_out = _conv_out(H, kH, stride[0], padding[0], dilation[0])
    W_out = _conv_out(W, kW, stride[1], padding[1], dilation[1])
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: input of spatial size {(H, W)} with padding {padding} is smaller than "
                         f"the dilated kernel ({dilation[0] * (kH - 1) + 1}, {dilation[1] * (kW - 1) + 1})")
    return Conv2d.apply(input, weight, bias, stride, padding, dilation, int(groups))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution over (N, C_in, H, W) or unbatched (C_in, H, W) input.

    ``weight`` is (C_out, C_in/groups, kH, kW), ``bias`` (C_out,) or None. ``padding``
    is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output as large as the
    input; stride 1 only). Same arguments and results as ``torch.nn.functional.conv2d``.
    """
    op = "conv2d"
    input, weight, bias = _conv_operands(op, input, weight, bias, "(C_out, C_in/groups, kH, kW)", _IMAGE)
    if input.ndim == 3:
        y = _conv2d(reshape(input, (1,) + input.shape), weight, bias, stride, padding, dilation, groups, op)
        return reshape(y, y.shape[1:])
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, op)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over (N, C_in, L) or unbatched (C_in, L) input.

    ``weight`` is (C_out, C_in/groups, k). Computed as a 2-D convolution of a height-1
    image with a height-1 kernel. Same arguments as ``torch.nn.functional.conv1d``.
    """
    op = "conv1d"
    input, weight, bias = _conv_operands(op, input, weight, bias, "(C_out, C_in/groups, k)", _SEQUENCE)
    batched = input.ndim == 3
    x = input if batched else reshape(input, (1,) + input.shape)
    N, C, L = x.shape
    (s,) = _ntuple(stride, 1, "stride", op, 1)
    (d,) = _ntuple(dilation, 1, "dilation", op, 1)
    p = padding if isinstance(padding, str) else (0, _ntuple(padding, 1, "padding", op, 0)[0])
    y = _conv2d(reshape(x, (N, C, 1, L)), reshape(weight, weight.shape[:2] + (1, weight.shape[2])),
                bias, (1, s), p, (1, d), groups, op)
    y = reshape(y, (N, y.shape[1], y.shape[3]))
    return y if batched else reshape(y, y.shape[1:])


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution (sometimes called "deconvolution"): the gradient of conv2d
    wrt its input, used as a layer that upsamples.

    ``input`` (N, C_in, H, W) or (C_in, H, W); ``weight`` (C_in, C_out/groups, kH, kW)
    (PyTorch's layout); output size ``(H - 1)*stride - 2*padding + dilation*(kH - 1) +
    output_padding + 1``. Same arguments as ``torch.nn.functional.conv_transpose2d``.
    """
    op = "conv_transpose2d"
    input, weight, bias = _conv_operands(op, input, weight, bias, "(C_in, C_out/groups, kH, kW)", _IMAGE)
    batched = input.ndim == 4
    x = input if batched else reshape(input, (1,) + input.shape)
    N, C_in, H, W = x.shape
    if 0 in weight.shape:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} has a dimension of size 0 (it needs "
                         "input and output channels and a kernel of at least 1x1)")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if weight.shape[0] != C_in:
        raise ValueError(f"{op}: input has {C_in} channels but weight {tuple(weight.shape)} expects "
                         f"{weight.shape[0]} (groups={groups})")
    if C_in % groups:
        raise ValueError(f"{op}: input channels ({C_in}) are not divisible by groups={groups}")
    C_out = weight.shape[1] * groups
    kH, kW = weight.shape[2:]
    stride = _ntuple(stride, 2, "stride", op, 1)
    padding = _ntuple(padding, 2, "padding", op, 0)
    dilation = _ntuple(dilation, 2, "dilation", op, 1)
    out_pad = _ntuple(output_padding, 2, "output_padding", op, 0)
    for i in range(2):
        if out_pad[i] >= max(stride[i], dilation[i]):
            raise ValueError(f"{op}: output_padding {out_pad} must be smaller than either stride "
                             f"{stride} or dilation {dilation}")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{op}: bias must have shape ({C_out},), got {tuple(bias.shape)}")
    H_out = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kH - 1) + out_pad[0] + 1
    W_out = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kW - 1) + out_pad[1] + 1
    if H_out < 1 or W_out < 1:
        raise ValueError(f"{op}: output size would be {H_out}x{W_out} for input {tuple(x.shape)}, "
                         f"kernel {(kH, kW)}, stride {stride}, padding {padding}")
    # The convolution whose input gradient this is maps (H_out, W_out) back to
    # (Hc, Wc) >= (H, W); when output_padding >= stride it has extra windows, which
    # receive zero gradient: pad the input with zeros to match.
    Hc = _conv_out(H_out, kH, stride[0], padding[0], dilation[0])
    Wc = _conv_out(W_out, kW, stride[1], padding[1], dilation[1])
    if (Hc, Wc) != (H, W):
        x = _pad(x, (0, Wc - W, 0, Hc - H))
    y = Conv2dGradInput.apply(x, weight, (N, C_out, H_out, W_out), stride, padding, dilation, int(groups))
    if bias is not None:
        y = y + reshape(bias, (1, C_out, 1, 1))
    return y if batched else reshape(y, y.shape[1:])


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks: (N, C, H, W) -> (N, C*kH*kW, L), L = number of blocks.

    Column l holds block l in (channel, kernel row, kernel column) order; this is the
    im2col matrix that turns a convolution into a matrix product:
    ``conv2d(x, w) == (w.reshape(C_out, -1) @ unfold(x, k)).reshape(N, C_out, H_out, W_out)``.
    Unbatched (C, H, W) input gives (C*kH*kW, L). As ``torch.nn.functional.unfold``.
    """
    op = "unfold"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    conf = (_ntuple(kernel_size, 2, "kernel_size", op, 1), _ntuple(stride, 2, "stride", op, 1),
            _ntuple(padding, 2, "padding", op, 0), _ntuple(dilation, 2, "dilation", op, 1))
    (kH, kW), s, p, d = conf
    H, W = input.shape[-2:]
    if _conv_out(H, kH, s[0], p[0], d[0]) < 1 or _conv_out(W, kW, s[1], p[1], d[1]) < 1:
        raise ValueError(f"{op}: input of spatial size {(H, W)} with padding {p} is smaller than the "
                         f"dilated kernel ({d[0] * (kH - 1) + 1}, {d[1] * (kW - 1) + 1})")
    if input.ndim == 3:
        y = Unfold.apply(reshape(input, (1,) + input.shape), *conf)
        return reshape(y, y.shape[1:])
    return Unfold.apply(input, *conf)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding blocks into an image: (N, C*kH*kW, L) -> (N, C, H, W), summing
    where blocks overlap (the adjoint of :func:`unfold`). Unbatched (C*kH*kW, L) input
    gives (C, H, W). As ``torch.nn.functional.fold``.
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C*kH*kW, L) or 3-D (N, C*kH*kW, L) input, got shape "
                         f"{tuple(input.shape)}")
    size = _ntuple(output_size, 2, "output_size", op, 1)
    conf = (_ntuple(kernel_size, 2, "kernel_size", op, 1), _ntuple(stride, 2, "stride", op, 1),
            _ntuple(padding, 2, "padding", op, 0), _ntuple(dilation, 2, "dilation", op, 1))
    (kH, kW), s, p, d = conf
    CK, L = input.shape[-2:]
    n_h = _conv_out(size[0], kH, s[0], p[0], d[0])
    n_w = _conv_out(size[1], kW, s[1], p[1], d[1])
    if CK % (kH * kW) or n_h < 1 or n_w < 1 or L != n_h * n_w:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} does not fit output_size {size} with "
                         f"kernel {(kH, kW)}, stride {s}, padding {p}, dilation {d}: expected "
                         f"(N, C*{kH * kW}, {max(n_h, 0) * max(n_w, 0)})")
    if input.ndim == 2:
        y = Fold.apply(reshape(input, (1,) + input.shape), size, *conf)
        return reshape(y, y.shape[1:])
    return Fold.apply(input, size, *conf)
