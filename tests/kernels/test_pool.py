"""Pooling kernels: the Numba versions against the reference, and the reference
against PyTorch where it is installed.

Max pooling must agree exactly (values and argmax indices, ties and NaN included);
average pooling to 1e-10 in float64 and 1e-5 in float32. Half of the examples force
the multi-thread path (in float32, the dtype whose parallel drivers warmup() builds).

2x2 windows at stride 2 (MaxPool2d(2)) take the native fast path; its tests draw that
geometry on purpose (the general cases rarely hit it), beside other windows that tile
the image, and also compare it bit for bit with the general window walk.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad.kernels  # noqa: F401  (maps kernels/ to minigrad.kernels)
from minigrad.kernels.cpu import pool as nat
from minigrad.kernels.reference import pool as ref
from _kernel_cases import threshold_zero, pool_cases


def parallel(on):
    """Force the multi-thread path even for tiny inputs (``on``), or leave the default."""
    return threshold_zero(nat, "PARALLEL_MIN_TAPS", on)


def _values(rng, shape, ties, dtype=np.float64, contiguous=True):
    x = rng.uniform(-2, 2, shape)
    if ties:                       # few distinct values: many ties inside windows
        x = np.round(x)
    x = x.astype(dtype)
    if not contiguous:
        x = np.ascontiguousarray(np.swapaxes(x, 2, 3)).swapaxes(2, 3)   # same values, F-ish strides
    return x


@given(case=pool_cases(), seed=st.integers(0, 2 ** 31), ties=st.booleans(), contiguous=st.booleans(),
       threads=st.booleans())
def test_max_pool_native_matches_reference(case, seed, ties, contiguous, threads):
    shape, k, s, p, d, ceil_mode, _ = case
    rng = np.random.default_rng(seed)
    # the multi-thread path is compiled for float32 by warmup(): test it there
    x = _values(rng, shape, ties, np.float32 if threads else np.float64, contiguous=contiguous)
    y, ind = ref.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    gy = rng.uniform(-1, 1, y.shape).astype(x.dtype)
    with parallel(threads):
        y2, ind2 = nat.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        gx2 = nat.max_pool2d_backward(gy, ind, shape)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(ind2, ind)
    assert ind2.dtype == np.int64 and y2.dtype == x.dtype
    np.testing.assert_allclose(gx2, ref.max_pool2d_backward(gy, ind, shape), rtol=0, atol=1e-5)


@given(case=pool_cases(), seed=st.integers(0, 2 ** 31), contiguous=st.booleans(), threads=st.booleans())
def test_avg_pool_native_matches_reference(case, seed, contiguous, threads):
    shape, k, s, p, _, ceil_mode, include_pad = case
    rng = np.random.default_rng(seed)
    dtype = np.float32 if threads else np.float64      # see the max-pool test
    tol = 1e-5 if threads else 1e-10
    x = _values(rng, shape, False, dtype, contiguous=contiguous)
    conf = (k, s, p, ceil_mode, include_pad)
    y = ref.avg_pool2d_forward(x, *conf)
    gy = rng.uniform(-1, 1, y.shape).astype(dtype)
    with parallel(threads):
        y2 = nat.avg_pool2d_forward(x, *conf)
        gx2 = nat.avg_pool2d_backward(gy, shape, *conf)
    np.testing.assert_allclose(y2, y, rtol=0, atol=tol)
    np.testing.assert_allclose(gx2, ref.avg_pool2d_backward(gy, shape, *conf), rtol=0, atol=tol)


@given(case=pool_cases(), seed=st.integers(0, 2 ** 31))
def test_float32_within_1e5_of_float64(case, seed):
    shape, k, s, p, d, ceil_mode, include_pad = case
    rng = np.random.default_rng(seed)
    x32 = _values(rng, shape, False, np.float32)
    x64 = x32.astype(np.float64)
    y, ind = nat.max_pool2d_forward(x32, k, s, p, d, ceil_mode)
    y64, ind64 = ref.max_pool2d_forward(x64, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y.astype(np.float64), y64)      # a max is exact
    np.testing.assert_array_equal(ind, ind64)
    conf = (k, s, p, ceil_mode, include_pad)
    a = nat.avg_pool2d_forward(x32, *conf)
    assert a.dtype == np.float32
    scale = ref.avg_pool2d_forward(np.abs(x64), *conf)
    assert np.all(np.abs(a - ref.avg_pool2d_forward(x64, *conf)) <= 1e-5 * scale + 1e-30)
    gy = rng.uniform(-1, 1, a.shape).astype(np.float32)
    g = nat.avg_pool2d_backward(gy, shape, *conf)
    g64 = ref.avg_pool2d_backward(gy.astype(np.float64), shape, *conf)
    gscale = ref.avg_pool2d_backward(np.abs(gy).astype(np.float64), shape, *conf)
    assert g.dtype == np.float32 and np.all(np.abs(g - g64) <= 1e-5 * gscale + 1e-30)


@pytest.mark.parametrize("mod", [ref, nat], ids=["reference", "native"])
def test_nan_and_infinity(mod):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan],
                    [-np.inf, -np.inf, 0.5, 7.0]]]])
    y, ind = mod.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert np.isnan(y[0, 0, 0, 0]) and ind[0, 0, 0, 0] == 1          # NaN wins, first NaN
    assert np.isnan(y[0, 0, 0, 1]) and ind[0, 0, 0, 1] == 3
    z = np.full((1, 1, 2, 2), -np.inf)
    y, ind = mod.max_pool2d_forward(z, (3, 3), (1, 1), (1, 1), (1, 1), False)
    assert np.all(y == -np.inf)
    # an all -inf window picks its first *real* element, never a padding position
    np.testing.assert_array_equal(ind[0, 0], [[0, 0], [0, 0]])


@pytest.mark.parametrize("mod", [ref, nat], ids=["reference", "native"])
def test_window_on_padding_only(mod):
    """A dilated window can skip every real pixel: -inf and index -1, no gradient."""
    x = np.array([[[[5.0]]]])
    y, ind = mod.max_pool2d_forward(x, (2, 2), (2, 3), (0, 1), (1, 2), True)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == -np.inf and ind[0, 0, 0, 0] == -1
    assert mod.max_pool2d_backward(np.ones_like(y), ind, x.shape)[0, 0, 0, 0] == 0


@pytest.mark.parametrize("mod", [ref, nat], ids=["reference", "native"])
def test_errors(mod):
    x = np.zeros((1, 1, 5, 5))
    with pytest.raises(ValueError, match="max_pool2d_forward: padding .* at most half"):
        mod.max_pool2d_forward(x, (3, 3), (1, 1), (2, 2), (1, 1), False)
    with pytest.raises(ValueError, match="avg_pool2d_forward: input .* too small"):
        mod.avg_pool2d_forward(np.zeros((1, 1, 2, 2)), (5, 5), (1, 1), (0, 0), False, True)


# ----------------------------------------------------------------------------- the 2x2 fast path

@st.composite
def tiling_cases(draw):
    """(x_shape, kernel, ceil_mode) with stride == kernel, no padding, no dilation: 2x2
    often, any side 1-4 otherwise; sides of up to 4 windows plus a remainder of rows and
    columns that no window covers (odd H/W); ceil mode, which keeps the fast path only
    when the windows fit exactly (else it adds a partial window)."""
    side = st.just(2) | st.integers(1, 4)
    kh, kw = draw(side), draw(side)
    h = draw(st.integers(kh, 5 * kh - 1))
    w = draw(st.integers(kw, 5 * kw - 1))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, (kh, kw), draw(st.booleans())


def _special(rng, shape, kind, dtype):
    """Values that stress the argmax rule: ties, signed zeros, NaN, -inf (whole windows
    of it included)."""
    x = rng.uniform(-2, 2, shape)
    if kind == "ties":
        x = np.round(x)
    elif kind == "zeros":
        x = np.where(rng.random(shape) < 0.5, -0.0, 0.0)
    elif kind == "nan":
        x[rng.random(shape) < 0.1] = np.nan
    elif kind == "-inf":
        x[rng.random(shape) < 0.4] = -np.inf
        x[0, 0] = -np.inf
    return x.astype(dtype)


def _general_walk(x, k):
    """The general walk's answer (tap tables, NaN rule in the chain) on the same input:
    what the fast path must reproduce bit for bit, signed zeros and NaN payloads included."""
    N, C, H, W = x.shape
    y = np.empty((N * C, H // k[0], W // k[1]), x.dtype)
    ind = np.empty(y.shape, np.int64)
    x3 = np.ascontiguousarray(x).reshape(N * C, H, W)
    nat._max_pool_fwd(x3, y, ind, (*k, *k, 0, 0, 1, 1), 0, N * C)
    return y.reshape(N, C, *y.shape[1:]), ind.reshape(N, C, *y.shape[1:])


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@given(case=tiling_cases(), seed=st.integers(0, 2 ** 31),
       dtype=st.sampled_from([np.float32, np.float64]),
       kind=st.sampled_from(["random", "ties", "zeros", "nan", "-inf"]), threads=st.booleans())
def test_max_pool_tiling_windows_match_reference_bit_for_bit(case, seed, dtype, kind, threads):
    shape, k, ceil_mode = case
    threads = threads and dtype == np.float32      # see the first max-pool test
    rng = np.random.default_rng(seed)
    x = _special(rng, shape, kind, dtype)
    conf = (k, k, (0, 0), (1, 1), ceil_mode)
    y_ref, ind_ref = ref.max_pool2d_forward(x, *conf)
    gy = rng.uniform(-1, 1, y_ref.shape).astype(dtype)
    with parallel(threads):
        y, ind = nat.max_pool2d_forward(x, *conf)
        gx = nat.max_pool2d_backward(gy, ind, shape)
    np.testing.assert_array_equal(ind, ind_ref)
    np.testing.assert_array_equal(y, y_ref)                 # NaN where NaN; +-0 compare equal
    assert y.dtype == x.dtype and ind.dtype == np.int64
    if y.shape[2:] == (shape[2] // k[0], shape[3] // k[1]):  # every window whole
        y_walk, ind_walk = _general_walk(x, k)
        np.testing.assert_array_equal(_bits(y), _bits(y_walk))
        np.testing.assert_array_equal(ind, ind_walk)
    gx_ref = ref.max_pool2d_backward(gy, ind_ref, shape)
    np.testing.assert_array_equal(_bits(gx), _bits(gx_ref))  # one contribution each: exact
    covered_h, covered_w = y.shape[2] * k[0], y.shape[3] * k[1]
    assert not gx[:, :, covered_h:].any() and not gx[:, :, :, covered_w:].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_nan_in_every_tap(dtype):
    """A strict > never picks a NaN, so the 2x2 fast path does a plane with a NaN again
    by the full rule: the first NaN wins wherever it sits in the window; the planes
    beside it, without NaN, keep the fast path's answer."""
    x = np.arange(2 * 2 * 4 * 8, dtype=dtype).reshape(2, 2, 4, 8) % 5
    for t, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        x[0, 0, a, 2 * t + b] = np.nan
    x[0, 0, 3, 7] = np.nan
    x[0, 0, 2, 7] = np.nan                                   # two NaNs: the first one wins
    y, ind = nat.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    y_ref, ind_ref = ref.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(ind, ind_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(ind[0, 0, 0], [0, 3, 12, 15])
    assert ind[0, 0, 1, 3] == 2 * 8 + 7 and np.isnan(y[0, 0]).sum() == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_backward_worker_zeroes_its_planes(dtype):
    """The backward worker takes gx uninitialized (np.empty): everything but the argmax
    positions must come out zero whatever the memory held."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 3, 7, 9)).astype(dtype)
    for conf in [((2, 2), (2, 2), (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True)]:
        y, ind = ref.max_pool2d_forward(x, *conf)
        gy = rng.uniform(-1, 1, y.shape).astype(dtype)
        gx = np.full((6, 7 * 9), np.nan, dtype)
        nat._max_pool_bwd(gy.reshape(6, -1), ind.reshape(6, -1), gx, 0, 6)
        np.testing.assert_allclose(gx.reshape(x.shape), ref.max_pool2d_backward(gy, ind, x.shape),
                                   rtol=0, atol=1e-6)


def test_fast_path_rule():
    """Which geometries take the 2x2 fast path: (kernel, stride, padding, dilation, H, W,
    H_out, W_out)."""
    k, z, one = (2, 2), (0, 0), (1, 1)
    assert nat._tiles_2x2(k, k, z, one, 28, 28, 14, 14)
    assert nat._tiles_2x2(k, k, z, one, 27, 27, 13, 13)            # a row and a column left over
    assert not nat._tiles_2x2(k, k, z, one, 27, 27, 14, 14)        # ceil mode: a partial window
    assert not nat._tiles_2x2(k, one, z, one, 8, 8, 7, 7)          # overlapping windows
    assert not nat._tiles_2x2(k, k, one, one, 8, 8, 5, 5)          # padding
    assert not nat._tiles_2x2(k, k, z, k, 8, 8, 3, 3)              # dilation
    assert not nat._tiles_2x2((3, 3), (3, 3), z, one, 9, 9, 3, 3)  # tiling, but not 2x2


def test_tables_and_warmup():
    assert set(nat.PREFERRED) == set(nat.KERNELS) == set(ref.KERNELS)
    nat.warmup()


# ----------------------------------------------------------------------------- PyTorch oracle

@pytest.mark.oracle
@settings(max_examples=40)
@given(case=pool_cases(), seed=st.integers(0, 2 ** 31), ties=st.booleans())
def test_reference_matches_torch(case, seed, ties):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, k, s, p, d, ceil_mode, include_pad = case
    rng = np.random.default_rng(seed)
    x = _values(rng, shape, ties)
    y, ind = ref.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    if (ind < 0).any():
        # PyTorch gives such windows an index outside the window (and its CPU backward
        # then writes out of bounds); ours marks them -1. Nothing to compare.
        return
    tx = torch.tensor(x, requires_grad=True)
    ty, tind = F.max_pool2d(tx, k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(ind, tind.numpy())
    gy = rng.uniform(-1, 1, y.shape)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(ref.max_pool2d_backward(gy, ind, shape), tx.grad.numpy(), atol=1e-12)

    tx = torch.tensor(x, requires_grad=True)
    ta = F.avg_pool2d(tx, k, s, p, ceil_mode, include_pad)
    conf = (k, s, p, ceil_mode, include_pad)
    np.testing.assert_allclose(ref.avg_pool2d_forward(x, *conf), ta.detach().numpy(), atol=1e-12)
    ga = rng.uniform(-1, 1, tuple(ta.shape))
    ta.backward(torch.tensor(ga))
    np.testing.assert_allclose(ref.avg_pool2d_backward(ga, shape, *conf), tx.grad.numpy(), atol=1e-12)
