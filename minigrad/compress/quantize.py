"""INT8 quantization: store weights as 8-bit integers and run layers on integers.

The idea
--------
A float32 weight takes 4 bytes. Most of those bits are wasted on a trained network:
the weights of one output channel span a small range, and 256 evenly spaced levels
over that range lose very little accuracy. *Affine quantization* stores a real number
``r`` as an integer ``q`` in [qmin, qmax] (int8: [-128, 127]; uint8: [0, 255]):

    q = clamp(round(r / scale) + zero_point, qmin, qmax)        (quantize)
    r ~= scale * (q - zero_point)                                (dequantize)

``scale`` is the step between levels and ``zero_point`` the integer that stands for
the real 0 (0 is always exactly representable, so zero padding and ReLU zeros stay
exact). Inside [qmin, qmax] the round trip errs by at most ``scale / 2``; outside it
values are clamped to the ends of the range.

* Rounding is **half to even** (NumPy's ``rint``, like the ``nearbyint`` PyTorch
  uses): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
* **Symmetric** quantization fixes ``zero_point = 0`` (int8; 128 for uint8) and
  ``scale = max|r| / 127``, so the largest magnitude maps to +-127 (-128 is never
  produced). Used for weights, **per output channel**: each row of a Linear weight
  (each filter of a Conv2d) gets its own scale.
* **Affine** (asymmetric) quantization maps [min, max] onto the whole range:
  ``scale = (max - min) / (qmax - qmin)``, ``zero_point = qmin - round(min / scale)``.
  Used for activations, **per tensor**: after a ReLU everything is >= 0, and a
  symmetric range would waste half the levels.

Then a Linear layer multiplies integers. With ``x ~= s_x (q_x - z_x)`` and
``w[o] ~= s_w[o] q_w[o]``::

    y[m, o] = sum_k x[m, k] w[o, k] + b[o]
           ~= s_x s_w[o] * (sum_k q_x[m, k] q_w[o, k] - z_x sum_k q_w[o, k]) + b[o]

The sum is an int8 x int8 -> int32 matrix product (the ``qmatmul_int8`` kernel); the
zero-point term needs only the weight's row sums; one float multiply per output
turns the int32 result back into float32 ("dequantize"), and the float bias is
added. Convolutions do the same through ``qconv2d_int8`` (im2col of the int8 input,
padded with ``z_x``).

Two ways to get a quantized model (the flow of ``torch.ao.quantization``)
--------------------------------------------------------------------------
**Post-training quantization (PTQ)**::

    prepared = prepare(model)           # a copy with an observer on the input of
                                        # every nn.Linear and nn.Conv2d
    with minigrad.no_grad():
        for x in calibration_batches:   # a few hundred samples of real inputs
            prepared(x)                 # observers record each input's min and max
    qmodel = convert(prepared)          # QuantizedLinear / QuantizedConv2d

    qmodel = quantize_ptq(model, calibration_batches)   # the same in one call

**Quantization-aware training (QAT)**: ``prepare_qat(model)`` swaps each layer for
:class:`QATLinear` / :class:`QATConv2d`, which *fake-quantize* the weight and input
(quantize then dequantize, in float) so that training sees the rounding and learns
weights that survive it; the straight-through estimator (see :func:`fake_quantize`)
lets gradients pass the rounding. Train as usual, then ``convert(model)``.

What is and is not quantized: only ``nn.Linear`` and ``nn.Conv2d`` (exactly those
classes, not subclasses) become int8; everything else (ReLU, pooling, BatchNorm,
the loss) stays in float and runs between the quantized layers, which take and
return float32 tensors. BatchNorm is not folded into the preceding convolution. A
ReLU can join its layer: :func:`fuse_modules` first (as in ``torch.ao.quantization``),
and the int8 layer applies it on its way back to float, for free.

Speed: on the CPU a float32 input runs a quantized layer in one kernel call
(``qlinear_float`` / ``qconv2d_float``: quantize, the int8 product on ``vpdpbusd``
or ``vpmaddwd`` where the CPU has them, back to float with bias and ReLU); other
inputs (float64, or on a GPU) go step by step through ``qmatmul_int8`` /
``qconv2d_int8``. Both give the same floats for float32.

Arrays or Tensors
-----------------
The primitives (:func:`quantize_per_tensor`, :func:`quantize_per_channel`,
:func:`dequantize`) take NumPy arrays or Tensors and return the same kind (a Tensor
result never requires grad; use :func:`fake_quantize` inside a graph). Quantized
modules are inference-only: they hold no Parameters, and calling one on an input that
requires grad while grad mode is on raises a RuntimeError (run them under
``minigrad.no_grad()``, as ``evaluate``/``predict`` do).
"""
from __future__ import annotations

import copy

import numpy as np

from minigrad import nn
from minigrad.autograd import is_grad_enabled, no_grad
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.ops.quantize import FakeQuantizeFunction
from minigrad.nn import functional as F
from minigrad.nn.module import Module
from minigrad.ops import conv as _conv_ops
from minigrad.ops.shape import pad as _pad
from minigrad.tensor import Tensor

__all__ = [
    "qrange", "calc_qparams", "quantize_per_tensor", "quantize_per_channel", "dequantize", "fake_quantize",
    "MinMaxObserver", "MovingAverageMinMaxObserver", "PerChannelMinMaxObserver", "FakeQuantize",
    "QATLinear", "QATConv2d", "QuantizedLinear", "QuantizedConv2d",
    "prepare", "convert", "quantize_ptq", "prepare_qat", "model_size_bytes", "size_report",
    "fuse_modules", "ConvReLU2d", "LinearReLU",
]

