"""Module: the base class of every layer and every model.

A Module is a tree. Each node holds three ordered dictionaries:

* ``_parameters``: name -> :class:`Parameter` (what an optimizer updates);
* ``_buffers``: name -> Tensor (state that is saved but not learned, such as
  BatchNorm's running mean);
* ``_modules``: name -> child Module.

Assigning an attribute files the value into the right dictionary
(``self.fc = Linear(3, 4)`` adds a child, ``self.w = Parameter(...)`` adds a
parameter), which is why a model written as plain Python attributes can still be
walked: ``named_parameters()`` visits the tree and builds dotted names such as
``"encoder.0.weight"``. ``state_dict()`` is that walk turned into a dictionary of
tensors, and ``load_state_dict()`` is its inverse.

``module(x)`` calls ``forward(x)`` (and any hooks around it); subclasses write
``forward`` and nothing else is needed for autograd: the Tensor operations inside
record the graph.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from minigrad import _checks
from minigrad.autograd import RemovableHandle, no_grad
from minigrad.backend import to_device
from minigrad.tensor import Tensor, parse_to_args
from minigrad.nn.parameter import Parameter

__all__ = ["Module", "RemovableHandle"]


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (for printing nested modules)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Module:
    """Base class for all neural-network layers and models.

    Subclass it, create the layers and parameters in ``__init__`` (after calling
    ``super().__init__()``) and write ``forward``::

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                return self.fc2(F.relu(self.fc1(x)))
    """

    training: bool

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        """The computation of this module; every subclass writes it. Call the module
        (``module(x)``), not ``forward``, so that registered hooks run."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        try:
            return self._call_forward(args, kwargs)
        except _checks.ESCAPING as e:  # the layer the user called is named in the message
            new = _checks.renamed(e, type(self).__name__)
            if new is None:
                raise
            raise new.with_traceback(e.__traceback__) from None

    def _call_forward(self, args, kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward; if it returns
        something other than None, that replaces the output. Returns a handle whose
        ``remove()`` unregisters the hook."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before every forward; a non-None return value
        replaces the inputs (a tuple, or one value)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")

    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')

    def _check_new_slot(self, name, kind, store):
        """Before registering a parameter or buffer: ``__init__`` has run, ``name`` is valid,
        and no other attribute has it (``store``: the dict the slot goes into)."""
        self._check_init(kind + "s")
        self._check_name(name, kind)
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (or None, meaning "this slot exists but is unused", like a
        Linear layer built with bias=False)."""
        self._check_new_slot(name, "parameter", "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"cannot assign non-leaf Tensor to parameter '{name}': model parameters "
                             "must be created explicitly (wrap a detached tensor in nn.Parameter)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: a Tensor that belongs to the module's state (saved by
        ``state_dict`` when ``persistent``) but is not a parameter."""
        self._check_new_slot(name, "buffer", "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(a Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a child module (``self.name = module`` does the same)."""
        self._check_init("child modules")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string, got {type(name).__name__}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name or name == "":
            raise KeyError(f'module name can\'t contain "." or be empty, got: "{name}"')
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nn.Module or None expected)")
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(a Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Remove ``name`` from every other place it could be registered (before
        re-registering it in ``keep``, where an existing entry keeps its position)."""
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if key != keep:
                d[key].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails: parameters, buffers and children live in dicts.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(k for k in keys if not k[:1].isdigit()))

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ------------------------------------------------------------------ walking the tree
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module and every descendant
        (pre-order; a module reachable twice is yielded once)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        """Yield this module and every descendant (each once), as :meth:`named_modules` without names."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """Yield ``(name, module)`` for the direct children."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        """Yield the direct child modules (each once)."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in get_members(mod):
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield mod_prefix + ("." if mod_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, parameter)``; a shared (tied) parameter appears once."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        """Yield every parameter (what you pass to an optimizer)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, buffer)`` for every buffer (non-persistent ones included)."""
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        """Yield every buffer (running statistics and other state that is not learned)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The descendant named by a dotted path such as ``"encoder.0"``."""
        if target == "":
            return self
        mod = self
        for part in target.split("."):
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{part}' (looking up '{target}')")
            mod = mod._modules[part]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter named by a dotted path such as ``"encoder.0.weight"``
        (AttributeError if there is none)."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters or mod._parameters[name] is None:
            raise AttributeError(f"{type(mod).__name__} has no parameter '{name}' (looking up '{target}')")
        return mod._parameters[name]

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict ``dotted_name -> Tensor`` with every parameter and persistent
        buffer (parameters first within each module, then buffers, then children).
        Tensors are detached but share memory with the module (copy them to snapshot)."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _state_targets(self):
        """name -> the Tensor object a state_dict entry of that name is copied into."""
        return self.state_dict(keep_vars=True)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values from ``state_dict`` (name -> Tensor or NumPy array) into the
        parameters and buffers, in place (the Parameter objects stay the same, so an
        optimizer holding them keeps working).

        Every entry is checked before anything is copied: missing keys, unexpected keys
        (both only when ``strict``), wrong shapes and values that are not numeric arrays
        are all reported in one RuntimeError, and the module is left unchanged. When the
        mismatch is a pruned model on one side only (``weight`` against ``weight_orig`` +
        ``weight_mask``), the error says so and how to load it.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of name -> tensor, got {type(state_dict).__name__}")
        targets = self._state_targets()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in targets]
        problems = []
        staged = []  # (target, array already converted to the target's dtype and device)
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr, why = _as_array(value)
            if arr is None:
                problems.append(f'While copying the parameter named "{key}", expected a Tensor or NumPy '
                                f"array but received {why}")
                continue
            if tuple(arr.shape) != tuple(target.shape):
                problems.append(f"size mismatch for {key}: copying a param with shape {_shape_str(arr.shape)} "
                                f"from checkpoint, the shape in current model is {_shape_str(target.shape)}.")
                continue
            try:
                arr = to_device(arr, target.device)
                arr = arr.astype(target.dtype, copy=False)
            except (TypeError, ValueError) as e:
                problems.append(f'While copying the parameter named "{key}": cannot convert {arr.dtype} '
                                f"to {target.dtype} ({e})")
                continue
            staged.append((target, arr))
        lines = []
        if strict:
            if missing:
                lines.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
            if unexpected:
                lines.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            lines += _pruning_hints(missing, unexpected)
        lines += problems
        if lines:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(lines))
        # Everything checked: now copy (this part cannot fail).
        with no_grad():
            for target, arr in staged:
                if getattr(target.array.flags, "writeable", True):
                    target.array[...] = arr
                else:  # e.g. a read-only broadcast view: give it its own memory
                    target.array = arr.copy()
                target._bump_version()
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ modes and bulk changes
    def train(self, mode: bool = True):
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) here and
        in every descendant. Returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be a bool, got {type(mode).__name__}")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``. Returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (False) or unfreeze (True) every parameter. Returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients of every parameter (None by default, or zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                # A fresh array: a .grad may be a read-only broadcast view or shared.
                p.grad = Tensor(p.grad._xp().zeros(p.grad.shape, dtype=p.grad.dtype))

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, children first, then on self
        (e.g. a custom weight initialisation). Returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _apply(self, fn):
        """Replace the data of every parameter, gradient and buffer by ``fn(tensor)``
        (keeping the Parameter objects themselves, so optimizers still hold them)."""
        for m in self.modules():
            with no_grad():
                for p in m._parameters.values():
                    if p is None:
                        continue
                    new = fn(p)
                    if new is not p:
                        p.array = new.array
                        p._bump_version()
                    if p.grad is not None:
                        g = fn(p.grad)
                        if g is not p.grad:
                            p.grad = Tensor(g.array)
                for name, b in m._buffers.items():
                    if b is not None:
                        m._buffers[name] = fn(b)
        return self

    def to(self, *args, dtype=None, device=None):
        """Move parameters and buffers to a device and/or cast floating-point ones to a
        dtype: ``model.to("cuda")``, ``model.to(minigrad.float64)``. In place; returns self."""
        dtype, device = parse_to_args(args, dtype, device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: only floating-point dtypes are accepted, got {dtype}")

        def convert(t):
            out = t
            if device is not None:
                out = out.to(device=device)
            if dtype is not None and out.is_floating_point():
                out = out.to(dtype)
            return out

        return self._apply(convert)

    def float(self):
        """Cast every floating-point parameter and buffer to float32, in place; returns self."""
        return self.to(np.float32)

    def double(self):
        """Cast every floating-point parameter and buffer to float64, in place; returns self."""
        return self.to(np.float64)

    def half(self):
        """Cast every floating-point parameter and buffer to float16, in place; returns self."""
        return self.to(np.float16)

    def cpu(self):
        """Move every parameter and buffer to the CPU, in place; returns self."""
        return self.to("cpu")

    def cuda(self, device=None):
        """Move every parameter and buffer to a GPU (``device``: its index), in place; returns self."""
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside the parentheses of ``repr(module)``; layers override it."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _pruning_hints(missing, unexpected):
    """Explain the usual cause of "missing W, unexpected W_orig and W_mask": one side
    was pruned with :mod:`minigrad.compress.prune` (which renames ``W`` to ``W_orig``
    and adds the buffer ``W_mask``) and the other was not."""
    unexpected_set = set(unexpected)
    missing_set = set(missing)
    from_pruned = [k for k in missing if k + "_orig" in unexpected_set and k + "_mask" in unexpected_set]
    into_pruned = [k[:-len("_orig")] for k in missing
                   if k.endswith("_orig") and k[:-len("_orig")] + "_mask" in missing_set
                   and k[:-len("_orig")] in unexpected_set]
    hints = []
    if from_pruned:
        names = ", ".join(f'"{k}"' for k in from_pruned)
        hints.append(f"The state_dict comes from a pruned model ({names} saved as <name>_orig and "
                     "<name>_mask): prune this model the same way first, or load it with "
                     "minigrad.compress.prune.load_state_dict(model, state_dict).")
    if into_pruned:
        names = ", ".join(f'"{k}"' for k in into_pruned)
        hints.append(f"This model is pruned ({names} held as <name>_orig and <name>_mask) but the "
                     "state_dict is not: load it before pruning, or make the pruning permanent with "
                     "minigrad.compress.prune.remove(module, name) first.")
    return hints


def _as_array(value):
    """A state_dict value as an array, or (None, description) when it is not numeric data."""
    if isinstance(value, Tensor):
        return value.array, None
    if isinstance(value, (str, bytes)) or value is None:
        return None, type(value).__name__
    try:
        arr = value if hasattr(value, "__cuda_array_interface__") else np.asarray(value)
    except Exception:  # noqa: BLE001  (anything that cannot become an array is reported, not raised)
        return None, type(value).__name__
    if arr.dtype.kind not in "biuf":
        return None, f"{type(value).__name__} of dtype {arr.dtype}"
    return arr, None
