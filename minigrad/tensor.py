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
    arr = np.asarray(data)
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)):  # Python numbers, lists
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


def parse_to_args(args, dtype=None, device=None):
    """The ``(dtype, device)`` that the positional arguments of ``.to(...)`` ask for
    (``Tensor.to`` and ``Module.to``): a dtype, a device (a string or a
    :class:`~minigrad.backend.Device`), or a tensor whose dtype and device are taken;
    ``dtype`` and ``device`` are the keyword arguments, kept unless overridden."""
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (str, Device)):
            device = a
        elif a is not None:
            dtype = a
    return dtype, device


def _cast_method(name, dtype):
    """The method ``Tensor.<name>()``: this tensor cast to ``dtype``, as ``self.to(dtype)``."""
    dtype = np.dtype(dtype)

    def cast(self):
        return self.to(dtype)

    flows = "the gradient is cast back" if dtype.kind == "f" else "no gradient flows through it"
    cast.__name__, cast.__qualname__ = name, f"Tensor.{name}"
    cast.__doc__ = f"This tensor cast to {dtype} (self when it already is); {flows}."
    return cast


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
        return _ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        """The transpose of the last two dimensions (a batch of matrices
        ``(..., m, n)`` -> ``(..., n, m)``)."""
        return _ops.transpose(self, -2, -1)

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
        _autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

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
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if self.grad_fn is not None:
            node = self.grad_fn
            if node._grad_hooks is None:
                node._grad_hooks = {}
            return _autograd._add_hook(node._grad_hooks, hook)
        if self._grad_hooks is None:
            self._grad_hooks = {}
        return _autograd._add_hook(self._grad_hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf each time backward has added the gradient
        into its ``.grad`` (the return value is ignored). Data-parallel training uses it
        to start averaging a parameter's gradient while backward is still running.
        Returns a handle whose ``remove()`` unregisters the hook."""
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot "
                               f"be registered on non-leaf tensors (this one was computed by "
                               f"{self.grad_fn.name()})")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor "
                               "that doesn't require gradient")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = {}
        return _autograd._add_hook(self._post_accumulate_hooks, hook)

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
        dtype, device = parse_to_args(args, dtype, device)
        out = self
        if device is not None:
            device = backend.device(device)
            if device != self.device:
                out = _ops.to_device(out, device)
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _ops.cast(out, np.dtype(dtype))
        if copy and out is self:
            out = _ops.clone(self)
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

    # dtype shortcuts, as in PyTorch: ``t.float()`` is ``t.to(minigrad.float32)``
    float = _cast_method("float", np.float32)
    double = _cast_method("double", np.float64)
    half = _cast_method("half", np.float16)
    long = _cast_method("long", np.int64)
    int = _cast_method("int", np.int32)
    bool = _cast_method("bool", np.bool_)

    def type_as(self, other):
        """This tensor cast to the dtype of ``other``."""
        return self.to(other.dtype)

    def clone(self):
        """A copy with its own memory that stays in the graph (the gradient flows
        back to this tensor unchanged)."""
        return _ops.clone(self)

    def contiguous(self):
        """Self when the data is C-contiguous (row-major, no gaps), else a contiguous
        copy (:meth:`clone`)."""
        return self if self.array.flags.c_contiguous else _ops.clone(self)

    def is_contiguous(self):
        """True when the data is laid out C-contiguously (row-major, no gaps)."""
        return bool(self.array.flags.c_contiguous)

    # ------------------------------------------------------------------ the ops as methods
    # Each method below is one line that calls the op of the same name in minigrad.ops,
    # where its forward and backward live (``x.exp()`` is ``minigrad.exp(x)``). The
    # operators (``x + y``, ``x @ w``, ``x[i]``, ``x < y``...) are aliases at the end.

    # -- arithmetic
    def add(self, other, alpha=1):
        """``self + alpha * other``, broadcasting like NumPy (:func:`minigrad.add`)."""
        return _ops.add(self, other, alpha)

    def sub(self, other, alpha=1):
        """``self - alpha * other``, broadcasting like NumPy (:func:`minigrad.sub`)."""
        return _ops.sub(self, other, alpha)

    def mul(self, other):
        """The elementwise product ``self * other``, with broadcasting."""
        return _ops.mul(self, other)

    def div(self, other):
        """The elementwise true division ``self / other``, with broadcasting."""
        return _ops.div(self, other)

    def neg(self):
        """``-self``, elementwise (the ``-x`` operator)."""
        return _ops.neg(self)

    def pow(self, exponent):
        """``self ** exponent``; the exponent may be a number or a tensor (then both get gradients)."""
        return _ops.pow(self, exponent)

    def lerp(self, end, weight):
        """Linear interpolation ``self + weight * (end - self)`` (all three broadcast)."""
        return _ops.lerp(self, end, weight)

    def logaddexp(self, other):
        """``log(exp(self) + exp(other))``, elementwise with broadcasting, without overflow."""
        return _ops.logaddexp(self, other)

    # -- elementwise functions
    def abs(self):
        """``|x|``, elementwise (``abs(x)``); the gradient at 0 is 0."""
        return _ops.abs(self)

    def sign(self):
        """``sign(x)`` in {-1, 0, 1}, elementwise; a constant for autograd."""
        return _ops.sign(self)

    def exp(self):
        """``e**x``, elementwise."""
        return _ops.exp(self)

    def log(self):
        """The natural logarithm, elementwise (``-inf`` at 0, NaN below 0)."""
        return _ops.log(self)

    def log1p(self):
        """``log(1 + x)``, elementwise; accurate for small ``|x|``."""
        return _ops.log1p(self)

    def sqrt(self):
        """The square root, elementwise (NaN below 0)."""
        return _ops.sqrt(self)

    def rsqrt(self):
        """``1 / sqrt(x)``, elementwise."""
        return _ops.rsqrt(self)

    def sin(self):
        """The sine (radians), elementwise."""
        return _ops.sin(self)

    def cos(self):
        """The cosine (radians), elementwise."""
        return _ops.cos(self)

    def tanh(self):
        """The hyperbolic tangent, elementwise, in (-1, 1)."""
        return _ops.tanh(self)

    def erf(self):
        """The error function, elementwise."""
        return _ops.erf(self)

    def clamp(self, min=None, max=None):
        """The values limited to ``[min, max]`` (either may be None)."""
        return _ops.clamp(self, min, max)

    def clip(self, min=None, max=None):
        """The values limited to ``[min, max]`` (NumPy's name for :meth:`clamp`)."""
        return _ops.clip(self, min, max)

    def maximum(self, other):
        """The elementwise maximum of ``self`` and ``other`` (ties share the gradient)."""
        return _ops.maximum(self, other)

    def minimum(self, other):
        """The elementwise minimum of ``self`` and ``other`` (ties share the gradient)."""
        return _ops.minimum(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        """NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (by default the
        dtype's largest and smallest finite values)."""
        return _ops.nan_to_num(self, nan, posinf, neginf)

    # -- activations
    def sigmoid(self):
        """The logistic function ``1 / (1 + exp(-x))``, elementwise, in (0, 1)."""
        return _ops.sigmoid(self)

    def relu(self):
        """``max(x, 0)``, elementwise (the gradient at 0 is 0)."""
        return _ops.relu(self)

    def leaky_relu(self, negative_slope=0.01):
        """``x`` where ``x > 0``, ``negative_slope * x`` elsewhere, elementwise."""
        return _ops.leaky_relu(self, negative_slope)

    def elu(self, alpha=1.0):
        """``x`` where ``x > 0``, ``alpha * (exp(x) - 1)`` elsewhere, elementwise."""
        return _ops.elu(self, alpha)

    def gelu(self, approximate='none'):
        """``x * Phi(x)``, Phi the standard normal CDF (``approximate="tanh"``: its tanh form)."""
        return _ops.gelu(self, approximate)

    def silu(self):
        """``x * sigmoid(x)`` (also called swish), elementwise."""
        return _ops.silu(self)

    def softplus(self, beta=1.0, threshold=20.0):
        """``log(1 + exp(beta * x)) / beta``, elementwise: a smooth relu (``x`` itself where
        ``beta * x > threshold``)."""
        return _ops.softplus(self, beta, threshold)

    def softmax(self, dim=-1, dtype=None):
        """Softmax along ``dim``: non-negative values that sum to 1 along it."""
        return _ops.softmax(self, dim, dtype)

    def log_softmax(self, dim=-1, dtype=None):
        """``log(softmax(x))`` along ``dim``, computed without forming the softmax (stable)."""
        return _ops.log_softmax(self, dim, dtype)

    # -- comparisons and logic (bool results, no gradient)
    def eq(self, other):
        """``self == other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.eq(self, other)

    def ne(self, other):
        """``self != other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.ne(self, other)

    def lt(self, other):
        """``self < other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.lt(self, other)

    def le(self, other):
        """``self <= other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.le(self, other)

    def gt(self, other):
        """``self > other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.gt(self, other)

    def ge(self, other):
        """``self >= other``, elementwise with broadcasting, as a bool tensor."""
        return _ops.ge(self, other)

    def logical_not(self):
        """NOT, elementwise: a bool tensor, True where ``self`` is zero/False (``~x``)."""
        return _ops.logical_not(self)

    def isnan(self):
        """A bool tensor, True where ``self`` is NaN."""
        return _ops.isnan(self)

    def isinf(self):
        """A bool tensor, True where ``self`` is +inf or -inf."""
        return _ops.isinf(self)

    def isfinite(self):
        """A bool tensor, True where ``self`` is neither NaN nor infinite."""
        return _ops.isfinite(self)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        """True when ``|self - other| <= atol + rtol * |other|`` everywhere (a Python bool)."""
        return _ops.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other):
        """True when both tensors have the same shape and the same values (a Python bool)."""
        return _ops.equal(self, other)

    def where(self, condition, other):
        """Elements of this tensor where ``condition`` is True, of ``other`` elsewhere
        (all three broadcast together): ``where(condition, self, other)``."""
        return _ops.where(condition, self, other)

    # -- reductions
    def sum(self, dim=None, keepdim=False, dtype=None):
        """The sum over all elements or over ``dim`` (an int or a tuple)."""
        return _ops.sum(self, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        """The average over all elements or over ``dim``."""
        return _ops.mean(self, dim, keepdim, dtype)

    def prod(self, dim=None, keepdim=False, dtype=None):
        """The product over all elements or over one ``dim``."""
        return _ops.prod(self, dim, keepdim, dtype)

    def max(self, dim=None, keepdim=False):
        """The largest element; with ``dim``, a ``(values, indices)`` pair like PyTorch."""
        return _ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest element; with ``dim``, a ``(values, indices)`` pair like PyTorch."""
        return _ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        """The maximum over one or more dims (ties share the gradient)."""
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        """The minimum over one or more dims (ties share the gradient)."""
        return _ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """The index of the largest element (of the flattened tensor when ``dim`` is None)."""
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """The index of the smallest element (of the flattened tensor when ``dim`` is None)."""
        return _ops.argmin(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        """The variance ``sum((x - mean)**2) / (N - correction)`` (see :func:`minigrad.var`)."""
        return _ops.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        """The standard deviation, ``sqrt(var)`` (arguments as :meth:`var`)."""
        return _ops.std(self, dim, unbiased, keepdim, correction)

    def logsumexp(self, dim=None, keepdim=False):
        """``log(sum(exp(x)))``, computed stably as ``m + log(sum(exp(x - m)))``, ``m = max(x)``."""
        return _ops.logsumexp(self, dim, keepdim)

    def norm(self, p='fro', dim=None, keepdim=False):
        """The vector p-norm over ``dim`` (all elements by default; p = 2 for ``'fro'``)."""
        return _ops.norm(self, p, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        """True where every element (along ``dim``) is nonzero; a bool tensor."""
        return _ops.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """True where some element (along ``dim``) is nonzero; a bool tensor."""
        return _ops.any(self, dim, keepdim)

    def count_nonzero(self, dim=None):
        """The number of nonzero elements (along ``dim``), as an int64 tensor."""
        return _ops.count_nonzero(self, dim)

    # -- running (scan) ops along one dim
    def cumsum(self, dim):
        """The running sum along ``dim``."""
        return _ops.cumsum(self, dim)

    def cumprod(self, dim, *, dtype=None):
        """The running product along ``dim``: ``y_i = x_0 * ... * x_i``."""
        return _ops.cumprod(self, dim, dtype=dtype)

    def logcumsumexp(self, dim):
        """``log(cumsum(exp(x), dim))``, computed without overflow."""
        return _ops.logcumsumexp(self, dim)

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        """The ``n``-th forward difference along ``dim``: ``out[i] = x[i + 1] - x[i]``."""
        return _ops.diff(self, n, dim, prepend, append)

    # -- shape: same elements, another shape or order
    def reshape(self, *shape):
        """The same elements in a new shape; one dimension may be -1 (inferred)."""
        return _ops.reshape(self, *shape)

    def view(self, *shape):
        """Like :meth:`reshape` (minigrad copies when a view is impossible)."""
        return _ops.view(self, *shape)

    def reshape_as(self, other):
        """This tensor with the shape of ``other`` (same number of elements)."""
        return _ops.reshape(self, other.shape)

    def view_as(self, other):
        """This tensor with the shape of ``other`` (same number of elements). Like
        :func:`~minigrad.ops.shape.view`, it is ``reshape``: minigrad copies when a view is impossible."""
        return _ops.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Dimensions ``start_dim..end_dim`` merged into one."""
        return _ops.flatten(self, start_dim, end_dim)

    def unflatten(self, dim, sizes):
        """Dimension ``dim`` split into ``sizes`` (one may be -1)."""
        return _ops.unflatten(self, dim, sizes)

    def squeeze(self, dim=None):
        """Dimensions of size 1 dropped (all of them, or the given dim(s) if they are size 1)."""
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        """A size-1 dimension inserted at ``dim``."""
        return _ops.unsqueeze(self, dim)

    def permute(self, *dims):
        """The dimensions in the order ``dims``."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0, dim1):
        """Dimensions ``dim0`` and ``dim1`` swapped."""
        return _ops.transpose(self, dim0, dim1)

    def swapaxes(self, dim0, dim1):
        """Dimensions ``dim0`` and ``dim1`` swapped (NumPy's name for :meth:`transpose`)."""
        return _ops.swapaxes(self, dim0, dim1)

    def swapdims(self, dim0, dim1):
        """Dimensions ``dim0`` and ``dim1`` swapped (another name for :meth:`transpose`)."""
        return _ops.swapdims(self, dim0, dim1)

    def t(self):
        """The transpose of a 2-D tensor (0-D and 1-D tensors come back as they are)."""
        return _ops.t(self)

    def movedim(self, source, destination):
        """Dimension ``source`` moved to position ``destination``, the others in order."""
        return _ops.movedim(self, source, destination)

    def flip(self, dims):
        """The elements in reverse order along the given dimension(s)."""
        return _ops.flip(self, dims)

    def roll(self, shifts, dims=None):
        """The elements shifted cyclically by ``shifts`` (along ``dims``, or flattened)."""
        return _ops.roll(self, shifts, dims)

    # -- shape: broadcasting, repeating, splitting
    def expand(self, *sizes):
        """Broadcast to a larger shape without copying; -1 keeps a dimension's size."""
        return _ops.expand(self, *sizes)

    def expand_as(self, other):
        """This tensor broadcast to the shape of ``other`` (no copy; as ``expand(other.shape)``)."""
        return _ops.expand(self, other.shape)

    def broadcast_to(self, shape):
        """This tensor broadcast to ``shape`` (NumPy rules)."""
        return _ops.broadcast_to(self, shape)

    def sum_to_size(self, *size):
        """Sum this tensor down to ``size`` (``t.sum_to_size(1, 3)`` or ``t.sum_to_size((1, 3))``):
        the reverse of broadcasting, e.g. ``(4, 3)`` -> ``(1, 3)``; ``size`` must broadcast
        to this tensor's shape."""
        return _ops.sum_to(self, size[0] if len(size) == 1 and isinstance(size[0], tuple) else size)

    def repeat(self, *sizes):
        """The tensor tiled: ``x.repeat(2, 3)`` (PyTorch semantics, like ``np.tile``)."""
        return _ops.repeat(self, *sizes)

    def tile(self, dims):
        """Like :meth:`repeat`, but fewer reps than dims pad with leading 1s (torch.tile)."""
        return _ops.tile(self, dims)

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        """Each element repeated ``repeats`` times along ``dim`` (flattened when dim is None)."""
        return _ops.repeat_interleave(self, repeats, dim, output_size=output_size)

    def split(self, split_size_or_sections, dim=0):
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces of (almost) equal size along ``dim``."""
        return _ops.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        """The slices along ``dim``, as a tuple of tensors with that dim removed."""
        return _ops.unbind(self, dim)

    # -- indexing
    def narrow(self, dim, start, length):
        """The slice ``start:start+length`` along ``dim``."""
        return _ops.narrow(self, dim, start, length)

    def select(self, dim, index):
        """The slice at ``index`` along ``dim``, with that dim removed."""
        return _ops.select(self, dim, index)

    def index_select(self, dim, index):
        """The entries along ``dim`` at the positions in the 1-D integer tensor ``index``."""
        return _ops.index_select(self, dim, index)

    def gather(self, dim, index):
        """The values along ``dim`` at ``index`` (same number of dims as this tensor)."""
        return _ops.gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        """This tensor plus ``src`` added at ``index`` along ``dim`` (out of place)."""
        return _ops.scatter_add(self, dim, index, src)

    def masked_fill(self, mask, value):
        """``value`` where the bool ``mask`` (broadcastable to this tensor) is True."""
        return _ops.masked_fill(self, mask, value)

    # -- linear algebra
    def matmul(self, other):
        """The matrix product with NumPy/PyTorch rules (the ``@`` operator)."""
        return _ops.matmul(self, other)

    def mm(self, mat2):
        """The product of two matrices: (n, m) @ (m, p) -> (n, p) (no broadcasting)."""
        return _ops.mm(self, mat2)

    def bmm(self, mat2):
        """A batch of matrix products: (b, n, m) @ (b, m, p) -> (b, n, p)."""
        return _ops.bmm(self, mat2)

    def dot(self, other):
        """The inner product of two 1-D tensors of the same length, as a 0-d tensor."""
        return _ops.dot(self, other)

    def outer(self, vec2):
        """The outer product: (n,) and (m,) -> (n, m)."""
        return _ops.outer(self, vec2)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """``beta * self + alpha * (mat1 @ mat2)``."""
        return _ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """``beta * self + alpha * (batch1 @ batch2)`` for batches of matrices."""
        return _ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def tril(self, diagonal=0):
        """The lower triangle of the last two dims (``col - row <= diagonal``), zeros elsewhere."""
        return _ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        """The upper triangle of the last two dims (``col - row >= diagonal``), zeros elsewhere."""
        return _ops.triu(self, diagonal)

    # -- sorting and sampling
    def sort(self, dim=-1, descending=False, stable=False):
        """The values sorted along ``dim`` and their indices: a ``(values, indices)`` pair."""
        return _ops.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        """The int64 indices that sort this tensor along ``dim``."""
        return _ops.argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (or smallest) elements along ``dim``: a ``(values, indices)`` pair."""
        return _ops.topk(self, k, dim, largest, sorted)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """Category indices drawn with probabilities proportional to the rows of this tensor."""
        return _ops.multinomial(self, num_samples, replacement, generator=generator)

    # -- new tensors with this one's dtype and device (unless given)
    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """``t.new_zeros(2, 3)``: zeros with ``t``'s dtype and device unless given."""
        return _creation.new_zeros(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        """``t.new_ones(2, 3)``: ones with ``t``'s dtype and device unless given."""
        return _creation.new_ones(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """``t.new_empty(2, 3)``: like :meth:`new_zeros` (minigrad's "uninitialised" memory is zeros)."""
        return _creation.new_empty(self, *size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        """``t.new_full((2, 3), 7.0)``: ``fill_value`` everywhere, with ``t``'s dtype and device
        unless given."""
        return _creation.new_full(self, size, fill_value, dtype=dtype, device=device,
                                  requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """``t.new_tensor(data)``: a copy of ``data`` as a new leaf tensor with ``t``'s dtype and
        device unless given."""
        return _creation.new_tensor(self, data, dtype, device, requires_grad)

    # -- operators
    def __getitem__(self, key):
        return _ops.getitem(self, key)

    __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__ = add, sub, mul, div, pow, matmul
    __neg__, __abs__, __invert__ = neg, abs, logical_not
    __eq__, __ne__, __lt__, __le__, __gt__, __ge__ = eq, ne, lt, le, gt, ge
    __hash__ = object.__hash__  # defining __eq__ would otherwise make tensors unhashable

    def __radd__(self, other):  # 2 + x
        return _ops.add(other, self)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __and__(self, other):
        return _ops.logical_and(self, other)

    def __or__(self, other):
        return _ops.logical_or(self, other)

    # ------------------------------------------------------------------ in-place helpers
    # In-place ops write into ``self.array`` and bump the version counter that every node
    # which saved this tensor compared at save time: backward through such a node then
    # refuses (the saved value is gone) instead of returning a wrong gradient. Autograd
    # records nothing for an in-place op, so they are allowed only where no gradient
    # can be lost: under no_grad, or on a tensor that does not require grad.
    def _check_inplace(self, op):
        if not _autograd.is_grad_enabled():
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
        self._check_inplace("uniform_")
        self._check_float("uniform_")
        if not a <= b:
            raise RuntimeError(f"uniform_: expects a [from, to) range with from <= to, got from={a} > to={b}")
        return self._fill_random(_random._uniform(self.shape, a, b, self.dtype, generator))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        """Fill in place with samples from the normal distribution N(``mean``, ``std``²)
        (drawn from the global generator, or ``generator``); returns self."""
        self._check_inplace("normal_")
        self._check_float("normal_")
        if not std >= 0:
            raise RuntimeError(f"normal_: expects std >= 0.0, got std={std}")
        return self._fill_random(_random._normal(self.shape, mean, std, self.dtype, generator))

    def bernoulli_(self, p=0.5, generator=None):
        """Fill in place with 1 (probability ``p``) or 0 (probability ``1 - p``); ``p`` is
        a number or a tensor of probabilities broadcast to this shape. Any dtype; returns
        self."""
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
        u = _random._uniform(self.shape, 0.0, 1.0, np.float64, generator)
        return self._fill_random((u < prob).astype(self.dtype))

    def exponential_(self, lambd=1.0, generator=None):
        """Fill in place with samples from the exponential distribution of rate
        ``lambd`` (density ``lambd * exp(-lambd * x)`` for ``x >= 0``, mean ``1 / lambd``);
        returns self."""
        self._check_inplace("exponential_")
        self._check_float("exponential_")
        if not lambd > 0:
            raise RuntimeError(f"exponential_: expects lambd > 0.0, got lambd={lambd}")
        u = _random._uniform(self.shape, 0.0, 1.0, np.float64, generator)
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
        if _autograd.is_grad_enabled() and (self.grad_fn is not None or (
                isinstance(other, Tensor) and other.requires_grad and not self.requires_grad)):
            return out_of_place(self, other)
        return self._update(op, inplace, other)

    def __iadd__(self, other):
        """``t += other``, in place through :meth:`add_` (a leaf that requires grad only
        under ``no_grad``). On a tensor inside a graph with grad mode on it computes
        ``t + other`` and rebinds the name instead, so no gradient is lost."""
        return self._augmented("add_ (+=)", other, _add_into, _ops.add)

    def __isub__(self, other):
        """``t -= other``, in place through :meth:`sub_` (rules as ``+=``):
        ``with minigrad.no_grad(): w -= lr * w.grad`` updates the parameter itself."""
        return self._augmented("sub_ (-=)", other, _sub_into, _ops.sub)

    def __imul__(self, other):
        """``t *= other``, in place through :meth:`mul_` (rules as ``+=``)."""
        return self._augmented("mul_ (*=)", other, _mul_into, _ops.mul)

    def __itruediv__(self, other):
        """``t /= other``, in place through :meth:`div_` (rules as ``+=``)."""
        return self._augmented("div_ (/=)", other, _div_into, _ops.div)


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


# The import circle, closed once, here: the engine, the ops and the random generators
# build Tensors, and Tensor's methods call them (at call time, through these modules).
from minigrad import autograd as _autograd, creation as _creation, ops as _ops, random as _random  # noqa: E402
from minigrad.ops.index import _normalize_key  # noqa: E402