_QRANGES = {"int8": (-128, 127), "uint8": (0, 255)}
_SMALLEST_SCALE = float(np.finfo(np.float32).tiny)
# |q_x - z_x| <= 255 and |q_w| <= 127 (symmetric weights), so a layer's int32 sums are
# exact while 255 * 127 * K < 2**31 (intermediate wrap-around in the kernel cancels out)
_MAX_ROW = (2 ** 31 - 1) // (255 * 127)


# ============================================================================ primitives

def qrange(dtype="int8"):
    """(qmin, qmax) of a quantized dtype: ``"int8"`` -> (-128, 127), ``"uint8"`` -> (0, 255)."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _QRANGES:
        raise ValueError(f"qrange: dtype must be 'int8' or 'uint8', got {dtype!r}")
    return _QRANGES[key]


def _unwrap(x):
    """(array, was_a_tensor)."""
    if isinstance(x, Tensor):
        return x.array, True
    return (x if hasattr(x, "__cuda_array_interface__") else np.asarray(x)), False


def calc_qparams(min_val, max_val, symmetric=False, dtype="int8"):
    """Scale and zero point that cover [min_val, max_val] (widened to include 0).

    ``min_val``/``max_val``: numbers, or arrays of one value per channel.
    ``symmetric=False`` (affine): ``scale = (max - min) / (qmax - qmin)`` and
    ``zero_point = qmin - round(min / scale)``. ``symmetric=True``:
    ``scale = max(|min|, |max|) / 127`` and ``zero_point`` 0 (int8) or 128 (uint8).

    Edge cases: a range of width 0 (all zeros) gets ``scale = 1.0`` (any scale
    represents 0 exactly; 1 keeps the arithmetic tame); scales never go below the
    smallest normal float32. Non-finite bounds or ``min_val > max_val`` raise
    ValueError. Returns ``(float, int)`` for scalar inputs and ``(float32 array,
    int32 array)`` for arrays.
    """
    qmin, qmax = qrange(dtype)
    lo = np.asarray(min_val, dtype=np.float64)
    hi = np.asarray(max_val, dtype=np.float64)
    if lo.shape != hi.shape:
        raise ValueError(f"calc_qparams: min_val and max_val have different shapes {lo.shape} and {hi.shape}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(f"calc_qparams: min_val and max_val must be finite, got {min_val} and {max_val} "
                         "(has the observer seen any data?)")
    if np.any(lo > hi):
        raise ValueError(f"calc_qparams: min_val must be <= max_val, got {min_val} and {max_val}")
    lo = np.minimum(lo, 0.0)
    hi = np.maximum(hi, 0.0)
    if symmetric:
        zero = 0 if qmin < 0 else (qmin + qmax + 1) // 2
        scale = np.maximum(-lo, hi) / (qmax - zero)
        zp = np.full(lo.shape, zero, dtype=np.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
    scale = np.where(scale == 0, 1.0, np.maximum(scale, _SMALLEST_SCALE)).astype(np.float32)
    if not symmetric:
        zp = np.clip(qmin - np.rint(lo / scale.astype(np.float64)), qmin, qmax).astype(np.int64)
    if scale.ndim == 0:
        return float(scale), int(zp)
    return scale, zp.astype(np.int32)


def _channel_shape(ndim, axis, op):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a {ndim}-D array")
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return tuple(shape)


def _quantize(x, scale, zero_point, qmin, qmax, dtype):
    xp = xp_of(x)
    ft = x.dtype if x.dtype.kind == "f" else np.float32
    q = xp.rint(x.astype(ft, copy=False) / scale.astype(ft, copy=False)) + zero_point
    return xp.clip(q, qmin, qmax).astype(dtype)


def quantize_per_tensor(x, scale, zero_point, dtype="int8"):
    """``clamp(round(x / scale) + zero_point, qmin, qmax)`` as int8 (or uint8).

    One ``scale`` (> 0) and one integer ``zero_point`` for the whole array. Rounds
    half to even. ``x``: a float array or Tensor; returns the same kind.
    """
    qmin, qmax = qrange(dtype)
    arr, was_tensor = _unwrap(x)
    scale_f = float(scale)
    if not scale_f > 0 or not np.isfinite(scale_f):
        raise ValueError(f"quantize_per_tensor: scale must be a positive finite number, got {scale}")
    zp = int(zero_point)
    if not qmin <= zp <= qmax:
        raise ValueError(f"quantize_per_tensor: zero_point {zero_point} is outside the {dtype} range "
                         f"[{qmin}, {qmax}]")
    q = _quantize(arr, np.asarray(scale_f), zp, qmin, qmax, np.dtype(dtype))
    return Tensor(q) if was_tensor else q


def _per_channel_args(op, arr, scales, zero_points, axis, qmin, qmax):
    xp = xp_of(arr)
    s = np.asarray(_unwrap(scales)[0], dtype=np.float64).reshape(-1)
    z = np.asarray(_unwrap(zero_points)[0]).reshape(-1)
    shape = _channel_shape(arr.ndim, axis, op)
    c = arr.shape[axis]
    if s.shape[0] != c or z.shape[0] != c:
        raise ValueError(f"{op}: array of shape {tuple(arr.shape)} has {c} channels along axis {axis}, "
                         f"but got {s.shape[0]} scales and {z.shape[0]} zero points")
    if not (np.all(s > 0) and np.all(np.isfinite(s))):
        raise ValueError(f"{op}: every scale must be a positive finite number")
    if z.dtype.kind not in "iu" or np.any(z < qmin) or np.any(z > qmax):
        raise ValueError(f"{op}: zero points must be integers in [{qmin}, {qmax}], got {z}")
    return (xp.asarray(s.astype(np.float32)).reshape(shape), xp.asarray(z.astype(np.int32)).reshape(shape))


def quantize_per_channel(w, scales, zero_points, axis=0, dtype="int8"):
    """Quantize with one (scale, zero_point) per slice along ``axis`` (default 0: the
    output channels of a Linear or Conv2d weight). Returns int8/uint8, same kind as ``w``."""
    qmin, qmax = qrange(dtype)
    arr, was_tensor = _unwrap(w)
    s, z = _per_channel_args("quantize_per_channel", arr, scales, zero_points, axis, qmin, qmax)
    q = _quantize(arr, s, z, qmin, qmax, np.dtype(dtype))
    return Tensor(q) if was_tensor else q


def dequantize(q, scale, zero_point, axis=None):
    """``scale * (q - zero_point)`` as float32.

    Per tensor (``axis=None``: scalar scale and zero point) or per channel (``axis``
    given: one scale and zero point per slice along it). Same kind (array/Tensor) as ``q``.
    """
    arr, was_tensor = _unwrap(q)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"dequantize: expected an integer array, got dtype {arr.dtype}")
    if axis is None:
        out = (arr.astype(np.float32) - np.float32(int(zero_point))) * np.float32(scale)
    else:
        s, z = _per_channel_args("dequantize", arr, scale, zero_point, axis, -2 ** 31, 2 ** 31 - 1)
        out = (arr.astype(np.float32) - z.astype(np.float32)) * s
    return Tensor(out) if was_tensor else out


def fake_quantize(x, scale, zero_point, dtype="int8", axis=None):
    """Quantize and dequantize ``x`` (a Tensor) in one differentiable op.

    The forward value is what the int8 layer will see; the backward pass is the
    straight-through estimator (:class:`FakeQuantizeFunction`): the incoming
    gradient passes unchanged where ``round(x / scale) + zero_point`` is inside
    [qmin, qmax] and is 0 where the value was clamped. ``axis=None``: one scale and
    zero point; otherwise one per slice along ``axis``.
    """
    qmin, qmax = qrange(dtype)
    if not isinstance(x, Tensor):
        raise TypeError(f"fake_quantize: expected a Tensor, got {type(x).__name__}")
    xp = xp_of(x.array)
    if axis is None:
        s = xp.asarray(np.float32(scale))
        z = xp.asarray(np.int32(zero_point))
    else:
        s, z = _per_channel_args("fake_quantize", x.array, scale, zero_point, axis, qmin, qmax)
    return FakeQuantizeFunction.apply(x, s, z, qmin, qmax)


# ============================================================================ observers

class _Observer(Module):
    """Records the range of the tensors passing through it (returned unchanged).

    ``averaging_constant=None``: the running min and max of everything seen (for
    calibration). A number c in (0, 1]: an exponential moving average,
    ``min <- min + c (batch_min - min)`` (the first batch sets it; c = 1 keeps only
    the latest batch): for QAT, where activations drift while the model trains.
    """

    def __init__(self, dtype="int8", symmetric=False, averaging_constant=None):
        super().__init__()
        qrange(dtype)
        if averaging_constant is not None and not 0 < averaging_constant <= 1:
            raise ValueError(f"{type(self).__name__}: averaging_constant must be in (0, 1] or None, "
                             f"got {averaging_constant}")
        self.dtype = dtype
        self.symmetric = bool(symmetric)
        self.averaging_constant = averaging_constant

    def _update(self, lo, hi):
        c = self.averaging_constant
        old_lo, old_hi = self.min_val.array, self.max_val.array
        fresh = ~np.isfinite(old_lo)
        if c is None:
            new_lo, new_hi = np.minimum(old_lo, lo), np.maximum(old_hi, hi)
        else:
            with np.errstate(invalid="ignore"):  # inf - inf in the fresh entries, replaced below
                new_lo = np.where(fresh, lo, old_lo + c * (lo - old_lo))
                new_hi = np.where(fresh, hi, old_hi + c * (hi - old_hi))
        self.min_val = Tensor(np.asarray(new_lo, dtype=np.float32))
        self.max_val = Tensor(np.asarray(new_hi, dtype=np.float32))

    @property
    def observed(self) -> bool:
        """True once at least one tensor has passed through."""
        return bool(np.all(np.isfinite(self.min_val.array))) and self.min_val.array.size > 0

    def calculate_qparams(self):
        """(scale, zero_point) for the range seen so far (see :func:`calc_qparams`)."""
        if not self.observed:
            raise RuntimeError(f"{type(self).__name__}: no data observed yet; run some inputs through the "
                               "prepared model before asking for quantization parameters")
        return calc_qparams(self.min_val.array, self.max_val.array, self.symmetric, self.dtype)

    def extra_repr(self):
        s = f"dtype={self.dtype}, symmetric={self.symmetric}"
        if self.averaging_constant is not None:
            s += f", averaging_constant={self.averaging_constant}"
        if self.min_val.array.ndim:
            return s + f", axis={self.axis}, channels={self.min_val.array.shape[0]}"
        return s + f", min_val={float(self.min_val.array):.4g}, max_val={float(self.max_val.array):.4g}"


class MinMaxObserver(_Observer):
    """Per-tensor range of the inputs; affine by default (for activations)."""

    axis = None

    def __init__(self, dtype="int8", symmetric=False, averaging_constant=None):
        super().__init__(dtype, symmetric, averaging_constant)
        self.register_buffer("min_val", Tensor(np.array(np.inf, dtype=np.float32)))
        self.register_buffer("max_val", Tensor(np.array(-np.inf, dtype=np.float32)))

    def forward(self, x):
        arr = _unwrap(x)[0]
        if arr.size:
            arr = np.asarray(arr.get() if hasattr(arr, "get") else arr)
            self._update(arr.min(), arr.max())
        return x


class MovingAverageMinMaxObserver(MinMaxObserver):
    """:class:`MinMaxObserver` with an exponential moving average (default c = 0.01),
    the input observer of QAT layers."""

    def __init__(self, dtype="int8", symmetric=False, averaging_constant=0.01):
        super().__init__(dtype, symmetric, averaging_constant)


class PerChannelMinMaxObserver(_Observer):
    """One range per slice along ``axis``; symmetric by default (for weights).

    ``channels``: the number of slices, when known (then the buffers have their final
    shape from the start, so ``load_state_dict`` works before any data was seen).
    """

    def __init__(self, axis=0, channels=None, dtype="int8", symmetric=True, averaging_constant=None):
        super().__init__(dtype, symmetric, averaging_constant)
        self.axis = int(axis)
        n = 0 if channels is None else int(channels)
        self.register_buffer("min_val", Tensor(np.full(n, np.inf, dtype=np.float32)))
        self.register_buffer("max_val", Tensor(np.full(n, -np.inf, dtype=np.float32)))

    def forward(self, x):
        arr = _unwrap(x)[0]
        arr = np.asarray(arr.get() if hasattr(arr, "get") else arr)
        _channel_shape(arr.ndim, self.axis, "PerChannelMinMaxObserver")
        rows = np.moveaxis(arr, self.axis, 0).reshape(arr.shape[self.axis], -1)
        if rows.shape[1] == 0:
            return x
        if self.min_val.array.shape[0] == 0:
            self.min_val = Tensor(np.full(rows.shape[0], np.inf, dtype=np.float32))
            self.max_val = Tensor(np.full(rows.shape[0], -np.inf, dtype=np.float32))
        elif self.min_val.array.shape[0] != rows.shape[0]:
            raise ValueError(f"PerChannelMinMaxObserver: expected {self.min_val.array.shape[0]} channels along "
                             f"axis {self.axis}, got an input of shape {tuple(arr.shape)}")
        self._update(rows.min(axis=1), rows.max(axis=1))
        return x


class FakeQuantize(Module):
    """Observe the input and fake-quantize it with the observer's current scale and
    zero point (see :func:`fake_quantize`).

    ``observe="train"``: the observer only updates in training mode (activations: an
    evaluation pass must not move the range); ``"always"``: on every call (weights:
    the range must follow the current weights, which change after every step).
    Before the observer has seen anything the input passes through unchanged.
    ``observer_enabled`` / ``fake_quant_enabled`` switch the two steps off.
    """

    def __init__(self, observer, observe="train"):
        super().__init__()
        if observe not in ("train", "always"):
            raise ValueError(f"FakeQuantize: observe must be 'train' or 'always', got {observe!r}")
        self.observer = observer
        self.observe = observe
        self.observer_enabled = True
        self.fake_quant_enabled = True

    def extra_repr(self):
        return f"observe={self.observe!r}"

    def forward(self, x):
        if self.observer_enabled and (self.training or self.observe == "always"):
            self.observer(x.detach())
        if not self.fake_quant_enabled or not self.observer.observed:
            return x
        scale, zp = self.observer.calculate_qparams()
        return fake_quantize(x, scale, zp, self.observer.dtype, self.observer.axis)


# ============================================================================ QAT layers

_MODULE_INTERNALS = ("training", "_parameters", "_buffers", "_non_persistent_buffers", "_modules",
                     "_forward_hooks", "_forward_pre_hooks")


def _clone_float_layer(cls, mod):
    """A ``cls`` instance with ``mod``'s settings and the *same* Parameter objects (so an
    optimizer built on them keeps working), built without drawing random numbers."""
    new = cls.__new__(cls)
    Module.__init__(new)
    for k, v in mod.__dict__.items():
        if k not in _MODULE_INTERNALS:
            object.__setattr__(new, k, v)
    new.weight = mod.weight
    if mod.bias is None:
        new.register_parameter("bias", None)
    else:
        new.bias = mod.bias
    new.train(mod.training)
    return new


def _qat_fake_quants(new, out_channels):
    new.input_fake_quant = FakeQuantize(MovingAverageMinMaxObserver(dtype="int8", symmetric=False))
    new.weight_fake_quant = FakeQuantize(PerChannelMinMaxObserver(
        axis=0, channels=out_channels, dtype="int8", symmetric=True, averaging_constant=1.0), observe="always")
    new.train(new.training)


class QATLinear(nn.Linear):
    """A Linear layer that trains through int8 rounding: ``y = fq(x) fq(W)^T + b``.

    ``input_fake_quant``: per-tensor affine, moving-average range (c = 0.01), updated
    in training mode only; ``weight_fake_quant``: per-output-channel symmetric, the
    range of the current weights (recomputed on every call, so an evaluation pass
    after the last optimizer step already sees the weights ``convert`` will store).
    The bias stays float. Build one with ``QATLinear.from_float(linear)`` (or
    :func:`prepare_qat`); ``convert`` turns it into a :class:`QuantizedLinear`.
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        _qat_fake_quants(self, self.out_features)

    @classmethod
    def from_float(cls, mod):
        """A QATLinear sharing ``mod``'s weight and bias Parameters, with fake-quant
        for its weights (per output channel) and its input (per tensor) attached."""
        new = _clone_float_layer(cls, mod)
        _qat_fake_quants(new, mod.out_features)
        return new

    def forward(self, input):
        return F.linear(self.input_fake_quant(input), self.weight_fake_quant(self.weight), self.bias)


