"""The machinery behind ``import torch`` on minigrad: stand-in modules and an import hook.

Python imports a module in two steps: a *finder* on ``sys.meta_path`` is asked
"can you find ``torch.nn``?" and answers with a spec; the spec's *loader* then makes
the module object. :class:`TorchFinder` answers for ``torch`` and every ``torch.*``
name: a name in the table of :mod:`._aliases` gets a :class:`TorchModule`, any other
name fails at once with :class:`MissingTorchModule`.

A :class:`TorchModule` is a thin stand-in: attributes set on it (the few names whose
torch layout differs from minigrad's) are found first, then the minigrad module
behind it is asked, and a name neither has raises :class:`MissingTorchFeature`
naming the torch feature. Both errors subclass the ones Python raises for a missing
attribute or module, so ``hasattr(torch, "fft")`` is False and
``try: import torch.onnx / except ImportError:`` takes the ``except`` branch.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import types

_DOCS = "docs/pytorch-programs.md"


class MissingTorchFeature(AttributeError):
    """A torch name that minigrad does not have (``torch.fft``, ``Tensor.stft``, ...).

    An AttributeError, so ``hasattr`` and ``getattr(obj, name, default)`` behave as
    they do for any missing attribute.
    """


class MissingTorchModule(ModuleNotFoundError):
    """A torch submodule that minigrad does not have (``import torch.onnx``).

    A ModuleNotFoundError (an ImportError), so ``try: import ... except ImportError``
    still works.
    """


def _why(name: str) -> str:
    from minigrad.torch_compat._aliases import MISSING_WHY

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        why = MISSING_WHY.get(".".join(parts[:i]))
        if why:
            return f" ({why})"
    return ""


def missing_feature(name: str) -> MissingTorchFeature:
    """The error for a torch attribute minigrad lacks, e.g. ``missing_feature("torch.fft")``."""
    return MissingTorchFeature(
        f"{name}: minigrad does not have this torch feature{_why(name)}. The program runs on minigrad's "
        f"own modules in place of torch; {_DOCS} lists what is mapped and what is missing.")


def missing_module(name: str) -> MissingTorchModule:
    """The error for ``import <name>`` when minigrad has no such torch module."""
    err = MissingTorchModule(
        f"No module named '{name}': minigrad does not have this torch module{_why(name)}. The program runs "
        f"on minigrad's own modules in place of torch; {_DOCS} lists what is mapped and what is missing.")
    err.name = name
    return err


class TorchModule(types.ModuleType):
    """A module named ``torch...`` that answers with a minigrad module's names.

    Lookup order: the names set on this module (the aliases where torch's layout
    differs), then a mapped torch submodule (``torch.nn`` -> ``minigrad.nn``), then
    the attributes of the minigrad module behind it, then the fall-backs (names torch
    has that this minigrad version may not), else :class:`MissingTorchFeature`.
    """

    def __init__(self, name, target=None, fallbacks=None, doc=None):
        super().__init__(name, doc or (target.__doc__ if target is not None else None))
        self.__path__ = []  # a package: ``import torch.nn`` asks the parent for __path__
        self._minigrad_target = target
        self._minigrad_fallbacks = fallbacks or {}

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # dunder probes (__wrapped__, __file__, ...) stay plain
        full = f"{self.__name__}.{attr}"
        from minigrad.torch_compat._aliases import MODULES, torch_name_of

        if full in MODULES:
            return importlib.import_module(full)
        target = self._minigrad_target
        if target is not None:
            try:
                value = getattr(target, attr)
            except AttributeError:
                pass
            else:
                if isinstance(value, types.ModuleType) and value.__name__.startswith("minigrad"):
                    mapped = torch_name_of(value.__name__)
                    if mapped is None:  # a minigrad module with no torch counterpart here
                        raise missing_feature(full)
                    return importlib.import_module(mapped)
                return value
        if attr in self._minigrad_fallbacks:
            return self._minigrad_fallbacks[attr]
        raise missing_feature(full)

    def __dir__(self):
        names = set(super().__dir__())
        if self._minigrad_target is not None:
            names.update(n for n in dir(self._minigrad_target) if not n.startswith("_"))
        names.update(self._minigrad_fallbacks)
        return sorted(names)

    def __repr__(self):
        target = self._minigrad_target
        behind = f" -> {target.__name__}" if target is not None else ""
        return f"<module '{self.__name__}' (minigrad stand-in{behind})>"


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        from minigrad.torch_compat._aliases import build_module

        return build_module(spec.name)

    def exec_module(self, module):
        pass  # build_module made it whole


class TorchFinder(importlib.abc.MetaPathFinder):
    """The import hook: finds ``torch`` and ``torch.*`` in minigrad (first on sys.meta_path)."""

    _loader = _Loader()

    def find_spec(self, fullname, path=None, target=None):
        """A spec for a mapped torch module; MissingTorchModule for any other ``torch.*``;
        None (not ours) for every other name."""
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        from minigrad.torch_compat._aliases import MODULES

        if fullname not in MODULES:
            raise missing_module(fullname)
        spec = importlib.machinery.ModuleSpec(fullname, self._loader, is_package=True)
        spec.submodule_search_locations = []
        return spec
