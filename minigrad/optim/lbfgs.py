"""L-BFGS: a quasi-Newton method that re-evaluates the loss through a closure.

Unlike the other optimizers, L-BFGS needs to evaluate the loss and its gradient
several times per step (to choose a step length), so ``step`` takes a *closure*::

    opt = optim.LBFGS(model.parameters(), lr=1, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    for _ in range(10):
        opt.step(closure)

It treats all parameters as one long vector ``x`` (the concatenation of the
flattened parameters) and the gradients as one vector ``g``.
"""
from __future__ import annotations

import collections
import functools
import numbers

from minigrad.autograd import enable_grad
from minigrad.backend import device_of, to_device, xp_of
from minigrad.optim.optimizer import Optimizer, _check_grad_shape, _check_value

__all__ = ["LBFGS"]

# State entries that hold flat vectors (or lists of them) over all parameters,
# rather than arrays shaped like one parameter.
_VECTORS = ("d", "prev_flat_grad")
_HISTORIES = ("old_dirs", "old_stps")
_NUMBER_LISTS = ("ro", "al")
# What one iteration of ``step`` leaves for the next one, and one step for the next step.
_CARRIED = ("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")


class LBFGS(Optimizer):
    r"""L-BFGS (Nocedal, 1980; Liu & Nocedal, 1989), PyTorch's algorithm.

    Newton's method steps by ``-H^{-1} g``, with ``H`` the Hessian. BFGS builds an
    approximation of ``H^{-1}`` from how the gradient changed between steps:
    every step gives a pair ``s = x_new - x_old``, ``y = g_new - g_old`` with
    ``H s ~ y``. L-BFGS keeps only the last ``history_size`` pairs and never forms
    a matrix: the *two-loop recursion* computes the direction from the pairs::

        q = -g
        for i = newest ... oldest:  a_i = (s_i . q) / (y_i . s_i);  q -= a_i y_i
        r = q * (y . s) / (y . y)                  (newest pair: the initial scale)
        for i = oldest ... newest:  b_i = (y_i . r) / (y_i . s_i);  r += (a_i - b_i) s_i
        d = r                                      (the search direction)

    A pair is stored only if ``y . s > 1e-10`` (the curvature along ``s`` is
    positive), which keeps the approximation positive definite.

    One call to ``step(closure)`` runs up to ``max_iter`` iterations. Each
    iteration computes ``d`` and then either moves ``x += t d`` with
    ``t = lr`` (``t = min(1, 1/sum|g|) * lr`` on the very first iteration) and
    re-evaluates the closure, or, with ``line_search_fn="strong_wolfe"``, searches
    for a ``t`` that satisfies the strong Wolfe conditions (enough decrease of the
    loss, and a directional derivative that shrank enough) by bracketing and cubic
    interpolation. The step stops early when the largest gradient entry is at most
    ``tolerance_grad``, when ``t d`` or the change of the loss is smaller than
    ``tolerance_change``, or after ``max_eval`` evaluations of the closure.

    The state (history, last direction and step, counters ``func_evals`` and
    ``n_iter``) is global; as in PyTorch it is stored under the first parameter,
    so ``state_dict()`` has a single entry ``0``. Flat vectors are NumPy (or CuPy)
    arrays of length ``sum(p.numel())``; ``ro``, ``al``, ``H_diag``, ``t`` and
    ``prev_loss`` are numbers.

    Only one parameter group is supported; parameters without a gradient count
    as having a zero gradient.

    Args:
        params: the parameters to optimize (one group).
        lr: learning rate (default 1).
        max_iter: most iterations per ``step`` (default 20).
        max_eval: most closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max |g| <= tolerance_grad`` (default 1e-7).
        tolerance_change: stop when the step or the loss change is smaller (default 1e-9).
        history_size: number of ``(s, y)`` pairs kept (default 100).
        line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        self._params = self.param_groups[0]["params"]
        self._numel = sum(p.array.size for p in self._params)

    def _check_options(self, o):
        name = self._name()
        _check_value(name, "learning rate", o["lr"])
        for key in ("max_iter", "max_eval", "history_size"):
            v = o[key]
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: invalid {key}: {v!r} (must be an int >= 1)")
        _check_value(name, "tolerance_grad", o["tolerance_grad"])
        _check_value(name, "tolerance_change", o["tolerance_change"])
        if o["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"{name}: line_search_fn must be None or 'strong_wolfe', "
                             f"got {o['line_search_fn']!r}")

    def add_param_group(self, param_group):
        """Refused after the first group: L-BFGS treats all parameters as one vector."""
        if self.param_groups:
            raise ValueError(f"{self._name()} doesn't support per-parameter options "
                             "(parameter groups): give all parameters in one group")
        super().add_param_group(param_group)

    # ------------------------------------------------------------------ the flat vector
    def _flat_grad(self):
        """The gradients of all parameters, flattened and concatenated (a new array)."""
        w0 = self._params[0].array
        xp = xp_of(w0)
        parts = []
        for p in self._params:
            g = p.grad
            if g is None:
                parts.append(xp.zeros(p.array.size, dtype=p.array.dtype))
            else:
                _check_grad_shape(self._name(), p, g)
                parts.append(g.array.reshape(-1))
        return xp.concatenate(parts)

    def _add_to_params(self, step, d):
        """``x += step * d``, written into each parameter in place."""
        offset = 0
        step = float(step)
        for p in self._params:
            w = p.array
            n = w.size
            w += step * d[offset:offset + n].reshape(w.shape)
            offset += n
            p._bump_version()

    def _copy_params(self):
        return [p.array.copy() for p in self._params]

    def _set_params(self, saved):
        for p, a in zip(self._params, saved):
            p.array[...] = a
            p._bump_version()

    def _evaluate(self, closure):
        with enable_grad():
            return closure()

    def _directional_evaluate(self, closure, x, t, d):
        """Loss and gradient at ``x + t d``; the parameters are put back to ``x`` after."""
        self._add_to_params(t, d)
        loss = float(self._evaluate(closure))
        g = self._flat_grad()
        self._set_params(x)
        return loss, g

    # ------------------------------------------------------------------ one step
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss.

        ``closure`` (required) clears the gradients, computes the loss, calls
        ``backward()`` and returns the loss; it is called with grad mode on.
        """
        if closure is None:
            raise TypeError(f"{self._name()}.step: L-BFGS needs a closure that clears the "
                            "gradients, recomputes the loss, calls backward() and returns "
                            "the loss: opt.step(closure)")
        group = self.param_groups[0]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._evaluate(closure)
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if _max_abs(flat_grad) <= group["tolerance_grad"]:
            return orig_loss           # already at a stationary point

        # what one iteration hands to the next (and this step to the next step)
        memory = {key: state.get(key) for key in _CARRIED}
        loss, evals = float(orig_loss), 1
        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            d = memory["d"] = self._search_direction(state, memory, flat_grad)
            memory["prev_flat_grad"] = _copy_into(memory["prev_flat_grad"], flat_grad)
            memory["prev_loss"] = loss
            t = group["lr"]
            if state["n_iter"] == 1:   # the very first step is scaled by the gradient's size
                t = min(1.0, 1.0 / float(xp_of(flat_grad).abs(flat_grad).sum())) * t
            memory["t"] = t
            gtd = float(xp_of(d).dot(flat_grad, d))   # directional derivative along d
            if gtd > -group["tolerance_change"]:
                break                                  # not a descent direction (any more)

            loss, flat_grad, new_evals = self._move(closure, memory, loss, flat_grad, gtd,
                                                    last=n_iter == group["max_iter"],
                                                    max_ls=group["max_eval"] - evals)
            evals += new_evals
            state["func_evals"] += new_evals
            if self._should_stop(memory, n_iter, evals, loss, flat_grad):
                break

        state.update(memory)
        return orig_loss

    def _search_direction(self, state, memory, flat_grad):
        """``d = -H^{-1} g``: steepest descent on the very first iteration; afterwards
        the last step's pair ``(s, y)`` joins the history and the two-loop recursion
        runs over it."""
        if state["n_iter"] == 1:
            memory.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
            return -flat_grad
        history_size = self.param_groups[0]["history_size"]
        self._remember_pair(memory, flat_grad - memory["prev_flat_grad"],
                            memory["d"] * memory["t"], history_size)
        al = state.setdefault("al", [None] * history_size)
        return _two_loop_recursion(flat_grad, memory["old_dirs"], memory["old_stps"],
                                   memory["ro"], memory["H_diag"], al)

    @staticmethod
    def _remember_pair(memory, y, s, history_size):
        """Keep ``(s, y)`` (dropping the oldest pair when the history is full) if the
        curvature along ``s`` is positive, ``y . s > 1e-10``; the newest pair sets the
        initial scale ``H_diag = (y . s) / (y . y)``."""
        xp = xp_of(y)
        ys = float(xp.dot(y, s))
        if ys <= 1e-10:
            return
        old_dirs, old_stps, ro = memory["old_dirs"], memory["old_stps"], memory["ro"]
        if len(old_dirs) == history_size:
            old_dirs.pop(0)
            old_stps.pop(0)
            ro.pop(0)
        old_dirs.append(y)
        old_stps.append(s)
        ro.append(1.0 / ys)
        memory["H_diag"] = ys / float(xp.dot(y, y))

    def _move(self, closure, memory, loss, flat_grad, gtd, *, last, max_ls):
        """Move the parameters along ``d``, by ``t`` (a fixed step) or by the step the
        strong Wolfe line search finds (``memory["t"]`` becomes it). Returns the loss
        and flat gradient at the new point and how many closure evaluations it took.

        The fixed step does not evaluate after the last iteration: the next
        ``step()`` starts by evaluating there anyway.
        """
        d, t = memory["d"], memory["t"]
        evals = 0
        if self.param_groups[0]["line_search_fn"] == "strong_wolfe":
            evaluate_at = functools.partial(self._directional_evaluate, closure)
            loss, flat_grad, t, evals = _strong_wolfe(evaluate_at, self._copy_params(), t, d,
                                                      loss, flat_grad, gtd, max_ls=max_ls)
            memory["t"] = t
            self._add_to_params(t, d)
        else:
            self._add_to_params(t, d)
            if not last:
                loss = float(self._evaluate(closure))
                flat_grad = self._flat_grad()
                evals = 1
        return loss, flat_grad, evals

    def _should_stop(self, memory, n_iter, evals, loss, flat_grad):
        """The stopping rules: out of iterations or closure evaluations, the gradient
        small enough, or the step or the change of the loss too small to matter."""
        group = self.param_groups[0]
        tolerance_change = group["tolerance_change"]
        return (n_iter == group["max_iter"] or evals >= group["max_eval"]
                or _max_abs(flat_grad) <= group["tolerance_grad"]
                or _max_abs(memory["d"]) * abs(memory["t"]) <= tolerance_change
                or abs(loss - memory["prev_loss"]) < tolerance_change)

    # ------------------------------------------------------------------ saving and loading
    def state_dict(self):
        """As :meth:`Optimizer.state_dict`; the history lists are copied too."""
        sd = super().state_dict()
        for s in sd["state"].values():
            for key in _HISTORIES:
                if key in s:
                    s[key] = [v.copy() for v in s[key]]
            for key in _NUMBER_LISTS:
                if key in s:
                    s[key] = list(s[key])
        return sd

    def load_state_dict(self, state_dict):
        """As :meth:`Optimizer.load_state_dict`. The flat vectors (``d``,
        ``prev_flat_grad`` and the history) must have one entry per parameter
        element; everything is checked before anything changes."""
        name = self._name()
        if not isinstance(state_dict, dict) or not isinstance(state_dict.get("state"), dict):
            return super().load_state_dict(state_dict)   # raises its own clear error
        w0 = self._params[0].array
        device, dtype = device_of(w0), w0.dtype
        plain, vectors = {}, {}
        for i, s in state_dict["state"].items():
            if not isinstance(s, dict):
                plain[i] = s
                continue
            plain[i] = {k: v for k, v in s.items() if k not in _VECTORS + _HISTORIES + _NUMBER_LISTS}
            for key in _VECTORS + _HISTORIES + _NUMBER_LISTS:
                if key in s:
                    vectors[key] = self._load_entry(key, s[key], device, dtype)
        super().load_state_dict({**state_dict, "state": plain})
        if vectors:
            self.state.setdefault(self._params[0], {}).update(vectors)

    def _load_entry(self, key, value, device, dtype):
        name = self._name()

        def vector(v, what):
            if hasattr(v, "requires_grad"):      # a Tensor: its array
                v = v.array
            if not hasattr(v, "shape") or tuple(v.shape) != (self._numel,):
                shape = getattr(v, "shape", type(v).__name__)
                raise ValueError(f"{name}.load_state_dict: {what} should be a vector of "
                                 f"{self._numel} elements (one per parameter element), got {shape}")
            v = to_device(v, device)
            return v.astype(dtype, copy=True)

        def number(v, what):
            if v is None:
                return None
            if hasattr(v, "shape") and tuple(v.shape) == ():
                v = v.item()
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                raise ValueError(f"{name}.load_state_dict: {what} should be a number, "
                                 f"got {type(v).__name__}")
            return float(v)

        if key in _VECTORS:
            return None if value is None else vector(value, f"state '{key}'")
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}.load_state_dict: state '{key}' should be a list, "
                             f"got {type(value).__name__}")
        if key in _HISTORIES:
            return [vector(v, f"state '{key}'[{j}]") for j, v in enumerate(value)]
        return [number(v, f"state '{key}'[{j}]") for j, v in enumerate(value)]


