"""Run a PyTorch program on minigrad, unchanged: ``import torch`` finds minigrad.

From the shell::

    python -m minigrad run train.py --epochs 1      # as `python train.py --epochs 1`

From Python::

    from minigrad import torch_compat
    with torch_compat.enabled():
        import torch                     # minigrad, under torch's names
        x = torch.randn(3, requires_grad=True)
    torch_compat.run_script("train.py", ["--epochs", "1"])

While enabled, ``import torch`` and ``import torch.nn.functional as F``,
``torch.optim.lr_scheduler``, ``torch.utils.data`` ... give stand-in modules whose
names are minigrad's own objects: ``torch.nn.Linear is minigrad.nn.Linear``,
``torch.utils.data.DataLoader is minigrad.data.DataLoader``. Where torch's layout
differs there is a small alias (``torch.accelerator``, ``torch.LongTensor``,
``torch.backends.mps.is_available()``, which is False); the whole table is
``minigrad.torch_compat._aliases.MODULES``.

A torch name that minigrad does not have fails loudly and by name:
``torch.fft.rfft`` raises :class:`MissingTorchFeature` (an AttributeError, so
``hasattr`` is False), ``import torch.onnx`` raises :class:`MissingTorchModule` (an
ImportError), and a Tensor method minigrad lacks says so instead of a bare
AttributeError. Nothing is emulated silently.

Real PyTorch must not be imported in the same process: the two would both answer to
``torch``. :func:`install` refuses when it already is.
"""
from __future__ import annotations

import contextlib
import os
import runpy
import sys

from minigrad.torch_compat._aliases import MODULES, MISSING_WHY
from minigrad.torch_compat._finder import (MissingTorchFeature, MissingTorchModule, TorchFinder,
                                           missing_feature, missing_module)

__all__ = ["install", "uninstall", "is_installed", "enabled", "run_script", "main", "MissingTorchFeature",
           "MissingTorchModule", "MODULES", "MISSING_WHY", "missing_feature", "missing_module"]

_finder = None
_saved_modules = None


def _tensor_getattr(self, name):
    """Only called for a name the Tensor does not have: say that it is a torch feature
    minigrad lacks (still an AttributeError, so ``hasattr`` works)."""
    if name.startswith("_"):
        raise AttributeError(f"'Tensor' object has no attribute '{name}'")
    raise missing_feature(f"torch.Tensor.{name}")


def is_installed() -> bool:
    """True while ``import torch`` resolves to minigrad in this process."""
    return _finder is not None


def install() -> None:
    """Make ``import torch`` (and every mapped ``torch.*``) resolve to minigrad in this
    process until :func:`uninstall`. Raises RuntimeError if real PyTorch is already
    imported here."""
    global _finder, _saved_modules
    if _finder is not None:
        return
    real = [n for n, m in sys.modules.items()
            if (n == "torch" or n.startswith("torch.")) and m is not None]
    if real:
        raise RuntimeError("torch_compat.install: PyTorch itself is already imported in this process "
                           f"({real[0]!r}); run the program in a fresh process (python -m minigrad run "
                           "script.py) so that 'import torch' can mean minigrad")
    import minigrad

    _saved_modules = {n: m for n, m in sys.modules.items() if n == "torch" or n.startswith("torch.")}
    _finder = TorchFinder()
    sys.meta_path.insert(0, _finder)
    if "__getattr__" not in vars(minigrad.Tensor):
        minigrad.Tensor.__getattr__ = _tensor_getattr


def uninstall() -> None:
    """Undo :func:`install`: forget the stand-in torch modules and the import hook."""
    global _finder, _saved_modules
    if _finder is None:
        return
    import minigrad

    if sys.meta_path and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for n in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        del sys.modules[n]
    sys.modules.update(_saved_modules or {})
    if vars(minigrad.Tensor).get("__getattr__") is _tensor_getattr:
        del minigrad.Tensor.__getattr__
    _finder = None
    _saved_modules = None


@contextlib.contextmanager
def enabled():
    """``with enabled(): import torch`` - minigrad answers to ``torch`` inside the block
    (and stays in effect if it was installed before)."""
    was = is_installed()
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()


def run_script(path, argv=()) -> None:
    """Run the Python file ``path`` as ``python path *argv`` would, with ``import torch``
    resolving to minigrad: ``__name__ == "__main__"``, ``sys.argv == [path, *argv]`` and
    the file's folder first on ``sys.path``. Exceptions (SystemExit included) propagate;
    sys.argv and sys.path are restored afterwards."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"run: no such file: {path!r}")
    folder = os.path.dirname(os.path.realpath(path))
    old_argv, old_path = sys.argv[:], sys.path[:]
    sys.argv = [path, *[str(a) for a in argv]]
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path[0] = folder  # as `python script.py`: its folder, not the current one
    else:
        sys.path.insert(0, folder)
    try:
        with enabled():
            runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv[:] = old_argv
        sys.path[:] = old_path


def main(path, argv=()) -> int:
    """What ``python -m minigrad run path *argv`` does: :func:`run_script`, then the
    exit status ``python path`` would give (0; the code of a SystemExit; 1 after an
    uncaught exception, whose traceback is printed from the script's first frame on,
    without the runner's own frames)."""
    import bdb
    import traceback

    if not os.path.isfile(path):  # as `python missing.py`: one line, status 2
        print(f"minigrad run: can't open file {os.fspath(path)!r}: no such file", file=sys.stderr)
        return 2
    try:
        run_script(path, argv)
    except bdb.BdbQuit:  # `quit` in pdb (python -m pdb -m minigrad run ...): pdb's own business
        raise
    except SystemExit as e:
        code = e.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except BaseException as e:  # noqa: BLE001  (report it as Python would, then fail)
        tb = e.__traceback__
        script = os.path.realpath(path)
        while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) != script:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb if tb is not None else e.__traceback__)
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    return 0
