"""Run a corpus program so that two runs, one on PyTorch and one on minigrad, can be compared.

    python _probe.py --record W.npz --losses L.json PROGRAM [ARGS...]                    # PyTorch
    python -m minigrad run _probe.py --replay W.npz --losses L.json PROGRAM [ARGS...]   # minigrad

This file only speaks torch's API, so it runs unchanged on both. Before it runs
PROGRAM (as ``python PROGRAM ARGS`` would), it patches a few torch entry points:

- weights: the first time a top-level module is called (its first forward), its
  parameters and buffers are written to W.npz (``--record``) or read from it
  (``--replay``), keyed by the order in which top-level modules are first called;
- randomness the program draws itself (``torch.randn``, ``torch.randint``,
  ``torch.multinomial`` ... called from a file in this folder) is recorded in
  order and replayed, so both runs see the same random batches and samples;
  Python's ``random`` and NumPy are seeded;
- dropout is turned off and DataLoader shuffling too (both draw from each
  framework's own generator);
- every ``Tensor.backward()`` on a one-element tensor records its value: the losses,
  written to L.json at exit.
"""
import atexit
import json
import os
import random
import runpy
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ON_MINIGRAD = torch.__version__.endswith("+minigrad")


def _parse(argv):
    opts = {"record": None, "replay": None, "losses": None}
    i = 0
    while i < len(argv) and argv[i] in ("--record", "--replay", "--losses"):
        opts[argv[i][2:]] = argv[i + 1]
        i += 2
    if i >= len(argv):
        raise SystemExit("usage: _probe.py [--record W | --replay W] --losses L PROGRAM [ARGS...]")
    return opts, argv[i], argv[i + 1:]


OPTS, PROGRAM, ARGS = _parse(sys.argv[1:])
LOSSES = []
RANDOM_DRAWS = []  # recorded: arrays in call order
_weights = {}      # recorded: name -> array
_replayed = np.load(OPTS["replay"]) if OPTS["replay"] else None
_draw_index = [0]
_roots_seen = []


def _to_numpy(t):
    return np.array(t.detach().cpu().numpy() if not ON_MINIGRAD else t.detach().array, copy=True)


def _set_values(t, values, name):
    values = np.asarray(values)
    if tuple(t.shape) != values.shape:
        raise RuntimeError(f"probe: {name} has shape {tuple(t.shape)} here but {values.shape} in the recorded run")
    t.array[...] = values.astype(t.array.dtype)  # replay runs on minigrad only: write the raw array


def _sync_weights(module):
    k = len(_roots_seen)
    _roots_seen.append(module)
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    if OPTS["record"]:
        for name, t in tensors:
            _weights[f"m{k}.{name}"] = _to_numpy(t)
    elif _replayed is not None:
        for name, t in tensors:
            key = f"m{k}.{name}"
            if key not in _replayed.files:
                if name.endswith("num_batches_tracked"):
                    continue
                raise RuntimeError(f"probe: the recorded run has no tensor {key!r}")
            _set_values(t, _replayed[key], key)
    for m in module.modules():  # dropout off, in layers and inside attention/RNN stacks
        if "Dropout" in type(m).__name__ and isinstance(getattr(m, "p", None), float):
            m.p = 0.0
        if isinstance(getattr(m, "dropout", None), float):
            m.dropout = 0.0


_depth = [0]
_orig_call = torch.nn.Module.__call__


def _call(self, *args, **kwargs):
    if _depth[0] == 0 and not any(self is r for r in _roots_seen):
        _sync_weights(self)
    _depth[0] += 1
    try:
        return _orig_call(self, *args, **kwargs)
    finally:
        _depth[0] -= 1


torch.nn.Module.__call__ = _call

_orig_backward = torch.Tensor.backward


def _backward(self, *args, **kwargs):
    if self.numel() == 1:
        LOSSES.append(float(self.detach().reshape(-1)[0].item()))
    return _orig_backward(self, *args, **kwargs)


torch.Tensor.backward = _backward


def _from_program():
    f = sys._getframe(2)
    return os.path.dirname(os.path.abspath(f.f_code.co_filename)).startswith(HERE) and \
        os.path.abspath(f.f_code.co_filename) != os.path.abspath(__file__)


def _random_stand_in(name):
    orig = getattr(torch, name)

    def drawn(*args, **kwargs):
        out = orig(*args, **kwargs)
        if not _from_program():
            return out
        if OPTS["record"]:
            RANDOM_DRAWS.append(_to_numpy(out))
        elif _replayed is not None:
            key = f"r{_draw_index[0]}"
            _draw_index[0] += 1
            if key in _replayed.files:  # past the recorded ones (a run that goes on longer): its own draws
                _set_values(out, _replayed[key], f"random draw {key} ({name})")
        return out

    return drawn


for _name in ("randn", "rand", "randint", "randperm", "randn_like", "rand_like", "randint_like", "multinomial",
              "normal", "bernoulli"):
    if hasattr(torch, _name):
        setattr(torch, _name, _random_stand_in(_name))


def _no_dropout(input, *args, **kwargs):
    return input


for _name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"):
    if hasattr(torch.nn.functional, _name):
        setattr(torch.nn.functional, _name, _no_dropout)

_orig_loader_init = torch.utils.data.DataLoader.__init__


def _loader_init(self, *args, **kwargs):
    kwargs["shuffle"] = False
    _orig_loader_init(self, *args, **kwargs)


torch.utils.data.DataLoader.__init__ = _loader_init


def _write():
    if OPTS["record"]:
        arrays = dict(_weights)
        arrays.update({f"r{i}": a for i, a in enumerate(RANDOM_DRAWS)})
        np.savez(OPTS["record"], **arrays)
    if OPTS["losses"]:
        with open(OPTS["losses"], "w") as f:
            json.dump(LOSSES, f)


atexit.register(_write)
random.seed(0)
np.random.seed(0)
sys.argv = [PROGRAM, *ARGS]
sys.path[0] = os.path.dirname(os.path.abspath(PROGRAM))
runpy.run_path(PROGRAM, run_name="__main__")
