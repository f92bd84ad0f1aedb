"""``minigrad.nn.functional`` (import it as ``F``): layers and losses as plain functions.

A layer Module such as ``nn.Linear`` only owns its parameters; the computation is
the function here (``F.linear(x, self.weight, self.bias)``). Everything is built
from differentiable ops in :mod:`minigrad.ops`, so autograd derives every gradient
- there is no backward code in this file. Hot spots (softmax, layer norm, fused
softmax + cross-entropy) call single fused ops where :mod:`minigrad.ops` has them.

Losses take ``reduction``: ``"none"`` (one value per element / sample), ``"mean"``
(the default) or ``"sum"``, with PyTorch's exact conventions (for example a
weighted ``cross_entropy`` mean divides by the sum of the weights of the targets).
"""
from __future__ import annotations

import warnings

import numpy as np

from minigrad import random as _random
from minigrad.autograd import no_grad
from minigrad.backend import to_device, xp_of
from minigrad.tensor import Tensor
from minigrad.ops import elementwise as _ew
from minigrad.ops import reduce as _red
from minigrad.ops import shape as _shape
from minigrad.ops.matmul import matmul as _matmul, linear as _linear_op
from minigrad.ops.index import gather as _gather, scatter_add as _scatter_add
from minigrad.ops.index import one_hot  # noqa: F401  (re-exported as F.one_hot)
from minigrad.ops.shape import pad  # noqa: F401  (re-exported as F.pad)

from minigrad.ops.softmax import softmax as _softmax_op, log_softmax as _log_softmax_op
from minigrad.ops.normalization import layer_norm as _layer_norm_op
from minigrad.ops.loss import cross_entropy as _cross_entropy_op
from minigrad.ops.embedding import embedding as _embedding_op
# Convolution, pooling and attention live in ops/; F re-exports them under PyTorch's names.
from minigrad.ops.conv import conv1d, conv2d, conv_transpose2d, unfold, fold  # noqa: F401
from minigrad.ops.pool import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d,  # noqa: F401
                               adaptive_avg_pool2d)
from minigrad.ops.attention import scaled_dot_product_attention  # noqa: F401
# Functions that live beside their layers in a sibling file of nn/ (spatial.py), exposed
# here under PyTorch's names (F.dropout2d, F.interpolate, F.pixel_shuffle, F.pixel_unshuffle).
from minigrad.nn.spatial import dropout2d, interpolate, pixel_shuffle, pixel_unshuffle  # noqa: F401

__all__ = [
    "conv1d", "conv2d", "conv_transpose2d", "unfold", "fold", "max_pool1d", "max_pool2d", "avg_pool1d",
    "avg_pool2d", "adaptive_avg_pool2d", "scaled_dot_product_attention",
    "linear", "bilinear", "relu", "relu6", "hardtanh", "leaky_relu", "elu", "gelu", "silu", "softplus",
    "sigmoid", "logsigmoid", "tanh", "softmax", "log_softmax", "softmin", "dropout", "batch_norm",
    "layer_norm", "normalize", "embedding", "one_hot", "pad",
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
]


def _as_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if like is not None and arr.dtype.kind == "f" and arr.ndim == 0:
        arr = arr.astype(like.dtype)
    if like is not None:
        arr = to_device(arr, like.device)
    return Tensor(arr)


# ============================================================================ layers

def linear(input, weight, bias=None):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch.

    Inputs with more than 2 dims (batch, ..., in_features) are flattened to one
    matrix product and reshaped back (one big GEMM instead of many small ones)."""
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match weight of shape "
                         f"{tuple(weight.shape)}: the input's last dim must equal in_features (weight.shape[1])")
    return _linear_op(input, weight, bias)  # one fused node: see ops/matmul.py Linear


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for W of shape (out, in1, in2)."""
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: inputs of shapes {input1.shape} and {input2.shape} do not match "
                         f"weight of shape {weight.shape} (need (..., {in1}) and (..., {in2}) with equal leading dims)")
    lead = input1.shape[:-1]
    x1 = _shape.reshape(input1, (-1, in1))
    x2 = _shape.reshape(input2, (-1, in2))
    # (n, in1) @ (in1, out*in2) -> (n, out, in2), then contract with x2 over in2.
    w = _shape.reshape(_shape.permute(weight, (1, 0, 2)), (in1, out_f * in2))
    t = _shape.reshape(_matmul(x1, w), (-1, out_f, in2))
    out = _red.sum(t * _shape.unsqueeze(x2, 1), dim=2)
    if bias is not None:
        out = out + bias
    return _shape.reshape(out, lead + (out_f,))


