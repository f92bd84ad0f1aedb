"""Vectors of int32 lanes in Numba, for the instructions LLVM will not write for us.

Why this module exists
----------------------
Numba hands a loop to LLVM, and LLVM picks the vector instructions. For the int8 GEMM
that is not enough. The fastest integer instruction of AVX-512 VNNI CPUs (Intel Ice
Lake and later, AMD Zen 4 and later), ``vpdpbusd``, multiplies 64 unsigned bytes by 64
signed bytes, adds each group of 4 neighbouring products and accumulates the 16 sums
into 16 int32 lanes: 64 multiply-adds in one instruction, four times a float32 FMA. On
AVX2 CPUs ``vpmaddwd`` multiplies 16 pairs of int16 and adds neighbours into 8 int32
lanes: 16 multiply-adds, twice a float32 FMA of the same width. No plain loop we could
write makes LLVM use them in a register-tiled GEMM (see ``quant.py``), so here we call
them by name.

How: a Numba *type* whose machine representation is an LLVM vector (:data:`i32x16`,
``<16 x i32>``, one 512-bit register; :data:`i32x8`, ``<8 x i32>``, one 256-bit
register), and a few *intrinsics*: functions whose body is LLVM IR that we build
ourselves with llvmlite when Numba compiles the caller. A kernel written with them reads
like scalar code::

    acc = vzero16()
    for q in range(Q):
        acc = vdpbusd(acc, vload16(x, q * L + l), vbroadcast16(w, r * Q + q))

and compiles to one ``vpdpbusd`` per line of the loop, with ``acc`` held in a register
(a Numba local of a vector type becomes an SSA value, exactly like a float).

The operands are int32 arrays viewed piecewise: for ``vdpbusd`` each int32 element
carries four 8-bit numbers (unsigned in ``x``, signed in ``w``), the four consecutive k
of one dot product; for ``vpmaddwd`` two 16-bit numbers, two consecutive k.

Only for CPUs that have the instruction: :func:`has_vnni` / :func:`has_avx2` say whether
the CPU that Numba compiles for has it; kernels that use ``vdpbusd`` / ``vpmaddwd`` must
not even be compiled otherwise (LLVM cannot translate the intrinsic for such a CPU).
The loads, broadcasts and stores are plain LLVM and work everywhere.

The same idea serves the float convolution (``conv.py``): :class:`FloatVector` is 64
bytes of float32 or float64 lanes, with ``fvload``/``fvsplat``/``fvfma``/``fvstore`` and
an in-register transpose (``fvtranspose``), so its register tile is written with whole
vectors instead of hoping LLVM vectorises a scalar loop the right way.
"""
from __future__ import annotations

import functools
import os

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model
from llvmlite import ir

__all__ = ["i32x16", "i32x8", "vzero16", "vload16", "vbroadcast16", "vstore_dequant16", "vdpbusd",
           "vzero8", "vload8", "vbroadcast8", "vstore_dequant8", "vpmaddwd", "has_vnni", "has_avx2",
           "VECTOR_BYTES", "FloatVector", "fvzero", "fvload", "fvsplat", "fvfma", "fvadd", "fvstore", "fvtranspose"]

_I32 = ir.IntType(32)
_F32 = ir.FloatType()


class Int32Vector(types.Type):
    """Numba's name for an LLVM ``<lanes x i32>`` value (one vector register)."""

    def __init__(self, lanes):
        self.lanes = lanes
        super().__init__(name=f"int32x{lanes}")


@register_model(Int32Vector)
class _Int32VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(_I32, fe_type.lanes))


i32x16 = Int32Vector(16)
i32x8 = Int32Vector(8)


def _element_pointer(context, builder, arytype, ary, index, pointee):
    """Address of ``ary.flat[index]`` (a C-contiguous array) as a ``pointee*``."""
    data = context.make_array(arytype)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [index]), pointee.as_pointer())


