"""Every public function, class and method of minigrad has a docstring.

"Public" means: no leading underscore anywhere in the dotted path. A module's public
names are its ``__all__`` when it defines one, else the functions and classes defined
in it. For a class, its public methods, static/class methods and properties defined
in the class body are checked too. A method that overrides a documented method of a
base class inherits that docstring (``inspect.getdoc``), as in the rendered docs of
PyTorch: ``Linear.forward`` is covered by ``Module.forward``.

The failure message lists every missing name, grouped by file.
"""
import inspect
import os

import minigrad
import minigrad.kernels
from public_api import public_modules


def _is_routine(obj):
    # Numba's @njit / @vectorize objects keep the Python function in .py_func
    return inspect.isfunction(obj) or hasattr(obj, "py_func")


def _public_names(mod):
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    return [n for n, o in vars(mod).items()
            if not n.startswith("_") and (_is_routine(o) or inspect.isclass(o))
            and getattr(o, "__module__", None) == mod.__name__]


def _doc(obj):
    doc = inspect.getdoc(obj)
    if doc is None and hasattr(obj, "py_func"):
        doc = inspect.getdoc(obj.py_func)
    return (doc or "").strip()


def _members(cls):
    """(name, object) of the public methods and properties defined in ``cls`` itself."""
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, property):
            yield name, raw
        elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
            yield name, getattr(cls, name)


def _where(obj):
    try:
        return os.path.relpath(inspect.getsourcefile(obj), os.path.dirname(os.path.dirname(minigrad.__file__)))
    except (TypeError, OSError):
        return "?"


def find_missing():
    """{file: [qualified names without a docstring]} over the whole public API."""
    missing = {}
    seen = set()

    def report(obj, name, src):
        missing.setdefault(_where(src), []).append(name)

    for mod in public_modules():
        if not (mod.__doc__ or "").strip():
            report(mod, mod.__name__ + " (module docstring)", mod)
        for n in _public_names(mod):
            try:
                obj = getattr(mod, n)
            except (AttributeError, ImportError):  # a lazily imported, not yet written submodule
                continue
            if not (_is_routine(obj) or inspect.isclass(obj)):
                continue  # modules (checked on their own), constants, dtypes
            qual = f"{getattr(obj, '__module__', mod.__name__)}.{getattr(obj, '__qualname__', n)}"
            if qual in seen:
                continue
            seen.add(qual)
            if not _doc(obj):
                report(obj, qual, obj)
            if not inspect.isclass(obj):
                continue
            for mname, member in _members(obj):
                fn = member.fget if isinstance(member, property) else member
                fq = getattr(fn, "__qualname__", "")
                # A function attached to the class from elsewhere (ops bound as Tensor
                # methods) is reported under its own name, once.
                key = (f"{fn.__module__}.{fq}" if fq and "." not in fq and "<lambda>" not in fq
                       else f"{qual}.{mname}")
                if key in seen:
                    continue
                seen.add(key)
                if not _doc(member):
                    report(member, key, fn if inspect.isfunction(fn) else obj)
    return missing


def test_public_api_walk_finds_the_core():
    names = {m.__name__ for m in public_modules()}
    for expected in ("minigrad.tensor", "minigrad.autograd", "minigrad.nn.linear", "minigrad.optim.adam",
                     "minigrad.data.dataloader", "minigrad.kernels.reference.matmul", "minigrad.ops.elementwise"):
        assert expected in names


def test_every_public_name_has_a_docstring():
    missing = find_missing()
    total = sum(len(v) for v in missing.values())
    lines = [f"{total} public names have no docstring:"]
    for path in sorted(missing):
        lines.append(f"  {path}:")
        lines.extend(f"    {name}" for name in missing[path])
    assert not missing, "\n".join(lines)
