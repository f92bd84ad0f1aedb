"""Reference int8 kernels: integer matrix products and convolutions, readable NumPy.

Quantization stores a real number ``r`` as a small integer ``q`` with

    r ~= scale * (q - zero_point)

(``minigrad.compress.quantize`` explains how scale and zero point are chosen). A
layer then multiplies *integers*: with weights quantized symmetrically per output
channel (zero point 0, scale ``s_w[o]``) and an activation quantized with one scale
``s_x`` and zero point ``z_x``,

    y[m, o] = sum_k x[m, k] w[o, k]
           ~= s_x s_w[o] * sum_k (q_x[m, k] - z_x) q_w[o, k]
            = s_x s_w[o] * (sum_k q_x[m, k] q_w[o, k]  -  z_x * sum_k q_w[o, k])

The first sum is a plain int8 x int8 matrix product (:func:`qmatmul_int8`); the second
term only needs the row sums of the weight, computed once. That identity is the
design choice of these kernels: the product itself never sees a zero point, so it is
the same simple kernel for every layer.

Exactness: every product of two int8 numbers lies in [-16256, 16384] (16384 = (-128)^2)
and is summed into an int32. Sums of up to 131071 such products cannot overflow
(131071 * 16384 < 2^31), so for K <= 131071 the result is exact; longer rows are
refused. The reference computes in int64 (the obvious, always exact definition) and
returns int32; every native kernel must agree with it bit for bit.

Convolutions (:func:`qconv2d_int8`) are im2col + the same product. Padding needs
care: a padded pixel stands for the real number 0, whose integer code is ``z_x``,
not 0. So the quantized input is padded with ``z_x``; each padded entry then
contributes ``(z_x - z_x) * q_w = 0``, exactly as a zero pixel does in a float
convolution.
"""
import numpy as np

from .._arrays import array_module
from .._contracts import conv_geometry
from . import conv as _conv
from .._families import kernel_table

#: the longest row (K) an int32 accumulator can sum exactly: K * 128 * 128 < 2**31
MAX_K = (2 ** 31 - 1) // (128 * 128)


def _check_int8(op, **arrays):
    for name, a in arrays.items():
        if a.dtype != np.int8:
            raise TypeError(f"{op}: {name} must be int8, got dtype {a.dtype}")


def _check_qmatmul(a, b_t):
    """Validate qmatmul_int8's operands; return (M, N, K)."""
    if a.ndim != 2 or b_t.ndim != 2:
        raise ValueError(f"qmatmul_int8: expects 2-D a (M, K) and b_t (N, K), got shapes "
                         f"{tuple(a.shape)} and {tuple(b_t.shape)}")
    _check_int8("qmatmul_int8", a=a, b_t=b_t)
    (M, K), (N, K2) = a.shape, b_t.shape
    if K != K2:
        raise ValueError(f"qmatmul_int8: shapes {tuple(a.shape)} and {tuple(b_t.shape)} cannot be "
                         f"multiplied as a @ b_t.T ({K} != {K2})")
    if K > MAX_K:
        raise ValueError(f"qmatmul_int8: K = {K} is too long for exact int32 accumulation "
                         f"(at most {MAX_K})")
    return M, N, K


def qmatmul_int8(a, b_t):
    """``a @ b_t.T`` for int8 matrices, exact, as int32.

    ``a`` is (M, K) (one row per sample), ``b_t`` is (N, K) (one row per output: the
    layout of ``Linear.weight``). Returns C (M, N) with C[i, j] = sum_k a[i, k] b_t[j, k].
    """
    _check_qmatmul(a, b_t)
    return (a.astype(np.int64) @ b_t.astype(np.int64).T).astype(np.int32)


def weight_row_sums(w):
    """sum_k q_w[o, k] for each output o, as int32 (for the zero-point correction)."""
    return w.reshape(w.shape[0], -1).sum(axis=1, dtype=np.int64).astype(np.int32)


def _check_qconv(x, w, x_zero_point, stride, padding, dilation, groups):
    _check_int8("qconv2d_int8", x=x, w=w)
    geo = conv_geometry("qconv2d_int8", x.shape, w.shape, stride, padding, dilation, groups)
    K = w.shape[1] * w.shape[2] * w.shape[3]
    if K > MAX_K:
        raise ValueError(f"qconv2d_int8: a patch of {K} numbers is too long for exact int32 "
                         f"accumulation (at most {MAX_K})")
    zp = int(x_zero_point)
    if not -128 <= zp <= 127:
        raise ValueError(f"qconv2d_int8: x_zero_point must be an int8 value in [-128, 127], got {x_zero_point}")
    return geo, zp


