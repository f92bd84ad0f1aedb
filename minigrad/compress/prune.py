"""Pruning: set weights to zero, and keep them zero while the model goes on training.

A trained network has many weights that hardly matter. *Pruning* removes them:
set the least important entries to zero (unstructured pruning) or remove whole
output channels / neurons (structured pruning), then train a little more so that
the remaining weights make up for the loss. Magnitude is the classic measure of
importance: a weight close to zero changes the output little when it becomes zero.

How it works (the same mechanism as ``torch.nn.utils.prune``, with the same names)
-------------------------------------------------------------------------------
Pruning ``module.weight`` does three things:

* the Parameter moves to ``module.weight_orig`` (the *same* Parameter object, so an
  optimizer created before pruning keeps updating it);
* a buffer ``module.weight_mask`` of the weight's shape and dtype holds 1 (kept) or
  0 (pruned);
* a forward pre-hook sets ``module.weight = weight_orig * weight_mask`` before every
  forward. ``module.weight`` is now an ordinary Tensor computed in the graph, so the
  layer's ``forward`` runs unchanged, and backward sends ``grad * mask`` to
  ``weight_orig``: the gradient of a pruned entry is exactly 0.

So the effective weight is zero wherever the mask is zero, whatever happens to
``weight_orig`` there: its pruned entries keep their old values (``remove`` or a
different mask can bring them back), get a zero gradient, and may still drift
under weight decay, but they are always multiplied by 0. Both ``weight_orig`` and
``weight_mask`` are in ``state_dict()``, so a checkpoint of a pruned model restores
the masks too. :func:`remove` makes pruning permanent: ``weight`` becomes a plain
Parameter again, holding ``weight_orig * weight_mask``, and the hook and the mask go.

Pruning again (what ``amount`` means the second time)
----------------------------------------------------
Pruning an already pruned tensor combines the masks (the new mask is the old one
with more zeros), as torch's ``PruningContainer`` does: ``amount`` then refers to
the entries (or, for :func:`ln_structured`, the slices) that are *still unpruned*.
``l1_unstructured(m, amount=0.5)`` twice leaves 25% of the weights; an int amount
is the number of *additional* entries to prune. Importance is measured on
``weight_orig`` (the values the mask would keep), and already pruned entries are
never candidates.

Checkpoints
-----------
``model.load_state_dict(sd)`` works when ``model`` was pruned the same way (same
parameters pruned; the masks themselves are loaded). A state dict of a pruned model
has ``weight_orig`` / ``weight_mask`` where an unpruned model has ``weight``; load it
into an unpruned model with :func:`load_state_dict` from this module, which first
prunes each such parameter with the saved mask (:func:`custom_from_mask`).

>>> from minigrad.compress import prune
>>> layer = nn.Linear(4, 3)
>>> prune.l1_unstructured(layer, "weight", amount=0.5)   # 6 of the 12 weights
Linear(in_features=4, out_features=3, bias=True)
>>> prune.sparsity(layer.weight)
0.5
>>> sorted(layer.state_dict())
['bias', 'weight_mask', 'weight_orig']
>>> prune.remove(layer, "weight")                          # permanent
Linear(in_features=4, out_features=3, bias=True)
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from minigrad.autograd import no_grad
from minigrad.backend import to_device, xp_of
from minigrad.data._random import as_generator
from minigrad.tensor import Tensor
from minigrad.nn.module import Module

__all__ = [
    "l1_unstructured", "random_unstructured", "ln_structured", "global_unstructured",
    "custom_from_mask", "identity", "remove", "is_pruned", "pruned_parameters",
    "sparsity", "sparsity_report", "format_sparsity_report", "iterative_prune",
    "load_state_dict",
]


# ============================================================================ the hook

class _PruningHook:
    """The forward pre-hook of one pruned parameter: ``module.<name> = <name>_orig *
    <name>_mask``. It remembers only the name (not the module, so ``copy.deepcopy``
    of a model copies it correctly) and a list of the pruning calls, for ``repr``."""

    def __init__(self, name):
        self.name = name
        self.history = []
        self.handle_id = None

    def __call__(self, module, inputs):
        _apply_mask(module, self.name)
        return None

    def __repr__(self):
        return f"PruningHook({self.name!r}: {' -> '.join(self.history) or 'no pruning yet'})"


def _apply_mask(module, name):
    """Recompute the effective tensor ``orig * mask`` and set it as a plain attribute."""
    orig = module._parameters[name + "_orig"]
    mask = module._buffers[name + "_mask"]
    object.__setattr__(module, name, orig * mask)


def _find_hook(module, name):
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, _PruningHook) and hook.name == name:
            return hook
    return None


def _is_pruned_param(module, name):
    return _find_hook(module, name) is not None


# ============================================================================ checks

def _check_module(module, op):
    if not isinstance(module, Module):
        raise TypeError(f"{op}: expected an nn.Module, got {type(module).__name__}")


def _target(module, name, op):
    """The tensor that pruning ``name`` works on: ``name_orig`` if already pruned, else
    the parameter itself. Raises for unknown names, None and non-float parameters."""
    _check_module(module, op)
    if not isinstance(name, str):
        raise TypeError(f"{op}: name must be a string, got {type(name).__name__}")
    if _is_pruned_param(module, name):
        return module._parameters[name + "_orig"]
    p = module._parameters.get(name)
    if p is None:
        have = [k for k, v in module._parameters.items() if v is not None]
        if name in module._parameters:
            raise ValueError(f"{op}: parameter '{name}' of {type(module).__name__} is None "
                             f"(e.g. a layer built with bias=False); nothing to prune")
        raise ValueError(f"{op}: {type(module).__name__} has no parameter named '{name}' "
                         f"(its parameters: {', '.join(have) or 'none'})")
    if p.dtype.kind != "f":
        raise TypeError(f"{op}: can only prune floating-point parameters, '{name}' of "
                        f"{type(module).__name__} has dtype {p.dtype}")
    for suffix, where in (("_orig", module._parameters), ("_mask", module._buffers)):
        if name + suffix in where or name + suffix in module.__dict__:
            raise ValueError(f"{op}: {type(module).__name__} already has an attribute "
                             f"'{name + suffix}', which pruning '{name}' needs")
    return p


def _current_mask(module, name, like):
    """The mask as an array (ones for a parameter that is not pruned yet)."""
    if _is_pruned_param(module, name):
        return module._buffers[name + "_mask"].array
    return xp_of(like.array).ones(like.shape, dtype=like.dtype)


def _n_to_prune(amount, n, op, what="entries"):
    """How many of the ``n`` still unpruned ``what`` to prune for ``amount``
    (a fraction in [0, 1] is rounded to the nearest count, as torch does)."""
    if isinstance(amount, (bool, np.bool_)):
        raise TypeError(f"{op}: amount must be a float in [0, 1] or an int >= 0, got {amount!r}")
    if isinstance(amount, numbers.Integral):
        amount = int(amount)
        if amount < 0:
            raise ValueError(f"{op}: amount={amount} is negative; an int amount is a count of {what} "
                             f"and must be in [0, {n}]")
        if amount > n:
            raise ValueError(f"{op}: amount={amount} is larger than the number of unpruned {what} "
                             f"({n}); an int amount must be in [0, {n}]")
        return amount
    if isinstance(amount, numbers.Real):
        amount = float(amount)
        if not 0.0 <= amount <= 1.0:  # also False for nan
            raise ValueError(f"{op}: amount={amount!r} is out of range; a float amount is a fraction "
                             f"and must be in [0.0, 1.0] (or give an int count)")
        return int(round(amount * n))
    raise TypeError(f"{op}: amount must be a float in [0, 1] or an int >= 0, got "
                    f"{type(amount).__name__}")


def _fmt_amount(amount):
    return f"{amount:g}" if isinstance(amount, float) else str(amount)


# ============================================================================ installing a mask

def _install(module, name, new_mask, op_desc):
    """Make ``new_mask`` (an array) the mask of ``module.<name>``, pruning it first if
    needed. Everything has been checked before: this cannot fail half-way."""
    hook = _find_hook(module, name)
    if hook is None:
        # weight -> weight_orig, in the same position (state_dict order is kept).
        items = [(name + "_orig" if k == name else k, v) for k, v in module._parameters.items()]
        module._parameters.clear()
        module._parameters.update(items)
        module.register_buffer(name + "_mask", Tensor(new_mask))
        hook = _PruningHook(name)
        handle = module.register_forward_pre_hook(hook)
        hook.handle_id = handle.id
    else:
        mask = module._buffers[name + "_mask"]
        mask.array[...] = new_mask
        mask._bump_version()
    hook.history.append(op_desc)
    with no_grad():
        _apply_mask(module, name)


def _flat_indices_to_zero(mask, indices):
    new = mask.copy()
    new.reshape(-1)[indices] = 0
    return new


# ============================================================================ unstructured

def l1_unstructured(module, name="weight", amount=0.5):
    """Prune the ``amount`` entries of ``module.<name>`` with the smallest absolute value.

    ``amount``: a float in [0, 1] (that fraction of the still unpruned entries, rounded
    to the nearest count) or an int (that many entries). Ties are broken by position
    (the earlier entry in row-major order goes first). Returns ``module``.
    """
    op = "l1_unstructured"
    t = _target(module, name, op)
    mask = _current_mask(module, name, t)
    xp = xp_of(t.array)
    alive = xp.flatnonzero(mask.reshape(-1) != 0)
    k = _n_to_prune(amount, int(alive.size), op)
    score = xp.abs(t.array.reshape(-1)[alive])
    order = xp.argsort(score, kind="stable")
    new = _flat_indices_to_zero(mask, alive[order[:k]])
    _install(module, name, new, f"{op}(amount={_fmt_amount(amount)})")
    return module


def random_unstructured(module, name="weight", amount=0.5, generator=None):
    """Prune ``amount`` entries of ``module.<name>`` chosen uniformly at random among
    the still unpruned ones (a baseline: magnitude pruning should do better).

    ``generator``: None (minigrad's global generator, so ``minigrad.manual_seed``
    repeats the choice), an int seed, or a ``numpy.random.Generator``. Returns ``module``.
    """
    op = "random_unstructured"
    t = _target(module, name, op)
    rng = as_generator(generator, op)
    mask = _current_mask(module, name, t)
    xp = xp_of(t.array)
    alive = xp.flatnonzero(mask.reshape(-1) != 0)
    k = _n_to_prune(amount, int(alive.size), op)
    pick = rng.permutation(int(alive.size))[:k]
    new = _flat_indices_to_zero(mask, alive[xp.asarray(pick)])
    _install(module, name, new, f"{op}(amount={_fmt_amount(amount)})")
    return module


def global_unstructured(parameters, amount, importance="l1", generator=None):
    """Prune across several tensors at once with ONE threshold: the ``amount`` entries
    with the smallest absolute value among all of them (``importance="l1"``), or
    chosen at random (``importance="random"``, with ``generator`` as in
    :func:`random_unstructured`).

    ``parameters``: an iterable of ``(module, name)`` pairs, e.g.
    ``[(model.fc1, "weight"), (model.fc2, "weight")]``. Layers whose weights are
    small overall lose more than others, which per-layer pruning cannot do.
    ``amount`` refers to the still unpruned entries of all the tensors together
    (a fraction, or an int count). Ties are broken by the order of ``parameters``,
    then by position.
    """
    op = "global_unstructured"
    if importance not in ("l1", "random"):
        raise ValueError(f"{op}: importance must be 'l1' or 'random', got {importance!r}")
    if isinstance(parameters, tuple) and len(parameters) == 2 and isinstance(parameters[0], Module):
        raise TypeError(f"{op}: parameters must be an iterable of (module, name) pairs; wrap a single "
                        f"pair in a list: [(module, {parameters[1]!r})]")
    pairs = list(parameters)
    if not pairs:
        raise ValueError(f"{op}: got no parameters to prune")
    seen = set()
    targets, masks = [], []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"{op}: parameters must be (module, name) pairs; item {i} is {pair!r:.60}")
        module, name = pair
        t = _target(module, name, op)
        key = (id(module), name)
        if key in seen:
            raise ValueError(f"{op}: ({type(module).__name__}, {name!r}) appears more than once in parameters")
        seen.add(key)
        targets.append(t)
        masks.append(_current_mask(module, name, t))
    xp = xp_of(targets[0].array)
    alive = [xp.flatnonzero(m.reshape(-1) != 0) for m in masks]
    sizes = [int(a.size) for a in alive]
    total = sum(sizes)
    k = _n_to_prune(amount, total, op)
    if importance == "l1":
        scores = xp.concatenate([xp.abs(t.array.reshape(-1)[a]).astype(np.float64)
                                 for t, a in zip(targets, alive)]) if total else xp.zeros(0)
        chosen = xp.argsort(scores, kind="stable")[:k]
    else:
        chosen = xp.asarray(as_generator(generator, op).permutation(total)[:k])
    offsets = np.cumsum([0] + sizes)
    desc = f"{op}(amount={_fmt_amount(amount)}, importance={importance!r}, over {len(pairs)} tensors)"
    for j, ((module, name), mask, a) in enumerate(zip(pairs, masks, alive)):
        lo, hi = int(offsets[j]), int(offsets[j + 1])
        mine = chosen[(chosen >= lo) & (chosen < hi)] - lo
        _install(module, name, _flat_indices_to_zero(mask, a[mine]), desc)


def identity(module, name="weight"):
    """Install the pruning machinery with an all-ones mask (nothing is pruned yet).
    Returns ``module``."""
    t = _target(module, name, "identity")
    _install(module, name, _current_mask(module, name, t), "identity()")
    return module


def custom_from_mask(module, name, mask):
    """Prune ``module.<name>`` with a given ``mask`` (a Tensor or array of its shape,
    0 = prune). Combined with an existing mask by multiplication. Returns ``module``."""
    op = "custom_from_mask"
    t = _target(module, name, op)
    arr = mask.array if isinstance(mask, Tensor) else mask
    if not hasattr(arr, "shape"):
        arr = np.asarray(arr)
    arr = to_device(arr, t.device)
    if tuple(arr.shape) != tuple(t.shape):
        raise ValueError(f"{op}: mask of shape {tuple(arr.shape)} does not match '{name}' of shape "
                         f"{tuple(t.shape)}")
    new = _current_mask(module, name, t) * (arr != 0).astype(t.dtype)
    _install(module, name, new, f"{op}()")
    return module


# ============================================================================ structured

def _slice_norms(w, n, dim):
    """The L_n norm of every slice ``w.select(dim, i)``: an array of length w.shape[dim]."""
    xp = xp_of(w)
    moved = xp.moveaxis(w, dim, 0).reshape(w.shape[dim], -1).astype(np.float64)
    if n == math.inf:
        return xp.abs(moved).max(axis=1) if moved.shape[1] else xp.zeros(moved.shape[0])
    return (xp.abs(moved) ** n).sum(axis=1) ** (1.0 / n)


def ln_structured(module, name="weight", amount=0.5, n=2, dim=0):
    """Prune whole slices of ``module.<name>`` along ``dim``: those with the smallest
    L_n norm (``n`` = 1, 2, or another positive number, ``math.inf`` for the largest
    entry).

    ``dim=0`` removes output neurons of a Linear (rows of its (out, in) weight) or
    output channels of a Conv2d (filters of its (out, in, kh, kw) weight); ``dim=1``
    removes input features/channels. Structured sparsity is what actually makes a
    layer smaller and faster: a pruned row can be deleted from the matrix (pruning
    the bias entry of that neuron is up to you, e.g. ``custom_from_mask``).

    ``amount`` refers to the slices that are not already entirely pruned (a fraction
    of them, or an int count). Norms are those of the effective weight
    ``weight_orig * weight_mask``. Ties go to the lower index. Returns ``module``.
    """
    op = "ln_structured"
    t = _target(module, name, op)
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not (n > 0):
        raise ValueError(f"{op}: n must be a positive number (1, 2, math.inf...), got {n!r}")
    if t.ndim == 0:
        raise ValueError(f"{op}: '{name}' is a scalar (shape ()); there are no slices to prune")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not -t.ndim <= dim < t.ndim:
        raise ValueError(f"{op}: dim={dim!r} is out of range for '{name}' of shape {tuple(t.shape)} "
                         f"(valid: {-t.ndim} to {t.ndim - 1})")
    dim = int(dim) % t.ndim
    mask = _current_mask(module, name, t)
    xp = xp_of(t.array)
    slice_alive = _slice_norms(mask, 1, dim) != 0  # a slice is alive while any entry is kept
    alive = xp.flatnonzero(slice_alive)
    k = _n_to_prune(amount, int(alive.size), op, what=f"slices along dim {dim}")
    norms = _slice_norms(t.array * mask, float(n), dim)[alive]
    drop = alive[xp.argsort(norms, kind="stable")[:k]]
    keep = xp.ones(t.shape[dim], dtype=t.dtype)
    keep[drop] = 0
    shape = [1] * t.ndim
    shape[dim] = t.shape[dim]
    new = mask * keep.reshape(shape)
    _install(module, name, new, f"{op}(amount={_fmt_amount(amount)}, n={n:g}, dim={dim})")
    return module


# ============================================================================ undoing / inspecting

def _unregister(module, name):
    """Take the pruning machinery of ``name`` out; returns the ``_orig`` Parameter, which
    goes back under ``name`` in its old position. Its values are NOT changed here."""
    hook = _find_hook(module, name)
    module._forward_pre_hooks.pop(hook.handle_id, None)
    orig = module._parameters[name + "_orig"]
    items = [(name if k == name + "_orig" else k, v) for k, v in module._parameters.items()]
    module.__dict__.pop(name, None)  # the computed attribute
    del module._buffers[name + "_mask"]
    module._non_persistent_buffers.discard(name + "_mask")
    module._parameters.clear()
    module._parameters.update(items)
    return orig


def remove(module, name="weight"):
    """Make the pruning of ``module.<name>`` permanent: ``<name>`` becomes a plain
    Parameter again holding ``<name>_orig * <name>_mask`` (pruned entries are now
    stored zeros), and ``<name>_orig``, ``<name>_mask`` and the hook are gone. The
    Parameter object is the one that was ``<name>_orig`` (optimizers keep it).
    Returns ``module``.
    """
    _check_module(module, "remove")
    if not _is_pruned_param(module, name):
        raise ValueError(f"remove: parameter '{name}' of {type(module).__name__} is not pruned "
                         f"(pruned here: {', '.join(pruned_parameters(module, recurse=False)) or 'none'})")
    mask = module._buffers[name + "_mask"].array
    orig = _unregister(module, name)
    with no_grad():
        orig.array[...] = orig.array * mask
        orig._bump_version()
    return module


def is_pruned(module):
    """True when ``module`` or any module inside it has a pruned parameter (as torch)."""
    _check_module(module, "is_pruned")
    return any(isinstance(h, _PruningHook) for m in module.modules() for h in m._forward_pre_hooks.values())


def pruned_parameters(module, recurse=True):
    """The dotted names of the pruned parameters (``["fc1.weight", ...]``), as the
    model's forward sees them (``weight``, not ``weight_orig``)."""
    _check_module(module, "pruned_parameters")
    mods = module.named_modules() if recurse else [("", module)]
    out = []
    for prefix, m in mods:
        for h in m._forward_pre_hooks.values():
            if isinstance(h, _PruningHook):
                out.append(prefix + ("." if prefix else "") + h.name)
    return out