class QATConv2d(nn.Conv2d):
    """A Conv2d that trains through int8 rounding (fake-quantized input and weight;
    see :class:`QATLinear`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _qat_fake_quants(self, self.out_channels)

    @classmethod
    def from_float(cls, mod):
        """A QATConv2d sharing ``mod``'s weight and bias Parameters, with fake-quant for
        its weights (per output channel) and its input (per tensor) attached."""
        new = _clone_float_layer(cls, mod)
        _qat_fake_quants(new, mod.out_channels)
        return new

    def forward(self, input):
        x, padding = self._explicit_pad(self.input_fake_quant(input))
        return _conv_ops.conv2d(x, self.weight_fake_quant(self.weight), self.bias, self.stride, padding,
                                self.dilation, self.groups)


# ============================================================================ quantized layers

def _inference_only(module, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{type(module).__name__}: expected a Tensor input, got {type(input).__name__}")
    if input.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{type(module).__name__} is inference-only (int8 arithmetic has no gradient): "
                           "call it under minigrad.no_grad() or pass a detached input; to train through "
                           "quantization use prepare_qat")
    if input.dtype.kind != "f":
        raise TypeError(f"{type(module).__name__}: expected a floating-point input, got {input.dtype}")


class _QuantizedLayer(Module):
    """Shared parts of the int8 layers: the buffers, building from a float layer."""

    def _init_buffers(self, weight_shape, out_channels, bias):
        self.register_buffer("weight", Tensor(np.zeros(weight_shape, dtype=np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(out_channels, dtype=np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(out_channels, dtype=np.float32)) if bias else None)
        self.register_buffer("input_scale", Tensor(np.array(1.0, dtype=np.float32)))
        self.register_buffer("input_zero_point", Tensor(np.array(0, dtype=np.int32)))
        self.relu = False        # True: a ReLU fused into the layer (see fuse_modules)
        self._sums_key = None
        self._sums = None
        self._packed = None

    def _set_from(self, mod, observer, name):
        if observer is None:
            raise RuntimeError(f"convert: layer {name or type(mod).__name__} has no input observer "
                               "(call prepare or prepare_qat first)")
        if not observer.observed:
            raise RuntimeError(f"convert: the input observer of layer {name or type(mod).__name__!r} has seen "
                               "no data; run calibration batches through the prepared model first")
        if observer.dtype != "int8" or observer.axis is not None:
            raise ValueError(f"convert: input observers must be per-tensor int8 (the kernels take int8 "
                             f"activations), got dtype={observer.dtype!r}, axis={observer.axis}")
        sx, zx = observer.calculate_qparams()
        w = np.asarray(mod.weight.array, dtype=np.float32)
        k = w[0].size
        if k > _MAX_ROW:
            raise ValueError(f"convert: layer {name or type(mod).__name__!r} sums {k} products per output; "
                             f"int32 accumulation is exact only up to {_MAX_ROW} (255 * 127 * K < 2**31)")
        rows = w.reshape(w.shape[0], -1)
        sw, zw = calc_qparams(rows.min(axis=1), rows.max(axis=1), symmetric=True, dtype="int8")
        self.weight = Tensor(quantize_per_channel(w, sw, zw, axis=0))
        self.weight_scale = Tensor(sw)
        if mod.bias is not None:
            self.bias = Tensor(np.asarray(mod.bias.array, dtype=np.float32).copy())
        self.input_scale = Tensor(np.array(sx, dtype=np.float32))
        self.input_zero_point = Tensor(np.array(zx, dtype=np.int32))

    def _qparams(self):
        return float(self.input_scale.array), int(self.input_zero_point.array)

    def _weight_row_sums(self):
        """sum_k q_w[o, k] (int32), cached until the weight buffer changes."""
        self._weight_cache()
        if self._sums is None:
            w = self.weight.array
            self._sums = w.reshape(w.shape[0], -1).sum(axis=1, dtype=np.int64).astype(np.int32)
        return self._sums

    def _weight_cache(self):
        """The dict in which the one-call kernels keep this weight in their own layout
        (``packed``), emptied with the row sums whenever the weight buffer changes."""
        w = self.weight
        key = (id(w.array), w._version[0])
        if self._sums_key != key or getattr(self, "_packed", None) is None:
            self._sums_key, self._sums, self._packed = key, None, {}
        return self._packed

    def _dequantize_output(self, acc, x_dtype, channel_axis):
        """float(acc) * s_x * s_w[o] + b[o], broadcast along ``channel_axis``."""
        shape = [1] * acc.ndim
        shape[channel_axis] = -1
        dt = x_dtype if x_dtype in (np.float32, np.float64) else np.float32
        mult = self._output_scale(dt).reshape(shape)
        y = acc.astype(dt)
        y *= mult
        if self.bias is not None:
            y += self.bias.array.astype(dt).reshape(shape)
        if self.relu:
            xp_of(y).maximum(y, 0, out=y)
        return y

    def _output_scale(self, dtype):
        """s_x * s_w[o] per output channel (computed in float64, stored as ``dtype``)."""
        return (self.input_scale.array.astype(np.float64) * self.weight_scale.array).astype(dtype)

    def _fused_args(self, x):
        """(x_scale, x_zero_point, out_scale, bias) for the one-call float32 kernels
        (``qlinear_float`` / ``qconv2d_float``), or None where they do not apply: an input
        that is not float32 or not on the CPU takes the step-by-step path."""
        if x.dtype != np.float32 or device_of(x) != "cpu":
            return None
        sx, zx = self._qparams()
        mult = self._output_scale(np.float32)
        bias = None if self.bias is None else np.ascontiguousarray(self.bias.array, dtype=np.float32)
        return sx, zx, mult, bias


class QuantizedLinear(_QuantizedLayer):
    """y = x W^T + b computed as int8 x int8 -> int32 (inference only).

    Buffers (all saved by ``state_dict``): ``weight`` int8 (out, in), per-row
    symmetric; ``weight_scale`` float32 (out,); ``bias`` float32 (out,) or None;
    ``input_scale`` float32 () and ``input_zero_point`` int32 (), the affine int8
    quantization of the input. Input and output are float Tensors (*, in) -> (*, out).
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._init_buffers((self.out_features, self.in_features), self.out_features, bias)

    @classmethod
    def from_float(cls, mod, observer=None, name=""):
        """Quantize a Linear (or QATLinear) using ``observer``'s input range (default: the
        layer's own ``input_observer`` from :func:`prepare`, or its QAT input fake-quant)."""
        observer = observer if observer is not None else _input_observer(mod)
        new = cls(mod.in_features, mod.out_features, bias=mod.bias is not None)
        new._set_from(mod, observer, name)
        return new

    def forward(self, input):
        _inference_only(self, input)
        x = input.array
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: input of shape {tuple(x.shape)} does not match in_features "
                             f"{self.in_features}")
        x2 = x.reshape(-1, self.in_features)
        fused = self._fused_args(x2)
        if fused is not None:
            y = get_kernel("qlinear_float", "cpu")(x2, fused[0], fused[1], self.weight.array, fused[2], fused[3],
                                                   self.relu, self._weight_cache())
            return Tensor(y.reshape(x.shape[:-1] + (self.out_features,)))
        sx, zx = self._qparams()
        xq = quantize_per_tensor(x2, sx, zx)
        acc = get_kernel("qmatmul_int8", device_of(x2))(xq, self.weight.array)    # int32 (M, out)
        acc -= np.int32(zx) * self._weight_row_sums()                             # exact: the z_x term
        y = self._dequantize_output(acc, input.dtype, 1)
        return Tensor(y.reshape(x.shape[:-1] + (self.out_features,)))

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, input_scale={float(self.input_scale.array):.4g}, "
                f"input_zero_point={int(self.input_zero_point.array)}" + (", relu=True" if self.relu else ""))


