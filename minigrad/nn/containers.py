"""Containers: modules that hold other modules (or parameters).

* :class:`Sequential` runs its children one after another: ``Sequential(a, b)(x) == b(a(x))``.
* :class:`ModuleList` / :class:`ModuleDict` are a list / dict whose modules are
  registered (a plain Python list would hide them from ``parameters()``).
* :class:`ParameterList` / :class:`ParameterDict` do the same for Parameters.
"""
from __future__ import annotations

from collections import OrderedDict
import operator

from minigrad.tensor import Tensor
from minigrad.nn.module import Module, _addindent
from minigrad.nn.parameter import Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _index(idx, n, what):
    """A list index (possibly negative) checked against length ``n``."""
    try:
        idx = operator.index(idx)
    except TypeError:
        raise TypeError(f"{what} indices must be integers or slices, not {type(idx).__name__}") from None
    if not -n <= idx < n:
        raise IndexError(f"{what}: index {idx} is out of range for a container of length {n}")
    return idx % n


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children named "0", "1", ..., their count,
    iteration, appending, and renumbering after an insertion or a deletion."""

    def _renumber(self, modules):
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        """Append each module of an iterable; returns self."""
        for m in modules:
            self.append(m)
        return self


class Sequential(_ModuleSequence):
    """Modules applied one after another; ``Sequential(m1, m2)(x)`` is ``m2(m1(x))``.

    Children are named ``"0"``, ``"1"``... or, given an OrderedDict, by its keys.
    Indexing gives a child (``seq[0]``), slicing a new Sequential sharing the children.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input):
        """Call each module in order on the output of the previous one."""
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        keys = list(self._modules)
        return self._modules[keys[_index(idx, len(keys), "Sequential")]]

    def __setitem__(self, idx, module):
        keys = list(self._modules)
        self.add_module(keys[_index(idx, len(keys), "Sequential")], module)

    def __delitem__(self, idx):
        keys = list(self._modules)
        if isinstance(idx, slice):
            for k in keys[idx]:
                del self._modules[k]
        else:
            del self._modules[keys[_index(idx, len(keys), "Sequential")]]
        # keep the names 0..n-1 when they were numeric
        if all(k.isdigit() for k in self._modules):
            self._renumber(list(self._modules.values()))

    def insert(self, index, module):
        """Insert ``module`` before position ``index`` (the modules are renumbered)."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.insert: expected a Module, got {type(module).__name__}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        if index < 0:
            index += n
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)
        return self

    def __add__(self, other):
        if not isinstance(other, Sequential):
            raise TypeError(f"can only add a Sequential to a Sequential, not {type(other).__name__}")
        return Sequential(*self, *other)


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered. It has no ``forward``:
    you decide how to call its elements."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[_index(idx, len(items), "ModuleList")]
        self._renumber(items)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def extend(self, modules):
        """Append each module of an iterable (not a single module); returns self."""
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend: expected an iterable of modules, got a single "
                            f"{type(modules).__name__}; use append")
        return super().extend(modules)

    def insert(self, index, module):
        """Insert ``module`` before position ``index`` (the modules are renumbered)."""
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def forward(self, *args, **kwargs):
        """Not callable: a ModuleList only holds modules; iterate over it and call them."""
        raise NotImplementedError("ModuleList has no forward(); iterate over it and call its modules")

    def __repr__(self):
        # Like PyTorch: runs of identical modules print once, as "(0-2): 3 x Linear(...)".
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return "ModuleList()"
        lines = []
        start = 0
        for i in range(1, len(reprs) + 1):
            if i < len(reprs) and reprs[i] == reprs[start]:
                continue
            body = _addindent(reprs[start], 2)
            if i - start == 1:
                lines.append(f"({start}): {body}")
            else:
                lines.append(f"({start}-{i - 1}): {i - start} x {body}")
            start = i
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class _NamedMapping:
    """The dict protocol ModuleDict and ParameterDict share, over the ordered dict that
    ``_entries()`` returns (``self._modules`` or ``self._parameters``); assigning goes
    through each class's own ``__setitem__``, which registers the value."""

    def __init__(self, entries=None):
        super().__init__()
        if entries is not None:
            self.update(entries)

    def _entries(self):
        raise NotImplementedError

    def __getitem__(self, key):
        entries = self._entries()
        if key not in entries:
            raise KeyError(f"{type(self).__name__} has no key {key!r} (keys: {list(entries)})")
        return entries[key]

    def __delitem__(self, key):
        del self._entries()[key]

    def __len__(self):
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def __contains__(self, key):
        return key in self._entries()

    def keys(self):
        """The keys, in insertion order."""
        return self._entries().keys()

    def values(self):
        """The values, in insertion order."""
        return self._entries().values()

    def items(self):
        """(key, value) pairs, in insertion order."""
        return self._entries().items()

    def pop(self, key):
        """Remove the entry under ``key`` and return it."""
        value = self[key]
        del self._entries()[key]
        return value

    def clear(self):
        """Remove every entry."""
        self._entries().clear()

    def update(self, entries):
        """Add or replace entries from a mapping or from (key, value) pairs."""
        pairs = entries.items() if hasattr(entries, "items") else entries
        for key, value in pairs:
            self[key] = value


class ModuleDict(_NamedMapping, Module):
    """An ordered dict of named modules whose parameters are registered."""

    def __init__(self, modules=None):
        super().__init__(modules)

    def _entries(self):
        return self._modules

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def forward(self, *args, **kwargs):
        """Not callable: look modules up by key and call them."""
        raise NotImplementedError("ModuleDict has no forward(); look modules up by key and call them")


def _param_repr(p):
    dev = "" if p.device.type == "cpu" else f" ({p.device})"
    size = "x".join(str(s) for s in p.shape)
    return f"Parameter containing: [minigrad.{p.dtype} of size {size}{dev}]"


class _ParameterHolder:
    """What ParameterList and ParameterDict share: a repr line per parameter, and no forward."""

    def extra_repr(self):
        return "\n".join(f"({k}): {_param_repr(p)}" for k, p in self._parameters.items())

    def forward(self, *args, **kwargs):
        """Not callable: the container only holds parameters."""
        raise NotImplementedError(f"{self._KIND} has no forward()")


class ParameterList(_ParameterHolder, Module):
    """A list of Parameters, registered under the names "0", "1", ..."""

    _KIND = "ParameterList"

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _as_param(self, value):
        if isinstance(value, Parameter):
            return value
        if isinstance(value, Tensor):
            return Parameter(value)
        raise TypeError(f"ParameterList: expected a Parameter or Tensor, got {type(value).__name__}")

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[str(_index(idx, len(self), "ParameterList"))]

    def __setitem__(self, idx, value):
        self.register_parameter(str(_index(idx, len(self), "ParameterList")), self._as_param(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        """Add a Parameter (a Tensor is wrapped in one) at the end; returns self."""
        self.register_parameter(str(len(self)), self._as_param(value))
        return self

    def extend(self, values):
        """Append each value of an iterable; returns self."""
        for v in values:
            self.append(v)
        return self



class ParameterDict(_ParameterHolder, _NamedMapping, Module):
    """An ordered dict of named Parameters."""

    _KIND = "ParameterDict"

    def __init__(self, parameters=None):
        super().__init__(parameters)

    def _entries(self):
        return self._parameters

    def __setitem__(self, key, value):
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(key, value)

