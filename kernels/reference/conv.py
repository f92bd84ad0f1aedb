"""Reference 2-D convolution: im2col + matmul, readable NumPy (also valid on CuPy arrays).

Layout is PyTorch's: the input ``x`` is ``(N, C_in, H, W)`` (NCHW), the weight ``w`` is
``(C_out, C_in // groups, kH, kW)``, the output is ``(N, C_out, H_out, W_out)`` with

    H_out = (H + 2*pad_h - dil_h*(kH - 1) - 1) // stride_h + 1        (same for W)

and, for output channel ``o`` in group ``g = o // (C_out // groups)``,

    y[n, o, i, j] = b[o] + sum_{c, a, b'} w[o, c, a, b'] *
                    xpad[n, g*C_g + c, i*stride_h + a*dil_h, j*stride_w + b'*dil_w]

where ``xpad`` is ``x`` with ``pad`` zeros on every side and ``C_g = C_in // groups``.

The trick that makes this fast everywhere is **im2col**: gather every receptive field
(one "patch" of ``C_g*kH*kW`` numbers per output pixel) into the rows of a matrix, and
the convolution becomes one matrix product per group::

    cols  (G, N*H_out*W_out, C_g*kH*kW)      one row per output pixel
    wmat  (G, C_out/G,       C_g*kH*kW)      one row per output channel
    y     = cols @ wmat^T                     (G, N*H_out*W_out, C_out/G)

The two gradients are matrix products too:

* ``grad_weight = gy_mat^T @ cols``  (how much each weight contributed, summed over pixels);
* ``grad_input``: ``dcols = gy_mat @ wmat`` gives the gradient of every patch entry, and
  **col2im** adds each patch entry back onto the input pixel it was copied from. Pixels
  that belong to several patches (overlapping windows) receive several contributions.

Here the patches are gathered with a strided *view* (``as_strided``: no data is copied
until the reshape), and col2im is a loop over the ``kH*kW`` kernel offsets, each one a
strided slice-add of a whole shifted grid at once.
"""
from .._arrays import array_module
from .._contracts import check_grad_shape, conv_geometry, conv_output_size as conv2d_output_size, fold_geometry
from .._contracts import unfold_geometry
from .._families import kernel_table


def _windows(xpad, kH, kW, stride, dilation, H_out, W_out):
    """A (N, C, H_out, W_out, kH, kW) view of every receptive field of ``xpad``.

    ``windows[n, c, i, j, a, b] == xpad[n, c, i*stride_h + a*dil_h, j*stride_w + b*dil_w]``.
    Built from strides alone: moving one output pixel right moves ``stride_w`` input
    columns, moving one kernel tap right moves ``dil_w`` input columns.
    """
    xp = array_module(xpad)
    sN, sC, sH, sW = xpad.strides
    N, C = xpad.shape[:2]
    return xp.lib.stride_tricks.as_strided(
        xpad,
        shape=(N, C, H_out, W_out, kH, kW),
        strides=(sN, sC, sH * stride[0], sW * stride[1], sH * dilation[0], sW * dilation[1]),
    )


def im2col(x, kernel_size, stride, padding, dilation, groups=1):
    """Gather receptive fields: returns ``cols`` of shape (G, N*H_out*W_out, C_g*kH*kW).

    Row ``(n, i, j)`` of group ``g`` holds the input values that output pixel (i, j) of
    sample n sees, in (channel, kernel row, kernel column) order, the same order as a
    row of ``w.reshape(C_out, -1)``.
    """
    xp = array_module(x)
    kH, kW = kernel_size
    N, C, H, W = x.shape
    ph, pw = padding
    H_out = conv2d_output_size(H, kH, stride[0], ph, dilation[0])
    W_out = conv2d_output_size(W, kW, stride[1], pw, dilation[1])
    xpad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # also makes it contiguous
    win = _windows(xpad, kH, kW, stride, dilation, H_out, W_out)
    C_g = C // groups
    win = win.reshape(N, groups, C_g, H_out, W_out, kH, kW)
    # -> (G, N, H_out, W_out, C_g, kH, kW): pixels first, patch contents last
    return win.transpose(1, 0, 3, 4, 2, 5, 6).reshape(groups, N * H_out * W_out, C_g * kH * kW)


