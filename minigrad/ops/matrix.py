"""Matrix ops beyond matmul: einsum, addmm, baddbmm, cdist, tril, triu.

``einsum`` is the general contraction: name each operand's dimensions with letters,
and every letter missing from the output is summed over. Its gradient is again an
einsum: to get the gradient of one operand, contract the output's gradient with all
the *other* operands and produce that operand's letters. ``addmm``, ``baddbmm`` and
``cdist`` are compositions of matmul, elementwise ops and norms, so autograd derives
their gradients. ``tril``/``triu`` zero one triangle; their gradient zeroes the same one.
"""
from __future__ import annotations

import string

import numpy as np

from minigrad.autograd import Function
from minigrad.backend import xp_of
from minigrad.tensor import Tensor
from minigrad.ops import elementwise as ew
from minigrad.ops import reduce as red
from minigrad.ops.matmul import matmul
from minigrad.ops.shape import reshape, expand, unsqueeze

__all__ = ["einsum", "addmm", "baddbmm", "cdist", "tril", "triu"]


# ----------------------------------------------------------------------------- tril / triu

class Triangle(Function):
    """y = x with everything above (tril) or below (triu) diagonal k set to 0, on the last
    two dims;  gx = the same triangle of gy (the kept elements pass their gradient)"""

    @staticmethod
    def forward(ctx, x, k, upper):
        ctx.k, ctx.upper = k, upper
        xp = xp_of(x)
        return xp.triu(x, k) if upper else xp.tril(x, k)

    @staticmethod
    def backward(ctx, gy):
        return Triangle.apply(gy, ctx.k, ctx.upper)


def _triangle(input, diagonal, upper, op):
    if input.ndim < 2:
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {input.shape}")
    if not isinstance(diagonal, (int, np.integer)) or isinstance(diagonal, bool):
        raise TypeError(f"{op}: diagonal must be an int, got {type(diagonal).__name__}")
    return Triangle.apply(input, int(diagonal), upper)


def tril(input, diagonal=0):
    """The lower triangle of the last two dims: elements with ``col - row <= diagonal``
    are kept, the rest set to 0 (``diagonal=-1`` also drops the main diagonal)."""
    return _triangle(input, diagonal, False, "tril")


def triu(input, diagonal=0):
    """The upper triangle of the last two dims: elements with ``col - row >= diagonal``
    are kept, the rest set to 0 (``diagonal=1`` also drops the main diagonal)."""
    return _triangle(input, diagonal, True, "triu")


# ----------------------------------------------------------------------------- einsum

class Einsum(Function):
    """y = einsum("terms -> out", *xs);  the gradient of operand k is
    einsum(out, other terms -> term k)(gy, other xs): the output's gradient contracted
    with every other operand. Letters that only operand k has were summed in the
    forward, so their gradient is broadcast back; a letter repeated in term k (a
    diagonal, as in ``"ii->i"``) gets its gradient on that diagonal only."""

    @staticmethod
    def forward(ctx, *arrays, terms, out):
        ctx.terms, ctx.out = terms, out
        ctx.shapes = [a.shape for a in arrays]
        ctx.save_for_backward(*arrays)
        xp = xp_of(arrays[0])
        spec = ",".join(terms) + "->" + out
        # NumPy contracts pairwise through BLAS only when asked (optimize); CuPy always does.
        y = xp.einsum(spec, *arrays, optimize=len(arrays) > 1) if xp is np else xp.einsum(spec, *arrays)
        return xp.asarray(y)

    @staticmethod
    def backward(ctx, gy):
        xs = ctx.saved_tensors
        used = set("".join(ctx.terms) + ctx.out)
        fresh = [c for c in string.ascii_letters if c not in used]
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            term = ctx.terms[k]
            others = [j for j in range(len(xs)) if j != k]
            reachable = set(ctx.out).union(*[ctx.terms[j] for j in others])
            uniq = "".join(dict.fromkeys(term))
            target = "".join(c for c in uniq if c in reachable)
            g = Einsum.apply(gy, *[xs[j] for j in others],
                             terms=(ctx.out,) + tuple(ctx.terms[j] for j in others), out=target)
            size = dict(zip(term, ctx.shapes[k]))
            if target != uniq:  # letters summed inside operand k alone: broadcast back
                g = reshape(g, tuple(g.shape[target.index(c)] if c in target else 1 for c in uniq))
                g = expand(g, tuple(size[c] if c not in target else g.shape[uniq.index(c)] for c in uniq))
            if uniq != term:  # a repeated letter: put the gradient on its diagonal
                full, deltas, delta_terms, pool = [], [], [], iter(fresh)
                seen = set()
                for c in term:
                    if c in seen:
                        f = next(pool)
                        full.append(f)
                        deltas.append(Tensor(xp_of(gy.array).eye(size[c], dtype=gy.dtype)))
                        delta_terms.append(c + f)
                    else:
                        seen.add(c)
                        full.append(c)
                g = Einsum.apply(g, *deltas, terms=(uniq,) + tuple(delta_terms), out="".join(full))
            grads.append(g)
        return tuple(grads)


