"""Vectors of 16 int32 lanes in Numba, for the one instruction LLVM will not write for us.

Why this module exists
----------------------
Numba hands a loop to LLVM, and LLVM picks the vector instructions. For the int8 GEMM
that is not enough: the fastest integer instruction of AVX-512 VNNI CPUs (Intel Ice Lake
and later, AMD Zen 4 and later), ``vpdpbusd``, multiplies 64 unsigned bytes by 64
signed bytes, adds each group of 4 neighbouring products and accumulates the 16 sums
into 16 int32 lanes: 64 multiply-adds in one instruction, four times a float32 FMA.
No plain loop we could write makes LLVM form it (see ``quant.py``), so here we call it
by name.

How: a Numba *type* whose machine representation is the LLVM vector ``<16 x i32>``
(:data:`i32x16`), and a few *intrinsics*: functions whose body is LLVM IR that we
build ourselves with llvmlite when Numba compiles the caller. A kernel written with
them reads like scalar code::

    acc = vzero()
    for q in range(Q):
        acc = vdpbusd(acc, vload(x, q * L + l), vbroadcast(w, r * Q + q))
    vstore(out, r * L + l, acc)

and compiles to one ``vpdpbusd`` per line of the loop, with ``acc`` held in a
register (a Numba local of a vector type becomes an SSA value, exactly like a float).

The operands are int32 arrays viewed byte-wise: each int32 element carries four 8-bit
numbers (unsigned in ``x``, signed in ``w``), the four consecutive k of one dot product.

Only for CPUs that have the instruction: :func:`has_vnni` says whether the CPU that
Numba compiles for has AVX-512 VNNI; kernels that use ``vdpbusd`` must not even be
compiled otherwise (LLVM cannot translate the intrinsic for such a CPU). The other
intrinsics are plain loads and stores.
"""
from __future__ import annotations

import os

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model
from llvmlite import ir

__all__ = ["i32x16", "vzero", "vload", "vbroadcast", "vdpbusd", "vstore", "vstore_dequant", "has_vnni", "LANES"]

LANES = 16
_I32 = ir.IntType(32)
_VEC = ir.VectorType(_I32, LANES)


class Int32x16(types.Type):
    """Numba's name for an LLVM ``<16 x i32>`` value (one 512-bit register)."""

    def __init__(self):
        super().__init__(name="int32x16")


i32x16 = Int32x16()


@register_model(Int32x16)
class _Int32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _element_pointer(context, builder, arytype, ary, index):
    """Address of ``ary.flat[index]`` (a C-contiguous array) as an ``i32*``."""
    data = context.make_array(arytype)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [index]), _I32.as_pointer())


def _check_int32_array(ary):
    if not (isinstance(ary, types.Array) and ary.dtype == types.int32 and ary.layout == "C"):
        raise TypeError(f"expected a C-contiguous int32 array, got {ary}")


@intrinsic
def vzero(typingctx):
    """A vector of 16 zeros."""
    def codegen(context, builder, sig, args):
        return ir.Constant(_VEC, None)
    return i32x16(), codegen


@intrinsic
def vload(typingctx, ary, index):
    """``ary.flat[index:index + 16]`` (int32) as one vector (no alignment needed)."""
    _check_int32_array(ary)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=4)
    return i32x16(ary, index), codegen


@intrinsic
def vbroadcast(typingctx, ary, index):
    """``ary.flat[index]`` (int32) copied into all 16 lanes."""
    _check_int32_array(ary)

    def codegen(context, builder, sig, args):
        value = builder.load(_element_pointer(context, builder, sig.args[0], args[0], args[1]), align=4)
        one = builder.insert_element(ir.Constant(_VEC, None), value, ir.Constant(_I32, 0))
        return builder.shuffle_vector(one, ir.Constant(_VEC, None), ir.Constant(_VEC, None))
    return i32x16(ary, index), codegen


@intrinsic
def vdpbusd(typingctx, acc, u8x4, s8x4):
    """``acc + sum of 4 products`` per lane: lane i adds u8(u8x4 byte 4i+j) * s8(s8x4 byte
    4i+j) for j = 0..3 to ``acc[i]`` (int32, wrapping modulo 2**32). One ``vpdpbusd``."""
    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
        return builder.call(fn, list(args))
    return i32x16(i32x16, i32x16, i32x16), codegen


