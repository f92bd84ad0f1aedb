"""Which modules count as minigrad's public API (shared by test_docstrings.py and
test_docs_site.py): ``minigrad``, ``minigrad.kernels`` and every submodule of either
with no leading underscore anywhere in its dotted path. A submodule that cannot be
imported because an optional dependency (CuPy) is missing is left out; one that fails
to import for any other reason raises."""
import importlib
import pkgutil


def public_modules():
    """The public modules, imported, in a stable order."""
    import minigrad
    import minigrad.kernels

    mods = [minigrad]
    for pkg in (minigrad, minigrad.kernels):
        if pkg is minigrad.kernels:
            mods.append(pkg)
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if any(p.startswith("_") for p in info.name.split(".")):
                continue
            if pkg is minigrad and info.name.startswith("minigrad.kernels"):
                continue
            try:
                mods.append(importlib.import_module(info.name))
            except ImportError as e:  # an optional dependency (CuPy) is missing
                if (e.name or "").startswith("minigrad"):
                    raise
    return mods
