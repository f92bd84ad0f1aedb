"""Argument checks shared by every op: one function per kind of argument.

Each check takes the name of the op the user called (``op``) and puts it at the start
of its message, with the value it got and what would be valid, so that
``x.std(dim=5)`` says ``std: dim 5 is out of range ...`` and not what some helper
three calls down was named. An op validates its arguments with these before it
touches an array; the kernels below the ops have their own entry checks
(``minigrad.kernels._contracts``).

The exception types follow PyTorch where it is consistent: a dim or an index out of
range is an :class:`IndexError`, a value of the wrong type a :class:`TypeError`, a
value of the right type but outside what is valid a :class:`ValueError`.
"""
from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from minigrad.backend import device_of

__all__ = ["dim", "dims", "integer", "count", "sizes", "index_array", "padding", "positive", "same_device",
           "names_errors", "name_errors_in"]


def integer(value, op, name):
    """``value`` as a Python int; TypeError for floats, bools and anything else.

    ``1.0`` is refused like ``1.5``: an op that silently truncates a float hides a bug
    in the caller's arithmetic.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def count(value, op, name, minimum=1):
    """A number of things (a batch size, epochs, samples, replicas, pixels) as an int;
    ValueError naming ``op`` and ``name`` unless ``value`` is an integer >= ``minimum``
    (a bool or a float is refused too)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        rule = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{op}: {name} must be {rule}, got {value!r}")
    return int(value)


def dim(d, ndim, op):
    """One dimension index, possibly negative, as 0..ndim-1 (a 0-d tensor counts as 1-d,
    as in PyTorch); IndexError naming ``op`` when out of range."""
    d = integer(d, op, "dim")
    n = max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimension(s) "
                         f"(valid: {-n}..{n - 1})")
    return d % n if ndim else 0


def dims(ds, ndim, op):
    """A dim or a sequence of dims (None: all of them) as a sorted tuple of distinct
    non-negative dims; a repeated dim is a ValueError."""
    if ds is None:
        return tuple(range(ndim))
    if isinstance(ds, (numbers.Integral, np.integer)) and not isinstance(ds, (bool, np.bool_)):
        ds = (ds,)
    try:
        ds = tuple(ds)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int or a sequence of ints, got {ds!r}") from None
    out = [dim(d, ndim, op) for d in ds]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {ds} names the same dimension more than once")
    return tuple(sorted(out))


def sizes(values, op, name="sizes", allow_inferred=False):
    """A list of sizes as a tuple of ints >= 0; with ``allow_inferred`` one entry may be -1
    (the size that makes the total come out right). TypeError for non-integers,
    ValueError for negative entries."""
    if isinstance(values, (numbers.Integral, np.integer)):
        values = (values,)
    out = tuple(integer(v, op, name) for v in values)
    for v in out:
        if v < 0 and not (allow_inferred and v == -1):
            valid = "-1 or >= 0" if allow_inferred else ">= 0"
            raise ValueError(f"{op}: {name} {out} has the entry {v}; every entry must be {valid}")
    if allow_inferred and out.count(-1) > 1:
        raise ValueError(f"{op}: {name} {out} has more than one -1; at most one size can be inferred")
    return out


def index_array(index, size, op, dim_=None, allow_negative=False):
    """Check an array of indices into a dimension of ``size`` elements: an integer dtype
    and every entry in 0..size-1 (or -size..size-1 with ``allow_negative``).
    Returns the array, with negative entries wrapped when they are allowed."""
    where = f" for dim {dim_}" if dim_ is not None else ""
    kind = getattr(getattr(index, "dtype", None), "kind", None)
    if kind not in ("i", "u"):
        raise TypeError(f"{op}: indices must be an integer tensor, got dtype "
                        f"{getattr(index, 'dtype', type(index).__name__)}")
    if index.size == 0:
        return index
    lo, hi = int(index.min()), int(index.max())
    low = -size if allow_negative else 0
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        valid = f"{low}..{size - 1}" if size else "none: the dimension is empty"
        raise IndexError(f"{op}: index {bad} is out of range{where} of size {size} (valid: {valid})")
    if allow_negative and lo < 0:
        index = index % size
    return index


