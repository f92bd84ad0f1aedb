"""The optimizer base class: parameter groups, per-parameter state, saving and loading.

An optimizer owns no model. It holds references to the parameters it updates,
organised in *parameter groups*: each group is a dict with a ``"params"`` list and
its own hyper-parameters (``lr``, ``momentum``...), so one optimizer can train the
head of a network with a larger learning rate than its body::

    opt = SGD([{"params": model.head.parameters(), "lr": 1e-2},
               {"params": model.body.parameters()}], lr=1e-3, momentum=0.9)

Options a group does not set come from the optimizer's ``defaults``.

Per-parameter *state* (a momentum buffer, Adam's running averages, a step count)
lives in ``opt.state[p]``, a dict per parameter, created on the parameter's first
update. A learning-rate scheduler changes ``group["lr"]`` between steps; the
optimizer reads the group's options afresh on every step.

How an update is done, and why it looks the way it does
--------------------------------------------------------
``step()`` does its arithmetic on the raw arrays (``p.array``, ``p.grad.array``), in
place, with the array module that owns them (NumPy on the CPU, CuPy on a GPU).
Working on arrays rather than Tensors means no autograd graph is recorded (the
update is not part of the model's computation) and no Tensor objects are built in
the hot loop, which keeps the per-step Python cost small. Each parameter's
version counter is bumped after the write, so a graph that saved the old value
refuses to backpropagate through it (as PyTorch does).

Gradients are only read, never written: ``p.grad`` may share its array with
another tensor's gradient. Parameters with ``requires_grad=False`` or without a
gradient are skipped entirely (weight decay included), so frozen weights never move.

What every optimizer shares is written here once: the loop over a group's
parameters (:meth:`Optimizer._step_group`), creating each parameter's state
(:meth:`Optimizer._state_for`), ``maximize`` and weight decay
(:meth:`Optimizer._direction`) and the checks of the hyper-parameters
(:meth:`Optimizer._check_options`). An optimizer file declares its options and
state and writes its own update rule, :meth:`Optimizer._update`, for one parameter.
"""
from __future__ import annotations

import numbers

from minigrad.autograd import enable_grad
from minigrad.backend import device_of, to_device, xp_of
from minigrad.tensor import Tensor

__all__ = ["Optimizer", "required"]


class _Required:
    """Marks an option that has no default: every parameter group must give it."""

    def __repr__(self):
        return "<required parameter>"


required = _Required()