# ============================================================================ activations
# ``inplace`` is accepted for PyTorch compatibility; minigrad always returns a new tensor.

def relu(input, inplace=False):
    """max(x, 0)."""
    return _ew.relu(input)


def relu6(input, inplace=False):
    """min(max(x, 0), 6)."""
    return _ew.clamp(input, 0.0, 6.0)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val]."""
    return _ew.clamp(input, min_val, max_val)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    return _ew.leaky_relu(input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _ew.elu(input, alpha)


def gelu(input, approximate="none"):
    """x * Phi(x) (``approximate="tanh"`` for the tanh formula)."""
    return _ew.gelu(input, approximate=approximate)


def silu(input, inplace=False):
    """x * sigmoid(x) (also called swish)."""
    return _ew.silu(input)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""
    return _ew.softplus(input, beta, threshold)


def sigmoid(input):
    """Elementwise logistic function 1 / (1 + exp(-x)), in (0, 1); any shape."""
    return _ew.sigmoid(input)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -_ew.softplus(-input)


def tanh(input):
    """Elementwise hyperbolic tangent, in (-1, 1); any shape."""
    return _ew.tanh(input)


def _softmax_dim(ndim, op):
    warnings.warn(f"{op}: implicit dimension choice is deprecated (as in PyTorch); pass dim=",
                  UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    """exp(x_i) / sum_j exp(x_j) along ``dim`` (one fused op, stable for large inputs)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return _softmax_op(input, dim, dtype=dtype)


def log_softmax(input, dim=None, dtype=None):
    """x_i - log(sum_j exp(x_j)) along ``dim``, computed stably (one fused op)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return _log_softmax_op(input, dim, dtype=dtype)


def softmin(input, dim=None, dtype=None):
    """softmax(-x)."""
    return softmax(-input if dtype is None else -input.to(dtype), dim)


# ============================================================================ dropout

def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout: in training, zero each element with probability ``p`` and
    scale the survivors by 1 / (1 - p), so the expected value is unchanged and
    evaluation needs no rescaling. Identity when ``training`` is False. The mask is
    drawn from minigrad's global generator."""
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    dt = input.dtype if input.dtype.kind == "f" else np.dtype(np.float32)
    draw = _random.default_generator().random(input.shape, dtype=np.float64 if dt == np.float64 else np.float32)
    mask = ((draw >= p) * (1.0 / (1.0 - p))).astype(dt)
    return input * Tensor(to_device(mask, input.device))


# ============================================================================ normalisation

