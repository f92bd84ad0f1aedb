"""Reference kernels: readable NumPy, valid on CuPy arrays too.

Each module in this package defines ``KERNELS`` (op name -> function); this file
merges them into one table. These are the specification: every native kernel is
tested against the function of the same name here.
"""
from .._families import collect as _collect

_MODULES, KERNELS, _ = _collect(__name__)