def _einsum_parse(equation, shapes):
    """Expand ``...`` into letters and make the output explicit; check every size."""
    eq = equation.replace(" ", "")
    bad = set(eq) - set(string.ascii_letters) - set(".,->")
    if bad:
        raise ValueError(f"einsum: invalid character(s) {sorted(bad)} in equation {equation!r} "
                         "(use letters a-z, A-Z, ',', '->' and '...')")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} names {len(terms)} operand(s) but "
                         f"{len(shapes)} were given")
    used = set(c for c in eq if c.isalpha())
    free = [c for c in string.ascii_letters if c not in used]
    n_ell = 0
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n_ell = max(n_ell, len(shape) - (len(term) - 3))
    ell = "".join(free[:n_ell])
    expanded = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = term.replace("...", "")
        if "." in named or term.count("...") > 1:
            raise ValueError(f"einsum: subscripts {term!r} of operand {i} have a misplaced '.' "
                             "(an ellipsis is exactly '...', at most once per operand)")
        if "..." in term:
            k = len(shape) - len(named)
            if k < 0:
                raise ValueError(f"einsum: operand {i} has {len(shape)} dim(s), fewer than the {len(named)} "
                                 f"named in {term!r}")
            term = term.replace("...", ell[n_ell - k:])
        if len(term) != len(shape):
            raise ValueError(f"einsum: operand {i} has {len(shape)} dim(s) (shape {tuple(shape)}) but "
                             f"subscripts {terms[i]!r} name {len(term)}")
        expanded.append(term)
    if arrow:
        if out.count("...") > 1 or "." in out.replace("...", ""):
            raise ValueError(f"einsum: output subscripts {out!r} have a misplaced '.'")
        out = out.replace("...", ell)
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts {out!r} repeat a letter")
        missing = [c for c in out if not any(c in t for t in expanded)]
        if missing:
            raise ValueError(f"einsum: output letter(s) {missing} appear in no operand of {equation!r}")
    else:  # implicit output: the broadcast dims, then letters used exactly once, sorted
        counts = {}
        for t in expanded:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    sizes = {}
    for i, (term, shape) in enumerate(zip(expanded, shapes)):
        for c, s in zip(term, shape):
            prev = sizes.get(c)
            if prev is not None and prev != s and 1 not in (prev, s):
                raise ValueError(f"einsum: subscript {c!r} has size {s} in operand {i} but size {prev} "
                                 f"elsewhere in {equation!r}")
            sizes[c] = s if prev in (None, 1) else prev
    return tuple(expanded), out