def _channel_shape(input):
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) with the batch's mean and variance (training)
    or the running estimates (evaluation), then scale and shift per channel.

    In training the running estimates are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, where the
    variance stored is the unbiased one (divided by n - 1), as in PyTorch, while
    the normalisation itself uses the biased one (divided by n)."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with at least 2 dims (N, C, ...), got shape {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)} but the input has {c} channels "
                             f"(input shape {input.shape}); expected ({c},)")
    shape = _channel_shape(input)
    axes = (0,) + tuple(range(2, input.ndim))
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"batch_norm: momentum must be a float, got {momentum!r} (nn.BatchNorm*d with "
                        "momentum=None keeps a cumulative average of the batch statistics)")
    if training and not eps > 0:
        raise ValueError(f"batch_norm: eps must be positive during training, got {eps!r} (a channel of "
                         "equal values would divide 0 by 0)")
    if training and input.numel() == 0:
        y = input  # nothing to normalise (and no statistics to update), as PyTorch
    elif training:
        n = input.numel() // c if c else 0
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                             f"shape {input.shape}")
        mean = _red.mean(input, dim=axes, keepdim=True)
        xc = input - mean
        var = _red.mean(xc * xc, dim=axes, keepdim=True)
        with no_grad():
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean.detach().reshape(c).to(running_mean.dtype), alpha=momentum)
            if running_var is not None:
                unbiased = var.detach().reshape(c) * (n / (n - 1))
                running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
        y = xc * _ew.rsqrt(var + eps)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given when training=False")
        rm = _shape.reshape(running_mean.detach(), shape)
        inv = _ew.rsqrt(_shape.reshape(running_var.detach(), shape) + eps)
        y = (input - rm) * inv
    if weight is not None:
        y = y * _shape.reshape(weight, shape)
    if bias is not None:
        y = y + _shape.reshape(bias, shape)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims of each sample (mean 0,
    variance 1, biased variance), then scale by ``weight`` and shift by ``bias``
    (one fused op, :func:`minigrad.ops.normalization.layer_norm`)."""
    return _layer_norm_op(input, normalized_shape, weight, bias, eps)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along ``dim``."""
    n = _red.norm(input, p=p, dim=dim, keepdim=True)
    return input / _ew.clamp(n, min=eps)


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, D) picked by the integer ``input`` (any
    shape): output shape ``input.shape + (D,)``. The row at ``padding_idx`` gets no
    gradient (:func:`minigrad.ops.embedding.embedding`)."""
    return _embedding_op(input, weight, padding_idx)


# ============================================================================ losses

def _reduce(loss, reduction, op):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return _red.mean(loss)
    if reduction == "sum":
        return _red.sum(loss)
    raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _check_reduction(reduction, op, extra=()):
    if reduction not in ("none", "mean", "sum") + tuple(extra):
        valid = ", ".join(repr(r) for r in ("none", "mean", "sum") + tuple(extra))
        raise ValueError(f"{op}: reduction must be one of {valid}, got {reduction!r}")


def _pair(input, target, op, warn=True):
    """Make target a Tensor on input's device; integer targets take input's dtype;
    differing shapes broadcast with a warning (as PyTorch)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    target = _as_tensor(target, input)
    if target.dtype.kind in "biu" and input.dtype.kind == "f":
        target = target.to(input.dtype)
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op}: target of shape {target.shape} cannot be broadcast to the input's shape "
                             f"{input.shape}") from None
        if warn:
            warnings.warn(f"{op}: using a target of shape {target.shape} that differs from the input's shape "
                          f"{input.shape}; they will be broadcast, which is likely not what you want",
                          UserWarning, stacklevel=3)
    return input, target


def _weighted(loss, weight, reduction, op, mean_by_weight_sum):
    if weight.shape != loss.shape:
        raise ValueError(f"{op}: weight of shape {weight.shape} must have the input's shape {loss.shape}")
    wl = loss * weight
    if reduction == "mean" and mean_by_weight_sum:
        return _red.sum(wl) / _red.sum(weight)
    return _reduce(wl, reduction, op)


def mse_loss(input, target, reduction="mean", weight=None):
    """Mean squared error: (x - y)^2 per element. With ``weight`` (input's shape) the
    mean is sum(w (x - y)^2) / sum(w)."""
    _check_reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    d = input - target
    loss = d * d
    if weight is not None:
        return _weighted(loss, _as_tensor(weight, input), reduction, "mse_loss", True)
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean", weight=None):
    """Mean absolute error: |x - y| per element (weighted mean as in :func:`mse_loss`)."""
    _check_reduction(reduction, "l1_loss")
    input, target = _pair(input, target, "l1_loss")
    loss = _ew.abs_(input - target)
    if weight is not None:
        return _weighted(loss, _as_tensor(weight, input), reduction, "l1_loss", True)
    return _reduce(loss, reduction, "l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), with d = x - y:
    quadratic near zero, linear (robust to outliers) far away."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    ad = _ew.abs_(d)
    loss = _ew.where(Tensor(ad.array < delta), d * d * 0.5, (ad - 0.5 * delta) * delta)
    if weight is not None:
        return _weighted(loss, _as_tensor(weight, input), reduction, "huber_loss", False)
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (Huber divided by beta;
    beta = 0 is the L1 loss)."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    ad = _ew.abs_(d)
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    loss = _ew.where(Tensor(ad.array < beta), d * d * (0.5 / beta), ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def _class_weight(weight, c, like, op):
    if weight is None:
        return None
    w = _as_tensor(weight, like)
    if tuple(w.shape) != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},) (one entry per class), got {tuple(w.shape)}")
    return w