class QuantizedConv2d(_QuantizedLayer):
    """2-D convolution computed as int8 x int8 -> int32 (inference only).

    Same settings as the Conv2d it came from (stride, padding including "same"/"valid",
    dilation, groups, padding_mode). Buffers as :class:`QuantizedLinear`, with
    ``weight`` int8 (C_out, C_in/groups, kH, kW), one scale per output channel.
    Zero padding uses the input's zero point (the code of the real 0); other padding
    modes pad the float input first.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros"):
        super().__init__()
        ref = _conv_settings(in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                             padding_mode)
        for k, v in ref.items():
            object.__setattr__(self, k, v)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self._init_buffers(shape, self.out_channels, bias)

    @classmethod
    def from_float(cls, mod, observer=None, name=""):
        """Quantize a Conv2d (or QATConv2d); see :meth:`QuantizedLinear.from_float`."""
        observer = observer if observer is not None else _input_observer(mod)
        new = cls(mod.in_channels, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                  mod.groups, bias=mod.bias is not None, padding_mode=mod.padding_mode)
        new._set_from(mod, observer, name)
        return new

    def _padded(self, input):
        """(input, (ph, pw)) with every padding the int8 kernel cannot do applied in float:
        non-zero padding modes, and the extra bottom/right row of an odd 'same' padding."""
        if self.padding == "valid":
            return input, (0, 0)
        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pads = [(t // 2, t - t // 2) for t in total]
        else:
            pads = [(p, p) for p in self.padding]
        if self.padding_mode != "zeros":
            widths = (pads[1][0], pads[1][1], pads[0][0], pads[0][1])
            return _pad(input, widths, mode=self.padding_mode), (0, 0)
        extra = (pads[0][1] - pads[0][0], pads[1][1] - pads[1][0])
        if extra != (0, 0):
            input = _pad(input, (0, extra[1], 0, extra[0]))
        return input, (pads[0][0], pads[1][0])

    def forward(self, input):
        _inference_only(self, input)
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            raise ValueError(f"QuantizedConv2d: expected input (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got shape {tuple(input.shape)}")
        batched = input.ndim == 4
        with no_grad():
            x, padding = self._padded(input if batched else input.reshape((1,) + input.shape))
        fused = self._fused_args(x.array)
        if fused is not None:
            y = get_kernel("qconv2d_float", "cpu")(x.array, fused[0], fused[1], self.weight.array, fused[2],
                                                   fused[3], self.stride, padding, self.dilation, self.groups,
                                                   self.relu, self._weight_cache())
            return Tensor(y if batched else y[0])
        sx, zx = self._qparams()
        xq = quantize_per_tensor(x.array, sx, zx)
        acc = get_kernel("qconv2d_int8", device_of(xq))(xq, self.weight.array, zx, self.stride, padding,
                                                        self.dilation, self.groups)
        y = self._dequantize_output(acc, input.dtype, 1)
        return Tensor(y if batched else y[0])

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
             f"padding={self.padding}")
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s + (f", bias={self.bias is not None}, input_scale={float(self.input_scale.array):.4g}, "
                    f"input_zero_point={int(self.input_zero_point.array)}" + (", relu=True" if self.relu else ""))


def _conv_settings(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode):
    """The settings as nn.Conv2d stores them (pairs of ints, or "same"/"valid"), checked.
    (Building an nn.Conv2d to borrow them would draw random numbers for its weight.)"""
    cls = "QuantizedConv2d"
    for nm, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{cls}: {nm} must be a positive int, got {v!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{cls}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                         f"divisible by groups ({groups})")
    if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
        raise ValueError(f"{cls}: unknown padding_mode {padding_mode!r}")

    def pair(v, nm):
        if isinstance(v, (int, np.integer)):
            return (int(v), int(v))
        v = tuple(int(e) for e in v)
        if len(v) != 2:
            raise ValueError(f"{cls}: {nm} must be an int or a pair of ints, got {v}")
        return v

    out = dict(in_channels=int(in_channels), out_channels=int(out_channels), groups=int(groups),
               kernel_size=pair(kernel_size, "kernel_size"), stride=pair(stride, "stride"),
               dilation=pair(dilation, "dilation"), padding_mode=padding_mode)
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{cls}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        out["padding"] = padding
    else:
        out["padding"] = pair(padding, "padding")
    return out


# ============================================================================ the model-level flow

_FLOAT_LAYERS = (nn.Linear, nn.Conv2d)


def _is_float_layer(m):
    return type(m) in _FLOAT_LAYERS


# ============================================================================ fusing a ReLU

class _LayerReLU(nn.Sequential):
    """A layer followed by a ReLU, as one module (what :func:`fuse_modules` makes). In
    float it runs the two in turn; :func:`convert` turns it into one int8 layer that
    applies the ReLU while converting its int32 sums to float (``relu=True``), so the
    pre-ReLU output is never written to memory."""

    _layer = None

    def __init__(self, layer, relu):
        if not isinstance(layer, self._layer) or not isinstance(relu, nn.ReLU):
            raise TypeError(f"{type(self).__name__}: expected ({self._layer.__name__}, ReLU), got "
                            f"({type(layer).__name__}, {type(relu).__name__})")
        super().__init__(layer, relu)


class ConvReLU2d(_LayerReLU):
    """``Conv2d`` then ``ReLU`` as one module (``torch.ao.nn.intrinsic.ConvReLU2d``)."""

    _layer = nn.Conv2d


class LinearReLU(_LayerReLU):
    """``Linear`` then ``ReLU`` as one module (``torch.ao.nn.intrinsic.LinearReLU``)."""

    _layer = nn.Linear


_FUSIONS = {(nn.Conv2d, nn.ReLU): ConvReLU2d, (nn.Linear, nn.ReLU): LinearReLU}


def _module_at(model, name):
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"fuse_modules: {type(model).__name__} has no submodule {name!r}") from None


def _set_module(model, name, new):
    parent_name, _, leaf = name.rpartition(".")
    parent = _module_at(model, parent_name) if parent_name else model
    parent._modules[leaf] = new


def fuse_modules(model, modules_to_fuse, inplace=False):
    """Fuse each listed (Conv2d, ReLU) or (Linear, ReLU) pair of submodules into one
    module, as ``torch.ao.quantization.fuse_modules`` does: the first name becomes a
    :class:`ConvReLU2d` / :class:`LinearReLU`, the second an ``nn.Identity``.

    ``modules_to_fuse``: one list of dotted names (``["features.0", "features.1"]``) or a
    list of such lists. The pair must run one after the other in ``forward`` (in a
    Sequential: neighbours); the fused model computes the same outputs. Quantized
    afterwards (:func:`prepare`/:func:`convert`, :func:`quantize_ptq`, or
    :func:`prepare_qat`), each pair becomes one int8 layer with the ReLU applied on
    its way out (``relu=True``): faster than a separate ReLU on a float tensor.
    Returns a deep copy unless ``inplace=True``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"fuse_modules: expected an nn.Module, got {type(model).__name__}")
    groups = modules_to_fuse
    if groups and all(isinstance(n, str) for n in groups):
        groups = [groups]
    if not inplace:
        model = copy.deepcopy(model)
    for names in groups:
        mods = [_module_at(model, n) for n in names]
        kinds = tuple(type(m) for m in mods)
        fused = _FUSIONS.get(kinds)
        if fused is None:
            raise ValueError(f"fuse_modules: cannot fuse {list(names)} of types "
                             f"{[k.__name__ for k in kinds]}; supported: (Conv2d, ReLU) and (Linear, ReLU)")
        _set_module(model, names[0], fused(*mods))
        _set_module(model, names[1], nn.Identity())
    return model