# ---------------------------------------------------------------------- the direction

def _two_loop_recursion(flat_grad, old_dirs, old_stps, ro, H_diag, al):
    """``d = -H^{-1} g`` from the stored pairs (``old_stps`` are the ``s``, ``old_dirs``
    the ``y``, ``ro`` the ``1 / (y . s)``), without forming a matrix; ``al`` is the
    list the first loop's coefficients are written to (kept in the state)."""
    xp = xp_of(flat_grad)
    num_old = len(old_dirs)
    if len(al) < num_old:
        al.extend([None] * (num_old - len(al)))
    q = -flat_grad
    for i in range(num_old - 1, -1, -1):        # newest to oldest
        al[i] = float(xp.dot(old_stps[i], q)) * ro[i]
        q -= al[i] * old_dirs[i]
    d = r = q * H_diag                          # the newest pair's scale
    for i in range(num_old):                    # oldest to newest
        be_i = float(xp.dot(old_dirs[i], r)) * ro[i]
        r += (al[i] - be_i) * old_stps[i]
    return d


def _max_abs(v):
    """``max |v|`` of a flat vector, as a float."""
    return float(xp_of(v).abs(v).max())


def _copy_into(dst, src):
    """``src`` copied into ``dst`` in place, or into a new array when ``dst`` is None."""
    if dst is None:
        return src.copy()
    dst[...] = src
    return dst


