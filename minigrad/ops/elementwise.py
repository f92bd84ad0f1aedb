"""Elementwise ops: arithmetic, activations, comparisons, where/clamp/maximum.

Each Function's docstring gives the derivative it implements. Binary ops broadcast
like NumPy; their backward returns gradients of the broadcast shape and the engine
sums them back to each input's shape (one shared helper, ``ops.shape.sum_to``).
"""
from __future__ import annotations

import math

import numpy as np

from minigrad import _checks
from minigrad.autograd import Function, is_grad_enabled, kernel_gradients
from minigrad.backend import device_of, get_kernel, xp_of
from minigrad.tensor import Tensor


# ----------------------------------------------------------------------------- helpers

def _const_like(value, like: Tensor) -> Tensor:
    """A Python number as a 0-d constant Tensor whose dtype follows NumPy's rule for
    mixing a Python scalar with ``like`` (float32 stays float32)."""
    dt = like.array.dtype
    if isinstance(value, (bool, np.bool_)):
        arr = np.asarray(value, dtype=dt if dt.kind != "b" else np.bool_)
    elif isinstance(value, (int, np.integer)):
        arr = np.asarray(value, dtype=dt if dt.kind in "fiu" else np.int64)
    elif isinstance(value, (float, np.floating)):
        arr = np.asarray(value, dtype=dt if dt.kind == "f" else np.float32)
    else:
        raise TypeError(f"unsupported operand type {type(value).__name__}; expected a Tensor or a number")
    xp = xp_of(like.array)
    if xp is not np:
        arr = xp.asarray(arr)
    return Tensor(arr)


def _pair(a, b, op):
    """Make both operands Tensors and check that they live on one device."""
    if not isinstance(a, Tensor):
        if isinstance(a, np.ndarray):
            a = Tensor(a)
        else:
            a = _const_like(a, b)
    if not isinstance(b, Tensor):
        if isinstance(b, np.ndarray):
            b = Tensor(b)
        else:
            b = _const_like(b, a)
    if type(a.array) is not np.ndarray or type(b.array) is not np.ndarray:  # two NumPy arrays: both on the CPU
        _checks.same_device(op, a, b)
    return _promote(a, b)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote(a, b):
    """PyTorch's rule for operands of different kinds: the result takes the dtype of the
    operand of the higher kind (bool < integer < float < complex), so a float32 tensor
    times an int64 tensor stays float32 (NumPy would give float64)."""
    ka, kb = _CATEGORY.get(a.array.dtype.kind, 2), _CATEGORY.get(b.array.dtype.kind, 2)
    if ka > kb:
        b = b.to(a.array.dtype) if b.requires_grad else Tensor(b.array.astype(a.array.dtype))
    elif kb > ka:
        a = a.to(b.array.dtype) if a.requires_grad else Tensor(a.array.astype(b.array.dtype))
    return a, b


def _broadcast_error(op, a, b):
    return ValueError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together")


def _binary(fn, a, b, op):
    a, b = _pair(a, b, op)
    try:
        return fn.apply(a, b)
    except ValueError as e:
        if "could not be broadcast" in str(e):  # NumPy's message; ours names the op
            raise _broadcast_error(op, a, b) from None
        raise


# ----------------------------------------------------------------------------- arithmetic

class Add(Function):
    """z = x + y;  dz/dx = 1, dz/dy = 1"""

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, gz):
        return gz, gz