def _effective(module, name):
    """The values the forward uses for parameter ``name`` (an array)."""
    if _is_pruned_param(module, name):
        return module._parameters[name + "_orig"].array * module._buffers[name + "_mask"].array
    return module._parameters[name].array


def _logical_params(module):
    """(logical name, effective array, pruned?) for each parameter of ``module`` itself."""
    pruned = {h.name for h in module._forward_pre_hooks.values() if isinstance(h, _PruningHook)}
    for k, p in module._parameters.items():
        if p is None:
            continue
        if k.endswith("_orig") and k[:-5] in pruned:
            yield k[:-5], _effective(module, k[:-5]), True
        else:
            yield k, p.array, False


def _zeros_fraction(arr):
    n = int(arr.size)
    return 0.0 if n == 0 else float(n - int(xp_of(arr).count_nonzero(arr))) / n


def sparsity(obj, param_names=None):
    """The fraction of entries that are zero.

    * a Tensor or array: of its entries;
    * a Module: of all its parameters together, as the forward sees them (a pruned
      weight counts through its mask). ``param_names`` (e.g. ``("weight",)``)
      restricts the count to parameters with those names (biases are excluded that
      way).
    """
    if isinstance(obj, Module):
        if isinstance(param_names, str):
            param_names = (param_names,)
        zeros = total = 0
        for m in obj.modules():
            for name, arr, _ in _logical_params(m):
                if param_names is not None and name not in param_names:
                    continue
                total += int(arr.size)
                zeros += int(arr.size) - int(xp_of(arr).count_nonzero(arr))
        return 0.0 if total == 0 else zeros / total
    if isinstance(obj, Tensor):
        return _zeros_fraction(obj.array)
    if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
        return _zeros_fraction(obj)
    raise TypeError(f"sparsity: expected a Module, a Tensor or an array, got {type(obj).__name__}")


