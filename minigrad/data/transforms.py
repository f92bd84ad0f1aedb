"""Transforms: small callables that change one sample (preprocessing, augmentation).

They work on NumPy arrays laid out as ``(H, W)`` or ``(C, H, W)``, and every one
also has ``apply_batch(x)`` for a batch ``(N, H, W)`` or ``(N, C, H, W)``: the
DataLoader's fast path calls that, so augmenting 128 images costs a few NumPy calls,
not 128 Python ones. Random transforms give each image of a batch its own draw.

* :class:`ToArray` - cast to float and scale (``uint8`` 0..255 -> ``float32`` 0..1),
  and add the channel axis to an ``(H, W)`` image;
* :class:`ToTensor` - :class:`ToArray`, then wrap in a minigrad Tensor;
* :class:`Normalize` - ``(x - mean) / std`` per channel;
* :class:`RandomShift` - move the image by up to ``max_shift`` pixels, filling with 0;
* :class:`RandomCrop` - pad by ``padding`` then cut a random ``size`` window
  (the classic CIFAR augmentation);
* :class:`RandomHorizontalFlip`, :class:`Lambda`, :class:`Compose`.

Randomness comes from ``generator`` (None: minigrad's global generator, so
``minigrad.manual_seed`` makes augmentation repeatable; an int seed; or a NumPy
``Generator``).
"""
from __future__ import annotations

import numpy as np

from . import _tensors
from ._random import as_generator
from minigrad import _checks

__all__ = ["Transform", "Compose", "ToArray", "ToTensor", "Normalize", "RandomShift",
           "RandomCrop", "RandomHorizontalFlip", "Lambda", "Resize", "resize"]


def _check_image(x, who, batch):
    lo, hi = (3, 4) if batch else (2, 3)
    if x.ndim not in (lo, hi):
        want = "(N, H, W) or (N, C, H, W)" if batch else "(H, W) or (C, H, W)"
        raise ValueError(f"{who}: expected an array of shape {want}, got shape {tuple(x.shape)}")


def _image_batch(x, who):
    """``x`` as a NumPy batch ``(N, H, W)`` or ``(N, C, H, W)``; anything else is an error naming ``who``."""
    x = _tensors.to_numpy(x)
    _check_image(x, who, batch=True)
    return x


def _non_negative_int(value, who, name):
    """``value`` as an int; an error naming ``who`` and ``name`` unless it is a whole number >= 0."""
    return _checks.count(value, who, name, minimum=0)


class Transform:
    """Base class: override :meth:`apply_batch`; ``t(x)`` on one sample reuses it by
    adding and removing a batch axis of size 1."""

    def __call__(self, x):
        x = np.asarray(_tensors.to_numpy(x))
        _check_image(x, type(self).__name__, batch=False)
        return self.apply_batch(x[None])[0]

    def apply_batch(self, x):
        """Transform a batch ``x`` (leading axis = samples) and return the result; subclasses
        implement this."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class _RandomTransform(Transform):
    """A transform that draws random numbers: from its own ``generator`` when it was given
    one, else from minigrad's global generator at each call (so ``minigrad.manual_seed``
    makes it repeatable)."""

    def _keep_generator(self, generator, who):
        self._gen = as_generator(generator, who) if generator is not None else None

    def _generator(self):
        return self._gen if self._gen is not None else as_generator(None)


class Compose(Transform):
    """Apply ``transforms`` in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def apply_batch(self, x):
        for t in self.transforms:
            if hasattr(t, "apply_batch"):
                x = t.apply_batch(x)
            else:
                x = np.stack([t(row) for row in x])
        return x


class Lambda(Transform):
    """Wrap a function of one sample; ``batch_fn`` (optional) handles a whole batch."""

    def __init__(self, fn, batch_fn=None):
        self.fn = fn
        self.batch_fn = batch_fn

    def __call__(self, x):
        return self.fn(x)

    def apply_batch(self, x):
        if self.batch_fn is not None:
            return self.batch_fn(x)
        return np.stack([self.fn(row) for row in x])