def _check_array(ary, dtype, who):
    if not (isinstance(ary, types.Array) and ary.dtype == dtype and ary.layout == "C"):
        raise TypeError(f"{who}: expected a C-contiguous {dtype} array, got {ary}")


def _splat(builder, value, vectype):
    lanes = vectype.count
    one = builder.insert_element(ir.Constant(vectype, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vectype, None), ir.Constant(ir.VectorType(_I32, lanes), None))


def _vector_ops(vtype, masked_stores):
    """The zero / load / broadcast / dequantizing-store intrinsics for one vector width
    (``masked_stores``: store a partial vector with one masked store, else lane by lane)."""
    lanes = vtype.lanes
    vec = ir.VectorType(_I32, lanes)
    fvec = ir.VectorType(_F32, lanes)
    mask_t = ir.VectorType(ir.IntType(1), lanes)

    @intrinsic
    def vzero(typingctx):
        def codegen(context, builder, sig, args):
            return ir.Constant(vec, None)
        return vtype(), codegen

    @intrinsic
    def vload(typingctx, ary, index):
        _check_array(ary, types.int32, "vload")

        def codegen(context, builder, sig, args):
            ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], vec)
            return builder.load(ptr, align=4)
        return vtype(ary, index), codegen

    @intrinsic
    def vbroadcast(typingctx, ary, index):
        _check_array(ary, types.int32, "vbroadcast")

        def codegen(context, builder, sig, args):
            value = builder.load(_element_pointer(context, builder, sig.args[0], args[0], args[1], _I32), align=4)
            return _splat(builder, value, vec)
        return vtype(ary, index), codegen

    @intrinsic
    def vstore_dequant(typingctx, out, index, acc, init, scale, bias, relu, lo, hi):
        _check_array(out, types.float32, "vstore_dequant")

        def codegen(context, builder, sig, args):
            outa, idx, accv, init_, scale_, bias_, relu_, lo_, hi_ = args
            f = builder.sitofp(builder.add(accv, _splat(builder, init_, vec)), fvec)
            f = builder.fadd(builder.fmul(f, _splat(builder, scale_, fvec)), _splat(builder, bias_, fvec))
            negative = builder.fcmp_ordered("<", f, ir.Constant(fvec, None))
            clip = builder.and_(negative, _splat(builder, relu_, mask_t))
            f = builder.select(clip, ir.Constant(fvec, None), f)
            iota = ir.Constant(vec, list(range(lanes)))
            mask = builder.and_(builder.icmp_signed(">=", iota, _splat(builder, builder.trunc(lo_, _I32), vec)),
                                builder.icmp_signed("<", iota, _splat(builder, builder.trunc(hi_, _I32), vec)))
            ptr = _element_pointer(context, builder, sig.args[0], outa, idx, fvec)
            whole = builder.and_(builder.icmp_signed("==", lo_, ir.Constant(lo_.type, 0)),
                                 builder.icmp_signed("==", hi_, ir.Constant(hi_.type, lanes)))
            with builder.if_else(whole) as (then, otherwise):
                with then:          # every lane: a plain store
                    builder.store(f, ptr, align=4)
                with otherwise:
                    if masked_stores:     # some lanes: one masked store (AVX-512: as fast as a store)
                        fnty = ir.FunctionType(ir.VoidType(), [fvec, fvec.as_pointer(), _I32, mask_t])
                        fn = cgutils.get_or_insert_function(builder.module, fnty,
                                                            f"llvm.masked.store.v{lanes}f32.p0")
                        builder.call(fn, [f, ptr, ir.Constant(_I32, 4), mask])
                    else:                 # AVX2's vmaskmovps is microcoded on AMD: lane by lane
                        floats = builder.bitcast(ptr, _F32.as_pointer())
                        with cgutils.for_range_slice(builder, lo_, hi_, ir.Constant(lo_.type, 1), inc=True) as (j, _):
                            lane = builder.extract_element(f, builder.trunc(j, _I32))
                            builder.store(lane, builder.gep(floats, [j]), align=4)
            return context.get_dummy_value()
        return types.none(out, index, vtype, types.int32, types.float32, types.float32, types.boolean,
                          types.intp, types.intp), codegen

    vzero.__doc__ = f"A vector of {lanes} zeros."
    vload.__doc__ = f"``ary.flat[index:index + {lanes}]`` (int32) as one vector (no alignment needed)."
    vbroadcast.__doc__ = f"``ary.flat[index]`` (int32) copied into all {lanes} lanes."
    vstore_dequant.__doc__ = (
        "Lanes ``lo <= i < hi`` of ``float32(acc + init) * scale + bias`` (then ``max(., 0)`` when "
        "``relu``; NaN stays NaN) into ``out.flat[index + i]`` (float32 array). The other lanes are "
        "neither written nor read (a masked store), so ``index`` may lie before the array's start as "
        "long as ``index + lo`` does not. Lane by lane the arithmetic of the scalar "
        "``np.float32(np.int32(acc + init)) * scale + bias``.")
    return vzero, vload, vbroadcast, vstore_dequant