_SET_ERROR = ("{}: parameters must be given in an ordered collection (list, tuple, generator), "
              "not a set: their order must be the same in every run so that saved optimizer "
              "state matches")


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs (as given by
            ``model.named_parameters()``), or of dicts (parameter groups).
        defaults: the default value of every option, used by groups that do not set it.

    Every optimizer takes ``params`` as above, and these keyword options (which the
    optimizers' own docstrings do not repeat):

        maximize: climb the objective instead of descending it (default False).
        foreach, capturable: where PyTorch's optimizer has them, accepted for
            compatibility and ignored: they only choose how PyTorch runs the same
            update, and minigrad always updates one parameter at a time.
        differentiable: where PyTorch's optimizer has it, ``True`` (recording the
            update in the autograd graph) is refused.

    A subclass writes its update rule for one parameter in :meth:`_update` and
    declares the rest in class attributes: ``_checked_options`` (the hyper-parameters
    :meth:`_check_options` checks), ``_state_arrays`` and ``_optional_state`` (the
    per-parameter state :meth:`_new_state` creates) and ``_decoupled_weight_decay``.
    """

    #: The options :meth:`_check_options` checks, in this order. A name must be a
    #: number ``>= 0``; a pair ``(name, high)`` a number in ``[0, high]``; ``"betas"``
    #: a pair of numbers in ``[0, 1)``.
    _checked_options: tuple = ()
    #: Names of the state arrays every parameter gets on its first update (zeros of
    #: its shape and dtype), after a step count ``"step"``.
    _state_arrays: tuple = ()
    #: State arrays that exist while a group option is on, ``{array name: option}``:
    #: made (as zeros) on the first update with the option on.
    _optional_state: dict = {}
    #: Weight decay shrinks the weights (``p *= 1 - lr * weight_decay``) instead of
    #: adding ``weight_decay * p`` to the gradient. An optimizer with a
    #: ``decoupled_weight_decay`` option takes it from the group instead.
    _decoupled_weight_decay = False

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list = []
        if not any(v is required for v in self.defaults.values()):
            self._check_options(self.defaults)

        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name()}: params should be an iterable of Tensors or dicts, but got a "
                f"single Tensor of shape {params.shape}; pass [tensor] or model.parameters()")
        if isinstance(params, dict):
            raise TypeError(
                f"{self._name()}: params should be an iterable of Tensors or dicts, but got a "
                "single dict; wrap a parameter group in a list: [{'params': ..., 'lr': ...}]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ERROR.format(self._name()))
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._name()}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ what subclasses write
    def _check_options(self, options):
        """Raise ValueError for an invalid option value (called for the defaults and every
        group): checks the options named in ``_checked_options``, in order."""
        name = self._name()
        for spec in self._checked_options:
            key, high = (spec, None) if isinstance(spec, str) else spec
            if key == "betas":
                _check_betas(name, options["betas"])
            else:
                what = _OPTION_WORDS.get(key, f"{key} value")
                _check_value(name, what, options[key], 0.0, high, high_inclusive=True)

    def _update(self, group, state, w, g):
        """The update rule: change the parameter array ``w`` in place.

        ``g`` is the gradient as :meth:`_direction` made it (negated for ``maximize``,
        with L2 weight decay); it may be the gradient array itself, so it is only read.
        ``state`` is the parameter's state dict (its ``"step"`` already counts this
        step), ``group`` the parameter group with its options.
        """
        raise NotImplementedError(f"{self._name()} does not implement _update")

    def _new_state(self, group, w):
        """The state of a parameter before its first update: ``{"step": 0}`` and a
        zero array for each name in ``_state_arrays``. None keeps no state."""
        xp = xp_of(w)
        return {"step": 0, **{name: xp.zeros_like(w) for name in self._state_arrays}}

    # ------------------------------------------------------------------ the shared update loop
    def _step_group(self, group):
        """Update every parameter of ``group`` that has a gradient."""
        for p, w, g in self._grads(group):
            state = self._state_for(p, group, w)
            self._update(group, state, w, self._direction(group, w, g))
            p._bump_version()   # graphs that saved the old value will refuse to backward

    def _state_for(self, p, group, w):
        """``p``'s state for this step: made by :meth:`_new_state` on its first update,
        given the optional arrays whose option is on, its ``"step"`` counted."""
        state = self.state.get(p)
        if state is None:
            state = self._new_state(group, w)
            if state is None:
                return None
            self.state[p] = state
        for name, option in self._optional_state.items():
            if group[option] and state.get(name) is None:
                state[name] = xp_of(w).zeros_like(w)
        if "step" in state:
            state["step"] += 1
        return state

    def _direction(self, group, w, g):
        """The gradient the update rule follows: ``-g`` if maximizing, plus the L2 term
        ``weight_decay * w``; decoupled weight decay shrinks ``w`` in place instead.
        The gradient array is never written: a changed gradient is a new array."""
        if group["maximize"]:
            g = -g
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            if "decoupled_weight_decay" in self.defaults:
                decoupled = group["decoupled_weight_decay"]
            else:
                decoupled = self._decoupled_weight_decay
            if decoupled:
                w *= 1 - group["lr"] * weight_decay
            else:
                g = g + weight_decay * w
        return g

    # ------------------------------------------------------------------ groups
    def _name(self):
        return type(self).__name__

    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``"params"`` and optional options).

        Useful to start training layers that were frozen so far, e.g. when fine-tuning.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name()}: a parameter group must be a dict, "
                            f"got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{self._name()}: a parameter group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_ERROR.format(self._name()))
        else:
            params = list(params)

        names = None
        if params and isinstance(params[0], tuple):
            if not all(isinstance(item, tuple) and len(item) == 2 for item in params):
                raise TypeError(f"{self._name()}: mixing named (name, tensor) pairs and plain "
                                "tensors in one parameter group is not supported")
            names = [name for name, _ in params]
            params = [p for _, p in params]

        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name()}: can only optimize Tensors, but parameter {i} "
                                f"of the group is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    f"{self._name()}: can't optimize a non-leaf Tensor (parameter {i}, shape "
                    f"{p.shape}, was computed by {p.grad_fn.name()}); optimize the leaf it came "
                    "from, or .detach() it and set requires_grad")
            if p.dtype.kind != "f":
                raise TypeError(f"{self._name()}: can only optimize floating-point tensors, "
                                f"parameter {i} has dtype {p.dtype}")

        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self._name()}: a parameter group contains the same tensor more "
                             "than once")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing.intersection(ids):
            raise ValueError(f"{self._name()}: some parameters appear in more than one "
                             "parameter group")

        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{self._name()}: parameter group didn't specify a value of "
                                 f"required optimization parameter {name}")
            group.setdefault(name, default)
        self._check_options(group)

        group["params"] = params
        if names is not None:
            group["param_names"] = names
        self.param_groups.append(group)

    # ------------------------------------------------------------------ the training-loop API
    def zero_grad(self, set_to_none=True):
        """Forget the gradients of every parameter before the next backward.

        With ``set_to_none=True`` (the default) ``p.grad`` becomes None, which costs
        nothing and lets ``step`` skip parameters that received no gradient. With
        False each gradient becomes a fresh array of zeros (a new array, not a write
        into the old one, because gradient arrays may be shared).
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = Tensor(xp_of(g.array).zeros_like(g.array))

    def step(self, closure=None):
        """Update the parameters once from their current gradients.

        ``closure``, if given, is a function that clears the gradients, recomputes the
        loss, calls ``backward`` and returns the loss; it is called first (with grad
        mode on) and its loss is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _grads(self, group):
        """The (parameter, parameter array, gradient array) of each parameter to update."""
        out = []
        for p in group["params"]:
            g = p.grad
            if g is None or not p.requires_grad:
                continue
            _check_grad_shape(self._name(), p, g)
            out.append((p, p.array, g.array))
        return out

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self):
        """The optimizer's state as a plain dict (safe to pickle or save with NumPy).

        ``{"state": {index: {name: value}}, "param_groups": [{option: value, "params":
        [index, ...]}]}``. Parameters are referred to by their position (counting
        through the groups in order), as in PyTorch, so the dict can be loaded into
        a new optimizer built over the same parameters of a new model. State arrays
        are copies: later steps do not change a dict you saved.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            i = index.get(id(p))
            if i is not None:
                state[i] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a dict made by :meth:`state_dict`.

        The saved groups' options replace the current ones (the parameters stay). The
        dict is checked completely before anything changes: on a mismatch (another
        number of groups or parameters, a state array of the wrong shape) a ValueError
        is raised and the optimizer is left as it was. State arrays are copied, cast to
        each parameter's dtype and moved to its device.
        """
        name = self._name()
        if not isinstance(state_dict, dict) or "state" not in state_dict or \
                "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups' entries, as made by Optimizer.state_dict()")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                f"group(s) but the optimizer has {len(self.param_groups)}")
        id_map = {}
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            saved_params = saved.get("params")
            if saved_params is None or len(saved_params) != len(group["params"]):
                n = None if saved_params is None else len(saved_params)
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {gi} has {n} parameters in the "
                    f"state dict but {len(group['params'])} in the optimizer")
            for i, p in zip(saved_params, group["params"]):
                id_map[i] = p
            new = {k: v for k, v in saved.items() if k != "params"}
            for k, default in self.defaults.items():
                if k not in new:
                    new[k] = group.get(k, default)
            self._check_options(new)
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                new["param_names"] = group["param_names"]
            new_groups.append(new)

        new_state = {}
        for i, s in state_dict["state"].items():
            p = id_map.get(i)
            if p is None:
                raise ValueError(
                    f"{name}.load_state_dict: the state dict has state for parameter index {i!r}, "
                    f"but the parameter groups only refer to indices {sorted(id_map)}")
            if not isinstance(s, dict):
                raise ValueError(f"{name}.load_state_dict: the state of parameter {i} should be a "
                                 f"dict, got {type(s).__name__}")
            new_state[p] = {k: _load_value(v, p, name, i, k) for k, v in s.items()}

        self.param_groups = new_groups
        self.state = new_state

    # ------------------------------------------------------------------ printing
    def __repr__(self):
        lines = [f"{self._name()} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers

def _copy_value(v):
    """A copy of one state entry (arrays are copied, numbers are immutable)."""
    if isinstance(v, Tensor):
        return v.array.copy()
    if hasattr(v, "shape") and hasattr(v, "copy"):
        return v.copy()
    return v


def _load_value(v, p, name, index, key):
    """One saved state entry, made ready for parameter ``p``: arrays are copied, cast
    to the parameter's floating dtype and moved to its device; numbers pass through."""
    if isinstance(v, Tensor):
        v = v.array
    if isinstance(v, bool) or isinstance(v, str) or v is None:
        return v
    if isinstance(v, numbers.Real):
        v = int(v) if isinstance(v, numbers.Integral) else float(v)
        return int(v) if key == "step" and float(v).is_integer() else v
    if not hasattr(v, "shape"):
        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {index} has "
                         f"unsupported type {type(v).__name__}")
    if v.shape == () and (p.shape != () or key == "step"):
        v = v.item()  # a number saved as a 0-d array (e.g. a step count)
        return int(v) if key == "step" and float(v).is_integer() else v
    if v.shape != p.shape:
        raise ValueError(
            f"{name}.load_state_dict: state '{key}' of parameter {index} has shape {v.shape}, "
            f"but the parameter has shape {p.shape}")
    v = to_device(v, device_of(p.array))
    xp = xp_of(v)
    if v.dtype.kind == "f" and v.dtype != p.dtype:
        return v.astype(p.dtype)
    return xp.array(v, copy=True)


