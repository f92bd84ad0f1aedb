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
from .._contracts import check_matmul
from .._families import kernel_table



def matmul(a, b):
    """``a @ b`` with NumPy semantics; ``a`` and ``b`` are NumPy or CuPy arrays.

    The shapes are checked first, by ``_contracts.check_matmul``."""
    check_matmul(a, b)
    return a @ b


KERNELS = kernel_table("matmul", globals())   # op name -> the function of that name above
