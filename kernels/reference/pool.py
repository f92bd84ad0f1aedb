"""Reference 2-D max and average pooling, readable NumPy (also valid on CuPy arrays).

Layout is NCHW. A pooling window slides over every (n, c) plane independently:

    H_out = (H + 2*pad_h - dil_h*(kH - 1) - 1 + (stride_h - 1 if ceil_mode else 0)) // stride_h + 1

and, in ceil mode, a last window that would start inside the right/bottom padding is
dropped (as PyTorch does). Padding never wins a max (it is -inf) and is only counted in
an average when ``count_include_pad`` is true.

Max pooling remembers *where* each maximum came from (``indices``: the flat position
``row * W + col`` inside the input plane, like ``torch.nn.functional.max_pool2d(...,
return_indices=True)``). Its backward sends each output gradient to that one input
position; positions that were the max of several windows receive several contributions.
Average pooling spreads each output gradient evenly over its window.
"""
from .._arrays import array_module
from .._contracts import pool_geometry, pool_output_size  # noqa: F401  (pool_output_size: part of this module's surface)
from .._families import kernel_table


def _padded_windows(x, value, kernel_size, stride, padding, dilation, H_out, W_out):
    """(N, C, H_out, W_out, kH, kW) view of every window of ``x`` padded with ``value``.

    Pads ``padding`` on the top/left and enough on the bottom/right for every window
    (ceil mode can make the last window hang past the usual padding).
    """
    xp = array_module(x)
    N, C, H, W = x.shape
    (kH, kW), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    need_h = (H_out - 1) * sh + dh * (kH - 1) + 1   # padded height every window fits in
    need_w = (W_out - 1) * sw + dw * (kW - 1) + 1
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, max(need_h - H - ph, 0)), (pw, max(need_w - W - pw, 0))),
                  constant_values=value)
    sN, sC, sH, sW = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, shape=(N, C, H_out, W_out, kH, kW),
        strides=(sN, sC, sH * sh, sW * sw, sH * dh, sW * dw))


def _window_coords(xp, n_out, kernel, stride, padding, dilation):
    """Input coordinate of tap a of window i: ``i*stride - padding + a*dilation``, (n_out, kernel)."""
    return (xp.arange(n_out)[:, None] * stride - padding) + xp.arange(kernel)[None, :] * dilation