class ToArray(Transform):
    """Cast to ``dtype`` and divide by ``scale``; add a channel axis to ``(H, W)``.

    ``scale=None`` means 255 for uint8 input and 1 otherwise, so MNIST's 0..255
    pixels become 0..1 floats. ``add_channel=True`` turns ``(H, W)`` into ``(1, H, W)``
    (``(N, H, W)`` into ``(N, 1, H, W)`` for a batch), the layout ``nn.Conv2d`` expects.
    """

    def __init__(self, dtype=np.float32, scale=None, add_channel=True):
        self.dtype = np.dtype(dtype)
        self.scale = scale
        self.add_channel = add_channel

    def _convert(self, x, plain_ndim):
        scale = self.scale
        if scale is None:
            scale = 255.0 if x.dtype == np.uint8 else 1.0
        out = x.astype(self.dtype)
        if scale != 1:
            out = out / np.asarray(scale, dtype=self.dtype)
        if self.add_channel and x.ndim == plain_ndim:
            out = np.expand_dims(out, -3)
        return out

    def __call__(self, x):
        x = _tensors.to_numpy(x)
        _check_image(x, "ToArray", batch=False)
        return self._convert(x, 2)

    def apply_batch(self, x):
        return self._convert(_image_batch(x, "ToArray"), 3)


class ToTensor(ToArray):
    """:class:`ToArray`, then wrap the result in a minigrad Tensor."""

    def __call__(self, x):
        return _tensors.wrap(super().__call__(x))

    def apply_batch(self, x):
        # batches are wrapped into Tensors by the DataLoader itself
        return super().apply_batch(x)


class Normalize(Transform):
    """``(x - mean) / std``, with one mean/std per channel (or one for all).

    ``mean`` and ``std`` are numbers or sequences of length C for ``(C, H, W)``
    input. MNIST's usual values are ``Normalize(0.1307, 0.3081)`` on 0..1 pixels.
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        if self.mean.ndim > 1 or self.std.ndim > 1:
            raise ValueError(f"Normalize: mean and std must be numbers or 1-D sequences, got shapes "
                             f"{self.mean.shape} and {self.std.shape}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {self.std.tolist()}")

    def apply_batch(self, x):
        x = _image_batch(x, "Normalize")
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        c = x.shape[1] if x.ndim == 4 else 1
        stats = []
        for name, v in (("mean", self.mean), ("std", self.std)):
            v = v.reshape(-1)
            if v.shape[0] not in (1, c):
                raise ValueError(f"Normalize: {name} has {v.shape[0]} values but the image has "
                                 f"{c} channel(s) (sample shape {tuple(x.shape[1:])})")
            # (C, 1, 1) broadcasts over H, W for (N, C, H, W); a single value for (N, H, W)
            stats.append(v.astype(dtype).reshape(-1, 1, 1) if x.ndim == 4 else v.astype(dtype)[0])
        mean, std = stats
        return ((x.astype(dtype, copy=False) - mean) / std).astype(dtype, copy=False)


def _crop_batch(x, top, left, h, w):
    """Cut window ``[top[n]:top[n]+h, left[n]:left[n]+w]`` out of each image ``x[n]``.

    Images that share an offset are cut together with one slice, so the Python loop
    runs once per distinct offset (at most 25 for a 2-pixel shift), not per image.
    """
    out = np.empty(x.shape[:-2] + (h, w), dtype=x.dtype)
    key = top.astype(np.int64) * (x.shape[-1] + 1) + left
    for k in np.unique(key):
        sel = np.flatnonzero(key == k)
        t, l = int(top[sel[0]]), int(left[sel[0]])
        out[sel] = x[sel, ..., t:t + h, l:l + w]
    return out


def _shift_batch(x, dy, dx, fill):
    """Shift each image ``x[n]`` by (dy[n], dx[n]) pixels, filling uncovered pixels:
    pad by the largest shift, then cut each image's window out of the padded batch."""
    H, W = x.shape[-2:]
    p = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if p == 0:
        return x.copy()
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)], constant_values=fill)
    # output pixel (i, j) comes from input pixel (i - dy, j - dx) = padded (i - dy + p, j - dx + p)
    return _crop_batch(padded, p - dy, p - dx, H, W)


class RandomShift(_RandomTransform):
    """Translate each image by a random whole number of pixels in ``[-max_shift, max_shift]``
    along each axis, filling the uncovered border with ``fill``. Keeps the shape.

    A 1- or 2-pixel shift is a cheap way to make an MNIST model more robust.
    """

    def __init__(self, max_shift=2, fill=0, generator=None):
        self.max_shift = _non_negative_int(max_shift, "RandomShift", "max_shift")
        self.fill = fill
        self._keep_generator(generator, "RandomShift")

    def apply_batch(self, x):
        x = _image_batch(x, "RandomShift")
        gen = self._generator()
        s = self.max_shift
        dy = gen.integers(-s, s + 1, size=x.shape[0])
        dx = gen.integers(-s, s + 1, size=x.shape[0])
        return _shift_batch(x, dy, dx, self.fill)