def sparsity_report(model):
    """One dict per parameter of ``model``: ``layer`` (dotted module name, "" for the
    model itself), ``type`` (the module's class), ``param``, ``shape``, ``numel``,
    ``nonzero``, ``sparsity`` (fraction of zeros of the effective values) and
    ``pruned`` (whether a mask is attached). Turn it into text with
    :func:`format_sparsity_report`."""
    _check_module(model, "sparsity_report")
    rows = []
    for prefix, m in model.named_modules():
        for name, arr, pruned in _logical_params(m):
            n = int(arr.size)
            nz = int(xp_of(arr).count_nonzero(arr))
            rows.append({"layer": prefix, "type": type(m).__name__, "param": name,
                         "shape": tuple(int(s) for s in arr.shape), "numel": n, "nonzero": nz,
                         "sparsity": 0.0 if n == 0 else (n - nz) / n, "pruned": pruned})
    return rows


def format_sparsity_report(rows):
    """A printable table of :func:`sparsity_report` rows, with a total line."""
    head = ("layer", "param", "shape", "numel", "nonzero", "sparsity", "pruned")
    table = []
    for r in rows:
        table.append((f"{r['layer'] or '(model)'} ({r['type']})" if "type" in r else (r["layer"] or "(model)"),
                      r["param"], "x".join(str(s) for s in r["shape"]) or "scalar", str(r["numel"]),
                      str(r["nonzero"]), f"{100 * r['sparsity']:.1f}%", "yes" if r.get("pruned") else ""))
    numel = sum(r["numel"] for r in rows)
    nonzero = sum(r["nonzero"] for r in rows)
    total = ("total", "", "", str(numel), str(nonzero),
             f"{100 * (numel - nonzero) / numel:.1f}%" if numel else "0.0%", "")
    widths = [max(len(row[i]) for row in [head, total] + table) for i in range(len(head))]
    right = {3, 4, 5}

    def line(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * len(line(head))
    return "\n".join([line(head), rule] + [line(r) for r in table] + [rule, line(total)])


# ============================================================================ iterative pruning

def _default_parameters(model):
    """Every ``weight`` with 2 or more dimensions (Linear, Conv, Embedding...),
    pruned or not; biases and normalisation weights are left alone."""
    out = []
    for _, m in model.named_modules():
        if _is_pruned_param(m, "weight"):
            out.append((m, "weight"))
        else:
            p = m._parameters.get("weight")
            if p is not None and p.ndim >= 2 and p.dtype.kind == "f":
                out.append((m, "weight"))
    return out


def _n_pruned(module, name):
    if not _is_pruned_param(module, name):
        return 0
    mask = module._buffers[name + "_mask"].array
    return int(mask.size) - int(xp_of(mask).count_nonzero(mask))


def iterative_prune(model, amounts, fine_tune, parameters=None, structured=False, importance="l1",
                    n=2, dim=0, make_permanent=False):
    """Prune in rounds, training in between: the usual recipe (prune a little, let the
    network recover, prune more) keeps far more accuracy than pruning to the final
    sparsity at once.

    Args:
        model: the Module to prune (in place).
        amounts: target sparsities, cumulative and non-decreasing, e.g. ``[0.5, 0.8, 0.9]``:
            after round ``i`` the fraction ``amounts[i]`` of the selected weights is pruned.
        fine_tune: ``fine_tune(model, step_index)``, called after each round (train a few
            epochs there). Whatever it returns is recorded.
        parameters: ``(module, name)`` pairs to prune; default: every ``weight`` with 2 or
            more dimensions (Linear, Conv, Embedding weights; not biases or norms).
        structured: False: global magnitude pruning (:func:`global_unstructured`, one
            threshold across all the selected tensors). True: per tensor,
            :func:`ln_structured` with ``n`` and ``dim``, rounding each tensor's
            number of slices to the target.
        importance: "l1" or "random" (unstructured only).
        make_permanent: call :func:`remove` on every selected tensor at the end.

    Returns a list with one dict per round: ``step``, ``target``, ``sparsity`` (the
    fraction of zeros in the selected tensors after pruning, before fine-tuning, as
    the forward sees them), ``sparsity_after`` (after fine-tuning; equal, since the
    masks hold) and ``result`` (what ``fine_tune`` returned); if that is a dict, its
    keys are also copied into the row (without overwriting the ones above).
    """
    op = "iterative_prune"
    _check_module(model, op)
    if not callable(fine_tune):
        raise TypeError(f"{op}: fine_tune must be a function fine_tune(model, step_index), "
                        f"got {type(fine_tune).__name__}")
    amounts = list(amounts)
    prev = 0.0
    for i, a in enumerate(amounts):
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not 0.0 <= float(a) <= 1.0:
            raise ValueError(f"{op}: amounts[{i}]={a!r} is not a target sparsity in [0.0, 1.0]")
        if float(a) < prev:
            raise ValueError(f"{op}: amounts must be non-decreasing cumulative targets; amounts[{i}]={a!r} "
                             f"< {prev!r} (pruned weights are not brought back)")
        prev = float(a)
    pairs = _default_parameters(model) if parameters is None else list(parameters)
    if not pairs:
        raise ValueError(f"{op}: no parameters to prune (the model has no weight with 2+ dimensions; "
                         f"pass parameters=[(module, name), ...])")
    for module, name in pairs:
        _target(module, name, op)

    def selected_sparsity():
        zeros = total = 0
        for module, name in pairs:
            arr = _effective(module, name)
            total += int(arr.size)
            zeros += int(arr.size) - int(xp_of(arr).count_nonzero(arr))
        return zeros / total if total else 0.0

    history = []
    for i, target in enumerate(amounts):
        target = float(target)
        if structured:
            for module, name in pairs:
                t = _target(module, name, op)
                d = int(dim) % t.ndim if t.ndim else 0
                mask = _current_mask(module, name, t)
                slices = t.shape[d]
                dead = slices - int(xp_of(mask).count_nonzero(_slice_norms(mask, 1, d)))
                ln_structured(module, name, amount=max(int(round(target * slices)) - dead, 0), n=n, dim=d)
        else:
            total = sum(int(_target(m, nm, op).array.size) for m, nm in pairs)
            done = sum(_n_pruned(m, nm) for m, nm in pairs)
            global_unstructured(pairs, amount=max(int(round(target * total)) - done, 0),
                                importance=importance)
        row = {"step": i, "target": target, "sparsity": selected_sparsity()}
        result = fine_tune(model, i)
        row["sparsity_after"] = selected_sparsity()
        row["result"] = result
        if isinstance(result, dict):
            for k, v in result.items():
                row.setdefault(k, v)
        history.append(row)
    if make_permanent:
        for module, name in pairs:
            if _is_pruned_param(module, name):
                remove(module, name)
    return history


# ============================================================================ loading checkpoints

def load_state_dict(model, state_dict, strict=True):
    """``model.load_state_dict(state_dict)`` that also accepts the state dict of a
    *pruned* model when ``model`` is not pruned (yet): every ``<name>_orig`` /
    ``<name>_mask`` pair whose parameter ``<name>`` is unpruned in ``model`` is first
    pruned with the saved mask (:func:`custom_from_mask`), then everything is loaded.
    If loading fails, that pruning is undone and the model is left as it was.
    Returns ``(missing_keys, unexpected_keys)`` like ``Module.load_state_dict``.
    """
    _check_module(model, "load_state_dict")
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise TypeError(f"load_state_dict: expected a dict of name -> tensor, got {type(state_dict).__name__}")
    added = []
    try:
        for key in list(state_dict.keys()):
            if not isinstance(key, str) or not key.endswith("_mask"):
                continue
            prefix, _, leaf = key.rpartition(".")
            name = leaf[:-5]
            if (prefix + "." if prefix else "") + name + "_orig" not in state_dict:
                continue
            try:
                module = model.get_submodule(prefix)
            except AttributeError:
                continue  # reported as unexpected by Module.load_state_dict
            if _is_pruned_param(module, name) or module._parameters.get(name) is None:
                continue
            mask = state_dict[key]
            arr = mask.array if isinstance(mask, Tensor) else mask
            if not hasattr(arr, "shape"):
                arr = np.asarray(arr)
            if tuple(arr.shape) != tuple(module._parameters[name].shape):
                continue  # the size mismatch is reported by Module.load_state_dict
            custom_from_mask(module, name, arr)
            added.append((module, name))
        return model.load_state_dict(state_dict, strict=strict)
    except BaseException:
        for module, name in reversed(added):
            _unregister(module, name)
        raise