def _check_grad_shape(opt, p, grad):
    """Raise ``RuntimeError`` unless the gradient Tensor ``grad`` has parameter ``p``'s shape."""
    if grad.shape != p.shape:
        raise RuntimeError(f"{opt}.step: the gradient of a parameter of shape {p.shape} has "
                           f"shape {grad.shape}")


def _check_value(opt, what, value, low=0.0, high=None, high_inclusive=False):
    """Raise ``ValueError`` unless ``low <= value`` (and ``value < high``, or ``<=``).

    ``_check_value("Adam", "beta parameter at index 0", 1.5, 0.0, 1.0)`` raises
    ``Adam: invalid beta parameter at index 0: 1.5 (must be in [0, 1))``.
    """
    if high is None:
        rule = f">= {low:g}"
        ok = value >= low if _is_real(value) else False
    else:
        rule = f"in [{low:g}, {high:g}" + ("]" if high_inclusive else ")")
        ok = _is_real(value) and low <= value and (value <= high if high_inclusive else value < high)
    if not ok:
        raise ValueError(f"{opt}: invalid {what}: {value!r} (must be {rule})")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# How an option is named in error messages (PyTorch's words); others are "<name> value".
_OPTION_WORDS = {"lr": "learning rate", "eps": "epsilon value"}


def _check_betas(opt, betas):
    """The checks of ``betas=(beta1, beta2)`` (PyTorch's): a pair, each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{opt}: betas must be a pair (beta1, beta2), got {betas!r}")
    _check_value(opt, "beta parameter at index 0", betas[0], 0.0, 1.0)
    _check_value(opt, "beta parameter at index 1", betas[1], 0.0, 1.0)


def _refuse_differentiable(opt, differentiable):
    """PyTorch's ``differentiable=True`` records the update in the autograd graph;
    minigrad's updates work on raw arrays, so it is refused rather than ignored.
    (``foreach`` and ``capturable`` only choose how the same update runs, and are
    accepted and ignored.)"""
    if differentiable:
        raise ValueError(f"{opt}: differentiable=True (backpropagating through the optimizer "
                         f"step) is not supported; minigrad's optimizers update raw arrays "
                         f"outside autograd")