def _observe_input(module, inputs):
    """Forward pre-hook installed by :func:`prepare`: show the input to the observer."""
    module.input_observer(inputs[0])


def _input_observer(mod):
    if isinstance(mod, (QATLinear, QATConv2d)):
        return mod.input_fake_quant.observer
    return mod._modules.get("input_observer")


def prepare(model, inplace=False):
    """Attach an input observer (:class:`MinMaxObserver`, affine int8) to every
    ``nn.Linear`` and ``nn.Conv2d`` of ``model``, for calibration.

    Returns a deep copy (the model passed in is untouched) unless ``inplace=True``.
    Each observed layer gets a child ``input_observer`` and a forward pre-hook that
    feeds it; run representative inputs through the result, then call :func:`convert`.
    """
    if not isinstance(model, Module):
        raise TypeError(f"prepare: expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    found = 0
    for _, m in list(model.named_modules()):
        if _is_float_layer(m):
            found += 1
            if "input_observer" not in m._modules:
                m.input_observer = MinMaxObserver(dtype="int8", symmetric=False)
                m.register_forward_pre_hook(_observe_input)
    if not found:
        raise ValueError(f"prepare: {type(model).__name__} contains no nn.Linear or nn.Conv2d to quantize")
    return model


def _convert_one(m, name):
    if isinstance(m, _LayerReLU):
        new = _convert_one(m[0], name + ".0")
        if new is not None:
            new.relu = True
        return new
    if isinstance(m, QATLinear) or (type(m) is nn.Linear and "input_observer" in m._modules):
        return QuantizedLinear.from_float(m, name=name)
    if isinstance(m, QATConv2d) or (type(m) is nn.Conv2d and "input_observer" in m._modules):
        return QuantizedConv2d.from_float(m, name=name)
    return None


def convert(model, inplace=False):
    """Replace every prepared (observed) Linear/Conv2d and every QAT layer by its int8
    version (:class:`QuantizedLinear` / :class:`QuantizedConv2d`).

    Returns a deep copy unless ``inplace=True``. Raises RuntimeError naming the layer
    when an observer has seen no data. Layers that were not prepared stay float.
    """
    if not isinstance(model, Module):
        raise TypeError(f"convert: expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    root = _convert_one(model, "(the model itself)")
    if root is not None:
        return root
    for prefix, parent in list(model.named_modules()):
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            new = _convert_one(child, prefix + ("." if prefix else "") + name)
            if new is not None:
                new.train(child.training)
                parent._modules[name] = new
    return model


def _batch_input(batch):
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def quantize_ptq(model, calibration_batches, inplace=False):
    """Post-training quantization in one call: :func:`prepare`, run the calibration
    batches (in eval mode, under no_grad), :func:`convert`.

    ``calibration_batches``: an iterable of inputs, of ``(x, y)`` pairs (a DataLoader;
    ``y`` is ignored), or one array/Tensor holding a single batch. Returns the
    quantized model in eval mode; ``model`` itself is untouched unless ``inplace=True``.
    """
    prepared = prepare(model, inplace=inplace)
    if isinstance(calibration_batches, (np.ndarray, Tensor)):
        calibration_batches = [calibration_batches]
    prepared.eval()
    seen = 0
    with no_grad():
        for batch in calibration_batches:
            prepared(_batch_input(batch))
            seen += 1
    if not seen:
        raise ValueError("quantize_ptq: calibration_batches is empty; give at least one batch of inputs")
    return convert(prepared, inplace=True).eval()


def prepare_qat(model, inplace=False):
    """Swap every ``nn.Linear``/``nn.Conv2d`` for :class:`QATLinear`/:class:`QATConv2d`
    (sharing the same Parameter objects) and put the model in training mode.

    Returns a deep copy unless ``inplace=True`` (then an optimizer built on
    ``model.parameters()`` before the call keeps working). Train as usual; then
    :func:`convert` gives the int8 model.
    """
    if not isinstance(model, Module):
        raise TypeError(f"prepare_qat: expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)

    def swap(m):
        if type(m) is nn.Linear:
            return QATLinear.from_float(m)
        if type(m) is nn.Conv2d:
            return QATConv2d.from_float(m)
        return None

    root = swap(model)
    if root is not None:
        return root.train()
    found = 0
    for _, parent in list(model.named_modules()):
        for name, child in list(parent._modules.items()):
            new = swap(child) if child is not None else None
            if new is not None:
                parent._modules[name] = new
                found += 1
    if not found:
        raise ValueError(f"prepare_qat: {type(model).__name__} contains no nn.Linear or nn.Conv2d to quantize")
    return model.train()


# ============================================================================ size accounting

def _state_tensors(model):
    seen = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) not in seen:
            seen.add(id(t))
            yield name, t


def model_size_bytes(model):
    """Bytes of the model's parameters and persistent buffers (what ``state_dict``
    saves), each counted once: int8 entries 1 byte, float32 4 bytes; scales, zero
    points and biases included."""
    return int(sum(int(t.array.nbytes) for _, t in _state_tensors(model)))


def size_report(model):
    """``{"total_bytes": int, "by_dtype": {dtype name: bytes}, "tensors": [(name, dtype,
    shape, bytes), ...]}`` for the state of ``model``."""
    rows, by_dtype = [], {}
    for name, t in _state_tensors(model):
        n = int(t.array.nbytes)
        rows.append((name, str(t.dtype), tuple(t.shape), n))
        by_dtype[str(t.dtype)] = by_dtype.get(str(t.dtype), 0) + n
    return {"total_bytes": sum(r[3] for r in rows), "by_dtype": by_dtype, "tensors": rows}