def _class_targets(input, target, op):
    """Check integer class targets against input (N, C, d1...) / (C,); returns the
    target array and the number of classes."""
    idx = target.array if isinstance(target, Tensor) else np.asarray(target)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: class targets must be an integer tensor, got dtype {idx.dtype} "
                        "(for class probabilities pass a float target of the input's shape to cross_entropy)")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have at least 1 dim (C,) or (N, C, ...), got a 0-d tensor")
    if input.ndim == 1:
        expected = ()
    else:
        expected = (input.shape[0],) + tuple(input.shape[2:])
    if tuple(idx.shape) != expected:
        raise ValueError(f"{op}: target of shape {tuple(idx.shape)} does not match input of shape {input.shape} "
                         f"(expected target shape {expected})")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    return idx, c


def _nll_mask(idx, c, weight, ignore_index, dtype, op):
    """The constant (M, C) matrix with w[y_i] at column y_i of row i (0 for ignored
    rows) and the per-row weights, for targets ``idx`` flattened to M rows."""
    xp = xp_of(idx)
    flat = idx.reshape(-1)
    valid = flat != ignore_index
    bad = valid & ((flat < 0) | (flat >= c))
    if bool(bad.any()):
        raise IndexError(f"{op}: target {int(flat[bad][0])} is out of bounds for {c} classes "
                         f"(valid: 0..{c - 1}, or ignore_index={ignore_index})")
    safe = xp.where(valid, flat, 0)
    w_rows = (weight.array[safe] if weight is not None else xp.ones(flat.shape, dtype)) * valid
    w_rows = w_rows.astype(dtype, copy=False)
    mask = xp.zeros((flat.shape[0], c), dtype)
    mask[xp.arange(flat.shape[0]), safe] = w_rows
    return mask, w_rows, valid


