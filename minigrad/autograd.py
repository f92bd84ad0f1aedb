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

from minigrad.backend import device_of

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode",
           "is_inference_mode_enabled", "grad", "backward", "RemovableHandle"]


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
    A subclass says which mode it sets (``_target``)."""

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
            prev = _get_mode()
            _set_mode(self._target())
            try:
                return fn(*args, **kwargs)
            finally:
                _set_mode(prev)

        return wrapper


class _NoArgModeContext(_ModeContext):
    """``@no_grad`` works without parentheses too, as in PyTorch."""

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self if func is None else self(func)

    def __init__(self, func=None):
        pass


class no_grad(_NoArgModeContext):
    """Do not record operations (inference, optimizer updates): a context manager or a
    decorator. Affects the current thread only."""

    def _target(self):
        return False, _mode.inference


class enable_grad(_NoArgModeContext):
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

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._prev = _get_mode()
        _set_mode(self._target())

    def _target(self):
        return self.mode, _mode.inference

    def __enter__(self):  # the mode was set by the constructor; __exit__ restores the old one
        return self

    def __call__(self, fn):
        _set_mode(self._prev)  # used as a decorator: do not change the mode now
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

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if isinstance(mode, (bool, int)):
            return self
        self.mode = True  # used bare, as ``@inference_mode``
        return self(mode)

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

_OUTPUT = object()  # marks "the saved array is this node's output"


def _check_same_device(cls, args):
    """Refuse an op whose Tensor arguments live on different devices (cpu vs cuda:0, ...)."""
    devs = [(i, device_of(a.array)) for i, a in enumerate(args) if isinstance(a, Tensor)]
    for i, d in devs[1:]:
        if d != devs[0][1]:
            raise RuntimeError(f"{cls.__name__}: expected all tensors on the same device, got "
                               f"'{devs[0][1]}' (input {devs[0][0]}) and '{d}' (input {i}); "
                               "move them with .to(device) first")


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
    __slots__ = ("_next", "needs_input_grad", "_inputs", "_saved", "_versions",
                 "_out_data", "_out_version", "_freed", "_retained", "__dict__", "__weakref__")

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
        connected to the graph; any other array comes back as a constant Tensor."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The saved arrays as Tensors (raises if backward already freed them)."""
        saved = self._saved
        if self._freed:
            raise RuntimeError(
                f"{self.name()}: trying to backward through the graph a second time (or to use "
                "saved values after they were freed). Pass retain_graph=True to the first "
                "backward() if you need to backward twice.")
        inputs = self._inputs
        out = []
        for i, s in enumerate(saved):
            if s is _OUTPUT:
                t = Tensor._from_node(self._out_data, self)
                if self._out_version is not None and self._out_version[0] != self._versions[i]:
                    raise _modified_error(self, "its output")
            elif isinstance(s, int) and not isinstance(s, bool):  # index of a Tensor input
                t = inputs[s]
                if t._version[0] != self._versions[i]:
                    raise _modified_error(self, f"input {s} of shape {t.shape}")
            elif s is None:
                t = None
            else:
                t = Tensor(s)
            out.append(t)
        return tuple(out)

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
        arrays = []
        needs = []
        any_grad = False
        kind = None  # the array type of the first Tensor argument
        mixed = False
        for a in args:
            if isinstance(a, Tensor):
                d = a.array
                arrays.append(d)
                r = a.requires_grad
                needs.append(r)
                any_grad = any_grad or r
                if kind is None:
                    kind = type(d)
                elif type(d) is not kind:
                    mixed = True
            else:
                arrays.append(a)
                needs.append(False)
        if mixed or (kind is not None and kind is not np.ndarray):
            _check_same_device(cls, args)
        record = any_grad and _mode.enabled
        ctx.needs_input_grad = tuple(needs)
        y = cls.forward(ctx, *arrays, **kwargs)
        version = _storage_version(y, args, arrays)
        if not record:
            out = Tensor(y)
            if version is not None:
                out._version = version
            return out
        out = Tensor(y, _node=ctx)
        if version is not None:
            out._version = version
        # Edges to the inputs' nodes (or to the leaf tensors themselves).
        nexts = []
        for a, n in zip(args, needs):
            if n:
                nexts.append(a.grad_fn if a.grad_fn is not None else a)
            else:
                nexts.append(None)
        ctx._next = tuple(nexts)
        ctx._retained = None
        saved = ctx._saved
        if saved:
            # Replace each saved array by a reference: the input index, the output, or itself.
            mapped = []
            versions = []
            for s in saved:
                if s is y:
                    mapped.append(_OUTPUT)
                    versions.append(out._version[0])
                    continue
                for i, a in enumerate(arrays):
                    if s is a and isinstance(args[i], Tensor):
                        mapped.append(i)
                        versions.append(args[i]._version[0])
                        break
                else:
                    mapped.append(s)
                    versions.append(None)
            ctx._saved = tuple(mapped)
            ctx._versions = versions
            ctx._inputs = args
            ctx._out_data = out.array
            ctx._out_version = out._version
        else:
            ctx._inputs = None
        return out

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


