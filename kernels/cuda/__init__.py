"""Native GPU kernels: CUDA C sources (``*.cu``) built with ``cupy.RawModule``.

Defines ``KERNELS`` and ``PREFERRED`` like :mod:`minigrad.kernels.cpu`. Without CuPy
the tables are empty and the registry falls back to the reference kernels, which
run on CuPy arrays too.
"""
KERNELS = {}
PREFERRED = {}
