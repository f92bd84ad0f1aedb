"""gradcheck (float64, hypothesis-drawn) for reductions, shape ops, indexing and matmul."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
from strategies import arrays, distinct_arrays, shapes, tensor


def dims_of(data, ndim, allow_none=True, allow_tuple=True):
    choices = [st.integers(-ndim, ndim - 1)] if ndim else []
    if allow_none or not ndim:
        choices.append(st.none())
    if allow_tuple and ndim:
        choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return data.draw(st.one_of(*choices))


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "logsumexp", "amax", "norm"])
@given(data=st.data())
def test_reductions(op, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(distinct_arrays(shape)) if op in ("amax", "norm", "std", "var") else data.draw(arrays(shape))
    dim = dims_of(data, len(shape))
    keepdim = data.draw(st.booleans())
    if op in ("var", "std"):
        n = int(np.prod([shape[d] for d in ((dim,) if isinstance(dim, int) else (dim or range(len(shape))))]))
        if n < 2:
            dim, keepdim = None, keepdim
            if x.size < 2:
                return
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)  # noqa: E731
    elif op == "logsumexp":
        fn = lambda t: mg.logsumexp(t, dim=dim, keepdim=keepdim)  # noqa: E731
    elif op == "norm":
        fn = lambda t: t.norm(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim)  # noqa: E731
    mg.gradcheck(fn, (tensor(x),))


@pytest.mark.parametrize("op", ["max", "min", "prod", "cumsum"])
@given(data=st.data())
def test_single_dim_reductions(op, data):
    shape = data.draw(shapes(min_dims=1))
    x = data.draw(distinct_arrays(shape, 0.3, 1.5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    if op in ("max", "min"):
        fn = lambda t: getattr(t, op)(dim=dim, keepdim=keepdim).values  # noqa: E731
    elif op == "prod":
        fn = lambda t: t.prod(dim=dim, keepdim=keepdim)  # noqa: E731
    else:
        fn = lambda t: t.cumsum(dim)  # noqa: E731
    mg.gradcheck(fn, (tensor(x),))
    mg.gradcheck(lambda t: getattr(t, op)() if op != "cumsum" else t.cumsum(0), (tensor(x),))


def test_prod_with_zeros():
    x = mg.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]], dtype=mg.float64, requires_grad=True)
    mg.gradcheck(lambda t: t.prod(dim=1), (x,))
    x.prod(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_norm_p_values_and_zero():
    x = tensor(np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7]]))
    for p in (1, 3, float("inf")):
        mg.gradcheck(lambda t: t.norm(p=p, dim=1), (x,))
    z = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    z.norm().backward()
    np.testing.assert_array_equal(z.grad.numpy(), 0)


def test_argmax_argmin_values():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    assert x.argmax().item() == 3
    assert x.argmax(dim=1).tolist() == [1, 0]
    assert x.argmin(dim=0, keepdim=True).tolist() == [[0, 1, 0]]
    v, i = x.max(dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0]


@given(data=st.data())
def test_reshape_family(data):
    shape = data.draw(shapes(min_dims=1))
    x = tensor(data.draw(arrays(shape)))
    n = int(np.prod(shape))
    mg.gradcheck(lambda t: t.reshape(-1) * 2, (x,))
    mg.gradcheck(lambda t: t.reshape(n, 1).view(1, n), (x,))
    mg.gradcheck(lambda t: t.flatten(), (x,))
    mg.gradcheck(lambda t: t.unsqueeze(0).unsqueeze(-1).squeeze(), (x,))
    if len(shape) >= 2:
        mg.gradcheck(lambda t: t.flatten(0, 1).unflatten(0, shape[:2]), (x,))
        mg.gradcheck(lambda t: t.transpose(0, -1) * mg.arange(shape[0], dtype=mg.float64), (x,))
        mg.gradcheck(lambda t: t.T.mT, (x,))
        mg.gradcheck(lambda t: t.swapaxes(0, 1), (x,))
    perm = data.draw(st.permutations(range(len(shape))))
    mg.gradcheck(lambda t: t.permute(*perm), (x,))


@given(data=st.data())
def test_expand_and_broadcast_to(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    target = data.draw(st.sampled_from([(2,) + tuple(s if s != 1 else 3 for s in shape), tuple(shape)]))
    mg.gradcheck(lambda t: t.expand(*target), (x,))
    mg.gradcheck(lambda t: mg.broadcast_to(t, (2,) + tuple(shape)) * 1.5, (x,))


@given(data=st.data())
def test_cat_stack_split_chunk(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = tensor(data.draw(arrays(shape)))
    other_shape = list(shape)
    other_shape[dim] = data.draw(st.integers(0, 3))
    b = tensor(data.draw(arrays(tuple(other_shape))))
    mg.gradcheck(lambda a, b: mg.cat([a, b, a], dim=dim), (a, b))
    mg.gradcheck(lambda a: mg.stack([a, a * 2], dim=dim), (a,))
    size = data.draw(st.integers(1, 3))
    mg.gradcheck(lambda a: mg.cat([p * (i + 1) for i, p in enumerate(a.split(size, dim))], dim), (a,))
    mg.gradcheck(lambda a: mg.cat([p * (i + 1) for i, p in enumerate(a.chunk(2, dim))], dim), (a,))


@given(data=st.data())
def test_flip_repeat_tile_pad(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    mg.gradcheck(lambda t: t.flip(0) * mg.arange(1, shape[-1] + 1, dtype=mg.float64), (x,))
    reps = tuple(data.draw(st.integers(1, 3)) for _ in range(len(shape) + 1))
    mg.gradcheck(lambda t: t.repeat(*reps), (x,))
    mg.gradcheck(lambda t: t.tile((2,)), (x,))
    pads = tuple(data.draw(st.integers(0, 2)) for _ in range(2 * min(len(shape), 2)))
    mg.gradcheck(lambda t: mg.pad(t, pads, value=1.5), (x,))
    mode = data.draw(st.sampled_from(["reflect", "replicate", "circular"]))
    small = tuple(min(p, s - 1) for p, s in zip(pads, [d for d in reversed(shape) for _ in (0, 1)]))
    if mode != "reflect" or all(p < s for p, s in zip(small, [d for d in reversed(shape) for _ in (0, 1)])):
        mg.gradcheck(lambda t: mg.pad(t, small, mode=mode), (x,))


def test_pad_matches_numpy_modes():
    x = np.arange(12.0).reshape(3, 4)
    t = mg.tensor(x)
    np.testing.assert_array_equal(mg.pad(t, (1, 2, 2, 1), mode="reflect").numpy(),
                                  np.pad(x, ((2, 1), (1, 2)), mode="reflect"))
    np.testing.assert_array_equal(mg.pad(t, (1, 2), mode="replicate").numpy(),
                                  np.pad(x, ((0, 0), (1, 2)), mode="edge"))
    np.testing.assert_array_equal(mg.pad(t, (3, 1), mode="circular").numpy(),
                                  np.pad(x, ((0, 0), (3, 1)), mode="wrap"))
    np.testing.assert_array_equal(mg.pad(t, (-1, 1)).numpy(), np.pad(x[:, 1:], ((0, 0), (0, 1))))


@given(data=st.data())
def test_getitem(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=5))
    x = tensor(data.draw(arrays(shape)))
    n0 = shape[0]
    idx = data.draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6))  # repeats accumulate
    mg.gradcheck(lambda t: t[idx], (x,))
    mg.gradcheck(lambda t: t[mg.tensor(idx)], (x,))
    mg.gradcheck(lambda t: t[1:, ...] if n0 > 1 else t[0], (x,))
    mg.gradcheck(lambda t: t[None, ::2], (x,))
    mask = data.draw(arrays(shape)) > 0
    mg.gradcheck(lambda t: t[mg.tensor(mask)], (x,))
    if len(shape) >= 2:
        j = data.draw(st.lists(st.integers(0, shape[1] - 1), min_size=len(idx), max_size=len(idx)))
        mg.gradcheck(lambda t: t[idx, j], (x,))
        mg.gradcheck(lambda t: t[..., -1], (x,))


def test_getitem_repeated_indices_accumulate():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


@given(data=st.data())
def test_gather_index_select_masked_fill(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = tensor(data.draw(arrays(shape)))
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(data.draw(st.integers(1, 4)) if i == dim else s for i, s in enumerate(shape))
    index = np.asarray(data.draw(st.lists(st.integers(0, shape[dim] - 1), min_size=int(np.prod(ishape)),
                                          max_size=int(np.prod(ishape))))).reshape(ishape)
    mg.gradcheck(lambda t: t.gather(dim, mg.tensor(index)), (x,))
    sel = mg.tensor(index.reshape(-1)[:3])
    mg.gradcheck(lambda t: t.index_select(dim, sel), (x,))
    mask = mg.tensor(data.draw(arrays(shape)) > 0.5)
    mg.gradcheck(lambda t: t.masked_fill(mask, -7.0), (x,))
    mg.gradgradcheck(lambda t: (t.gather(dim, mg.tensor(index)) ** 2), (x,))


def test_scatter_add_and_one_hot():
    x = mg.zeros(3, 4, dtype=mg.float64, requires_grad=True)
    src = mg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    idx = mg.tensor([[0, 0], [1, 3], [2, 1]])
    y = mg.scatter_add(x, 1, idx, src)
    assert y.tolist() == [[1, 0, 0, 0], [0, 2, 0, 3], [0, 5, 4, 0]]
    mg.gradcheck(lambda x, s: mg.scatter_add(x, 1, idx, s) ** 2, (x, src))
    oh = mg.one_hot(mg.tensor([0, 2, 1]), 4)
    assert oh.dtype == mg.int64 and oh.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match="num_classes"):
        mg.one_hot(mg.tensor([5]), 3)


@given(data=st.data())
def test_matmul_shapes(data):
    kind = data.draw(st.sampled_from(["1d1d", "1d2d", "2d1d", "2d2d", "batched", "broadcast"]))
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    sa, sb = {
        "1d1d": ((k,), (k,)), "1d2d": ((k,), (k, n)), "2d1d": ((m, k), (k,)), "2d2d": ((m, k), (k, n)),
        "batched": ((2, m, k), (2, k, n)), "broadcast": ((3, 1, m, k), (2, k, n)),
    }[kind]
    a, b = tensor(data.draw(arrays(sa))), tensor(data.draw(arrays(sb)))
    mg.gradcheck(lambda a, b: a @ b, (a, b))
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12)


def test_matmul_second_derivative():
    a = tensor(np.random.default_rng(0).normal(size=(3, 4)))
    b = tensor(np.random.default_rng(1).normal(size=(4, 2)))
    mg.gradgradcheck(lambda a, b: (a @ b).tanh(), (a, b))


def test_logsumexp_finite_for_huge_logits():
    x = mg.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4]], requires_grad=True)
    y = mg.logsumexp(x, dim=1)
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_allclose(y.numpy(), [1e4, 1e4 + np.log(3)], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, 0], [1 / 3] * 3], rtol=1e-6)


@given(data=st.data())
def test_linear_fused_op(data):
    lead = data.draw(shapes(min_dims=0, max_dims=2, max_side=3))
    n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    x = tensor(data.draw(arrays(tuple(lead) + (n_in,))))
    w = tensor(data.draw(arrays((n_out, n_in))))
    b = tensor(data.draw(arrays((n_out,))))
    mg.gradcheck(lambda x, w, b: mg.linear(x, w, b), (x, w, b))
    mg.gradcheck(lambda x, w: mg.linear(x, w), (x, w))
    np.testing.assert_allclose(mg.linear(x, w, b).numpy(), x.numpy() @ w.numpy().T + b.numpy(), rtol=1e-12)
    if len(lead) <= 1:
        mg.gradgradcheck(lambda x, w, b: mg.linear(x, w, b).tanh(), (x, w, b))


def test_relu_double_backward_uses_tensor_path():
    x = mg.tensor([-1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((mg.relu(x) ** 2).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    assert g.tolist() == [0.0, 4.0, 6.0] and h.tolist() == [0.0, 2.0, 2.0]