@intrinsic
def vstore(typingctx, ary, index, vec):
    """``ary.flat[index:index + 16] = vec``."""
    _check_int32_array(ary)

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(ptr, _VEC.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.none(ary, index, i32x16), codegen


def has_vnni():
    """True when the CPU Numba compiles for has AVX-512 VNNI (and AVX-512 BW/VL), so
    ``vdpbusd`` can be compiled; ``MINIGRAD_INT8_VNNI=0`` says False.

    Numba compiles for the host unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` say
    otherwise; with those set, only an explicit ``+avx512vnni`` in the features counts.
    """
    if os.environ.get("MINIGRAD_INT8_VNNI", "1") == "0":
        return False
    from numba.core import config

    wanted = ("avx512f", "avx512bw", "avx512vl", "avx512vnni")
    if config.CPU_FEATURES is not None:
        feats = set(config.CPU_FEATURES.split(","))
        return all("+" + f in feats for f in wanted)
    if config.CPU_NAME not in (None, "host"):
        return False
    import llvmlite.binding as llb

    host = llb.get_host_cpu_features()
    return all(host.get(f, False) for f in wanted)


_F32 = ir.FloatType()
_FVEC = ir.VectorType(_F32, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)


def _splat(builder, value, vectype):
    one = builder.insert_element(ir.Constant(vectype, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vectype, None), ir.Constant(_VEC, None))


@intrinsic
def vstore_dequant(typingctx, out, index, acc, init, scale, bias, relu, lo, hi):
    """Lanes ``lo <= i < hi`` of ``float32(acc + init) * scale + bias`` (then ``max(., 0)``
    when ``relu``; NaN stays NaN) into ``out.flat[index + i]`` (float32 array); the other
    lanes are not touched, not even read (a masked store), so ``index`` may lie before the
    array's start as long as ``index + lo`` does not. The same arithmetic, lane by lane,
    as the scalar ``np.float32(np.int32(acc + init)) * scale + bias``."""
    if not (isinstance(out, types.Array) and out.dtype == types.float32 and out.layout == "C"):
        raise TypeError(f"vstore_dequant: expected a C-contiguous float32 array, got {out}")

    def codegen(context, builder, sig, args):
        outa, idx, accv, init_, scale_, bias_, relu_, lo_, hi_ = args
        data = context.make_array(sig.args[0])(context, builder, outa).data
        summed = builder.add(accv, _splat(builder, builder.trunc(init_, _I32) if init_.type != _I32 else init_, _VEC))
        f = builder.sitofp(summed, _FVEC)
        f = builder.fmul(f, _splat(builder, scale_, _FVEC))
        f = builder.fadd(f, _splat(builder, bias_, _FVEC))
        negative = builder.fcmp_ordered("<", f, ir.Constant(_FVEC, None))
        clip = builder.and_(negative, _splat(builder, builder.zext(relu_, ir.IntType(1)) if relu_.type != ir.IntType(1)
                                             else relu_, _MASK))
        f = builder.select(clip, ir.Constant(_FVEC, None), f)
        iota = ir.Constant(_VEC, list(range(LANES)))
        lo32, hi32 = builder.trunc(lo_, _I32), builder.trunc(hi_, _I32)
        mask = builder.and_(builder.icmp_signed(">=", iota, _splat(builder, lo32, _VEC)),
                            builder.icmp_signed("<", iota, _splat(builder, hi32, _VEC)))
        ptr = builder.bitcast(builder.gep(data, [idx]), _FVEC.as_pointer())
        fnty = ir.FunctionType(ir.VoidType(), [_FVEC, _FVEC.as_pointer(), _I32, _MASK])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.masked.store.v16f32.p0")
        builder.call(fn, [f, ptr, ir.Constant(_I32, 4), mask])
        return context.get_dummy_value()
    return types.none(out, index, i32x16, types.int32, types.float32, types.float32, types.boolean, types.intp,
                      types.intp), codegen