class RandomCrop(_RandomTransform):
    """Pad each side by ``padding`` (with ``fill``), then cut a random ``size`` window.

    ``size``: an int (square) or ``(h, w)``; ``RandomCrop(32, padding=4)`` is the
    usual CIFAR-10 augmentation. Without padding the window must fit in the image.
    """

    def __init__(self, size, padding=0, fill=0, generator=None):
        self.size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be a positive int or (h, w), got {size!r}")
        self.padding = _non_negative_int(padding, "RandomCrop", "padding")
        self.fill = fill
        self._keep_generator(generator, "RandomCrop")

    def apply_batch(self, x):
        x = _image_batch(x, "RandomCrop")
        p = self.padding
        if p:
            x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)], constant_values=self.fill)
        H, W = x.shape[-2:]
        h, w = self.size
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"({H}, {W}) (padding={p})")
        gen = self._generator()
        top = gen.integers(0, H - h + 1, size=x.shape[0])
        left = gen.integers(0, W - w + 1, size=x.shape[0])
        return _crop_batch(x, top, left, h, w)


class RandomHorizontalFlip(_RandomTransform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p=0.5, generator=None):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self._keep_generator(generator, "RandomHorizontalFlip")

    def apply_batch(self, x):
        x = _image_batch(x, "RandomHorizontalFlip")
        gen = self._generator()
        flip = gen.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = out[flip][..., ::-1]
        return out


def _interp_matrix(n_in, n_out, mode):
    """The (n_out, n_in) matrix that resamples a length-n_in signal to n_out points.

    Pixel centres are aligned as in ``torch.nn.functional.interpolate`` with
    ``align_corners=False``: output pixel ``i`` looks at input position
    ``(i + 0.5) * n_in / n_out - 0.5``. "nearest" takes ``floor(i * n_in / n_out)``;
    "bilinear" mixes the two neighbours of the position by distance.
    """
    scale = n_in / n_out
    M = np.zeros((n_out, n_in))
    i = np.arange(n_out)
    if mode == "nearest":
        M[i, np.minimum(np.floor(i * scale).astype(np.int64), n_in - 1)] = 1.0
        return M
    src = np.maximum((i + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    np.add.at(M, (i, i0), 1.0 - frac)
    np.add.at(M, (i, i1), frac)
    return M


def resize(x, size, mode="bilinear"):
    """Resize images ``(..., H, W)`` to ``size`` (an int or ``(h, w)``) with NumPy.

    ``mode``: "bilinear" (smooth) or "nearest" (blocky, keeps the original values).
    Resampling is separable, so it is two small matrix products: ``R @ img @ C.T``
    with ``R`` (h, H) and ``C`` (w, W) from :func:`_interp_matrix`. Integer input
    comes back rounded to its dtype; float input keeps its dtype.
    """
    x = _tensors.to_numpy(x)
    if x.ndim < 2:
        raise ValueError(f"resize: expected an array (..., H, W), got shape {x.shape}")
    h, w = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"resize: size must be positive, got {size!r}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"resize: mode must be 'bilinear' or 'nearest', got {mode!r}")
    H, W = x.shape[-2:]
    R, C = _interp_matrix(H, h, mode), _interp_matrix(W, w, mode)
    work = np.float64 if x.dtype.kind != "f" else x.dtype
    out = np.matmul(np.matmul(R.astype(work), x.astype(work, copy=False)), C.T.astype(work))
    if x.dtype.kind in "biu":
        info = np.iinfo(x.dtype) if x.dtype.kind != "b" else None
        out = np.rint(out)
        if info is not None:
            out = np.clip(out, info.min, info.max)
    return out.astype(x.dtype, copy=False)


class Resize(Transform):
    """Resize to ``size`` with :func:`resize` (``mode`` "bilinear" or "nearest")."""

    def __init__(self, size, mode="bilinear"):
        self.size = size
        self.mode = mode

    def apply_batch(self, x):
        x = _image_batch(x, "Resize")
        return resize(x, self.size, self.mode)
