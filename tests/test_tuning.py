"""The kernel registry's native/reference choice follows the tuning records.

No test here times anything: the shipped records hold measured times, and the checks
are that the registry's rule, applied to them, never picks a kernel that was
measured slower than the reference, and that the registry really dispatches by
the record it loads.
"""
import json
import math

import numpy as np
import pytest

from minigrad import _tuned_tables, backend, tuning


def _family_records():
    """(family, record) for every shipped record: one thread and more."""
    one = sorted(_tuned_tables.RECORDS.items())
    more = [(family, rec) for (family, _), rec in sorted(_tuned_tables.THREADED_RECORDS.items())]
    return one + more


def _ids():
    return [f"{family}-{rec.get('threads', 1)}t" for family, rec in _family_records()]


def test_shipped_records_cover_the_common_families():
    assert {"x86_64-avx512", "x86_64-avx2"} <= set(_tuned_tables.RECORDS)


@pytest.mark.parametrize("family,record", _family_records(), ids=_ids())
def test_choice_never_slower_than_reference_on_benchmark_sizes(family, record):
    assert record["isa"] == family
    choices = tuning.choices_from_record(record)
    ops = {c["op"] for c in record["cases"]}
    for must in ("matmul", "conv2d_forward", "softmax", "layer_norm_forward", "sdpa_forward"):
        assert must in ops, f"{family}: the record has no {must} cases"
    for case in record["cases"]:
        picked = tuning.choose(choices[case["op"]], math.log2(case["work"]))
        assert picked in ("native", "reference")
        if picked == "native":  # the reference is never slower than itself
            assert case["native_s"] <= case["reference_s"], (family, case)


@pytest.mark.parametrize("family,record", _family_records(), ids=_ids())
def test_shipped_records_name_every_benchmark_size(family, record):
    ref = backend._table("reference", "cpu").KERNELS
    want = {(op, label) for op, label, _ in tuning.CASES(ref, full=True)}
    have = {(c["op"], c["case"]) for c in record["cases"]}
    assert want <= have, sorted(want - have)


def _record(cases):
    return {"key": tuning.machine_key(), "isa": tuning.isa_family(), "cpu": tuning.cpu_model(), "cases": cases}


def test_rule_mixed_sizes_pick_by_nearest_measured_size():
    rec = _record([
        {"op": "matmul", "case": "small", "work": 2.0 ** 10, "native_s": 2.0, "reference_s": 1.0},
        {"op": "matmul", "case": "big", "work": 2.0 ** 30, "native_s": 1.0, "reference_s": 2.0},
        {"op": "softmax", "case": "one", "work": 100.0, "native_s": 1.0, "reference_s": 1.0},
        {"op": "gelu", "case": "one", "work": 100.0, "native_s": 3.0, "reference_s": 1.0},
    ])
    ch = tuning.choices_from_record(rec)
    assert ch["softmax"] == "native"          # a tie goes to native only when not slower
    assert ch["gelu"] == "reference"
    assert tuning.choose(ch["matmul"], 9.0) == "reference"
    assert tuning.choose(ch["matmul"], 29.0) == "native"
    assert tuning.choose(ch["matmul"], 20.0) == "reference"   # equidistant: the reference


