"""The autograd engine: Function, the graph it records, and the backward pass.

How it works, in four sentences. Every differentiable op is a :class:`Function`
subclass with a ``forward`` (arrays in, array out) and a ``backward`` (gradient of
the output in, gradients of the inputs out). Calling ``Op.apply(*inputs)`` runs
``forward`` and, when grad mode is on and some input requires a gradient, returns a
Tensor whose ``grad_fn`` is an instance of ``Op`` - the *node* - which remembers the
nodes of its inputs (``next_functions``, kept as ``_next``) and whatever ``forward`` saved.
``backward()`` orders the nodes reachable from the output so that every node comes
after all nodes that use its output (a reverse topological order, computed without
recursion), then walks that order once, calling each node's ``backward`` and adding
the gradients it returns into the nodes (or leaf tensors) it points to.

Backward rules are written with Tensor operations. Normally they run under
``no_grad`` (nothing is recorded); with ``create_graph=True`` they are recorded like
any other computation, which is what makes second derivatives work.
"""
from __future__ import annotations

import functools
import itertools
import threading

import numpy as np

from minigrad import _checks

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "grad", "backward", "RemovableHandle", "kernel_gradients"]


# ----------------------------------------------------------------------------- grad mode
#
# Whether operations are recorded is a property of the running thread, as in PyTorch:
# `no_grad` in one thread (an evaluation loop, a data-loading worker) leaves every
# other thread recording, and each new thread starts with grad mode on. The state is
# two flags in a `threading.local`; everything below sets them through `_set_mode`.

class _GradMode(threading.local):
    def __init__(self):  # runs once in every thread that touches the state
        self.enabled = True     # record operations for backward
        self.inference = False  # inside inference_mode (grad mode is off there too)


_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when new operations are being recorded for backward (in this thread)."""
    return _mode.enabled


def is_inference_mode_enabled() -> bool:
    """True inside :class:`inference_mode` (in this thread)."""
    return _mode.inference


def _get_mode():
    return _mode.enabled, _mode.inference


def _set_mode(state):
    _mode.enabled, _mode.inference = state


class _ModeContext:
    """Base of no_grad, enable_grad, set_grad_enabled and inference_mode: set this
    thread's mode for a ``with`` block, or for every call of a decorated function.
    A subclass says which mode it sets (``_target``).

    This class holds the one decorator implementation of all four (``__call__``), and
    the one place where a bare ``@no_grad`` (no parentheses, as PyTorch allows) is
    told apart from ``no_grad()`` (``__new__``)."""

    _bare_ok = True  # may be used as ``@mode`` without parentheses

    def __new__(cls, *args, **kwargs):
        if cls._bare_ok and len(args) == 1 and not kwargs and callable(args[0]):  # ``@no_grad`` on fn
            self = super().__new__(cls)
            self.__init__()
            return self(args[0])
        return super().__new__(cls)

    def _target(self):
        raise NotImplementedError

    def __enter__(self):
        self._prev = _get_mode()
        _set_mode(self._target())
        return self

    def __exit__(self, *exc):
        _set_mode(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _get_mode()  # a local, not self._prev: the function may recurse or run in threads
            _set_mode(self._target())
            try:
                return fn(*args, **kwargs)
            finally:
                _set_mode(prev)

        return wrapper


class no_grad(_ModeContext):
    """Do not record operations (inference, optimizer updates): a context manager or a
    decorator. Affects the current thread only."""

    def _target(self):
        return False, _mode.inference


class enable_grad(_ModeContext):
    """Record operations again inside a ``no_grad`` block: a context manager or a
    decorator. Affects the current thread only."""

    def _target(self):
        return True, _mode.inference


class set_grad_enabled(_ModeContext):
    """Turn graph recording on or off: a context manager, a decorator, or a plain call
    (which sets the mode at once, as in PyTorch). Affects the current thread only.

    >>> with set_grad_enabled(False):
    ...     y = x * 2          # not recorded
    """

    _bare_ok = False  # the mode argument is required

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = _get_mode()
        _set_mode(self._target())

    def _target(self):
        return self.mode, _mode.inference

    def __enter__(self):  # the mode was set by the constructor; __exit__ restores the old one
        return self

    def __call__(self, fn):
        _set_mode(self._prev)  # used as a decorator: undo the constructor's switch
        return super().__call__(fn)


class inference_mode(_ModeContext):
    """``inference_mode()`` (or ``inference_mode(True)``): run without recording, like
    :class:`no_grad`, and report :func:`is_inference_mode_enabled`; a context manager
    or a decorator (with or without parentheses). ``inference_mode(False)`` turns it
    off again (and turns grad mode on), as in PyTorch.

    In PyTorch, inference mode is faster than no_grad because tensors made inside it
    skip the version counter and view tracking, and using them later in a recorded
    computation is an error. minigrad's tensors carry that bookkeeping anyway, so here
    inference mode is exactly no_grad plus the flag: tensors made inside it are
    ordinary tensors that can be used anywhere."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def _target(self):
        return (False, True) if self.mode else (True, False)