vzero16, vload16, vbroadcast16, vstore_dequant16 = _vector_ops(i32x16, masked_stores=True)
vzero8, vload8, vbroadcast8, vstore_dequant8 = _vector_ops(i32x8, masked_stores=False)


@intrinsic
def vdpbusd(typingctx, acc, u8x4, s8x4):
    """``acc`` plus, in lane i, the 4 products of the unsigned bytes 4i..4i+3 of ``u8x4``
    with the signed bytes 4i..4i+3 of ``s8x4`` (int32, wrapping modulo 2**32). One
    ``vpdpbusd`` (AVX-512 VNNI)."""
    vec = ir.VectorType(_I32, 16)

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(vec, [vec, vec, vec])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
        return builder.call(fn, list(args))
    return i32x16(i32x16, i32x16, i32x16), codegen


@intrinsic
def vpmaddwd(typingctx, acc, a16x2, b16x2):
    """``acc`` plus, in lane i, ``a[2i] * b[2i] + a[2i+1] * b[2i+1]`` of the int16 halves of
    ``a16x2`` and ``b16x2`` (exact in int32 for our operands). ``vpmaddwd`` + ``vpaddd``
    (AVX2)."""
    vec = ir.VectorType(_I32, 8)
    halves = ir.VectorType(ir.IntType(16), 16)

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(vec, [halves, halves])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx2.pmadd.wd")
        prod = builder.call(fn, [builder.bitcast(args[1], halves), builder.bitcast(args[2], halves)])
        return builder.add(args[0], prod)
    return i32x8(i32x8, i32x8, i32x8), codegen


def _numba_target_has(features):
    """True when the CPU Numba compiles for has every one of ``features`` (LLVM names).

    Numba compiles for the host unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` say
    otherwise; with those set, only features spelled out as ``+name`` count."""
    from numba.core import config

    if config.CPU_FEATURES is not None:
        feats = set(config.CPU_FEATURES.split(","))
        return all("+" + f in feats for f in features)
    if config.CPU_NAME not in (None, "host"):
        return False
    host = _host_features()
    return all(host.get(f, False) for f in features)


@functools.lru_cache(maxsize=None)
def _host_features():
    """The host CPU's features as LLVM names them (asked once: it takes ~0.2 ms)."""
    import llvmlite.binding as llb

    return dict(llb.get_host_cpu_features())


def float_vector_bytes():
    """The width in bytes of the widest float vector register of the CPU Numba compiles
    for: 64 with AVX-512, 32 with AVX (AVX2), 16 otherwise (SSE, ARM NEON). Kernels size
    their register tiles from it, so that the accumulators fit the register file of the
    CPU they run on (16 registers of 32 bytes on AVX2, 32 of 64 on AVX-512)."""
    if _numba_target_has(("avx512f",)):
        return 64
    if _numba_target_has(("avx",)):
        return 32
    return 16