def max_pool2d_forward(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Returns ``(y, indices)``: the window maxima and where each came from.

    ``indices[n, c, i, j]`` is ``row * W + col`` of the chosen input element (int64), or
    -1 for a window that covers no input element (possible only with dilation > 1).
    The first maximum in row-major window order wins ties; a NaN in a window wins over
    every number (the first NaN, if several).
    """
    xp = array_module(x)
    N, C, H, W = x.shape
    H_out, W_out = pool_geometry("max_pool2d_forward", x.shape, kernel_size, stride, padding, dilation,
                              ceil_mode)
    # padding never wins: -inf, or the smallest value of an integer dtype
    low = -xp.inf if x.dtype.kind == "f" else False if x.dtype.kind == "b" else xp.iinfo(x.dtype).min
    win = _padded_windows(x, low, kernel_size, stride, padding, dilation, H_out, W_out)
    win = win.reshape(N, C, H_out, W_out, -1)
    y = win.max(axis=-1)                                      # NaN-propagating max
    rows = _window_coords(xp, H_out, kernel_size[0], stride[0], padding[0], dilation[0])
    cols = _window_coords(xp, W_out, kernel_size[1], stride[1], padding[1], dilation[1])
    # valid[i, j, a, b]: tap (a, b) of window (i, j) is a real input element, not padding
    valid = (((rows >= 0) & (rows < H))[:, None, :, None] & ((cols >= 0) & (cols < W))[None, :, None, :])
    flat = rows[:, None, :, None] * W + cols[None, :, None, :]          # (H_out, W_out, kH, kW)
    valid = valid.reshape(H_out, W_out, -1)
    flat = flat.reshape(H_out, W_out, -1)
    # the first real tap equal to the max (or the first NaN when the max is NaN)
    hit = (win == y[..., None]) | (xp.isnan(win) & xp.isnan(y)[..., None])
    hit &= valid
    first = xp.argmax(hit, axis=-1)                           # (N, C, H_out, W_out)
    indices = xp.take_along_axis(xp.broadcast_to(flat, win.shape), first[..., None], axis=-1)[..., 0]
    # A dilated window can fall entirely on padding (its taps skip the real pixels): its
    # max is -inf and it has no input position; mark it -1 (backward skips it).
    indices = xp.where(hit.any(axis=-1), indices, -1)
    return xp.ascontiguousarray(y), indices.astype(xp.int64)


def max_pool2d_backward(gy, indices, x_shape):
    """dL/dx: scatter-add ``gy`` to the input positions in ``indices`` (per plane)."""
    xp = array_module(gy)
    N, C, H, W = x_shape
    # offset every plane's flat index by its plane number, then one weighted bincount
    # over the whole input does the scatter-add (repeated indices add up).
    plane = xp.arange(N * C).reshape(N, C, 1, 1) * (H * W)
    real = indices >= 0                                       # -1: window saw no input
    target = xp.where(real, indices + plane, 0).ravel()
    gx = xp.bincount(target, weights=xp.where(real, gy, 0).ravel(), minlength=N * C * H * W)
    return gx.astype(gy.dtype, copy=False).reshape(N, C, H, W)


def _avg_divisors(xp, H, W, H_out, W_out, kernel_size, stride, padding, count_include_pad, dtype):
    """(H_out, W_out) array: what each window's sum is divided by (PyTorch's rule).

    With ``count_include_pad`` the window is counted up to the edge of the *padding*
    (not past it, which ceil mode could do); without it only real input elements count.
    """
    def one_axis(n_out, size, k, s, p):
        start = xp.arange(n_out) * s - p
        end = xp.minimum(start + k, size + p)
        with_pad = end - start
        real = xp.minimum(end, size) - xp.maximum(start, 0)
        return with_pad, real

    ph_, rh = one_axis(H_out, H, kernel_size[0], stride[0], padding[0])
    pw_, rw = one_axis(W_out, W, kernel_size[1], stride[1], padding[1])
    d = (ph_[:, None] * pw_[None, :]) if count_include_pad else (rh[:, None] * rw[None, :])
    return d.astype(dtype)


def avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """The mean of every window (zero padding; see :func:`_avg_divisors` for the count)."""
    xp = array_module(x)
    N, C, H, W = x.shape
    H_out, W_out = pool_geometry("avg_pool2d_forward", x.shape, kernel_size, stride, padding, (1, 1),
                              ceil_mode)
    win = _padded_windows(x, 0, kernel_size, stride, padding, (1, 1), H_out, W_out)
    div = _avg_divisors(xp, H, W, H_out, W_out, kernel_size, stride, padding, count_include_pad, x.dtype)
    return xp.ascontiguousarray(win.sum(axis=(-2, -1)) / div)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """dL/dx: each output gradient, divided by its window's count, added to every tap."""
    xp = array_module(gy)
    N, C, H, W = x_shape
    H_out, W_out = pool_geometry("avg_pool2d_backward", x_shape, kernel_size, stride, padding, (1, 1),
                              ceil_mode)
    (kH, kW), (sh, sw), (ph, pw) = kernel_size, stride, padding
    g = gy / _avg_divisors(xp, H, W, H_out, W_out, kernel_size, stride, padding, count_include_pad,
                           gy.dtype)
    Hp = max((H_out - 1) * sh + kH, H + ph)                  # room for every window
    Wp = max((W_out - 1) * sw + kW, W + pw)
    gxpad = xp.zeros((N, C, Hp, Wp), dtype=gy.dtype)
    for a in range(kH):          # tap (a, b) of window (i, j) is padded pixel (i*sh + a, j*sw + b)
        for b in range(kW):
            gxpad[:, :, a:a + sh * (H_out - 1) + 1:sh, b:b + sw * (W_out - 1) + 1:sw] += g
    return xp.ascontiguousarray(gxpad[:, :, ph:ph + H, pw:pw + W])


KERNELS = kernel_table("pool", globals())   # op name -> the function of that name above
