"""``minigrad.cuda``: ask whether a GPU is there, and wait for it.

Named as in ``torch.cuda``::

    if minigrad.cuda.is_available():
        model.to("cuda")
        x = x.cuda()

GPU arrays are CuPy arrays; installing the ``cuda12`` (or ``cuda13``) extra,
``pip install minigrad[cuda12]``, brings CuPy. None of these functions raise when
CuPy or a GPU is missing, except :func:`synchronize`, :func:`current_device` and
:func:`get_device_name`, which need a GPU to talk to and say what is missing.

GPU work is asynchronous: a kernel launch returns before the kernel finishes, so
time GPU code with :func:`synchronize` before reading the clock.
"""
from __future__ import annotations

from minigrad import backend
from minigrad.backend import Device

__all__ = ["is_available", "device_count", "synchronize", "current_device", "set_device",
           "get_device_name", "manual_seed", "manual_seed_all", "why_unavailable"]


def is_available() -> bool:
    """True when CuPy imports and at least one CUDA GPU is usable."""
    return backend.cupy_available()


def device_count() -> int:
    """The number of usable CUDA GPUs (0 without CuPy or without a driver)."""
    cp = backend._load_cupy()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # noqa: BLE001  (no driver, driver too old, ...)
        return 0


def why_unavailable() -> str | None:
    """None when a GPU is usable, else one line saying what is missing (for messages)."""
    try:
        backend._require_cuda(Device("cuda"))
    except RuntimeError as e:
        return str(e)
    return None


def _index(device) -> int:
    if device is None:
        return current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        d = Device("cuda", device)
    else:
        d = backend.device(device)
    if d.type != "cuda":
        raise ValueError(f"minigrad.cuda: expected a CUDA device, got '{d}'")
    backend._require_cuda(d)
    return d.index


def current_device() -> int:
    """The index of the GPU that new CUDA arrays go to by default."""
    cp = backend._require_cuda(Device("cuda"))
    return int(cp.cuda.runtime.getDevice())


def set_device(device) -> None:
    """Make ``device`` (an index, ``"cuda:1"`` or a Device) the default GPU."""
    cp = backend._require_cuda(Device("cuda"))
    cp.cuda.Device(_index(device)).use()


def synchronize(device=None) -> None:
    """Wait until every kernel queued on ``device`` (default: the current GPU) has finished."""
    cp = backend._require_cuda(Device("cuda"))
    with cp.cuda.Device(_index(device)):
        cp.cuda.runtime.deviceSynchronize()


def get_device_name(device=None) -> str:
    """The GPU's marketing name, e.g. ``"NVIDIA H100 80GB HBM3"``."""
    cp = backend._require_cuda(Device("cuda"))
    props = cp.cuda.runtime.getDeviceProperties(_index(device))
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed: int):
    """Seed minigrad's generator. There is only one: random numbers are drawn on the CPU
    and copied to the tensor's device, so one seed gives the same numbers on every device
    (the same as :func:`minigrad.manual_seed`)."""
    from minigrad import random

    return random.manual_seed(seed)


manual_seed_all = manual_seed