class Sub(Function):
    """z = x - y;  dz/dx = 1, dz/dy = -1"""

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, gz):
        return gz, (-gz if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = x * y;  dz/dx = y, dz/dy = x"""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        return (gz * y if nx else None), (gz * x if ny else None)


class Div(Function):
    """z = x / y;  dz/dx = 1 / y, dz/dy = -x / y**2"""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x / y

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = gz / y if nx else None
        gy = -gz * x / (y * y) if ny else None
        return gx, gy


class Neg(Function):
    """y = -x;  dy/dx = -1"""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, gy):
        return -gy


class Pow(Function):
    """z = x ** y (both tensors);  dz/dx = y * x**(y-1),  dz/dy = z * log(x)"""

    @staticmethod
    def forward(ctx, x, y):
        z = x ** y
        ctx.save_for_backward(x, y, z)
        return z

    @staticmethod
    def backward(ctx, gz):
        x, y, z = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        # As PyTorch: where y == 0 the x-gradient is 0 (not 0 * 0**-1 = NaN at x = 0), and
        # where x == 0 and y >= 0 the y-gradient is 0 (x**y is flat in y there); elsewhere
        # z * log(x), NaN for x < 0 and -inf for 0 ** (y < 0), as the formula says.
        gx = where(y.detach() == 0, 0.0, gz * y * x ** (y - 1)) if nx else None
        gy = None
        if ny:
            flat = (x.detach() == 0) & (y.detach() >= 0)
            gy = gz * where(flat, 0.0, z * log(where(flat, 1.0, x)))
        return gx, gy


class PowScalar(Function):
    """y = x ** p for a constant p;  dy/dx = p * x**(p-1)"""

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return x ** p

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        p = ctx.p
        if p == 2:
            return gy * x * 2.0
        if p == 1:
            return gy
        if p == 0:
            return gy * 0.0
        return gy * (x ** (p - 1)) * float(p)


def add(input, other, alpha=1):
    """input + alpha * other, broadcasting like NumPy."""
    if alpha != 1:
        other = mul(other, alpha)
    return _binary(Add, input, other, "add")


def sub(input, other, alpha=1):
    """input - alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    return _binary(Sub, input, other, "sub")


def mul(input, other):
    """Elementwise product with broadcasting."""
    return _binary(Mul, input, other, "mul")


def div(input, other):
    """Elementwise (true) division with broadcasting."""
    return _binary(Div, input, other, "div")


def neg(input):
    """-input, elementwise (the ``-x`` operator)."""
    return Neg.apply(input)


def pow(input, exponent):
    """input ** exponent; the exponent may be a number or a tensor (then both get gradients)."""
    if isinstance(exponent, (int, float, np.integer, np.floating)) and not isinstance(exponent, bool):
        if isinstance(input, Tensor):
            if input.array.dtype.kind in "iu" and isinstance(exponent, (int, np.integer)) and exponent < 0:
                raise ValueError("pow: integer tensors cannot be raised to negative integer powers")
            return PowScalar.apply(input, exponent)
    return _binary(Pow, input, exponent, "pow")


class LogAddExp(Function):
    """z = log(exp(x) + exp(y));  dz/dx = 1 / (1 + exp(y - x)),  dz/dy = 1 / (1 + exp(x - y))

    (the two derivatives are softmax([x, y]): they are positive and add up to 1)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return xp_of(x).logaddexp(x, y)  # max(x, y) + log1p(exp(-|x - y|)): never overflows

    @staticmethod
    def backward(ctx, gz):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = gz / (exp(y - x) + 1.0) if nx else None
        gy = gz / (exp(x - y) + 1.0) if ny else None
        return gx, gy


def logaddexp(input, other):
    """log(exp(input) + exp(other)), elementwise with broadcasting, computed without
    overflow (``logaddexp(1000, 1000)`` is ``1000 + log 2``); floating-point tensors only."""
    for t in (input, other):
        if isinstance(t, Tensor) and t.dtype.kind != "f":
            raise TypeError(f"logaddexp: needs floating-point tensors, got dtype {t.dtype}")
    return _binary(LogAddExp, input, other, "logaddexp")


# ----------------------------------------------------------------------------- unary math
#
# Most one-input ops share one shape: y = f(x) on arrays, and gx = gy * dy/dx written
# with Tensor ops (so it differentiates again), dy/dx expressed in x or in y. _Unary
# holds that forward and backward once; each op below gives only _f and _grad.

class _Unary(Function):
    """y = _f(x);  gx = _grad(gy, v), v the saved input x or (``saves = "y"``) the output y"""

    saves = "x"

    @staticmethod
    def _f(xp, x):
        """The forward on arrays (``xp`` is NumPy or CuPy)."""
        raise NotImplementedError

    @staticmethod
    def _grad(gy, v):
        """gy * dy/dx, with Tensor ops; ``v`` is x or y as ``saves`` says."""
        raise NotImplementedError

    @staticmethod
    def forward(ctx, x):
        y = ctx._f(xp_of(x), x)
        ctx.save_for_backward(y if ctx.saves == "y" else x)
        return y

    @staticmethod
    def backward(ctx, gy):
        (v,) = ctx.saved_tensors
        return ctx._grad(gy, v)


class Abs(_Unary):
    """y = |x|;  dy/dx = sign(x)  (0 at x = 0)"""
    _f = staticmethod(lambda xp, x: abs(x))
    _grad = staticmethod(lambda gy, x: gy * sign(x))


def abs_(input):
    """|x|, elementwise (``abs(x)``, ``x.abs()``); the gradient at 0 is 0."""
    return Abs.apply(input)


class Exp(_Unary):
    """y = exp(x);  dy/dx = exp(x) = y"""
    saves = "y"
    _f = staticmethod(lambda xp, x: xp.exp(x))
    _grad = staticmethod(lambda gy, y: gy * y)


def exp(input):
    """e**x, elementwise."""
    return Exp.apply(input)


class Log(_Unary):
    """y = log(x);  dy/dx = 1 / x"""
    _f = staticmethod(lambda xp, x: xp.log(x))
    _grad = staticmethod(lambda gy, x: gy / x)


def log(input):
    """The natural logarithm, elementwise (``-inf`` at 0, NaN below 0, as NumPy)."""
    return Log.apply(input)


class Log1p(_Unary):
    """y = log(1 + x);  dy/dx = 1 / (1 + x)"""
    _f = staticmethod(lambda xp, x: xp.log1p(x))
    _grad = staticmethod(lambda gy, x: gy / (x + 1.0))


def log1p(input):
    """log(1 + x), elementwise; accurate for small |x|."""
    return Log1p.apply(input)


class Sqrt(_Unary):
    """y = sqrt(x);  dy/dx = 1 / (2 sqrt(x)) = 0.5 / y"""
    saves = "y"
    _f = staticmethod(lambda xp, x: xp.sqrt(x))
    _grad = staticmethod(lambda gy, y: gy * 0.5 / y)


def sqrt(input):
    """The square root, elementwise (NaN below 0)."""
    return Sqrt.apply(input)


class Rsqrt(_Unary):
    """y = 1 / sqrt(x);  dy/dx = -0.5 x**(-3/2) = -0.5 y**3"""
    saves = "y"
    _f = staticmethod(lambda xp, x: (1.0 / xp.sqrt(x)).astype(x.dtype, copy=False))
    _grad = staticmethod(lambda gy, y: gy * (y * y * y) * -0.5)


def rsqrt(input):
    """1 / sqrt(x), elementwise."""
    return Rsqrt.apply(input)


class Sin(_Unary):
    """y = sin(x);  dy/dx = cos(x)"""
    _f = staticmethod(lambda xp, x: xp.sin(x))
    _grad = staticmethod(lambda gy, x: gy * cos(x))


def sin(input):
    """The sine (radians), elementwise."""
    return Sin.apply(input)


class Cos(_Unary):
    """y = cos(x);  dy/dx = -sin(x)"""
    _f = staticmethod(lambda xp, x: xp.cos(x))
    _grad = staticmethod(lambda gy, x: -gy * sin(x))


def cos(input):
    """The cosine (radians), elementwise."""
    return Cos.apply(input)


class Tanh(_Unary):
    """y = tanh(x);  dy/dx = 1 - y**2"""
    saves = "y"
    _f = staticmethod(lambda xp, x: xp.tanh(x))
    _grad = staticmethod(lambda gy, y: gy * (1.0 - y * y))


def tanh(input):
    """The hyperbolic tangent, elementwise, in (-1, 1)."""
    return Tanh.apply(input)


def _sigmoid_array(xp, x):
    # Stable for large |x|: exp only ever sees non-positive arguments.
    e = xp.exp(-abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Sigmoid(_Unary):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y)"""
    saves = "y"
    _f = staticmethod(_sigmoid_array)
    _grad = staticmethod(lambda gy, y: gy * y * (1.0 - y))


def sigmoid(input):
    """The logistic function 1 / (1 + exp(-x)), elementwise, in (0, 1); stable for large |x|."""
    return Sigmoid.apply(input)


def _silu_grad(gy, x):
    s = sigmoid(x)
    return gy * s * (1.0 + x * (1.0 - s))


class Silu(_Unary):
    """y = x sigmoid(x);  dy/dx = s (1 + x (1 - s)),  s = sigmoid(x)"""
    _f = staticmethod(lambda xp, x: x * _sigmoid_array(xp, x))
    _grad = staticmethod(_silu_grad)


def silu(input):
    """x * sigmoid(x) (also called swish), elementwise."""
    return Silu.apply(input)


class Erf(_Unary):
    """y = erf(x);  dy/dx = 2 / sqrt(pi) exp(-x**2)"""
    _f = staticmethod(lambda xp, x: get_kernel("erf", device_of(x))(x))
    _grad = staticmethod(lambda gy, x: gy * exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


def erf(input):
    """The error function, elementwise."""
    return Erf.apply(input)


class Relu(Function):
    """y = max(x, 0);  dy/dx = 1 if x > 0 else 0"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)
        return xp_of(x).maximum(x, 0)

    @staticmethod
    def backward(ctx, gy):
        (mask,) = ctx.saved_tensors
        if not is_grad_enabled():  # plain backward: one array op, no Tensor op in between
            return Tensor(gy.array * mask.array)
        return gy * mask.to(gy.dtype)


def relu(input):
    """max(x, 0), elementwise (the gradient at 0 is 0)."""
    return Relu.apply(input)


class LeakyRelu(Function):
    """y = x if x > 0 else slope * x;  dy/dx = 1 if x > 0 else slope"""

    @staticmethod
    def forward(ctx, x, slope):
        factor = xp_of(x).where(x > 0, 1.0, slope).astype(x.dtype)
        ctx.save_for_backward(factor)
        return x * factor

    @staticmethod
    def backward(ctx, gy):
        (factor,) = ctx.saved_tensors
        return gy * factor


def leaky_relu(input, negative_slope=0.01):
    """x where x > 0, ``negative_slope * x`` elsewhere, elementwise."""
    return LeakyRelu.apply(input, float(negative_slope))


class Elu(Function):
    """y = x if x > 0 else alpha (exp(x) - 1);  dy/dx = 1 if x > 0 else alpha exp(x)"""

    @staticmethod
    def forward(ctx, x, alpha):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        mask = Tensor(x.array > 0)
        return gy * where(mask, 1.0, exp(minimum(x, 0.0)) * ctx.alpha)


def elu(input, alpha=1.0):
    """x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere, elementwise."""
    return Elu.apply(input, float(alpha))


class Softplus(Function):
    """y = log(1 + exp(beta x)) / beta  (y = x where beta x > threshold);
    dy/dx = sigmoid(beta x)  (1 above the threshold)"""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        bx = beta * x
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows.
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-abs(bx)))) / beta
        return xp.where(bx > threshold, x, soft).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        lin = Tensor(x.array * ctx.beta > ctx.threshold)
        return gy * where(lin, 1.0, sigmoid(x * ctx.beta))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, elementwise: a smooth relu; where beta x > threshold it is x itself."""
    return Softplus.apply(input, float(beta), float(threshold))


class Gelu(Function):
    """y = x Phi(x), Phi the standard normal CDF;  dy/dx = Phi(x) + x phi(x), phi the density.

    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3).
    Forward and (plain) backward are single fused kernels (``gelu``/``gelu_backward``:
    one pass over memory each instead of about eight array operations). Under
    ``create_graph=True`` the backward rule is written with differentiable ops so
    that second derivatives exist.
    """

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        return get_kernel("gelu", device_of(x))(x, approximate)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        if not is_grad_enabled():  # plain backward: one fused kernel
            return kernel_gradients(ctx, get_kernel("gelu_backward", device_of(x.array))(
                x.array, gy.array, ctx.approximate))
        if ctx.approximate == "tanh":
            c = math.sqrt(2.0 / math.pi)
            t = tanh((x + x * x * x * 0.044715) * c)
            d = (t + 1.0) * 0.5 + x * (1.0 - t * t) * 0.5 * c * (x * x * (3 * 0.044715) + 1.0)
        else:
            cdf = (erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
            d = cdf + x * exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))
        return gy * d


def gelu(input, approximate="none"):
    """GELU(x) = x * Phi(x), Phi the standard normal CDF (``approximate="tanh"``:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))), elementwise, any shape."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate)


# ----------------------------------------------------------------------------- clamp, max, where

class Clamp(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0"""

    @staticmethod
    def forward(ctx, x, lo, hi):
        xp = xp_of(x)
        y = xp.clip(x, lo, hi)
        inside = xp.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.save_for_backward(inside)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        (inside,) = ctx.saved_tensors
        return gy * inside.to(gy.dtype)


def clamp(input, min=None, max=None):
    """Limit values to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min ({min}) must not exceed max ({max})")
    return Clamp.apply(input, min, max)


clip = clamp


class Maximum(Function):
    """z = max(x, y);  dz/dx = 1 where x > y, 1/2 where x == y, else 0 (dz/dy mirrors it)"""

    @staticmethod
    def forward(ctx, x, y):
        xp = xp_of(x)
        gt = (x > y)
        eq = (x == y)
        ctx.save_for_backward(gt + 0.5 * eq)
        return xp.maximum(x, y)

    @staticmethod
    def backward(ctx, gz):
        (wx,) = ctx.saved_tensors
        wx = wx.to(gz.dtype)
        return gz * wx, gz * (1.0 - wx)


def maximum(input, other):
    """Elementwise maximum (ties share the gradient equally, as in PyTorch)."""
    return _binary(Maximum, input, other, "maximum")


def minimum(input, other):
    """Elementwise minimum (ties share the gradient equally)."""
    a, b = _pair(input, other, "minimum")
    return -maximum(-a, -b)


class Where(Function):
    """z = x where cond else y;  dz/dx = cond, dz/dy = not cond"""

    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.save_for_backward(cond)
        return xp_of(x).where(cond, x, y)

    @staticmethod
    def backward(ctx, gz):
        (c,) = ctx.saved_tensors
        zero = _const_like(0.0, gz)
        nx, ny = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        return None, (where(c, gz, zero) if nx else None), (where(c, zero, gz) if ny else None)


def where(condition, input, other):
    """Pick ``input`` where ``condition`` is True and ``other`` elsewhere (broadcasting)."""
    if not isinstance(condition, Tensor):
        condition = Tensor(np.asarray(condition, dtype=bool))
    if condition.array.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {condition.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = Tensor(np.asarray(input, dtype=np.float32))
    input, other = _pair(input, other, "where")
    if input.dtype != other.dtype:
        dt = np.result_type(input.array, other.array)
        if input.dtype != dt:
            input = input.to(dt)
        if other.dtype != dt:
            other = other.to(dt)
    try:
        return Where.apply(condition, input, other)
    except ValueError:
        raise ValueError(f"where: shapes {condition.shape}, {input.shape} and {other.shape} cannot "
                         "be broadcast together") from None


# ----------------------------------------------------------------------------- comparisons (no grad)

def _compare(a, b, fn, op):
    if not isinstance(a, Tensor):
        a = Tensor(np.asarray(a))
    bd = b.array if isinstance(b, Tensor) else b
    try:
        return Tensor(fn(a.array, bd))
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {np.shape(bd)} cannot be broadcast together") from None


def eq(input, other):
    """input == other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x == y, "eq")


