"""Devices, array modules and the kernel registry.

Everything in minigrad that touches an array reaches the array library through
this module, never by importing NumPy or CuPy itself:

* :class:`Device` names where a tensor lives (``"cpu"`` or ``"cuda"``);
* :func:`array_module` gives the array module of a device (``numpy`` on the CPU,
  ``cupy`` on a GPU), so the same op code runs on both;
* the kernel registry maps ``(op name, device)`` to a kernel function. Each hot op
  has a *reference* kernel (readable NumPy, also valid on CuPy arrays) and a
  *native* one (Numba on the CPU, CUDA on a GPU) with the same signature.
  :func:`get_kernel` picks one; ``MINIGRAD_KERNELS=reference|native`` or the
  context manager :func:`use_kernels` (also ``minigrad.kernels.use``) switches.
"""
from __future__ import annotations

import contextlib
import importlib
import os

import numpy as np

__all__ = [
    "Device", "device", "cpu", "array_module", "xp_of", "device_of", "to_device",
    "get_kernel", "use_kernels", "kernel_mode", "set_kernel_mode", "KERNEL_MODES",
    "cupy_available", "on_device", "kernel_choices", "reload_kernel_choices", "SizeChoice",
]


# ----------------------------------------------------------------------------- devices

class Device:
    """Where a tensor's array lives: ``Device("cpu")`` or ``Device("cuda", 0)``.

    ``str(d)`` is ``"cpu"`` or ``"cuda:0"``; devices compare equal to their string
    form, so ``t.device == "cpu"`` works as in PyTorch.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str = "cpu", index: int | None = None):
        if isinstance(type, Device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {type!r}")
        if ":" in type:
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise ValueError(f"device: invalid device index in {type}:{idx!r}")
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {type!r}; valid types are 'cpu' and 'cuda'")
        if type == "cuda" and index is None:
            index = 0
        if type == "cpu":
            index = None
        self.type = type
        self.index = index

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))


cpu = Device("cpu")


def device(spec=None) -> Device:
    """Turn ``None``, a string or a :class:`Device` into a :class:`Device` (default cpu)."""
    if spec is None:
        return cpu
    if isinstance(spec, Device):
        return spec
    d = Device(spec)
    return cpu if d.type == "cpu" else d


_cupy = None
_cupy_error: str | None = None


def _load_cupy():
    """Import CuPy once; remember why it failed so errors can say so."""
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy  # noqa: F401  (optional dependency)
            _cupy = cupy
        except Exception as e:  # ImportError, or a CUDA driver error raised at import
            _cupy_error = f"{type(e).__name__}: {e}"
    return _cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    cp = _load_cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _require_cuda(d: Device):
    """CuPy, after checking that it imports and that GPU ``d`` exists; otherwise a
    RuntimeError saying which of the two is missing and how to fix it."""
    cp = _load_cupy()
    if cp is None:
        raise RuntimeError(
            f"device '{d}': CuPy is not installed ({_cupy_error}). Install the GPU extra "
            "with `pip install minigrad[cuda12]` (or `minigrad[cuda13]` for CUDA 13)."
        )
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise RuntimeError(
            f"device '{d}': CuPy is installed but no CUDA GPU is usable ({e}). Check that "
            "`nvidia-smi` sees a GPU and that the CuPy package matches the driver's CUDA major "
            "version (minigrad[cuda12] -> cupy-cuda12x, minigrad[cuda13] -> cupy-cuda13x).") from None
    if n == 0:
        raise RuntimeError(f"device '{d}': CuPy is installed but found no CUDA GPU")
    if d.index is not None and d.index >= n:
        raise RuntimeError(f"device '{d}': only {n} CUDA device(s) present (valid: cuda:0..cuda:{n - 1})")
    return cp


def on_device(d):
    """Context manager making GPU ``d`` current (new CuPy arrays go there); a no-op for cpu.

    >>> with on_device("cuda:1"):
    ...     z = array_module("cuda:1").zeros(3)      # allocated on GPU 1
    """
    d = device(d)
    if d.type == "cpu":
        return contextlib.nullcontext()
    return _require_cuda(d).cuda.Device(d.index)


def array_module(d) -> object:
    """The array module of a device: ``numpy`` for cpu, ``cupy`` for cuda."""
    d = device(d)
    if d.type == "cpu":
        return np
    return _require_cuda(d)


def _is_cupy(array) -> bool:
    """True for a CuPy array (imports CuPy the first time one is seen)."""
    if _cupy is None:
        if not type(array).__module__.startswith("cupy"):
            return False
        if _load_cupy() is None:
            return False
    return isinstance(array, _cupy.ndarray)


def xp_of(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if type(array) is np.ndarray:
        return np
    return _cupy if _is_cupy(array) else np


def device_of(array) -> Device:
    """The device an array lives on (a NumPy array or scalar is on the cpu)."""
    if type(array) is np.ndarray or np.isscalar(array):
        return cpu
    if _is_cupy(array):
        return Device("cuda", int(array.device.id))
    return cpu


def to_device(array, d):
    """Copy an array to device ``d`` (no copy when it is already there)."""
    d = device(d)
    src = device_of(array)
    if src == d:
        return array
    if d.type == "cpu":
        return array.get()
    cp = _require_cuda(d)
    with cp.cuda.Device(d.index):
        return cp.asarray(array)


# ----------------------------------------------------------------------------- kernel registry

KERNEL_MODES = ("reference", "native")

_env_mode = os.environ.get("MINIGRAD_KERNELS") or None
if _env_mode is not None and _env_mode not in KERNEL_MODES:
    raise ValueError(f"MINIGRAD_KERNELS={_env_mode!r} is not valid; use one of {KERNEL_MODES}")
_mode: str | None = _env_mode  # None: each op uses its measured default

# Where each kernel set lives. A kernel module exposes ``KERNELS`` (op name ->
# function) and, for native sets, ``PREFERRED`` (op name -> "native" or
# "reference": the faster one on this machine, measured by benchmarks/kernels.py).
_TABLE_MODULES = {
    ("reference", "cpu"): "minigrad.kernels.reference",
    ("reference", "cuda"): "minigrad.kernels.reference",
    ("native", "cpu"): "minigrad.kernels.cpu",
    ("native", "cuda"): "minigrad.kernels.cuda",
}
_tables: dict = {}


def _table(kind: str, dev_type: str):
    key = (kind, dev_type)
    mod = _tables.get(key)
    if mod is None:
        mod = importlib.import_module(_TABLE_MODULES[key])
        _tables[key] = mod
    return mod


def kernel_mode() -> str | None:
    """The forced kernel set (``"reference"``/``"native"``), or None for per-op defaults."""
    return _mode


def set_kernel_mode(mode: str | None) -> None:
    """Force every op onto one kernel set, or ``None`` to return to per-op defaults."""
    global _mode
    if mode is not None and mode not in KERNEL_MODES:
        raise ValueError(f"kernel mode {mode!r} is not valid; use one of {KERNEL_MODES} or None")
    _mode = mode


@contextlib.contextmanager
def use_kernels(mode: str | None):
    """Context manager: run the ops inside on one kernel set.

    >>> with minigrad.kernels.use("reference"):
    ...     y = model(x)          # every hot op runs its readable NumPy version
    """
    old = _mode
    set_kernel_mode(mode)
    try:
        yield
    finally:
        set_kernel_mode(old)


# The CPU's per-op choice comes from measurements (minigrad/tuning.py): a tuning record
# of this machine, else the shipped record of its instruction-set family, else the
# kernel modules' fixed PREFERRED tables. Resolved once per op, on first use.
_cpu_choices: dict = {}
_cpu_record = None


class SizeChoice:
    """A kernel that runs the native or the reference kernel of ``op`` depending on the
    size of each call (:func:`minigrad.tuning.work`): at each size, the one that was
    faster where the tuning record measured nearest."""

    __slots__ = ("op", "points", "native", "reference")

    def __init__(self, op, points, native, reference):
        self.op, self.points, self.native, self.reference = op, points, native, reference

    def pick(self, *args):
        """The kernel (native or reference function) a call with ``args`` runs."""
        from minigrad import tuning

        lw = tuning.math.log2(tuning.work(self.op, args))
        return self.native if tuning.choose(self.points, lw) == "native" else self.reference

    def __call__(self, *args, **kwargs):
        return self.pick(*args)(*args, **kwargs)

    def __repr__(self):
        return f"SizeChoice({self.op!r}, {len(self.points)} measured sizes)"


def _cpu_choice(op: str):
    """Resolve (and remember) the default kernel choice of ``op`` on the CPU."""
    global _cpu_record
    if _cpu_record is None:
        from minigrad import tuning

        rec, source = tuning.active_record()
        _cpu_record = (tuning.choices_from_record(rec) if rec is not None else {}, source)
    choice = _cpu_record[0].get(op)
    if choice is None:
        choice = getattr(_table("native", "cpu"), "PREFERRED", {}).get(op, "native")
    elif not isinstance(choice, str):
        nat, ref = _table("native", "cpu").KERNELS.get(op), _table("reference", "cpu").KERNELS.get(op)
        choice = SizeChoice(op, choice, nat, ref) if nat is not None and ref is not None else "reference"
    _cpu_choices[op] = choice
    return choice


def kernel_choices() -> dict:
    """Where the CPU's default kernel choices come from and what they are: ``{"source":
    "tuned" | "shipped (<isa>, <n> thread[s])" | "fixed", "ops": {op: "native" | "reference" | [(log2
    work, choice), ...]}}`` (ops absent from ``ops`` use their module's PREFERRED)."""
    _cpu_choice("matmul")
    return {"source": _cpu_record[1], "ops": dict(_cpu_record[0])}


def reload_kernel_choices() -> None:
    """Forget the resolved CPU choices (after a new tuning record is saved)."""
    global _cpu_record
    _cpu_record = None
    _cpu_choices.clear()


def hold_on_reference(ops, hold=True) -> None:
    """Run ``ops`` on the CPU's reference kernels until released (``hold=False`` gives
    them back the measured choice). The demo holds a kernel family there while its
    native kernels compile in the background, and releases it once they are ready."""
    for op in ops:
        if hold:
            _cpu_choices[op] = "reference"
        else:
            _cpu_choices.pop(op, None)   # resolved again from the tuning record on next use


def get_kernel(op: str, dev=cpu):
    """The kernel for ``op`` on device ``dev`` under the current mode."""
    dev_type = dev.type if isinstance(dev, Device) else device(dev).type
    mode = _mode
    if mode is None:
        if dev_type == "cpu":
            choice = _cpu_choices.get(op) or _cpu_choice(op)
            if not isinstance(choice, str):
                return choice  # a kernel that picks native or reference by the size of each call
            mode = choice
        else:
            mode = getattr(_table("native", dev_type), "PREFERRED", {}).get(op, "native")
    table = _table(mode, dev_type).KERNELS
    fn = table.get(op)
    if fn is None:
        if mode == "native":  # no native version yet: the reference one is the kernel
            fn = _table("reference", dev_type).KERNELS.get(op)
        if fn is None:
            raise KeyError(f"get_kernel: no kernel named {op!r} for device '{dev_type}'")
    return fn