def _to_rows(input):
    """(N, C, d1, ...) -> (N*d1*..., C) with classes last; (C,) -> (1, C)."""
    if input.ndim == 1:
        return _shape.reshape(input, (1, -1))
    if input.ndim > 2:
        input = _shape.movedim(input, 1, -1)
    return _shape.reshape(input, (-1, input.shape[-1]))


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: -w[y] * input[y] for log-probabilities ``input``
    (N, C) or (N, C, d1, ...) and class indices ``target`` (N) or (N, d1, ...).
    Targets equal to ``ignore_index`` contribute nothing; the mean divides by the
    sum of the weights of the counted targets."""
    _check_reduction(reduction, "nll_loss")
    idx, c = _class_targets(input, target, "nll_loss")
    w = _class_weight(weight, c, input, "nll_loss")
    _, w_rows, valid = _nll_mask(idx, c, w, ignore_index, input.dtype, "nll_loss")
    # pick input[row, target] (a gather, not a product with a one-hot matrix: a NaN in
    # another class must not leak in through 0 * NaN), weighted; ignored rows give 0
    safe = xp_of(w_rows).where(valid, idx.reshape(-1), 0).reshape(-1, 1)
    picked = _shape.reshape(_gather(_to_rows(input), 1, Tensor(safe)), (-1,))
    per_row = -_ew.where(Tensor(valid), picked * Tensor(w_rows), 0.0)
    if reduction == "none":
        return _shape.reshape(per_row, tuple(idx.shape))
    total = _red.sum(per_row)
    if reduction == "sum":
        return total
    return _safe_div(total, w_rows.sum())


def _safe_div(total, denom):
    """total / denom for a constant denom; 0/0 gives nan with a zero gradient (as PyTorch)."""
    denom = float(denom)
    if denom == 0.0:
        return total * 0.0 + float("nan")
    return total * (1.0 / denom)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax + negative log-likelihood in one: -log softmax(x)[y].

    ``input`` holds unnormalised scores (logits) of shape (N, C), (N, C, d1, ...) or
    (C,). ``target`` is either class indices (integers, shape (N) / (N, d1, ...)) or
    class probabilities (floats, the input's shape). ``label_smoothing`` mixes the
    target with the uniform distribution: (1 - eps) * target + eps / C. Runs as one
    fused op (:func:`minigrad.ops.loss.cross_entropy`); its gradient is
    softmax(x) - target. For second derivatives compose
    ``nll_loss(log_softmax(x, 1), y)`` instead.

    Probability targets that require a gradient (e.g. soft labels produced by
    another network) take a composed path, so the gradient reaches them too."""
    _check_reduction(reduction, "cross_entropy")
    if isinstance(target, Tensor) and target.requires_grad:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    return _cross_entropy_op(input, target, weight=weight, ignore_index=ignore_index, reduction=reduction,
                             label_smoothing=label_smoothing)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    """-sum_c w_c t_c log softmax(x)_c per sample, from differentiable ops (gradients
    reach ``target``); the mean divides by the number of samples, as PyTorch."""
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: probability target must have the input's shape {tuple(input.shape)}, "
                         f"got {tuple(target.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    cdim = 0 if input.ndim == 1 else 1
    c = input.shape[cdim]
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
    terms = log_softmax(input, cdim) * target
    if weight is not None:
        w = _class_weight(weight, c, input, "cross_entropy")
        terms = terms * (w if input.ndim == 1 else _shape.reshape(w, _channel_shape(input)))
    per_sample = -_red.sum(terms, dim=cdim)
    if reduction == "mean":
        n = input.numel() // c if c else 0
        return _safe_div(_red.sum(per_sample), n)
    return _reduce(per_sample, reduction, "cross_entropy")


def _bce_check(input, target, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    target = _as_tensor(target, input)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target of shape {target.shape} must have the same shape as the input "
                         f"{input.shape}")
    if target.dtype.kind != "f":
        target = target.to(input.dtype)
    return target


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-w (y log x + (1 - y) log(1 - x)) for probabilities x in [0, 1]. Each log is
    clamped at -100 (as in PyTorch) so x = 0 or 1 gives a finite loss; prefer
    :func:`binary_cross_entropy_with_logits` on raw scores, which is exact."""
    _check_reduction(reduction, "binary_cross_entropy")
    target = _bce_check(input, target, "binary_cross_entropy")
    x, y = input.array, target.array
    # as PyTorch: NaN fails these checks too (a NaN probability is an error, not a loss)
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1 "
                         "(apply sigmoid, or use binary_cross_entropy_with_logits)")
    if y.size and not bool(((y >= 0) & (y <= 1)).all()):
        raise ValueError("binary_cross_entropy: all elements of target should be between 0 and 1")
    loss = -(target * _clamped_log(input) + (1.0 - target) * _clamped_log(1.0 - input))
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy")


def _clamped_log(p):
    """max(log p, -100), with a finite (zero) gradient where p == 0."""
    pos = Tensor(p.array > 0)
    safe = _ew.where(pos, p, 1.0)
    return _ew.where(pos, _ew.clamp(_ew.log(safe), min=-100.0), -100.0)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one, computed stably for any logit x:

        loss = (1 - y) x + (1 + (pw - 1) y) * softplus(-x)

    (softplus(-x) = log(1 + exp(-x)) = -log sigmoid(x) never overflows). ``pos_weight``
    (broadcast over the last dim, one per class) multiplies the positive term."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    target = _bce_check(input, target, "binary_cross_entropy_with_logits")
    sp = _ew.softplus(-input)
    if pos_weight is not None:
        pw = _as_tensor(pos_weight, input)
        loss = (1.0 - target) * input + ((pw - 1.0) * target + 1.0) * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * _as_tensor(weight, input)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence KL(target || exp(input)) for log-probabilities
    ``input``: target * (log target - input) per element (0 where target = 0), or
    exp(target) * (target - input) when ``log_target``. ``reduction="batchmean"``
    (sum / batch size) is the mathematically correct KL; "mean" divides by every
    element, as PyTorch does."""
    _check_reduction(reduction, "kl_div", extra=("batchmean",))
    input, target = _pair(input, target, "kl_div", warn=False)
    if log_target:
        loss = _ew.exp(target) * (target - input)
    else:
        pos = Tensor(target.array > 0)
        tlogt = _ew.where(pos, target * _ew.log(_ew.where(pos, target, 1.0)), 0.0)
        loss = tlogt - target * input
    if reduction == "batchmean":
        total = _red.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction, "kl_div")