def has_vnni():
    """True when Numba's target CPU has AVX-512 VNNI (with AVX-512 F/BW/VL), so ``vdpbusd``
    can be compiled. ``MINIGRAD_INT8_VNNI=0`` says False (the next path is then tried)."""
    if os.environ.get("MINIGRAD_INT8_VNNI", "1") == "0":
        return False
    return _numba_target_has(("avx512f", "avx512bw", "avx512vl", "avx512vnni"))


def has_avx2():
    """True when Numba's target CPU has AVX2, so ``vpmaddwd`` can be compiled.
    ``MINIGRAD_INT8_AVX2=0`` says False (the portable int8 kernels are then used)."""
    if os.environ.get("MINIGRAD_INT8_AVX2", "1") == "0":
        return False
    return _numba_target_has(("avx2",))


# ----------------------------------------------------------------------------- float vectors
# The float convolution's register tile (``conv.py``) works on whole vector registers of
# floats: a Numba type whose machine value is one LLVM vector of VECTOR_BYTES bytes, and
# the operations the tile needs. Plain LLVM: every CPU has them (LLVM splits a 64-byte
# vector into two registers on AVX2).

VECTOR_BYTES = 64
_FAST = ("contract",)     # lets LLVM fuse a multiply and an add into one FMA


class FloatVector(types.Type):
    """``VECTOR_BYTES`` bytes of float32 (16 lanes) or float64 (8 lanes)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES * 8 // dtype.bitwidth
        super().__init__(name=f"vector({dtype} x {self.lanes})")


@register_model(FloatVector)
class _FloatVectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), fe_type.lanes))


def _float_vector(ary):
    """The vector type for a 1-D C-contiguous float32/float64 array, else None."""
    if isinstance(ary, types.Array) and ary.ndim == 1 and ary.layout == "C" and ary.dtype in (
            types.float32, types.float64):
        return FloatVector(ary.dtype)
    return None


def _element(context, builder, sig, args, pointee, i=0):
    """Pointer to ``args[i][args[i + 1]]`` (array, index of any integer type) as ``pointee*``."""
    index = context.cast(builder, args[i + 1], sig.args[i + 1], types.intp)
    return _element_pointer(context, builder, sig.args[i], args[i], index, pointee)


@intrinsic
def fvzero(typingctx, ary):
    """A vector of zeros, of ``ary``'s dtype."""
    vec = _float_vector(ary)
    if vec is not None:
        return vec(ary), lambda context, builder, sig, args: ir.Constant(context.get_value_type(vec), None)


@intrinsic
def fvload(typingctx, ary, index):
    """``ary[index:index + lanes]`` as one vector (any alignment)."""
    vec = _float_vector(ary)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        ptr = _element(context, builder, sig, args, context.get_value_type(vec))
        return builder.load(ptr, align=vec.dtype.bitwidth // 8)
    return vec(ary, index), codegen


@intrinsic
def fvsplat(typingctx, ary, index):
    """``ary[index]`` copied into every lane (one broadcast instruction)."""
    vec = _float_vector(ary)
    if vec is None:
        return None

    def codegen(context, builder, sig, args):
        elem = context.get_value_type(vec.dtype)
        return _splat(builder, builder.load(_element(context, builder, sig, args, elem)),
                      context.get_value_type(vec))
    return vec(ary, index), codegen


@intrinsic
def fvfma(typingctx, acc, x, y):
    """``acc + x * y`` lane by lane (one FMA instruction where the CPU has one)."""
    if isinstance(acc, FloatVector) and acc == x == y:
        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], builder.fmul(args[1], args[2], flags=_FAST), flags=_FAST)
        return acc(acc, x, y), codegen