def qconv2d_int8(x, w, x_zero_point, stride, padding, dilation, groups):
    """Integer convolution: y[n, o, i, j] = sum over the window of (q_x - z_x) * q_w.

    ``x`` int8 (N, C_in, H, W), quantized with zero point ``x_zero_point`` (a Python
    int in [-128, 127]); ``w`` int8 (C_out, C_in/groups, kH, kW), symmetric (zero point
    0). ``stride``/``padding``/``dilation`` are (h, w) pairs. Returns int32
    (N, C_out, H_out, W_out), exact. Padding stands for the real value 0, i.e. the
    code ``x_zero_point`` (see the module docstring).
    """
    (N, C, H, W, C_out, kH, kW, H_out, W_out), zp = _check_qconv(x, w, x_zero_point, stride, padding,
                                                                  dilation, groups)
    xp = array_module(x)
    ph, pw = padding
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=np.int8(zp))
    # im2col on the padded input (padding 0 now): (G, N*H_out*W_out, C_g*kH*kW)
    cols = _conv.im2col(xpad, (kH, kW), stride, (0, 0), dilation, groups)
    wmat = w.reshape(groups, C_out // groups, -1)
    acc = cols.astype(np.int64) @ wmat.astype(np.int64).transpose(0, 2, 1)   # (G, NP, Co_g)
    acc -= zp * wmat.sum(axis=2, dtype=np.int64)[:, None, :]                    # the z_x correction
    acc = acc.reshape(groups, N, H_out, W_out, C_out // groups)
    acc = acc.transpose(1, 0, 4, 2, 3).reshape(N, C_out, H_out, W_out)
    return xp.ascontiguousarray(acc.astype(np.int32))




# ----------------------------------------------------------------------------- whole int8 layers

def quantize_input(x, scale, zero_point):
    """``clamp(rint(x / scale) + zero_point, -128, 127)`` as int8, computed in float32
    (as ``minigrad.compress.quantize.quantize_per_tensor`` does for float32 input).
    NaN has no int8 code: it becomes the zero point (the code of 0.0)."""
    xp = array_module(x)
    q = xp.rint(x.astype(np.float32) / np.float32(scale)) + np.float32(int(zero_point))
    q = xp.where(xp.isnan(q), np.float32(int(zero_point)), q)
    return xp.clip(q, -128, 127).astype(np.int8)


def _check_layer(op, x, scale, bias, n_out):
    if x.dtype != np.float32:
        raise TypeError(f"{op}: x must be float32, got dtype {x.dtype}")
    for name, a in (("out_scale", scale), ("bias", bias)):
        if a is not None and (a.dtype != np.float32 or a.shape != (n_out,)):
            raise ValueError(f"{op}: {name} must be float32 of shape ({n_out},), got {a.dtype} {tuple(a.shape)}")


def dequantize_output(acc, out_scale, bias, relu, channel_axis):
    """``float32(acc) * out_scale[o] + bias[o]`` (o along ``channel_axis``), then
    ``max(y, 0)`` when ``relu``: the int32 sums back to float32."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    y = acc.astype(np.float32)
    y *= out_scale.reshape(shape)
    if bias is not None:
        y += bias.reshape(shape)
    if relu:
        array_module(y).maximum(y, np.float32(0), out=y)
    return y


def qlinear_float(x, x_scale, x_zero_point, w, out_scale, bias, relu, packed=None):
    """A whole int8 Linear layer, float32 in and out: quantize ``x`` (M, K) with
    (``x_scale``, ``x_zero_point``), ``acc = (q_x - z_x) @ w.T`` exactly in int32
    (``w`` int8 (N, K), symmetric), then :func:`dequantize_output` with ``out_scale``
    = s_x * s_w[o] (float32 (N,)), ``bias`` (float32 (N,) or None) and ``relu``.

    ``packed``: a dict the caller keeps per weight (one new dict whenever the weight
    changes), where a native kernel may keep the weight in its own layout between
    calls; the reference has nothing to keep."""
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"qlinear_float: expects 2-D x (M, K) and w (N, K), got shapes {tuple(x.shape)} "
                         f"and {tuple(w.shape)}")
    _check_layer("qlinear_float", x, out_scale, bias, w.shape[0])
    xq = quantize_input(x, x_scale, x_zero_point)
    acc = qmatmul_int8(xq, w)
    acc -= np.int32(int(x_zero_point)) * weight_row_sums(w)     # wraps like int32: exact
    return dequantize_output(acc, out_scale, bias, relu, 1)


def qconv2d_float(x, x_scale, x_zero_point, w, out_scale, bias, stride, padding, dilation, groups, relu,
                  packed=None):
    """A whole int8 Conv2d layer, float32 in and out: quantize ``x`` (N, C, H, W),
    :func:`qconv2d_int8` (padding with the zero point), then :func:`dequantize_output`
    per output channel (``out_scale``, ``bias``: float32 (C_out,)), ReLU if asked.
    ``packed``: as in :func:`qlinear_float`."""
    _check_layer("qconv2d_float", x, out_scale, bias, w.shape[0] if w.ndim == 4 else -1)
    acc = qconv2d_int8(quantize_input(x, x_scale, x_zero_point), w, x_zero_point, stride, padding, dilation,
                       groups)
    return dequantize_output(acc, out_scale, bias, relu, 1)


KERNELS = kernel_table("quant", globals())   # op name -> the function of that name above