def ne(input, other):
    """input != other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x != y, "ne")


def lt(input, other):
    """input < other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x < y, "lt")


def le(input, other):
    """input <= other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x <= y, "le")


def gt(input, other):
    """input > other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x > y, "gt")


def ge(input, other):
    """input >= other, elementwise with broadcasting, as a bool tensor (no gradient)."""
    return _compare(input, other, lambda x, y: x >= y, "ge")


def logical_not(input):
    """NOT, elementwise: a bool tensor, True where ``input`` is zero/False (the ``~x`` operator)."""
    return Tensor(~input.array.astype(bool))


def logical_and(input, other):
    """AND of the truth values (nonzero = True), elementwise with broadcasting; a bool tensor."""
    return _compare(input, other, lambda x, y: x.astype(bool) & xp_of(x).asarray(y).astype(bool), "logical_and")


def logical_or(input, other):
    """OR of the truth values (nonzero = True), elementwise with broadcasting; a bool tensor."""
    return _compare(input, other, lambda x, y: x.astype(bool) | xp_of(x).asarray(y).astype(bool), "logical_or")


def isnan(input):
    """A bool tensor, True where ``input`` is NaN."""
    return Tensor(xp_of(input.array).isnan(input.array))


def isinf(input):
    """A bool tensor, True where ``input`` is +inf or -inf."""
    return Tensor(xp_of(input.array).isinf(input.array))


