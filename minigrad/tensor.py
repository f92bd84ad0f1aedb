"""Tensor: an array plus the bookkeeping autograd needs.

A Tensor holds

* ``array``: the array itself (a NumPy array on the CPU, a CuPy array on a GPU);
* ``requires_grad``: whether gradients should flow back to it;
* ``grad_fn``: the graph node (a :class:`~minigrad.autograd.Function` instance) that
  produced it, or None for a *leaf* (a tensor you made yourself);
* ``grad``: after ``backward()``, the gradient of the output with respect to it
  (leaves only, or tensors that called :meth:`retain_grad`).

(``t.data`` is PyTorch's name for something else: a Tensor that shares the array
but is cut from the graph; see :attr:`Tensor.data`.)

Every mathematical method (``x.exp()``, ``x @ w``, ``x.sum(dim=1)``...) is a thin
call into :mod:`minigrad.ops`, where each op's forward and backward live side by side.
"""
from __future__ import annotations

import weakref

import numpy as np

from minigrad import backend
from minigrad.backend import Device, xp_of

__all__ = ["Tensor", "tensor", "get_default_dtype", "set_default_dtype"]

_ndarray = np.ndarray
_default_float = np.dtype(np.float32)


def get_default_dtype():
    """The dtype Python floats become (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype):
    """Make Python floats become ``dtype`` (float32 or float64) in new tensors."""
    global _default_float
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_float = dtype


def _infer_array(data, dtype):
    """Convert Python data / NumPy data to an array with PyTorch's dtype rules:
    Python floats -> the default float dtype, ints -> int64, bools -> bool; NumPy
    arrays keep their dtype."""
    if isinstance(data, Tensor):
        data = data.array
    if dtype is not None:
        dtype = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    xp = xp_of(data)
    if xp is not np:  # a CuPy array
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(_default_float, copy=False)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(np.int64, copy=False)
            elif arr.dtype.kind == "O":
                raise TypeError(f"tensor: cannot build a tensor from {type(data).__name__} data "
                                "(ragged nested lists or non-numeric objects)")
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Build one with :func:`minigrad.tensor`; ``Tensor(array)`` wraps an array
    without copying.
    """

    __slots__ = ("array", "requires_grad", "grad", "grad_fn", "_version",
                 "_grad_hooks", "_post_accumulate_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, dtype=None, requires_grad=False, _node=None):
        if type(data) is not _ndarray or dtype is not None:
            data = _infer_array(data, dtype)
        self.array = data  # the raw NumPy / CuPy array: what kernels and Functions see
        self.grad = None
        self.grad_fn = _node
        self._version = [0]
        self._grad_hooks = self._post_accumulate_hooks = None  # a leaf's; see register_hook
        if _node is not None:
            self.requires_grad = True
            _node._out_shape = data.shape
        elif requires_grad:
            self.requires_grad = False
            self.requires_grad_(True)
        else:
            self.requires_grad = False

    @classmethod
    def _from_node(cls, data, node):
        """A new Tensor object for the output of ``node`` (used to unpack saved outputs)."""
        t = cls.__new__(cls)
        t.array = data
        t.grad = None
        t.grad_fn = node
        t.requires_grad = True
        t._version = node._out_version if node._out_version is not None else [0]
        t._grad_hooks = t._post_accumulate_hooks = None
        return t

    # ------------------------------------------------------------------ basic properties
    @property
    def data(self):
        """PyTorch's ``.data``: this tensor's values as a new Tensor that shares the
        array (and the version counter) but is cut from the graph
        (``requires_grad=False``, no ``grad_fn``), like :meth:`detach`.

        Old tutorials update weights through it: ``p.data.add_(-lr * p.grad)``,
        ``m.bias.data.fill_(0.01)``. Such a change is not recorded, but it does bump
        the version counter, so a graph that saved ``p`` refuses to backward with the
        stale value (PyTorch lets that one through silently). The raw NumPy / CuPy
        array is :attr:`array`.

        Assigning ``t.data = other`` (a Tensor or an array) makes ``t`` use ``other``'s
        memory; shape, dtype and device may change, as in PyTorch.
        """
        return self.detach()

    @data.setter
    def data(self, value):
        if isinstance(value, Tensor):
            arr, version = value.array, value._version  # same memory, same counter
        elif hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__"):
            arr, version = value, [self._version[0] + 1]
        else:
            raise TypeError(f"data: expected a Tensor or an array to assign to .data, "
                            f"got {type(value).__name__}")
        if self.requires_grad and arr.dtype.kind not in "fc":
            raise RuntimeError(f"data: a tensor that requires grad must hold floating-point "
                               f"values, got dtype {arr.dtype}")
        self.array = arr
        self._version = version

    @property
    def shape(self):
        """The size of every dimension, as a tuple (``(2, 3)`` for a 2x3 matrix)."""
        return self.array.shape

    @property
    def ndim(self):
        """The number of dimensions (0 for a scalar, 2 for a matrix)."""
        return self.array.ndim

    @property
    def dtype(self):
        """The element type, a NumPy dtype (``float32``, ``int64``, ``bool``, ...)."""
        return self.array.dtype

    @property
    def device(self) -> Device:
        """The :class:`~minigrad.backend.Device` that holds the data (``cpu`` or ``cuda:N``)."""
        return backend.device_of(self.array)

    @property
    def is_cuda(self):
        """True when the data lives on a GPU."""
        return self.device.type == "cuda"

    @property
    def is_leaf(self):
        """True for a tensor no recorded op produced (``grad_fn`` is None): one you made
        yourself, a Parameter, or any result computed under ``no_grad``."""
        return self.grad_fn is None

    @property
    def T(self):
        """All dimensions in reverse order: the transpose of a matrix, shape
        ``(d0, ..., dn)`` -> ``(dn, ..., d0)``."""
        return _ops().permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        """The transpose of the last two dimensions (a batch of matrices
        ``(..., m, n)`` -> ``(..., n, m)``)."""
        return _ops().transpose(self, -2, -1)

    def size(self, dim=None):
        """The shape as a tuple, or the size of one dimension."""
        if dim is None:
            return self.array.shape
        return self.array.shape[dim]

    def numel(self):
        """The total number of elements (the product of the shape)."""
        return int(self.array.size)

    def dim(self):
        """The number of dimensions (same as :attr:`ndim`); ``ndimension`` is an alias."""
        return self.array.ndim

    ndimension = dim

    def element_size(self):
        """The size of one element in bytes (4 for float32)."""
        return self.array.dtype.itemsize

    @property
    def nbytes(self):
        """The size of the data in bytes (``numel() * element_size()``)."""
        return int(self.array.nbytes)

    def is_floating_point(self):
        """True when the dtype is a floating-point type (only those can require grad)."""
        return self.array.dtype.kind == "f"

    def _xp(self):
        return xp_of(self.array)

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.array.shape[0]):
            yield self[i]

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only); returns self."""
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require gradients, "
                f"got dtype {self.array.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad_(False): this tensor is not a leaf (it was computed by "
                f"{self.grad_fn.name()}); use .detach() to get a tensor outside the graph")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that led to it,
        accumulating into each leaf's ``.grad``. ``gradient`` is required unless the
        tensor has exactly one element."""
        from minigrad.autograd import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self):
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad: this tensor does not require grad")
            return self
        self.grad_fn._retained = weakref.ref(self)
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time the gradient with respect to this tensor is
        computed during a backward pass; if it returns a Tensor, that replaces the
        gradient (for the rest of the pass, for ``.grad`` and for :func:`grad`).
        Returns a handle whose ``remove()`` unregisters the hook.

        >>> h = x.register_hook(lambda g: g.clamp(-1, 1))   # clip this gradient
        >>> h.remove()

        On a leaf the hook sees the leaf's whole gradient for this pass, before it is
        added to ``.grad``; on a computed tensor it sees the gradient flowing into the
        op that made it (the hook is kept by that op's node, ``grad_fn``)."""
        from minigrad.autograd import _add_hook

        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if self.grad_fn is not None:
            node = self.grad_fn
            if node._grad_hooks is None:
                node._grad_hooks = {}
            return _add_hook(node._grad_hooks, hook)
        if self._grad_hooks is None:
            self._grad_hooks = {}
        return _add_hook(self._grad_hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf each time backward has added the gradient
        into its ``.grad`` (the return value is ignored). Data-parallel training uses it
        to start averaging a parameter's gradient while backward is still running.
        Returns a handle whose ``remove()`` unregisters the hook."""
        from minigrad.autograd import _add_hook

        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot "
                               f"be registered on non-leaf tensors (this one was computed by "
                               f"{self.grad_fn.name()})")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor "
                               "that doesn't require gradient")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return _add_hook(self._post_accumulate_hooks, hook)

    def detach(self):
        """A tensor sharing this one's data, cut from the graph (requires_grad=False)."""
        t = Tensor(self.array)
        t._version = self._version
        return t

    def detach_(self):
        """Cut this tensor from the graph in place (it becomes a leaf with
        ``requires_grad=False``); returns self."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    # ------------------------------------------------------------------ conversion
    def item(self):
        """The single value of a one-element tensor, as a Python number."""
        if self.array.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, "
                             f"this one has shape {self.shape}")
        return self.array.reshape(()).item()

    def numpy(self):
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.device.type != "cpu":
            raise TypeError(f"numpy: the tensor is on '{self.device}'; call .cpu() first")
        return self.array

    def tolist(self):
        """The data as (nested) Python lists of numbers; a 0-d tensor gives one number."""
        return backend.to_device(self.array, "cpu").tolist()

    def __array__(self, dtype=None, copy=None):
        arr = backend.to_device(self.array, "cpu")
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        if copy:
            arr = arr.copy()
        return arr

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.array.size} elements "
                               "is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __repr__(self):
        return _format(self)

    def __format__(self, spec):
        if self.array.ndim == 0 and spec:
            return format(self.item(), spec)
        return repr(self)

    # ------------------------------------------------------------------ dtype / device moves
    def to(self, *args, dtype=None, device=None, copy=False):
        """``t.to(dtype)``, ``t.to("cuda")``, ``t.to(other_tensor)`` or both."""
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, Device)):
                device = a
            elif a is not None:
                dtype = a
        out = self
        if device is not None:
            device = backend.device(device)
            if device != self.device:
                out = _ops().to_device(out, device)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _ops().cast(out, np.dtype(dtype))
        if copy and out is self:
            out = _ops().clone(self)
        return out

    def cpu(self):
        """This tensor on the CPU (self when it is already there; a differentiable copy otherwise)."""
        return self.to("cpu")

    def cuda(self, device=None):
        """This tensor on a GPU (``device``: its index, default the current one);
        self when it is already there."""
        return self.to(backend.Device("cuda", device) if device is not None else "cuda")

    def type(self, dtype=None):
        """With no argument, the type as a string (``"minigrad.float32"``); with a
        dtype, the tensor cast to it (as :meth:`to`)."""
        if dtype is None:
            return f"minigrad.{self.dtype}"
        return self.to(dtype)

    def float(self):
        """This tensor cast to float32 (self when it already is); the gradient is cast back."""
        return self.to(np.float32)

    def double(self):
        """This tensor cast to float64 (self when it already is); the gradient is cast back."""
        return self.to(np.float64)

    def half(self):
        """This tensor cast to float16 (self when it already is); the gradient is cast back."""
        return self.to(np.float16)

    def long(self):
        """This tensor cast to int64 (self when it already is); no gradient flows through it."""
        return self.to(np.int64)

    def int(self):
        """This tensor cast to int32 (self when it already is); no gradient flows through it."""
        return self.to(np.int32)

    def bool(self):
        """This tensor cast to bool (self when it already is); no gradient flows through it."""
        return self.to(np.bool_)

    def type_as(self, other):
        """This tensor cast to the dtype of ``other``."""
        return self.to(other.dtype)

    def clone(self):
        """A copy with its own memory that stays in the graph (the gradient flows
        back to this tensor unchanged)."""
        return _ops().clone(self)

    def contiguous(self):
        """Self when the data is C-contiguous (row-major, no gaps), else a contiguous
        copy (:meth:`clone`)."""
        return self if self.array.flags.c_contiguous else _ops().clone(self)

    def is_contiguous(self):
        """True when the data is laid out C-contiguously (row-major, no gaps)."""
        return bool(self.array.flags.c_contiguous)

    # ------------------------------------------------------------------ in-place helpers
    # In-place ops write into ``self.array`` and bump the version counter that every node
    # which saved this tensor compared at save time: backward through such a node then
    # refuses (the saved value is gone) instead of returning a wrong gradient. Autograd
    # records nothing for an in-place op, so they are allowed only where no gradient
    # can be lost: under no_grad, or on a tensor that does not require grad.
    def _check_inplace(self, op):
        from minigrad.autograd import is_grad_enabled

        if not is_grad_enabled():
            return
        if self.grad_fn is not None:
            raise RuntimeError(
                f"{op}: in-place operations on a tensor that is part of a graph (computed by "
                f"{self.grad_fn.name()}) are not recorded by autograd; use the out-of-place "
                "version (y = y + x), or modify it under `with minigrad.no_grad():`")
        if self.requires_grad:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place "
                "operation (a leaf tensor that requires grad cannot be modified in place while "
                "grad mode is on); wrap the update in `with minigrad.no_grad():` or write "
                "through `.data`")

    def _bump_version(self):
        """Record that the memory behind this tensor was written in place. Every view
        of the same memory shares the counter, so one bump is seen through all of them;
        code that writes into ``t.array`` directly (optimizers, initialisers) calls this."""
        self._version[0] += 1

    def _value_array(self, value):
        if isinstance(value, Tensor):
            if value.device != self.device:
                raise RuntimeError(f"expected a tensor on '{self.device}', got one on '{value.device}'")
            return value.array
        return value

    def _update(self, op, fn, other):
        """Check, run ``fn(self.array, value)`` (which writes into self.array), bump the version."""
        self._check_inplace(op)
        v = self._value_array(other)
        try:
            fn(self.array, v)
        except (TypeError, ValueError) as e:
            what = (f"a value of shape {tuple(v.shape)} and dtype {v.dtype}" if hasattr(v, "dtype")
                    and hasattr(v, "shape") else repr(v))
            cls = TypeError if isinstance(e, TypeError) else ValueError
            raise cls(f"{op}: cannot update a tensor of shape {self.shape} and dtype {self.dtype} "
                      f"in place with {what} ({e})") from None
        self._bump_version()
        return self

    def __setitem__(self, key, value):
        if self.requires_grad:
            raise RuntimeError(
                "__setitem__: item assignment is only supported on tensors that do not require "
                "grad; build the new tensor out of place (e.g. with minigrad.where or cat)")
        from minigrad.ops.index import _normalize_key

        self.array[_normalize_key(key)] = self._value_array(value)
        self._bump_version()

    def zero_(self):
        """Set every element to 0 in place; returns self."""
        self._check_inplace("zero_")
        self.array[...] = 0
        self._bump_version()
        return self

    def fill_(self, value):
        """Set every element to ``value`` (a number or a one-element tensor) in place;
        returns self."""
        self._check_inplace("fill_")
        if isinstance(value, Tensor) and value.numel() != 1:
            raise RuntimeError(f"fill_: the value must be a number or a one-element tensor, "
                               f"got a tensor of shape {value.shape}")
        self.array[...] = self._value_array(value)
        self._bump_version()
        return self

    def copy_(self, src, non_blocking=False):
        """Copy the values of ``src`` (broadcast to this shape, cast to this dtype) into
        this tensor in place, across devices if needed; returns self. ``non_blocking``
        is accepted for PyTorch compatibility (copies are synchronous here)."""
        self._check_inplace("copy_")
        src = src.array if isinstance(src, Tensor) else src
        src = backend.to_device(self._xp().asarray(src) if not hasattr(src, "shape") else src, self.device)
        try:
            self.array[...] = src
        except ValueError:
            raise ValueError(f"copy_: source of shape {np.shape(src)} cannot be broadcast to "
                             f"the destination shape {self.shape}") from None
        self._bump_version()
        return self

    def add_(self, other, alpha=1):
        """In place ``self += alpha * other`` (``other`` broadcast to this shape); returns
        self. Allowed under ``no_grad``, through ``.data``, or on a tensor that does not
        require grad."""
        return self._update("add_", _add_into if alpha == 1 else _scaled_add_into(alpha), other)

    def sub_(self, other, alpha=1):
        """In place ``self -= alpha * other``; returns self (rules as :meth:`add_`)."""
        return self._update("sub_", _sub_into if alpha == 1 else _scaled_add_into(-alpha), other)

    def mul_(self, other):
        """In place ``self *= other``; returns self (rules as :meth:`add_`)."""
        return self._update("mul_", _mul_into, other)

    def div_(self, other, rounding_mode=None):
        """In place ``self /= other``; returns self (rules as :meth:`add_`). True division
        by default (an integer tensor cannot hold the result and raises);
        ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"`` down."""
        if rounding_mode is None:
            return self._update("div_", _div_into, other)
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div_: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
        return self._update("div_", _rounded_div_into(rounding_mode), other)

    def clamp_(self, min=None, max=None):
        """Limit every element to ``[min, max]`` in place (numbers or tensors broadcast to
        this shape; either bound may be None, not both); returns self."""
        self._check_inplace("clamp_")
        if min is None and max is None:
            raise RuntimeError("clamp_: at least one of 'min' or 'max' must not be None")
        lo, hi = self._value_array(min), self._value_array(max)
        try:
            self._xp().clip(self.array, lo, hi, out=self.array)
        except (TypeError, ValueError) as e:
            cls = TypeError if isinstance(e, TypeError) else ValueError
            raise cls(f"clamp_: cannot clamp a tensor of shape {self.shape} and dtype {self.dtype} "
                          f"in place to min={min!r}, max={max!r} ({e})") from None
        self._bump_version()
        return self

    # Random fills draw on the CPU from minigrad's generator (``minigrad.manual_seed``)
    # or from ``generator`` (a minigrad.Generator), then copy to the tensor's device.
    def _fill_random(self, values):
        self.array[...] = backend.to_device(values, self.device)
        self._bump_version()
        return self

    def _check_float(self, op):
        if self.dtype.kind != "f":
            raise TypeError(f"{op}: only floating-point tensors can be filled with samples of a "
                            f"continuous distribution, got dtype {self.dtype}")

    def uniform_(self, a=0.0, b=1.0, generator=None):
        """Fill in place with samples from the uniform distribution on ``[a, b)``
        (drawn from the global generator, or ``generator``); returns self."""
        from minigrad import random

        self._check_inplace("uniform_")
        self._check_float("uniform_")
        if not a <= b:
            raise RuntimeError(f"uniform_: expects a [from, to) range with from <= to, got from={a} > to={b}")
        return self._fill_random(random._uniform(self.shape, a, b, self.dtype, generator))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        """Fill in place with samples from the normal distribution N(``mean``, ``std``²)
        (drawn from the global generator, or ``generator``); returns self."""
        from minigrad import random

        self._check_inplace("normal_")
        self._check_float("normal_")
        if not std >= 0:
            raise RuntimeError(f"normal_: expects std >= 0.0, got std={std}")
        return self._fill_random(random._normal(self.shape, mean, std, self.dtype, generator))

    def bernoulli_(self, p=0.5, generator=None):
        """Fill in place with 1 (probability ``p``) or 0 (probability ``1 - p``); ``p`` is
        a number or a tensor of probabilities broadcast to this shape. Any dtype; returns
        self."""
        from minigrad import random

        self._check_inplace("bernoulli_")
        prob = np.asarray(p.cpu().array if isinstance(p, Tensor) else p, dtype=np.float64)
        if not bool(((prob >= 0) & (prob <= 1)).all()):
            raise RuntimeError(f"bernoulli_: expects every probability p in [0, 1], got "
                               f"{p if np.ndim(prob) == 0 else 'values outside it'}")
        try:
            prob = np.broadcast_to(prob, self.shape)
        except ValueError:
            raise ValueError(f"bernoulli_: probabilities of shape {prob.shape} cannot be broadcast to "
                             f"the tensor's shape {self.shape}") from None
        u = random._uniform(self.shape, 0.0, 1.0, np.float64, generator)
        return self._fill_random((u < prob).astype(self.dtype))

    def exponential_(self, lambd=1.0, generator=None):
        """Fill in place with samples from the exponential distribution of rate
        ``lambd`` (density ``lambd * exp(-lambd * x)`` for ``x >= 0``, mean ``1 / lambd``);
        returns self."""
        from minigrad import random

        self._check_inplace("exponential_")
        self._check_float("exponential_")
        if not lambd > 0:
            raise RuntimeError(f"exponential_: expects lambd > 0.0, got lambd={lambd}")
        u = random._uniform(self.shape, 0.0, 1.0, np.float64, generator)
        return self._fill_random((-np.log1p(-u) / lambd).astype(self.dtype))

    # ------------------------------------------------------------------ augmented assignment
    # ``w -= lr * w.grad`` calls ``w.__isub__(lr * w.grad)``. On a leaf (a parameter,
    # a tensor you made) it is the in-place method, so under no_grad the parameter keeps
    # its identity and requires_grad. On a tensor that is part of a graph while grad mode
    # is on (``h += x`` inside a forward), or when ``other`` brings a gradient into a
    # tensor that has none, an in-place write would lose the gradient, so the operator
    # computes ``h + x`` out of place and Python rebinds the name: the values and
    # gradients are PyTorch's, but other references to the old tensor keep the old values.
    def _augmented(self, op, other, inplace, out_of_place):
        from minigrad.autograd import is_grad_enabled

        if is_grad_enabled() and (self.grad_fn is not None or (
                isinstance(other, Tensor) and other.requires_grad and not self.requires_grad)):
            return out_of_place(self, other)
        return self._update(op, inplace, other)

    def __iadd__(self, other):
        """``t += other``, in place through :meth:`add_` (a leaf that requires grad only
        under ``no_grad``). On a tensor inside a graph with grad mode on it computes
        ``t + other`` and rebinds the name instead, so no gradient is lost."""
        return self._augmented("add_ (+=)", other, _add_into, _ops().add)

    def __isub__(self, other):
        """``t -= other``, in place through :meth:`sub_` (rules as ``+=``):
        ``with minigrad.no_grad(): w -= lr * w.grad`` updates the parameter itself."""
        return self._augmented("sub_ (-=)", other, _sub_into, _ops().sub)

    def __imul__(self, other):
        """``t *= other``, in place through :meth:`mul_` (rules as ``+=``)."""
        return self._augmented("mul_ (*=)", other, _mul_into, _ops().mul)

    def __itruediv__(self, other):
        """``t /= other``, in place through :meth:`div_` (rules as ``+=``)."""
        return self._augmented("div_ (/=)", other, _div_into, _ops().div)


# In-place array updates (each writes into ``a``; NumPy and CuPy arrays alike).
def _add_into(a, v):
    a += v


def _sub_into(a, v):
    a -= v


def _mul_into(a, v):
    a *= v


def _div_into(a, v):
    a /= v


def _scaled_add_into(alpha):
    def run(a, v):
        a += alpha * v
    return run


def _rounded_div_into(mode):
    def run(a, v):
        xp = xp_of(a)
        a[...] = xp.floor_divide(a, v) if mode == "floor" else xp.trunc(xp.true_divide(a, v))
    return run


def _ops():
    import minigrad.ops as ops

    return ops


def tensor(data, dtype=None, requires_grad=False, device=None):
    """Build a tensor from data (a number, nested lists, a NumPy array or a Tensor),
    always copying. Python floats become float32, ints int64, bools bool; NumPy arrays
    keep their dtype.

    >>> minigrad.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    tensor([[1., 2.],
            [3., 4.]], requires_grad=True)
    """
    if isinstance(data, Tensor):
        data = data.array
    arr = _infer_array(data, dtype)
    if arr is data or (isinstance(data, np.ndarray) and np.shares_memory(arr, data)):
        arr = arr.copy()
    if device is not None:
        arr = backend.to_device(arr, device)
    return Tensor(arr, requires_grad=requires_grad)


# ---------------------------------------------------------------------- printing like PyTorch

def _format(t: Tensor) -> str:
    arr = backend.to_device(t.array, "cpu")
    prefix = "tensor("
    kw = dict(separator=", ", prefix=prefix)
    if arr.dtype.kind == "f" and arr.size:
        finite = arr[np.isfinite(arr)]
        if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
            body = np.array2string(arr, **kw, formatter={"float_kind": lambda v: _int_float(v)})
        else:
            body = np.array2string(arr, **kw, precision=4, floatmode="fixed", suppress_small=True)
    elif arr.size == 0:
        body = "[]" if arr.ndim == 1 else f"size={arr.shape}"
    else:
        body = np.array2string(arr, **kw)
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if arr.dtype not in (np.dtype(np.int64), np.dtype(np.bool_), _default_float):
        extras.append(f"dtype=minigrad.{arr.dtype}")
    if arr.size == 0 and arr.ndim != 1:
        extras.insert(0, body)
        body = "[]"
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"


def _int_float(v):
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.0f}."
