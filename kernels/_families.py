"""The kernel families, and how each kernel set (reference, cpu, cuda) collects them.

A family is one module per kernel set (``reference/conv.py``, ``cpu/conv.py``,
``cuda/conv.py``) defining ``KERNELS`` (op name -> function, one signature per op
across sets, made by :func:`kernel_table` from the op names in ``OPS``), and for the
native sets ``PREFERRED`` (op name -> "native" or
"reference", which one is faster, as measured; both made by :func:`native_tables`) and
``warmup()``. A set need not have
every family: a missing native kernel falls back to the reference one in the registry.
Every kernel collected here runs behind its entry check (``_contracts.checked``).
"""
import importlib
import time

from ._contracts import checked

#: The ops of each family. A family's module in each kernel set defines a function
#: named after each op it implements, with the reference kernel's signature.
OPS = {
    "matmul": ("matmul",),
    "conv": ("conv2d_forward", "conv2d_grad_input", "conv2d_grad_weight", "conv2d_grad_bias", "unfold", "fold"),
    "pool": ("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"),
    "attention": ("sdpa_forward", "sdpa_backward"),
    "softmax": ("softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
                "cross_entropy_forward", "cross_entropy_backward"),
    "norm": ("layer_norm_forward", "layer_norm_backward"),
    "embedding": ("embedding_forward", "embedding_backward"),
    "quant": ("qmatmul_int8", "qconv2d_int8", "qlinear_float", "qconv2d_float"),
    "special": ("erf",),
    "activation": ("gelu", "gelu_backward"),
    "rnn": ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward"),
}
FAMILIES = tuple(OPS)


def kernel_table(family, namespace):
    """A family module's ``KERNELS``: each op of ``family`` for which ``namespace`` (the
    module's ``globals()``) defines a function of that name -> that function."""
    return {op: namespace[op] for op in OPS[family] if op in namespace}


def native_tables(family, namespace, prefer_reference=()):
    """A native family module's ``(KERNELS, PREFERRED)``: its kernels as
    :func:`kernel_table` finds them, and for each op which kernel the registry uses by
    default: "native", or "reference" for the ops in ``prefer_reference`` (where the
    NumPy/BLAS version was measured faster). The measurement behind the choice is
    written beside the call."""
    kernels = kernel_table(family, namespace)
    return kernels, {op: "reference" if op in prefer_reference else "native" for op in kernels}


def collect(package):
    """Import every family present in ``package``; return (modules, KERNELS, PREFERRED)."""
    modules, kernels, preferred = [], {}, {}
    for name in FAMILIES:
        try:
            mod = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{package}.{name}":
                raise  # the family exists but something it imports does not
            continue
        modules.append(mod)
        kernels.update({name: checked(name, fn) for name, fn in getattr(mod, "KERNELS", {}).items()})
        preferred.update(getattr(mod, "PREFERRED", {}))
    return modules, kernels, preferred


def warmup(modules, verbose=False):
    """Call each module's ``warmup()`` (compile or load its kernels); return the seconds taken."""
    t0 = time.perf_counter()
    for mod in modules:
        w = getattr(mod, "warmup", None)
        if w is not None:
            t = time.perf_counter()
            w()
            if verbose:
                print(f"{mod.__name__}: {time.perf_counter() - t:.2f} s")
    return time.perf_counter() - t0