def padding(pad, op, name="padding"):
    """A padding spec (an int or a sequence of ints) as a tuple of ints; floats are a
    TypeError (``1.5`` is not silently truncated)."""
    if isinstance(pad, (numbers.Integral, np.integer)):
        return (integer(pad, op, name),)
    try:
        return tuple(integer(p, op, name) for p in pad)
    except TypeError as e:
        if "must be an integer" in str(e):
            raise
        raise TypeError(f"{op}: {name} must be an int or a sequence of ints, got {pad!r}") from None


def positive(value, op, name, allow_zero=False):
    """A number > 0 (>= 0 with ``allow_zero``); ValueError otherwise (NaN included)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        raise ValueError(f"{op}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return value


def same_device(op, *tensors):
    """Refuse tensors that live on different devices (``cpu`` and ``cuda:0``, or two GPUs):
    an op never moves data behind the user's back. Arguments that are not tensors (None,
    numbers) are skipped; ``input i`` in the message counts positions in ``tensors``.

    >>> same_device("matmul", a, b)   # a on the CPU, b on a GPU
    RuntimeError: matmul: expected all tensors on the same device, got 'cpu' (input 0) and
    'cuda:0' (input 1); move them with .to(device) first
    """
    first = first_index = None
    for i, t in enumerate(tensors):
        arr = getattr(t, "array", None)  # a Tensor's raw array (this module sits below Tensor)
        if arr is None:
            continue
        if first is None:
            first, first_index = arr, i
        elif type(arr) is not type(first) or (type(arr) is not np.ndarray and device_of(arr) != device_of(first)):
            raise RuntimeError(f"{op}: expected all tensors on the same device, got '{device_of(first)}' "
                               f"(input {first_index}) and '{device_of(arr)}' (input {i}); "
                               "move them with .to(device) first")


# ----------------------------------------------------------------------------- the op's name on every error

# Errors that escape an op as one of these get the op's name; other kinds of error from
# deep inside (NumPy's, Python's) become the built-in type a user can catch.
_RENAMED = ((IndexError, IndexError), (TypeError, TypeError), (ValueError, ValueError),
            (RuntimeError, RuntimeError), (AttributeError, TypeError), (ArithmeticError, ValueError),
            (KeyError, ValueError))


def _with_name(e, op):
    """The exception ``e`` with ``op: `` in front of its message (same type where the type
    can be built from a message, else the nearest built-in type)."""
    msg = str(e.args[0]) if len(e.args) == 1 else str(e)
    msg = f"{op}: {msg}"
    for caught, builtin in _RENAMED:
        if isinstance(e, caught):
            kind = type(e) if caught is builtin else builtin
            try:
                new = kind(msg)
            except Exception:  # a subclass whose constructor wants more (NumPy's UFuncTypeError)
                new = builtin(msg)
            if str(new) != msg:  # a subclass that formats its message itself (KeyError quotes it)
                new = builtin(msg)
            return new
    return None


ESCAPING = (IndexError, TypeError, ValueError, RuntimeError, AttributeError, ArithmeticError, KeyError)


def renamed(e, name):
    """``e`` re-made to name ``name`` (an op or a layer), or None when its message names it
    already (case and underscores aside: ``max_pool2d`` names ``MaxPool2d``)."""
    plain = str(e).lower().replace("_", "").replace("()", "")
    if name.lower().replace("_", "") in plain:
        return None
    return _with_name(e, name)


def names_errors(fn, op=None):
    """``fn`` such that an error escaping it names ``op`` (default: ``fn.__name__``).

    Each op checks its own arguments (with the helpers above), but an op built from
    other ops can still fail inside one of them (``mse_loss`` of a bool tensor fails in
    ``sub``), or inside NumPy. The user called ``mse_loss``, so the message must say
    so: this wrapper puts ``mse_loss: `` in front of any message that does not name it
    already, keeping the inner op's own words after it.
    """
    if getattr(fn, "_names_errors", False):
        return fn
    op = op or fn.__name__.rstrip("_")

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ESCAPING as e:
            new = renamed(e, op)
            if new is None:
                raise
            raise new.with_traceback(e.__traceback__) from None

    call._names_errors = True
    return call


def name_errors_in(namespace, names=None):
    """Apply :func:`names_errors` to the public functions of a module's namespace (a dict)
    that are defined in minigrad (or to ``names`` only)."""
    for k in list(names if names is not None else namespace):
        v = namespace.get(k)
        if k.startswith("_") or not inspect.isfunction(v) or not v.__module__.startswith("minigrad"):
            continue
        namespace[k] = names_errors(v, k.rstrip("_"))