def _modified_error(node, what):
    return RuntimeError(
        f"{node.name()}: {what} was modified by an in-place operation after it was saved for "
        "backward; the gradient would be wrong. Use an out-of-place operation (or .clone()) instead.")


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


def _run_backward(outputs, grad_outputs, retain_graph, create_graph, capture=None):
    """The engine. ``capture`` (optional) maps id(node or leaf) -> index: gradients
    arriving there are returned instead of being accumulated into ``.grad``."""
    grads = {}       # id(node) -> gradient Tensor arriving at that node
    leaf_grads = {}  # id(leaf) -> (leaf, gradient)
    roots = []
    for out, g in zip(outputs, grad_outputs):
        node = out.grad_fn
        if node is None:
            if out.requires_grad:  # a leaf: its gradient is the seed itself
                prev = leaf_grads.get(id(out))
                leaf_grads[id(out)] = (out, g if prev is None else prev[1] + g)
            continue
        _accumulate(grads, id(node), g)
        roots.append(node)
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
            if gy is None:
                _leaves_done(node, pending, leaf_grads, capture, captured, create_graph, owned)
                continue
            if node._grad_hooks:
                gy = _run_grad_hooks(node._grad_hooks, gy, f"the output of {node.name()}")
            if capture is not None and id(node) in capture:
                captured[id(node)] = gy
            if node._retained is not None:
                t = node._retained()
                if t is not None:
                    t.grad = gy if create_graph else gy.detach()
            if node._freed:
                raise RuntimeError(
                    f"{node.name()}: trying to backward through the graph a second time (or to "
                    "use saved values after they were freed). Pass retain_graph=True to the "
                    "first backward() if you need to backward twice.")
            result = type(node).backward(node, gy)
            if not isinstance(result, tuple):
                result = (result,)
            nexts = node._next
            inputs = node._inputs
            for i, nxt in enumerate(nexts):
                if nxt is None or i >= len(result):
                    continue
                g = result[i]
                if g is None:
                    continue
                if not isinstance(g, Tensor):
                    if create_graph:
                        raise RuntimeError(
                            f"{node.name()}: double backward (create_graph=True) is not supported "
                            "by this op; its backward is computed by a kernel, not by Tensor ops.")
                    g = Tensor(g)
                shape = _input_shape(node, i, nxt)
                if g.shape != shape:
                    g = _sum_to(g, shape, node)
                if isinstance(nxt, Function):
                    _accumulate(grads, id(nxt), g)
                else:
                    prev = leaf_grads.get(id(nxt))
                    leaf_grads[id(nxt)] = (nxt, g if prev is None else prev[1] + g)
            if not retain_graph:
                node._release()
            del inputs
            _leaves_done(node, pending, leaf_grads, capture, captured, create_graph, owned)
        for leaf, g in list(leaf_grads.values()):  # leaves that were outputs themselves
            _deliver(leaf, g, capture, captured, create_graph, owned)
    finally:
        _mode.enabled = prev_mode
    return captured


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


def _input_shape(node, i, nxt):
    """Shape of input ``i`` of ``node`` (the gradient must have it)."""
    if isinstance(nxt, Tensor):
        return nxt.shape
    return nxt._out_shape


def _sum_to(g, shape, node):
    """Undo broadcasting: sum ``g`` over the axes that were broadcast to reach its shape."""
    from minigrad.ops.shape import sum_to

    try:
        return sum_to(g, shape)
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


from minigrad.tensor import Tensor  # noqa: E402  (circular: Tensor uses Function)