@intrinsic
def fvadd(typingctx, x, y):
    """``x + y`` lane by lane."""
    if isinstance(x, FloatVector) and x == y:
        return x(x, y), lambda context, builder, sig, args: builder.fadd(args[0], args[1])


@intrinsic
def fvstore(typingctx, ary, index, vec):
    """``ary[index:index + lanes] = vec``."""
    if _float_vector(ary) == vec:
        def codegen(context, builder, sig, args):
            builder.store(args[2], _element(context, builder, sig, args, args[2].type), align=vec.dtype.bitwidth // 8)
            return context.get_dummy_value()
        return types.none(ary, index, vec), codegen


def _swap_masks(n, s):
    """The two shuffles that swap the off-diagonal s x s blocks of rows i and i + s of an
    n x n block held as n vectors (row i keeps its own s-blocks where column bit s is 0)."""
    lo = [k if not k & s else n + k - s for k in range(n)]
    hi = [k + s if not k & s else n + k for k in range(n)]
    vt = ir.VectorType(_I32, n)
    return ir.Constant(vt, lo), ir.Constant(vt, hi)


@intrinsic
def fvtranspose(typingctx, src, s, lds, dst, d, ldd):
    """``dst[d + c*ldd + r] = src[s + r*lds + c]`` for r, c < n: an n x n block transposed
    in registers, n = 32 bytes of floats (8 float32 or 4 float64, one AVX2 register per row).

    Transposing [[A, B], [C, D]] is transposing each block and swapping B and C; doing
    the swap for blocks of n/2, n/4, ..., 1 (log2 n rounds of n shuffles) transposes the
    whole block. LLVM turns each shuffle into one or two unpack/permute instructions:
    7x faster than copying element by element (measured on a 64 x 196 plane).
    """
    if _float_vector(src) is None or _float_vector(dst) != _float_vector(src):
        return None
    n = 256 // src.dtype.bitwidth

    def codegen(context, builder, sig, args):
        vt = ir.VectorType(context.get_value_type(sig.args[0].dtype), n)
        sd = context.make_array(sig.args[0])(context, builder, args[0]).data
        dd = context.make_array(sig.args[3])(context, builder, args[3]).data
        s0, lds_, d0, ldd_ = (context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 2, 4, 5))
        align = src.dtype.bitwidth // 8

        def row(data, start, ld, i):
            at = builder.add(start, builder.mul(ld, ir.Constant(start.type, i)))
            return builder.bitcast(builder.gep(data, [at]), vt.as_pointer())
        rows = [builder.load(row(sd, s0, lds_, i), align=align) for i in range(n)]
        step = n // 2
        while step:
            lo, hi = _swap_masks(n, step)
            for i in range(n):
                if not i & step:
                    a, b = rows[i], rows[i + step]
                    rows[i], rows[i + step] = builder.shuffle_vector(a, b, lo), builder.shuffle_vector(a, b, hi)
            step //= 2
        for i in range(n):
            builder.store(rows[i], row(dd, d0, ldd_, i), align=align)
        return context.get_dummy_value()
    return types.none(src, s, lds, dst, d, ldd), codegen


@njit(cache=True)
def transpose_flat(src, s0, lds, R, C, dst, d0, ldd):
    """``dst[d0 + c*ldd + r] = src[s0 + r*lds + c]`` for r < R, c < C (flat arrays):
    whole blocks with :func:`fvtranspose`, the ragged edges element by element. Used
    by the convolution (NCHW <-> pixels-by-channels) and by the packed GEMM (B^T into
    panels)."""
    n = 32 // src.itemsize
    Rn, Cn = R - R % n, C - C % n
    for c0 in range(0, Cn, n):
        for r0 in range(0, Rn, n):
            fvtranspose(src, s0 + r0 * lds + c0, lds, dst, d0 + c0 * ldd + r0, ldd)
    for c in range(C):
        for r in range(Rn if c < Cn else 0, R):
            dst[d0 + c * ldd + r] = src[s0 + r * lds + c]
