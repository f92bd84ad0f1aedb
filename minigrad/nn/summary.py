"""``summary(model, input_shape)``: a Keras-style table of a model's layers.

It runs one forward pass on a tensor of zeros with a forward hook on every
submodule, records each layer's output shape and counts its parameters:

    Layer (type)                 Output Shape          Param #
    ===========================================================
    0 (Linear)                   (1, 128)              100,480
    ...

The model is put in eval mode for the pass (so BatchNorm's running statistics and
the random generator are left untouched) and restored afterwards; nothing is
recorded for autograd.
"""
from __future__ import annotations

import numpy as np

from minigrad import creation
from minigrad.autograd import no_grad
from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["summary"]


def _shape_of(out):
    if isinstance(out, Tensor):
        return str(tuple(out.shape))
    if isinstance(out, (tuple, list)):
        parts = [_shape_of(o) for o in out]
        return "[" + ", ".join(p for p in parts if p) + "]"
    if isinstance(out, dict):
        return "{" + ", ".join(f"{k}: {_shape_of(v)}" for k, v in out.items()) + "}"
    return ""


def _is_shape(x):
    return isinstance(x, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in x)


def summary(model, input_shape, dtype=None, print_fn=print):
    """Print (with ``print_fn``; None to stay silent) and return a table of the
    model's layers: name and type, output shape, parameter count, then the totals
    (trainable / non-trainable) and the memory the parameters take.

    ``input_shape`` is the full shape of one input including the batch dimension,
    e.g. ``(1, 784)``; pass a list of shapes for a model whose forward takes several
    inputs. ``dtype`` is the input's dtype (the default float dtype if None; use an
    integer dtype for models that start with an embedding).
    """
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    shapes = [tuple(input_shape)] if _is_shape(input_shape) else [tuple(s) for s in input_shape]
    try:
        device = next(iter(model.parameters())).device
    except StopIteration:
        device = None
    inputs = [creation.zeros(s, dtype=dtype, device=device) for s in shapes]

    rows = []  # (name, type, output shape, own parameter count)
    handles = []
    modules = list(model.named_modules())

    def make_hook(name):
        def hook(module, args, output):
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append((name, type(module).__name__, _shape_of(output), own, bool(module._modules)))
        return hook

    for name, m in modules:
        if m is model:
            continue
        handles.append(m.register_forward_hook(make_hook(name)))
    modes = [(m, m.training) for _, m in modules]
    try:
        model.eval()
        with no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    # Containers (Sequential, ...) print nothing of their own unless they own parameters.
    rows = [r for r in rows if not r[4] or r[3]]
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    nbytes = sum(p.nbytes for p in params) + sum(b.nbytes for b in model.buffers())
    own_root = sum(p.numel() for p in model.parameters(recurse=False))

    w1 = max([30] + [len(f"{n} ({t})") + 2 for n, t, *_ in rows])
    w2 = max([22] + [len(r[2]) + 2 for r in rows])
    w3 = max(12, len(f"{total:,}") + 2)
    width = w1 + w2 + w3

    def line(a, b, c):
        return f"{a:<{w1}}{b:<{w2}}{c:>{w3}}"

    lines = [f"Model: {type(model).__name__}", "_" * width, line("Layer (type)", "Output Shape", "Param #"),
             "=" * width]
    for name, typ, shape, own, _ in rows:
        lines.append(line(f"{name} ({typ})", shape, f"{own:,}"))
    if own_root:
        lines.append(line(f"(own parameters) ({type(model).__name__})", "", f"{own_root:,}"))
    lines += ["=" * width,
              f"Total params: {total:,}",
              f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}",
              "_" * width,
              f"Input shape: {', '.join(str(s) for s in shapes)}  Output shape: {_shape_of(out)}",
              f"Parameters + buffers size (MB): {nbytes / 2 ** 20:.2f}",
              "_" * width]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