def test_registry_dispatches_by_the_tuned_record(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_TUNING_DIR", str(tmp_path))
    rec = _record([
        {"op": "matmul", "case": "small", "work": 8.0 ** 3, "native_s": 2.0, "reference_s": 1.0},
        {"op": "matmul", "case": "big", "work": 512.0 ** 3, "native_s": 1.0, "reference_s": 2.0},
        {"op": "layer_norm_forward", "case": "one", "work": 100.0, "native_s": 5.0, "reference_s": 1.0},
    ])
    path = tuning.save_record(rec)
    assert json.load(open(path))["key"] == tuning.machine_key()
    backend.reload_kernel_choices()
    try:
        assert backend.kernel_choices()["source"] == "tuned"
        nat = backend._table("native", "cpu").KERNELS
        ref = backend._table("reference", "cpu").KERNELS
        assert backend.get_kernel("layer_norm_forward") is ref["layer_norm_forward"]
        mm = backend.get_kernel("matmul")
        assert isinstance(mm, backend.SizeChoice)
        small, big = np.ones((8, 8), np.float32), np.ones((512, 512), np.float32)
        assert mm.pick(small, small) is ref["matmul"]
        assert mm.pick(big, big) is nat["matmul"]
        np.testing.assert_allclose(mm(small, small), small @ small)
        with backend.use_kernels("native"):
            assert backend.get_kernel("layer_norm_forward") is nat["layer_norm_forward"]
            assert backend.get_kernel("matmul") is nat["matmul"]
        with backend.use_kernels("reference"):
            assert backend.get_kernel("matmul") is ref["matmul"]
    finally:
        backend.reload_kernel_choices()


def test_shipped_records_cover_one_and_two_threads():
    for family in ("x86_64-avx512", "x86_64-avx2"):
        assert tuning.shipped_record(family, 1)["threads"] == 1
        assert tuning.shipped_record(family, 2)["threads"] == 2
        assert tuning.shipped_record(family, 16)["threads"] == 2   # the most threads not above 16
    assert tuning.shipped_record("x86_64-sse", 2) is None


def test_the_record_follows_the_threads_in_use(tmp_path, monkeypatch):
    """A tuned record counts only with the thread count it was taken with; the shipped
    record is the one for the threads in use."""
    monkeypatch.setenv("MINIGRAD_TUNING_DIR", str(tmp_path))
    monkeypatch.setattr(tuning, "isa_family", lambda: "x86_64-avx512")
    rec = _record([{"op": "matmul", "case": "x", "work": 10.0, "native_s": 1.0, "reference_s": 2.0}])
    rec["key"] = tuning.machine_key()
    rec["threads"] = 2
    tuning.save_record(rec)
    monkeypatch.setattr(tuning, "threads_in_use", lambda: 2)
    assert tuning.active_record()[1] == "tuned"
    monkeypatch.setattr(tuning, "threads_in_use", lambda: 1)
    got, source = tuning.active_record()
    assert source == "shipped (x86_64-avx512, 1 thread)" and got["threads"] == 1
    (tmp_path / tuning.record_path().rsplit("/", 1)[1]).unlink()
    monkeypatch.setattr(tuning, "threads_in_use", lambda: 2)
    got, source = tuning.active_record()
    assert source == "shipped (x86_64-avx512, 2 threads)" and got["threads"] == 2


def test_two_thread_records_put_large_matmuls_on_the_native_kernel_on_avx512():
    """The measurement the two-thread records exist for: on 2 threads the native GEMM beats
    the one-BLAS-thread reference at n = 512..2048 (AVX-512). On one thread the packed GEMM
    and OpenBLAS take the same time to within 10%, so either choice costs little."""
    two = tuning.shipped_record("x86_64-avx512", 2)
    ch = tuning.choices_from_record(two)["matmul"]
    for n in (512, 1024, 2048):
        assert tuning.choose(ch, 3 * math.log2(n)) == "native", n
    one = tuning.shipped_record("x86_64-avx512", 1)
    squares = [c for c in one["cases"] if c["case"] in ("square 1024", "square 2048")]
    assert len(squares) == 2
    for c in squares:
        assert 0.9 < c["native_s"] / c["reference_s"] < 1.1, c


def test_a_record_of_another_machine_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_TUNING_DIR", str(tmp_path))
    rec = _record([{"op": "matmul", "case": "x", "work": 10.0, "native_s": 1.0, "reference_s": 2.0}])
    rec["key"] = "another CPU | x86_64-sse | minigrad 0.0"
    tuning.save_record(rec, tuning.record_path())
    got, source = tuning.active_record()
    assert source != "tuned"
    (tmp_path / (tuning.record_path().rsplit("/", 1)[1])).write_text("{not json")
    assert tuning.load_record() is None


@pytest.mark.parametrize("features,family", [
    ("+avx,+avx2,+fma,+avx512f,+avx512bw", "x86_64-avx512"),
    ("+avx,+avx2,+fma,-avx512f,-avx512bw", "x86_64-avx2"),
    ("+sse4.2,-avx,-avx2", "x86_64-sse"),
])
def test_isa_family_follows_numba_target_settings(monkeypatch, features, family):
    monkeypatch.setattr(tuning.platform, "machine", lambda: "x86_64")
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", features)
    assert tuning.isa_family() == family
    assert family in tuning.machine_key()


def test_work_counts_matmul_multiply_adds_and_elements_otherwise():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    assert tuning.work("matmul", (a, b)) == 60
    assert tuning.work("softmax", (np.ones((2, 7)),)) == 14
    assert tuning.work("conv2d_grad_bias", (np.ones((2, 3)), (1, 1), 1)) == 6
