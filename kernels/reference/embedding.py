"""Reference embedding lookup and its gradient (readable NumPy, valid on CuPy).

An embedding is a table ``weight`` of shape (num_embeddings, D); looking up integer
``indices`` of any shape gathers rows::

    out[..., :] = weight[indices[...], :]          shape indices.shape + (D,)

The gradient of a gather is a *scatter-add*: every output row's gradient is added
into the table row it came from. An index that appears k times receives the sum of
k gradients, which is why a plain ``gw[indices] = gy`` (last write wins) is wrong
and ``add.at`` (unbuffered, so repeats accumulate) is right. The row ``padding_idx``
(if not None) gets no gradient, as in PyTorch: it stays the "blank" vector.
"""
from .._arrays import array_module
from .._families import kernel_table


def embedding_forward(weight, indices):
    """``weight[indices]``: (num_embeddings, D) table, integer indices of any shape."""
    xp = array_module(weight)
    return xp.take(weight, indices, axis=0)


def embedding_backward(gy, indices, num_embeddings, padding_idx=None):
    """Scatter-add ``gy`` (indices.shape + (D,)) into a (num_embeddings, D) gradient."""
    xp = array_module(gy)
    D = gy.shape[-1]
    gw = xp.zeros((num_embeddings, D), dtype=gy.dtype)
    xp.add.at(gw, indices.reshape(-1), gy.reshape(-1, D))
    if padding_idx is not None:
        gw[padding_idx] = 0
    return gw


KERNELS = kernel_table("embedding", globals())   # op name -> the function of that name above