# ----------------------------------------------------------------------------- hooks

class RemovableHandle:
    """Returned by every ``register_*_hook``; ``handle.remove()`` takes the hook out again.

    A hook lives in a dict (id -> function) owned by whatever it is registered on: a
    tensor, a graph node or a module. Hooks run in the order they were registered."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self):
        """Unregister the hook (doing it twice is harmless)."""
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def _add_hook(hooks: dict, fn) -> RemovableHandle:
    if not callable(fn):
        raise TypeError(f"hook: expected a callable, got {type(fn).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = fn
    return handle


def _run_grad_hooks(hooks, g, who):
    """``g`` passed through each hook of ``Tensor.register_hook`` in turn (a hook returns
    None to keep the gradient, or a new one of the same shape)."""
    for fn in tuple(hooks.values()):
        new = fn(g)
        if new is None:
            continue
        if not isinstance(new, Tensor):
            raise TypeError(f"register_hook: a hook on {who} returned {type(new).__name__}; "
                            "it must return None or a Tensor")
        if new.shape != g.shape:
            raise RuntimeError(f"register_hook: a hook on {who} changed the gradient's shape from "
                               f"{g.shape} to {new.shape}")
        g = new
    return g


# ----------------------------------------------------------------------------- Function

# What a node keeps for each value its forward passed to ``ctx.save_for_backward``.
_INPUT, _OUTPUT, _CONSTANT = "input", "output", "constant"


def _saved_reference(value, y, out, args, arrays):
    """What a saved value is, as a ``(kind, what, version)`` triple the node keeps:

    * ``("output", None, v)``: the op's own output ``y`` (``out`` is its Tensor);
    * ``("input", i, v)``: the array of the Tensor argument ``args[i]``;
    * ``("constant", value, None)``: anything else (an intermediate result, None).

    ``v`` is the version counter of the input or output at save time: backward compares
    it to refuse a value that an in-place operation changed since. Identity (``is``),
    not equality, tells an input from a constant: forward receives exactly the arrays
    in ``arrays`` and returns its output array, so ``save_for_backward(x, y)`` hands
    back those very objects. (Keeping a reference to the Tensor instead of its array
    lets backward see the input connected to the graph, which double backward needs.)"""
    if value is y:
        return _OUTPUT, None, out._version[0]
    for i, (a, arr) in enumerate(zip(args, arrays)):
        if value is arr and isinstance(a, Tensor):
            return _INPUT, i, a._version[0]
    return _CONSTANT, value, None


def _freed_error(node):
    """The error for using a node whose saved values backward already released."""
    return RuntimeError(
        f"{node.name()}: trying to backward through the graph a second time (or to use saved "
        "values after they were freed). Pass retain_graph=True to the first backward() if you "
        "need to backward twice.")


class Function:
    """Base class of every differentiable operation.

    Subclasses define two static methods, side by side::

        class Exp(Function):
            '''y = exp(x);  dy/dx = exp(x) = y'''
            @staticmethod
            def forward(ctx, x):          # arrays in
                y = xp.exp(x)
                ctx.save_for_backward(y)  # save inputs or the output
                return y                  # one array out
            @staticmethod
            def backward(ctx, gy):        # Tensor in
                (y,) = ctx.saved_tensors  # saved arrays come back as Tensors
                return gy * y             # one gradient per forward argument

    ``Exp.apply(t)`` runs it. The instance created for each call is both the
    ``ctx`` that forward and backward share and the graph node (``t.grad_fn``).
    """

    # Slots keep nodes small; __dict__ lets forward stash any attribute on ctx.
    __slots__ = ("_next", "needs_input_grad", "_inputs", "_saved", "_out_data", "_out_version",
                 "_freed", "_retained", "__dict__", "__weakref__")

    # -- the two methods a subclass writes --------------------------------------------
    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the output from the inputs. Tensor arguments arrive as their arrays
        (NumPy or CuPy), other arguments as given; return an array. Save what backward
        needs with ``ctx.save_for_backward(...)`` or as attributes of ``ctx``."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """Given the gradient of the output (a Tensor of the output's shape), return one
        gradient per positional argument of ``forward`` (None where there is none;
        trailing Nones may be left out). Broadcasting is undone by the engine."""
        raise NotImplementedError

    # -- what forward may call on ctx -------------------------------------------------
    def save_for_backward(self, *arrays):
        """Remember arrays for backward. Inputs and the output come back as Tensors
        connected to the graph; any other array comes back as a constant Tensor
        (when the node is recorded, :func:`_saved_reference` tells which is which)."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The saved arrays as Tensors (raises if backward already freed them, or if a
        saved input or output was modified in place since)."""
        if self._freed:
            raise _freed_error(self)
        return tuple(self._unpack(kind, what, version) for kind, what, version in self._saved)

    def _unpack(self, kind, what, version):
        """One saved value back as a Tensor: the input or the output itself (connected to
        the graph, after checking its version counter), or a constant."""
        if kind is _CONSTANT:
            return None if what is None else Tensor(what)
        if kind is _OUTPUT:
            t, where = Tensor._from_node(self._out_data, self), "its output"
        else:
            t = self._inputs[what]
            where = f"input {what} of shape {t.shape}"
        if t._version[0] != version:
            raise RuntimeError(
                f"{self.name()}: {where} was modified by an in-place operation after it was saved "
                "for backward; the gradient would be wrong. Use an out-of-place operation (or "
                ".clone()) instead.")
        return t

    def mark_non_differentiable(self, *args):
        """Accepted for PyTorch compatibility; does nothing (outputs of integer or bool
        dtype never require grad here anyway)."""
        return None

    # -- the graph ---------------------------------------------------------------------------
    @property
    def next_functions(self):
        """Where this node's inputs came from, one ``(node, 0)`` pair per forward argument,
        as PyTorch lists them: ``node`` is the input's own node, the leaf Tensor itself (a
        weight you created), or None for an input that needs no gradient. (The second
        entry is the output index of that node; minigrad's nodes have one output.)"""
        return tuple((n, 0) for n in self._next)

    # -- naming ----------------------------------------------------------------------------
    @classmethod
    def name(cls) -> str:
        """The node's name as ``grad_fn`` shows it, e.g. ``"MulBackward"``."""
        return cls.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    # -- running an op -----------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on the arrays of ``args`` and record a node if needed."""
        ctx = object.__new__(cls)
        ctx._saved = ()
        ctx._freed = False
        arrays = []  # what forward sees: the arrays of Tensor arguments, other arguments as given
        needs = []
        on_gpu = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.array)
                needs.append(a.requires_grad)
                on_gpu = on_gpu or type(a.array) is not np.ndarray
            else:
                arrays.append(a)
                needs.append(False)
        if on_gpu:  # some array on a GPU: check that they all share one device
            _checks.same_device(cls.__name__, *args)
        ctx.needs_input_grad = needs = tuple(needs)
        y = cls.forward(ctx, *arrays, **kwargs)
        record = _mode.enabled and any(needs)
        out = Tensor(y, _node=ctx if record else None)
        version = _storage_version(y, args, arrays)
        if version is not None:
            out._version = version
        if record:
            ctx._connect(args, needs, arrays, y, out)
        return out

    def _connect(self, args, needs, arrays, y, out):
        """Make this node part of the graph: edges to the inputs' nodes (or to the leaf
        tensors themselves), and references in place of the arrays forward saved."""
        self._next = tuple((a.grad_fn if a.grad_fn is not None else a) if n else None
                           for a, n in zip(args, needs))
        self._retained = None
        if not self._saved:
            self._inputs = None
            return
        self._saved = tuple(_saved_reference(s, y, out, args, arrays) for s in self._saved)
        self._inputs = args
        self._out_data = out.array
        self._out_version = out._version

    _grad_hooks = None  # {id: fn} from Tensor.register_hook on this node's output

    def _release(self):
        """Drop saved tensors and inputs (after backward without retain_graph)."""
        self._saved = ()
        self._inputs = None
        self._out_data = None
        self._freed = True