def col2im(dcols, x_shape, kernel_size, stride, padding, dilation, groups=1):
    """The adjoint of :func:`im2col`: add every patch entry back onto its input pixel.

    ``dcols`` is (G, N*H_out*W_out, C_g*kH*kW); returns an array of ``x_shape``.
    """
    xp = array_module(dcols)
    kH, kW = kernel_size
    N, C, H, W = x_shape
    ph, pw = padding
    sh, sw = stride
    dh, dw = dilation
    H_out = conv2d_output_size(H, kH, sh, ph, dh)
    W_out = conv2d_output_size(W, kW, sw, pw, dw)
    C_g = C // groups
    d = dcols.reshape(groups, N, H_out, W_out, C_g, kH, kW)
    d = d.transpose(1, 0, 4, 2, 3, 5, 6).reshape(N, C, H_out, W_out, kH, kW)
    dxpad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dcols.dtype)
    for a in range(kH):          # kernel tap (a, b) touched the grid of input pixels
        for b in range(kW):      # (i*sh + a*dh, j*sw + b*dw) for all output pixels (i, j)
            r0, c0 = a * dh, b * dw
            dxpad[:, :, r0:r0 + sh * (H_out - 1) + 1:sh, c0:c0 + sw * (W_out - 1) + 1:sw] += d[..., a, b]
    return dxpad[:, :, ph:ph + H, pw:pw + W]


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y = conv2d(x, w) + b, with the layouts described in the module docstring.

    ``stride``, ``padding``, ``dilation`` are (h, w) pairs of ints; ``b`` may be None.
    """
    xp = array_module(x)
    N, C, H, W, C_out, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_forward", x.shape, w.shape, stride, padding, dilation, groups)
    cols = im2col(x, (kH, kW), stride, padding, dilation, groups)   # (G, NP, K)
    wmat = w.reshape(groups, C_out // groups, -1)                    # (G, Co_g, K)
    y = cols @ wmat.transpose(0, 2, 1)                               # (G, NP, Co_g)
    y = y.reshape(groups, N, H_out, W_out, C_out // groups)
    y = y.transpose(1, 0, 4, 2, 3).reshape(N, C_out, H_out, W_out)
    if b is not None:
        y = y + b.reshape(1, C_out, 1, 1)
    return xp.ascontiguousarray(y)


def _gy_matrix(gy, groups):
    """(N, C_out, H_out, W_out) -> (G, N*H_out*W_out, C_out/G): one row per output pixel."""
    N, C_out, H_out, W_out = gy.shape
    g = gy.reshape(N, groups, C_out // groups, H_out, W_out)
    return g.transpose(1, 0, 3, 4, 2).reshape(groups, N * H_out * W_out, C_out // groups)


def conv2d_grad_input(gy, w, x_shape, stride, padding, dilation, groups):
    """dL/dx given dL/dy: ``col2im(gy_mat @ wmat)``."""
    N, C, H, W, C_out, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_input", x_shape, w.shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_input", gy, (N, C_out, H_out, W_out))
    wmat = w.reshape(groups, C_out // groups, -1)           # (G, Co_g, K)
    dcols = _gy_matrix(gy, groups) @ wmat                   # (G, NP, K)
    return array_module(gy).ascontiguousarray(
        col2im(dcols, x_shape, (kH, kW), stride, padding, dilation, groups))


def conv2d_grad_weight(gy, x, w_shape, stride, padding, dilation, groups):
    """dL/dw given dL/dy: ``gy_mat^T @ cols`` (summed over every output pixel)."""
    N, C, H, W, C_out, kH, kW, H_out, W_out = conv_geometry(
        "conv2d_grad_weight", x.shape, w_shape, stride, padding, dilation, groups)
    check_grad_shape("conv2d_grad_weight", gy, (N, C_out, H_out, W_out))
    cols = im2col(x, (kH, kW), stride, padding, dilation, groups)   # (G, NP, K)
    gw = _gy_matrix(gy, groups).transpose(0, 2, 1) @ cols            # (G, Co_g, K)
    return gw.reshape(w_shape)


def conv2d_grad_bias(gy):
    """dL/db given dL/dy: the sum over batch and pixels, one number per output channel."""
    return gy.sum(axis=(0, 2, 3))


def unfold(x, kernel_size, stride, padding, dilation):
    """Every sliding block of ``x`` (N, C, H, W) as a column: (N, C*kH*kW, H_out*W_out).

    Column ``p`` lists the block of output pixel p in (channel, kernel row, kernel
    column) order, as ``torch.nn.functional.unfold``: im2col with groups=1, transposed.
    """
    xp = array_module(x)
    N, C = x.shape[:2]
    H_out, W_out = unfold_geometry("unfold", x.shape, kernel_size, stride, padding, dilation)
    cols = im2col(x, kernel_size, stride, padding, dilation, 1)[0]      # (N*P, C*kH*kW)
    cols = cols.reshape(N, H_out * W_out, -1).transpose(0, 2, 1)
    return xp.ascontiguousarray(cols)


def fold(cols, output_size, kernel_size, stride, padding, dilation):
    """The adjoint of :func:`unfold`: sum the columns back into an (N, C, H, W) image.

    ``cols`` is (N, C*kH*kW, L) with L the number of blocks that fit in ``output_size``.
    """
    xp = array_module(cols)
    C, H_out, W_out = fold_geometry(cols.shape, output_size, kernel_size, stride, padding, dilation)
    N, CK, L = cols.shape
    dcols = cols.transpose(0, 2, 1).reshape(1, N * L, CK)
    return xp.ascontiguousarray(col2im(dcols, (N, C) + tuple(output_size), kernel_size, stride, padding,
                                       dilation, 1))


KERNELS = kernel_table("conv", globals())   # op name -> the function of that name above