# ---------------------------------------------------------------------- line search

def _cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer of the cubic through ``(x1, f1)`` and ``(x2, f2)`` with slopes
    ``g1`` and ``g2``, clipped to ``bounds`` (default: between ``x1`` and ``x2``).

    If the cubic has no minimum (its derivative has no real root), the middle of
    the bounds is returned instead.
    """
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = d2_square ** 0.5
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


#: One trial step of the line search: the step ``t``, the loss ``f`` and flat gradient
#: ``g`` at ``x + t d``, and the slope along the direction, ``gtd = g . d``.
_Point = collections.namedtuple("_Point", "t f g gtd")


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """Find a step ``t`` along ``d`` that satisfies the strong Wolfe conditions.

    ``f(x + t d) <= f + c1 t gtd`` (sufficient decrease) and
    ``|g(x + t d) . d| <= -c2 gtd`` (the slope flattened enough). First *bracket*:
    grow ``t`` (by cubic extrapolation) until the conditions hold or an interval
    is known to contain such a step; then *zoom*: shrink the interval by cubic
    interpolation. Returns ``(f_new, g_new, t, evaluations)``; it stops evaluating
    once it has made more than ``max_ls`` evaluations. ``obj_func(x, t, d)`` returns
    the loss and flat gradient at ``x + t d``.
    """
    xp = xp_of(d)

    def evaluate(step):
        f_new, g_new = obj_func(x, step, d)
        return _Point(step, f_new, g_new, float(xp.dot(g_new, d)))

    def decrease_too_small(point):        # the first condition fails
        return point.f > f + c1 * point.t * gtd

    def slope_flat_enough(point):          # the second condition holds
        return abs(point.gtd) <= -c2 * gtd

    bracket, done, evals = _bracket_phase(evaluate, _Point(0.0, f, g.copy(), gtd), t, max_ls,
                                          decrease_too_small, slope_flat_enough)
    if done:
        best = bracket[0]
    else:
        best, evals = _zoom_phase(evaluate, bracket, evals, max_ls, decrease_too_small,
                                  slope_flat_enough, _max_abs(d), tolerance_change)
    return best.f, best.g, best.t, evals


def _copied(point):
    return point._replace(g=point.g.copy())


def _bracket_phase(evaluate, start, t, max_ls, decrease_too_small, slope_flat_enough):
    """Try ``t``, then ever longer steps (by cubic extrapolation, between 1.01 and 10
    times the last one), until a step satisfies both conditions (returned alone,
    ``done``) or the last two steps bracket one: the loss went up, or the slope
    turned non-negative. Out of evaluations, the bracket is ``[0, last step]``.
    Returns ``(bracket, done, evaluations)``."""
    prev, point = start, evaluate(t)
    evals = 1
    while evals <= max_ls:
        if decrease_too_small(point) or (evals > 2 and point.f >= prev.f):
            return [prev, _copied(point)], False, evals
        if slope_flat_enough(point):
            return [point], True, evals
        if point.gtd >= 0:
            return [prev, _copied(point)], False, evals
        bounds = (point.t + 0.01 * (point.t - prev.t), point.t * 10)
        step = _cubic_minimizer(prev.t, prev.f, prev.gtd, point.t, point.f, point.gtd,
                                bounds=bounds)
        prev, point = _copied(point), evaluate(step)
        evals += 1
    return [start, point], False, evals


def _zoom_phase(evaluate, bracket, evals, max_ls, decrease_too_small, slope_flat_enough, d_norm,
                tolerance_change):
    """Shrink the bracket (two points) by cubic interpolation until a step satisfies
    both conditions, the bracket is too small to matter, or the evaluations run out.
    Returns the lowest point found and the number of evaluations."""
    insufficient_progress = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    done = False
    while not done and evals <= max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break                                   # the bracket is too small to matter
        a, b = bracket
        t = _cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t, insufficient_progress = _away_from_the_ends(t, min(a.t, b.t), max(a.t, b.t),
                                                       insufficient_progress)
        point = evaluate(t)
        evals += 1
        if decrease_too_small(point) or point.f >= bracket[low].f:
            # not enough decrease: t becomes the new high end
            bracket[high] = _copied(point)
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if slope_flat_enough(point):
                done = True                         # strong Wolfe conditions hold
            elif point.gtd * (bracket[high].t - bracket[low].t) >= 0:
                # the minimum lies on the other side: the old low end becomes the high end
                bracket[high] = bracket[low]
            bracket[low] = _copied(point)
    return bracket[low], evals


def _away_from_the_ends(t, lo, hi, insufficient_progress):
    """Keep ``t`` at least 10% of the bracket ``[lo, hi]`` away from its ends once it
    got stuck there (the second time in a row, or outside the bracket). Returns the
    step and whether progress was insufficient this time."""
    eps = 0.1 * (hi - lo)
    if min(hi - t, t - lo) < eps:             # close to an end
        if insufficient_progress or t >= hi or t <= lo:
            return (hi - eps if abs(t - hi) < abs(t - lo) else lo + eps), False
        return t, True
    return t, False
