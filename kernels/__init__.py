"""minigrad.kernels: the hot ops as plain array functions.

A kernel takes arrays and returns arrays: no Tensor, no autograd. Each hot op has

* a *reference* version in :mod:`minigrad.kernels.reference`: readable NumPy that
  also runs on CuPy arrays, the specification every fast kernel is tested against;
* a *native* CPU version in :mod:`minigrad.kernels.cpu` (Numba, ``cache=True``);
* a *native* GPU version in :mod:`minigrad.kernels.cuda` (CUDA C through CuPy).

The ops pick a kernel through the registry in :mod:`minigrad.backend`.
``use("reference")`` switches every op to the readable versions for a block of code::

    with minigrad.kernels.use("reference"):
        loss = model(x)

The environment variable ``MINIGRAD_KERNELS=reference|native`` does the same for a
whole process.
"""


def use(mode):
    """Context manager running the ops inside on one kernel set ("reference" or "native").

    ``None`` restores each op's measured default.
    """
    from minigrad.backend import use_kernels

    return use_kernels(mode)


def warmup(verbose=False):
    """Compile (or load from the on-disk cache) every native CPU kernel ahead of use.

    Returns the seconds it took. The first process on a machine pays the JIT cost;
    later processes load the cached machine code.
    """
    from minigrad.kernels import cpu

    return cpu.warmup(verbose=verbose)