__all__ += ["dropout2d", "interpolate"]


# ============================================================================ more layers and losses
# (the functions behind nn.GroupNorm, RMSNorm, PReLU, Mish, Hardswish, Hardsigmoid,
# PixelShuffle, PixelUnshuffle, EmbeddingBag, CosineSimilarity, PairwiseDistance and
# TripletMarginLoss: compositions of ops, so autograd derives every gradient)



def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels of ``input`` (N, C, *) into ``num_groups`` groups and normalise
    each group of each sample (mean 0, biased variance 1), then scale by ``weight`` and
    shift by ``bias`` (both (C,), per channel). No batch statistics, so training and
    evaluation compute the same thing."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    n, c = input.shape[:2]
    if not isinstance(num_groups, (int, np.integer)) or num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: the {c} channels of input {tuple(input.shape)} cannot be split into "
                         f"num_groups={num_groups!r} groups (C must be divisible by num_groups)")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != (c,):
            raise ValueError(f"group_norm: {name} must have shape ({c},) (one per channel), got {tuple(p.shape)}")
    x = _shape.reshape(input, (n, int(num_groups), -1))
    mean = _red.mean(x, dim=2, keepdim=True)
    var = _red.var(x, dim=2, keepdim=True, correction=0)
    y = _shape.reshape((x - mean) * _ew.rsqrt(var + eps), input.shape)
    per_channel = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * _shape.reshape(weight, per_channel)
    if bias is not None:
        y = y + _shape.reshape(bias, per_channel)
    return y


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims:
    ``x / sqrt(mean(x^2) + eps) * weight`` (no mean subtracted, no bias). ``eps``
    defaults to the machine epsilon of the dtype, as in PyTorch."""
    ns = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not ns or tuple(input.shape[-len(ns):]) != ns or input.ndim < len(ns):
        raise ValueError(f"rms_norm: expected input of shape (*, {', '.join(map(str, ns))}) to end with "
                         f"normalized_shape {ns}, got {tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != ns:
        raise ValueError(f"rms_norm: weight must have shape {ns}, got {tuple(weight.shape)}")
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    y = input * _ew.rsqrt(_red.mean(input * input, dim=dims, keepdim=True) + eps)
    return y if weight is None else y * weight


def prelu(input, weight):
    """``x`` where x > 0, ``weight * x`` elsewhere, with a learned slope: ``weight`` has one
    element (shared) or one per channel (dim 1 of ``input``)."""
    k = weight.numel()
    c = input.shape[1] if input.ndim >= 2 else 1
    if weight.ndim > 1 or (k != 1 and k != c):
        raise ValueError(f"prelu: weight of shape {tuple(weight.shape)} must have 1 element or one per channel "
                         f"({c}, dim 1 of input {tuple(input.shape)})")
    w = _shape.reshape(weight, (1, c) + (1,) * (input.ndim - 2)) if k > 1 else _shape.reshape(weight, ())
    return _ew.where(input > 0, input, w * input)


def mish(input, inplace=False):
    """x * tanh(softplus(x)), a smooth ReLU-like curve."""
    return input * _ew.tanh(_ew.softplus(input))


def hardsigmoid(input, inplace=False):
    """A piecewise-linear sigmoid: 0 below -3, 1 above 3, ``x / 6 + 1/2`` between."""
    return _ew.clamp(input + 3.0, 0.0, 6.0) / 6.0


def hardswish(input, inplace=False):
    """``x * hardsigmoid(x)``: 0 below -3, x above 3, ``x (x + 3) / 6`` between (MobileNetV3)."""
    return input * (_ew.clamp(input + 3.0, 0.0, 6.0) / 6.0)


def _bags(input, offsets, include_last_offset):
    """Integer ids and the bag each one belongs to (NumPy, on the CPU), and the number of bags."""
    idx = np.asarray(to_device(input.array, "cpu")) if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding_bag: input must hold integer ids, got dtype {idx.dtype}")
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"embedding_bag: offsets must be None for a 2-D input {idx.shape} (each row is a bag)")
        return idx.reshape(-1), np.repeat(np.arange(idx.shape[0]), idx.shape[1]), idx.shape[0]
    if idx.ndim != 1:
        raise ValueError(f"embedding_bag: input must be 1-D (with offsets) or 2-D (B, bag size), got shape {idx.shape}")
    if offsets is None:
        raise ValueError("embedding_bag: a 1-D input needs offsets (the start of each bag in input)")
    off = np.asarray(to_device(offsets.array, "cpu")) if isinstance(offsets, Tensor) else np.asarray(offsets)
    if off.ndim != 1 or off.dtype.kind not in "iu":
        raise ValueError(f"embedding_bag: offsets must be a 1-D integer tensor, got shape {off.shape} dtype {off.dtype}")
    n = idx.shape[0]
    if off.size and (off[0] != 0 or (np.diff(off) < 0).any() or off[-1] > n):
        raise ValueError(f"embedding_bag: offsets must start at 0 and never decrease or pass len(input) = {n}, "
                         f"got {off.tolist()}")
    if include_last_offset:
        if off.size == 0:
            raise ValueError("embedding_bag: include_last_offset=True needs at least one offset")
        starts, ends = off[:-1], off[1:]
    else:
        starts, ends = off, np.append(off[1:], n)
    return idx, np.repeat(np.arange(starts.size), ends - starts), starts.size


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sum, average or max the rows of ``weight`` picked by each *bag* of ids, without
    building the (ids, D) lookups per bag: ``input`` is (B, L) (B bags of L ids) or 1-D
    with ``offsets`` (bag ``i`` is ``input[offsets[i]:offsets[i+1]]``). Output (B, D); an
    empty bag gives zeros. ``per_sample_weights`` (``input``'s shape, mode ``"sum"``
    only) weights each id; ids equal to ``padding_idx`` are left out."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: scale_grad_by_freq=True and sparse=True are not supported in "
                                  "minigrad (gradients are always dense)")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D (num_embeddings, embedding_dim), got {tuple(weight.shape)}")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"embedding_bag: per_sample_weights is only supported for mode='sum', got mode={mode!r}")
    ids, bag, nbags = _bags(input, offsets, include_last_offset)
    num, dim = weight.shape
    if ids.size and (ids.min() < 0 or ids.max() >= num):
        raise IndexError(f"embedding_bag: ids must be in [0, {num}), got values from {ids.min()} to {ids.max()}")
    if per_sample_weights is not None and tuple(per_sample_weights.shape) != tuple(input.shape):
        raise ValueError(f"embedding_bag: per_sample_weights must have input's shape {tuple(input.shape)}, got "
                         f"{tuple(per_sample_weights.shape)}")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += num
    if max_norm is not None and ids.size:  # rescale the rows used, in place (not differentiated)
        rows = np.unique(ids)
        w = weight.array
        xp = xp_of(w)
        sel = w[to_device(rows, weight.device)]
        norms = xp.linalg.norm(sel.astype(np.float64), ord=norm_type, axis=1)
        with no_grad():
            w[to_device(rows, weight.device)] = (sel * xp.where(norms > max_norm, max_norm / (norms + 1e-7),
                                                                1.0)[:, None]).astype(w.dtype)
            weight._bump_version()
    keep = np.ones(ids.shape, bool) if padding_idx is None else ids != padding_idx
    vectors = _embedding_op(Tensor(to_device(ids.astype(np.int64), weight.device)), weight)  # (n, D)
    zeros = Tensor(xp_of(weight.array).zeros((nbags, dim), dtype=weight.dtype))
    if mode == "max":
        arg = np.zeros((nbags, dim), dtype=np.int64)
        filled = np.zeros(nbags, bool)
        vals = np.asarray(to_device(vectors.array, "cpu"))
        for b in range(nbags):
            members = np.flatnonzero((bag == b) & keep)
            if members.size:
                arg[b] = members[vals[members].argmax(axis=0)]
                filled[b] = True
        out = _gather(vectors, 0, Tensor(to_device(arg, weight.device))) if ids.size else zeros
        return out * Tensor(to_device(filled[:, None].astype(weight.dtype), weight.device))
    scale = Tensor(to_device(keep.astype(weight.dtype), weight.device))
    if per_sample_weights is not None:
        scale = scale * _shape.reshape(per_sample_weights, (-1,))
    if mode == "mean":
        counts = np.bincount(bag[keep], minlength=nbags).astype(np.float64)
        scale = scale * Tensor(to_device((1.0 / np.maximum(counts, 1.0))[bag].astype(weight.dtype), weight.device))
    index = Tensor(to_device(np.ascontiguousarray(np.broadcast_to(bag[:, None], (bag.size, dim))), weight.device))
    return _scatter_add(zeros, 0, index, vectors * _shape.reshape(scale, (-1, 1)))


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """The cosine of the angle between ``x1`` and ``x2`` along ``dim`` (they broadcast):
    ``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps))``, between -1 and 1."""
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {tuple(x1.shape)} and {tuple(x2.shape)} cannot be broadcast "
                         "together") from None
    d = _shape._norm_dim(dim, len(shape), "cosine_similarity")
    x1, x2 = _shape.broadcast_to(x1, shape), _shape.broadcast_to(x2, shape)
    n1 = _ew.clamp(_red.norm(x1, dim=d, keepdim=True), min=eps)
    n2 = _ew.clamp(_red.norm(x2, dim=d, keepdim=True), min=eps)
    return _red.sum((x1 / n1) * (x2 / n2), dim=d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of ``x1 - x2 + eps`` over the last dim (they broadcast): one distance
    per row. ``eps`` keeps the norm differentiable where two rows are equal."""
    try:
        np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"pairwise_distance: shapes {tuple(x1.shape)} and {tuple(x2.shape)} cannot be broadcast "
                         "together") from None
    if max(x1.ndim, x2.ndim) == 0:
        raise ValueError("pairwise_distance: expects tensors with at least 1 dimension")
    return _red.norm(x1 - x2 + eps, p=p, dim=-1, keepdim=keepdim)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the :func:`pairwise_distance`:
    pull the anchor towards the positive and push it from the negative until they are
    ``margin`` apart. ``swap=True`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    _check_reduction(reduction, "triplet_margin_loss")
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise ValueError(f"triplet_margin_loss: anchor, positive and negative must have the same number of dims, "
                         f"got shapes {tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}")
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _ew.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(_ew.clamp(d_pos - d_neg + margin, min=0.0), reduction, "triplet_margin_loss")


__all__ += ["group_norm", "rms_norm", "prelu", "mish", "hardsigmoid", "hardswish", "pixel_shuffle",
            "pixel_unshuffle", "embedding_bag", "cosine_similarity", "pairwise_distance", "triplet_margin_loss"]
