"""The CUDA int8 kernels (kernels/cuda/quant.cu via kernels/cuda/quant.py) against the
integer reference on the same CuPy arrays: they must agree bit for bit. Shapes are drawn
by hypothesis around the 64 x 64 tile and the 32-byte k step; values include the int8
extremes. Marked ``gpu``: skipped without CuPy and a CUDA GPU."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.kernels.cuda import quant as cuda_q
from minigrad.kernels.reference import quant as ref_q

pytestmark = pytest.mark.gpu


def _int8(rng, shape, extreme):
    a = rng.integers(-128, 128, size=shape).astype(np.int8)
    if extreme and a.size:
        a.flat[:: max(1, a.size // 7)] = -128
        a.flat[1:: max(1, a.size // 5)] = 127
    return a


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 150), N=st.integers(1, 150), K=st.integers(1, 200), extreme=st.booleans(),
       seed=st.integers(0, 2 ** 31))
def test_qmatmul_equals_reference(M, N, K, extreme, seed):
    import cupy as cp

    rng = np.random.default_rng(seed)
    a, b_t = _int8(rng, (M, K), extreme), _int8(rng, (N, K), extreme)
    got = cuda_q.qmatmul_int8(cp.asarray(a), cp.asarray(b_t))
    assert isinstance(got, cp.ndarray) and got.dtype == np.int32 and got.shape == (M, N)
    want = ref_q.qmatmul_int8(a, b_t)
    diff = np.argwhere(cp.asnumpy(got) != want)
    assert diff.size == 0, f"qgemm_int8 (M={M}, N={N}, K={K}) differs at {diff[:5].tolist()}"


def test_qmatmul_long_rows_and_all_extremes():
    import cupy as cp

    K = 4099
    a = np.full((70, K), -128, np.int8)
    b_t = np.full((65, K), -128, np.int8)
    got = cp.asnumpy(cuda_q.qmatmul_int8(cp.asarray(a), cp.asarray(b_t)))
    assert (got == K * 16384).all()


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 3), C=st.integers(1, 4), H=st.integers(3, 12), W=st.integers(3, 12),
       O=st.integers(1, 6), k=st.integers(1, 3), stride=st.integers(1, 2), pad=st.integers(0, 2),
       groups=st.sampled_from([1, 2]), zp=st.integers(-128, 127), seed=st.integers(0, 2 ** 31))
def test_qconv_equals_reference(N, C, H, W, O, k, stride, pad, groups, zp, seed):
    import cupy as cp

    C, O = C * groups, O * groups
    rng = np.random.default_rng(seed)
    x, w = _int8(rng, (N, C, H, W), False), _int8(rng, (O, C // groups, k, k), False)
    args = (zp, (stride, stride), (pad, pad), (1, 1), groups)
    got = cp.asnumpy(cuda_q.qconv2d_int8(cp.asarray(x), cp.asarray(w), *args))
    want = ref_q.qconv2d_int8(x, w, *args)
    assert got.dtype == np.int32 and got.shape == want.shape
    assert (got == want).all(), f"qconv2d_int8 differs in {(got != want).sum()} of {got.size} entries"
