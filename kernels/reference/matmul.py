"""Reference matmul: the definition, in readable NumPy (valid on CuPy arrays too).

For matrices A (m x k) and B (k x n) the product C = A @ B is the m x n matrix

    C[i, j] = sum over p of A[i, p] * B[p, j]

i.e. entry (i, j) is the dot product of row i of A with column j of B. Stacks of
matrices follow NumPy's rules: the last two axes are the matrices, the leading
axes are a batch, and batch axes broadcast (a (4, 1, m, k) stack times a
(3, k, n) stack gives a (4, 3, m, n) stack). A 1-D operand is promoted to a
matrix (a row on the left, a column on the right) and the added axis is removed
from the result.

This kernel is the specification the native kernels (a blocked Numba GEMM on the
CPU, a CUDA kernel on the GPU) are tested against. It delegates to the array's own
``@``: NumPy's (OpenBLAS or Accelerate) on the CPU, CuPy's (cuBLAS) on a GPU, so
it needs no import of either library and runs wherever the arrays live.
"""


def matmul(a, b):
    """``a @ b`` with NumPy semantics; ``a`` and ``b`` are NumPy or CuPy arrays."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})")
    try:
        return a @ b
    except ValueError:
        # the only other way @ fails here: batch axes that do not broadcast
        raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} "
                         "cannot be broadcast together") from None


KERNELS = {"matmul": matmul}
