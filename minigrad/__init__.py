"""minigrad: a from-scratch reverse-mode autodiff tensor framework for learning deep learning.

>>> import minigrad
>>> x = minigrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])
"""
import numpy as _np


def _kernels_from_source_tree():
    """Make ``minigrad.kernels`` importable from a source checkout.

    setup.py installs the top-level ``kernels/`` folder as ``minigrad.kernels``. When
    Python runs in the repository's root (``pip install . && python -m minigrad demo``),
    it finds this ``minigrad/`` folder before the installed package, and ``kernels/``
    is not inside it; so, only when no installed ``minigrad.kernels`` is found, the
    folder next to this one is registered under that name.
    """
    import importlib.util
    import os
    import sys

    if "minigrad.kernels" in sys.modules or importlib.util.find_spec("minigrad.kernels") is not None:
        return
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
    init = os.path.join(folder, "__init__.py")
    if not os.path.isfile(init):
        return  # the import below then fails with Python's own message
    spec = importlib.util.spec_from_file_location("minigrad.kernels", init, submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["minigrad.kernels"] = module
    setattr(sys.modules[__name__], "kernels", module)
    spec.loader.exec_module(module)


_kernels_from_source_tree()

from minigrad import backend  # noqa: E402
from minigrad.backend import Device, device  # noqa: E402
from minigrad.tensor import Tensor, tensor, get_default_dtype, set_default_dtype
from minigrad.autograd import (Function, no_grad, enable_grad, set_grad_enabled, is_grad_enabled,
                               inference_mode, is_inference_mode_enabled, grad)
from minigrad.random import Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state
from minigrad.creation import (zeros, ones, full, empty, arange, linspace, eye, rand, randn,
                               randint, randperm, zeros_like, ones_like, full_like, empty_like,
                               rand_like, randn_like, randint_like, from_numpy, as_tensor)
from minigrad import ops
from minigrad.ops import *  # noqa: F401,F403  (every op as minigrad.<name>)
from minigrad.ops import abs, sum, max, min, pow, all, any  # noqa: F401  (shadow builtins on purpose)
from minigrad.gradcheck import gradcheck, gradgradcheck, GradcheckError
from minigrad import autograd, random
from minigrad.io import save, load
from minigrad import data, metrics, optim, nn
from minigrad import cuda  # noqa: E402  (minigrad.cuda.is_available() and friends)
import minigrad.kernels  # noqa: E402  (minigrad.kernels.use / warmup)

__version__ = "0.1.0"

# dtypes, named as in PyTorch (they are NumPy dtype objects)
float16 = half = _np.dtype("float16")
float32 = _np.dtype("float32")
float64 = double = _np.dtype("float64")
int8 = _np.dtype("int8")
uint8 = _np.dtype("uint8")
int16 = _np.dtype("int16")
int32 = _np.dtype("int32")
int64 = long = _np.dtype("int64")
bool = _np.dtype("bool")  # noqa: A001
float = float32  # noqa: A001
int = int32  # noqa: A001