def _memory_owner(a):
    """The array (or buffer) that owns the memory ``a`` looks at: ``a`` itself, or the
    end of its chain of ``.base`` references when ``a`` is a view."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _storage_version(y, args, arrays):
    """One version counter per storage: when an op's output looks at the memory of a
    Tensor input (a slice, reshape, transpose, expand... or the input itself), the
    output shares that input's version counter, so an in-place write through either is
    seen by every node that saved the other. None for an output with memory of its own."""
    if getattr(y, "base", None) is None:
        for a, arr in zip(args, arrays):
            if arr is y and isinstance(a, Tensor):
                return a._version
        return None
    owner = _memory_owner(y)
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor) and _memory_owner(arr) is owner:
            return a._version
    return None


# ----------------------------------------------------------------------------- backward

def _topo_order(roots):
    """Nodes reachable from ``roots``, each after every node that feeds gradient into it.

    Iterative depth-first search (no recursion, so a 100,000-op chain is fine):
    a node is emitted after all nodes below it; reversing gives the backward order.
    """
    order = []
    visited = set()
    for root in roots:
        if root is None or id(root) in visited or not isinstance(root, Function):
            continue
        visited.add(id(root))
        stack = [(root, iter(root._next))]
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if isinstance(nxt, Function) and id(nxt) not in visited:
                    visited.add(id(nxt))
                    stack.append((nxt, iter(nxt._next)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _accumulate(store, key, g):
    prev = store.get(key)
    store[key] = g if prev is None else prev + g


def _accumulate_leaf(leaf_grads, leaf, g):
    prev = leaf_grads.get(id(leaf))
    leaf_grads[id(leaf)] = (leaf, g if prev is None else prev[1] + g)


def kernel_gradients(node, *grads):
    """Gradients that a backward computed as arrays, as the Tensors the engine works with
    (None stays None); one gradient comes back as it is, several as a tuple.

    An op whose plain backward runs in one fused kernel (arrays in, arrays out) returns
    ``kernel_gradients(ctx, gx, gw)``; the engine also applies it to arrays returned by
    a user's Function. Such arithmetic cannot be differentiated again, so while a graph
    of the backward is being recorded (``create_graph=True``, grad mode on) it raises."""
    if _mode.enabled and any(g is not None and not isinstance(g, Tensor) for g in grads):
        raise RuntimeError(
            f"{node.name()}: double backward (create_graph=True) is not supported by this op; its "
            "backward is computed by a kernel, not by Tensor ops.")
    out = tuple(g if g is None or isinstance(g, Tensor) else Tensor(g) for g in grads)
    return out[0] if len(out) == 1 else out


def _input_gradients(node, result):
    """What ``node``'s backward returned, as one entry per forward argument: a Tensor of
    that input's shape (broadcasting undone) or None.

    This is the one place that accepts a backward's result. A backward returns a
    gradient or a tuple of them, one per forward argument, with None where there is none
    (trailing Nones may be left out). The ops of minigrad return Tensors; a Function
    written by a user may return arrays, which become constant Tensors here through
    :func:`kernel_gradients`."""
    if not isinstance(result, tuple):
        result = (result,)
    grads = []
    for i, nxt in enumerate(node._next):
        g = result[i] if i < len(result) and nxt is not None else None
        if g is not None:
            if not isinstance(g, Tensor):
                g = kernel_gradients(node, g)
            shape = nxt.shape if isinstance(nxt, Tensor) else nxt._out_shape
            if g.shape != shape:
                g = _sum_to(g, shape, node)
        grads.append(g)
    return grads


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None):
    """The engine. ``capture`` (optional) maps id(node or leaf) -> index: gradients
    arriving there are returned instead of being accumulated into ``.grad``."""
    grads = {}       # id(node) -> gradient Tensor arriving at that node
    leaf_grads = {}  # id(leaf) -> (leaf, gradient)
    roots = []
    for out, g in zip(outputs, grad_outputs):
        if out.grad_fn is not None:
            _accumulate(grads, id(out.grad_fn), g)
            roots.append(out.grad_fn)
        elif out.requires_grad:  # a leaf: its gradient is the seed itself
            _accumulate_leaf(leaf_grads, out, g)
    order = _topo_order(roots)
    # A leaf's gradient is complete once every node that feeds it has run: count them,
    # so that each leaf is delivered (hooks, .grad, post-accumulate hooks) as soon as it is
    # ready, while the rest of the graph is still being walked.
    pending = {}
    for node in order:
        for nxt in node._next:
            if isinstance(nxt, Tensor):
                pending[id(nxt)] = pending.get(id(nxt), 0) + 1
    captured = {}
    owned = {id(g.array) for g in grad_outputs}  # the caller's seeds are not ours to hand out as .grad
    prev_mode = _mode.enabled
    _mode.enabled = create_graph
    try:
        for node in order:
            gy = grads.pop(id(node), None)
            if gy is not None:
                _run_node(node, gy, grads, leaf_grads, capture, captured, retain_graph, create_graph)
            _leaves_done(node, pending, leaf_grads, capture, captured, create_graph, owned)
        for leaf, g in list(leaf_grads.values()):  # leaves that were outputs themselves
            _deliver(leaf, g, capture, captured, create_graph, owned)
    finally:
        _mode.enabled = prev_mode
    return captured


def _run_node(node, gy, grads, leaf_grads, capture, captured, retain_graph, create_graph):
    """Call ``node``'s backward on the gradient ``gy`` of its output and pass the
    gradients it returns on to the nodes (or leaves) its inputs came from."""
    if node._grad_hooks:
        gy = _run_grad_hooks(node._grad_hooks, gy, f"the output of {node.name()}")
    if capture is not None and id(node) in capture:
        captured[id(node)] = gy
    if node._retained is not None:
        t = node._retained()
        if t is not None:
            t.grad = gy if create_graph else gy.detach()
    if node._freed:
        raise _freed_error(node)
    result = type(node).backward(node, gy)
    for nxt, g in zip(node._next, _input_gradients(node, result)):
        if g is None:
            continue
        if isinstance(nxt, Function):
            _accumulate(grads, id(nxt), g)
        else:
            _accumulate_leaf(leaf_grads, nxt, g)
    if not retain_graph:
        node._release()


def _leaves_done(node, pending, leaf_grads, capture, captured, create_graph, owned):
    """``node`` has run: deliver the gradient of every leaf it fed that is now complete."""
    for nxt in node._next:
        if isinstance(nxt, Tensor):
            left = pending[id(nxt)] - 1
            pending[id(nxt)] = left
            if left == 0 and id(nxt) in leaf_grads:
                _deliver(*leaf_grads.pop(id(nxt)), capture, captured, create_graph, owned)


def _deliver(leaf, g, capture, captured, create_graph, owned):
    """The complete gradient of a leaf: through its hooks, then returned (``grad()``)
    or accumulated into ``leaf.grad`` followed by its post-accumulate hooks."""
    hooked = leaf._grad_hooks is not None and len(leaf._grad_hooks) > 0
    if hooked:
        g = _run_grad_hooks(leaf._grad_hooks, g, f"a leaf tensor of shape {leaf.shape}")
    if capture is not None:
        if id(leaf) in capture:
            captured[id(leaf)] = g
        return
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    else:
        arr = g.array
        if arr.dtype != leaf.array.dtype:
            arr = arr.astype(leaf.array.dtype)
        if leaf.grad is None:
            # .grad must be a private, writable, contiguous array: optimizers and
            # clip_grad_norm_ update it in place. A gradient that is a view (of a
            # broadcast, a reshape, another gradient), that was handed to another leaf
            # too (x + y gives both the same array), that a hook returned, or that a
            # post-accumulate hook may update while the walk still uses it is copied.
            if (hooked or leaf._post_accumulate_hooks or arr.base is not None or id(arr) in owned
                    or not arr.flags.c_contiguous or not arr.flags.writeable):
                arr = arr.copy()
            owned.add(id(arr))
            leaf.grad = Tensor(arr)
        else:
            leaf.grad = Tensor(leaf.grad.array + arr)
    if leaf._post_accumulate_hooks:
        for fn in tuple(leaf._post_accumulate_hooks.values()):
            fn(leaf)


def _sum_to(g, shape, node):
    """Undo broadcasting: sum ``g`` over the axes that were broadcast to reach its shape
    (the one shared helper, :func:`minigrad.ops.shape.sum_to`, as ``Tensor.sum_to_size``)."""
    try:
        return g.sum_to_size(shape)
    except ValueError:
        raise RuntimeError(
            f"{node.name()}: backward returned a gradient of shape {g.shape} for an input of "
            f"shape {shape}, and the two are not broadcast-compatible") from None


def _make_seeds(outputs, grad_outputs, what):
    seeds = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None else None
        if not isinstance(out, Tensor):
            raise TypeError(f"{what}: expected Tensors as outputs, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(
                f"{what}: element {i} of the outputs does not require grad and has no grad_fn "
                "(was it computed under no_grad, or from tensors without requires_grad=True?)")
        if g is None:
            if out.array.size != 1:
                raise RuntimeError(
                    f"{what}: grad can be implicitly created only for scalar outputs; the output "
                    f"has shape {out.shape}, so pass `gradient=` (a Tensor of that shape)")
            xp = out._xp()
            g = Tensor(xp.ones(out.shape, dtype=out.dtype))
        else:
            if not isinstance(g, Tensor):
                g = Tensor(g, dtype=out.dtype)
            if g.shape != out.shape:
                raise RuntimeError(
                    f"{what}: the gradient has shape {g.shape} but the output has shape {out.shape}")
        seeds.append(g)
    return seeds


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate into the leaves' ``.grad`` the gradients of ``tensors``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
        if grad_tensors is not None and not isinstance(grad_tensors, (tuple, list)):
            grad_tensors = (grad_tensors,)
    tensors = tuple(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _make_seeds(tensors, grad_tensors, "backward")
    _run_backward(tensors, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not stored in ``.grad``).

    With ``create_graph=True`` the returned gradients are themselves part of a graph,
    so they can be differentiated again (second derivatives, Hessian-vector products,
    gradient penalties).
    """
    single_out = isinstance(outputs, Tensor)
    outputs = (outputs,) if single_out else tuple(outputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    inputs_t = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, t in enumerate(inputs_t):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _make_seeds(outputs, grad_outputs, "grad")
    keys = {}
    for i, t in enumerate(inputs_t):
        keys[id(t.grad_fn) if t.grad_fn is not None else id(t)] = i
    captured = _run_backward(outputs, seeds, retain_graph, create_graph, capture=keys)
    result = []
    for i, t in enumerate(inputs_t):
        key = id(t.grad_fn) if t.grad_fn is not None else id(t)
        g = captured.get(key)
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it")
        if g is not None and not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


# Tensor's methods run Functions and the engine makes Tensors: the one import of the
# circle, at the bottom, once Function exists.
from minigrad.tensor import Tensor  # noqa: E402