def isfinite(input):
    """A bool tensor, True where ``input`` is neither NaN nor infinite."""
    return Tensor(xp_of(input.array).isfinite(input.array))


def sign(input):
    """sign(x) in {-1, 0, 1}; treated as a constant (its derivative is 0 almost everywhere)."""
    return Tensor(xp_of(input.array).sign(input.array))


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    """True when ``|input - other| <= atol + rtol * |other|`` everywhere (with broadcasting);
    NaNs count as equal only with ``equal_nan``. A Python bool."""
    return bool(xp_of(input.array).allclose(input.array, other.array if isinstance(other, Tensor) else other,
                                             rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    """True when both tensors have the same shape and the same values everywhere. A Python bool."""
    return input.shape == other.shape and bool((input.array == other.array).all())


# ----------------------------------------------------------------------------- nan_to_num, lerp

class NanToNum(Function):
    """y = x with NaN, +inf and -inf replaced by finite numbers;
    dy/dx = 1 where x was finite, 0 where it was replaced (a constant has no slope)"""

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        xp = xp_of(x)
        ctx.save_for_backward(xp.isfinite(x))
        return xp.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, gy):
        (finite,) = ctx.saved_tensors
        return gy * finite.to(gy.dtype)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """Replace NaN by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (by default the
    largest and the smallest finite value of the dtype). Integer tensors come back as copies."""
    if input.array.dtype.kind != "f":
        return input * 1
    return NanToNum.apply(input, nan, posinf, neginf)


def lerp(input, end, weight):
    """Linear interpolation ``input + weight * (end - input)`` (all three broadcast;
    ``weight`` a number or a tensor). Its gradients are ``1 - weight`` for ``input``,
    ``weight`` for ``end`` and ``end - input`` for ``weight``."""
    if not isinstance(input, Tensor) or not isinstance(end, Tensor):
        raise TypeError(f"lerp: input and end must be Tensors, got {type(input).__name__} and {type(end).__name__}")
    if input.dtype != end.dtype:
        raise TypeError(f"lerp: input and end must have the same dtype, got {input.dtype} and {end.dtype}")
    if isinstance(weight, Tensor) and weight.dtype != input.dtype:
        raise TypeError(f"lerp: weight must have the dtype of input ({input.dtype}), got {weight.dtype}")
    return add(input, mul(weight, sub(end, input)))