def einsum(equation, *operands):
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``, ``"ii->"`` a trace,
    ``"bij->bji"`` a batched transpose, ``"...ij,...jk->...ik"`` a batched matmul.

    Letters absent from the output are summed over; without ``->`` the output is the
    letters used exactly once, in alphabetical order. Operands may also be passed as one
    list: ``einsum("ij,jk", [a, b])``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the first argument must be the equation string, got {type(equation).__name__}")
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor, got {type(t).__name__}")
    terms, out = _einsum_parse(equation, [t.shape for t in operands])
    dt = np.result_type(*[t.dtype for t in operands])
    operands = [t if t.dtype == dt else t.to(dt) for t in operands]
    return Einsum.apply(*operands, terms=terms, out=out)


# ----------------------------------------------------------------------------- addmm / baddbmm

def _add_product(op, input, product, beta, alpha):
    try:
        np.broadcast_shapes(input.shape, product.shape)
    except ValueError:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to the product's "
                         f"shape {tuple(product.shape)}") from None
    if np.broadcast_shapes(input.shape, product.shape) != product.shape:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to the product's "
                         f"shape {tuple(product.shape)}")
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input is ignored, NaN and inf included, and gets a zero gradient (as in PyTorch)
        return ew.where(Tensor(xp_of(product.array).zeros((), dtype=bool)), input, product)
    return (input if beta == 1 else input * beta) + product


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` with ``mat1`` (n, m), ``mat2`` (m, p) and
    ``input`` broadcastable to (n, p). With ``beta=0`` ``input`` is ignored."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {tuple(mat1.shape)} and {tuple(mat2.shape)}")
    if mat1.shape[1] != mat2.shape[0]:
        raise ValueError(f"addmm: mat1 {tuple(mat1.shape)} and mat2 {tuple(mat2.shape)} cannot be multiplied "
                         f"({mat1.shape[1]} != {mat2.shape[0]})")
    return _add_product("addmm", input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * (batch1 @ batch2)`` for batches of matrices: ``batch1``
    (b, n, m), ``batch2`` (b, m, p), ``input`` broadcastable to (b, n, p)."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise ValueError(f"baddbmm: batch1 and batch2 must be 3-D, got shapes {tuple(batch1.shape)} and "
                         f"{tuple(batch2.shape)}")
    if batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
        raise ValueError(f"baddbmm: batch1 {tuple(batch1.shape)} and batch2 {tuple(batch2.shape)} must be "
                         "(b, n, m) and (b, m, p)")
    return _add_product("baddbmm", input, matmul(batch1, batch2), beta, alpha)


# ----------------------------------------------------------------------------- cdist

def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distance between every row of ``x1`` (..., P, M) and every row of ``x2``
    (..., R, M): a (..., P, R) tensor; leading batch dims broadcast.

    Computed from the differences themselves (never the ``|a|^2 + |b|^2 - 2ab`` shortcut,
    which loses precision), so the gradient is exact, and 0 where two rows coincide.
    ``p``: 2 (default), 1, inf, 0 (the number of differing coordinates) or any p > 0."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise ValueError(f"cdist: x1 and x2 need at least 2 dims (..., rows, features), got shapes "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: x1 and x2 must have the same number of columns, got {x1.shape[-1]} "
                         f"(shape {tuple(x1.shape)}) and {x2.shape[-1]} (shape {tuple(x2.shape)})")
    if x1.dtype.kind != "f" or x2.dtype.kind != "f":
        raise TypeError(f"cdist: needs floating-point tensors, got {x1.dtype} and {x2.dtype}")
    if not isinstance(p, (int, float)) or p < 0:
        raise ValueError(f"cdist: p must be a non-negative number, got {p!r}")
    try:
        np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise ValueError(f"cdist: batch dims of {tuple(x1.shape)} and {tuple(x2.shape)} cannot be broadcast "
                         "together") from None
    d = unsqueeze(x1, -2) - unsqueeze(x2, -3)  # (..., P, R, M)
    if p == 0:  # a count: piecewise constant, so its gradient is 0 (kept in the graph, as in PyTorch)
        counts = red.sum(ew.ne(d, 0.0).to(d.dtype), dim=-1)
        return ew.where(Tensor(xp_of(d.array).zeros((), dtype=bool)), red.sum(d, dim=-1), counts)
    return red.norm(d, p=float(p), dim=-1)
