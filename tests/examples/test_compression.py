"""The compression report (minigrad/examples/compression.py) and `python -m minigrad compress`."""
import math

import numpy as np
import pytest

import minigrad
from minigrad import nn
from minigrad.__main__ import main
from minigrad.compress import prune, quantize
from minigrad.examples import compression
from minigrad.examples.compression import (COLUMNS, check_targets, count_parameters, format_report,
                                           inference_ms, run_compression, state_bytes)

METHODS = ["baseline", "pruned 50%", "pruned 80%", "pruned 90%", "int8 PTQ", "int8 QAT",
           "student (distilled)", "student (no teacher)"]


# ----------------------------------------------------------------------------- measuring

def test_count_parameters_sees_masks_and_int8_buffers():
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 10), nn.ReLU(), nn.Linear(10, 3))
    assert count_parameters(model) == (8 * 10 + 10 + 10 * 3 + 3,) * 2
    prune.l1_unstructured(model[0], "weight", amount=40)
    params, nonzero = count_parameters(model)
    assert params == 123 and nonzero == 123 - 40
    q = quantize.quantize_ptq(model, np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32))
    qp, qnz = count_parameters(q)
    assert qp == 123 and qnz <= 123 - 40  # pruned zeros stay zero in int8


def test_state_bytes_dense_and_sparse():
    minigrad.manual_seed(0)
    model = nn.Linear(100, 10, bias=False)
    dense, sparse = state_bytes(model)
    assert dense == sparse == 1000 * 4  # nothing is zero: the dense form is smaller
    prune.l1_unstructured(model, "weight", amount=0.9)
    dense, sparse = state_bytes(model)  # measured with the mask made permanent
    assert dense == 4000
    assert sparse == math.ceil(1000 / 8) + 100 * 4
    assert prune.is_pruned(model)  # measuring did not touch the model


def test_inference_ms_restores_training_mode():
    model = nn.Linear(4, 2)
    model.train()
    ms = inference_ms(model, np.zeros((8, 4), np.float32), repeats=2)
    assert ms > 0 and model.training


# ----------------------------------------------------------------------------- the report

@pytest.fixture(scope="module")
def tiny():
    return run_compression(level="tiny", seed=0, repeats=1, batch=64)


def test_rows_have_the_columns_in_order(tiny):
    rows = tiny["rows"]
    assert [r["method"] for r in rows] == METHODS
    for r in rows:
        assert set(COLUMNS) <= set(r), r["method"]
        assert 0.0 <= r["accuracy"] <= 1.0 and r["ms_per_batch"] > 0
        assert 0 < r["nonzero"] <= r["params"]
        assert 0 < r["sparse_bytes"] <= r["bytes"]
    assert set(tiny["models"]) == set(METHODS)


def test_numbers_are_consistent(tiny):
    rows = {r["method"]: r for r in tiny["rows"]}
    base = rows["baseline"]
    assert base["params"] == 421_642  # the seed CNN
    assert base["bytes"] == 4 * base["params"]
    for m in ("pruned 50%", "pruned 80%", "pruned 90%", "int8 PTQ", "int8 QAT"):
        assert rows[m]["params"] == base["params"], m
    # pruning: the sparsity of the pruned weights is the target; biases are not pruned
    n_weights = sum(p.numel() for name, p in tiny["models"]["baseline"].named_parameters() if name.endswith("weight"))
    for target in (50, 80, 90):
        r = rows[f"pruned {target}%"]
        assert abs(r["sparsity"] - target / 100) < 1e-3
        zeros = base["params"] - r["nonzero"]
        assert abs(zeros - target / 100 * n_weights) <= 2 + 0.001 * n_weights
        assert r["bytes"] == base["bytes"]  # stored dense, the same size
        assert r["sparse_bytes"] < base["bytes"] * (1 - target / 100) + n_weights / 8 + 4000
    # int8: one byte per weight; biases and per-channel scales stay float32
    for m in ("int8 PTQ", "int8 QAT"):
        assert 0.25 <= rows[m]["bytes"] / base["bytes"] <= 0.2525, m
        assert rows[m]["bytes"] == quantize.model_size_bytes(tiny["models"][m])
    # the student: the same family, 4 channels wide, same size with and without a teacher
    kd, alone = rows["student (distilled)"], rows["student (no teacher)"]
    assert kd["params"] == alone["params"] < base["params"] / 5
    h = tiny["prune_history"]
    assert [round(x["target"], 2) for x in h] == [0.5, 0.8, 0.9]


def test_quantized_models_run_int8_layers(tiny):
    for m in ("int8 PTQ", "int8 QAT"):
        kinds = {type(x).__name__ for x in tiny["models"][m].modules()}
        assert {"QuantizedConv2d", "QuantizedLinear"} <= kinds
        assert not {"Conv2d", "Linear"} & kinds


def test_check_targets_and_format(tiny):
    rows = tiny["rows"]
    checks = check_targets(rows)
    assert len(checks) == 3 and all(ok in (True, False) for _, ok in checks)
    text = format_report(rows)
    for m in METHODS:
        assert m in text
    assert "accuracy" in text and "ms/batch" in text
    assert [ok for _, ok in check_targets(rows[:1])] == [None, None, None]


def test_check_targets_logic():
    base = {"method": "baseline", "accuracy": 0.98, "bytes": 4000}
    good = [base, {"method": "int8 PTQ", "accuracy": 0.975, "bytes": 1000},
            {"method": "pruned 80%", "accuracy": 0.971, "bytes": 4000},
            {"method": "student (distilled)", "accuracy": 0.95}, {"method": "student (no teacher)", "accuracy": 0.94}]
    assert [ok for _, ok in check_targets(good)] == [True, True, True]
    bad = [base, {"method": "int8 PTQ", "accuracy": 0.965, "bytes": 1000},
           {"method": "pruned 80%", "accuracy": 0.96, "bytes": 4000},
           {"method": "student (distilled)", "accuracy": 0.94}, {"method": "student (no teacher)", "accuracy": 0.94}]
    assert [ok for _, ok in check_targets(bad)] == [False, False, False]


def test_bad_level_is_rejected():
    with pytest.raises(ValueError, match="level must be one of"):
        run_compression(level="huge")
    with pytest.raises(ValueError, match="unknown epochs keys"):
        run_compression(level="tiny", epochs={"teacher": 3})


# ----------------------------------------------------------------------------- the CLI

def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compress", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--quick", "--full", "--seed", "--no-progress"):
        assert flag in out


def _fake_rows(ptq_acc):
    rows = []
    for i, m in enumerate(METHODS):
        rows.append({"method": m, "accuracy": 0.98 if m != "int8 PTQ" else ptq_acc, "params": 100, "nonzero": 100 - i,
                     "bytes": 400 if "int8" not in m else 100, "sparse_bytes": 400 if "int8" not in m else 100,
                     "ms_per_batch": 1.0 + i})
    rows[-2]["accuracy"] = 0.99  # distilled beats no teacher
    return rows


@pytest.mark.parametrize("ptq_acc, status", [(0.975, 0), (0.9, 1)])
def test_cli_prints_the_table_and_targets(monkeypatch, capsys, ptq_acc, status):
    seen = {}

    def fake(level, seed, progress, log):
        seen.update(level=level, seed=seed, progress=progress, log=log)
        return {"rows": _fake_rows(ptq_acc), "seconds": 1.0}

    monkeypatch.setattr(compression, "run_compression", fake)
    assert main(["compress", "--full", "--seed", "3", "--no-progress"]) == status
    out, err = capsys.readouterr()
    assert seen == {"level": "full", "seed": 3, "progress": False, "log": None}
    assert err == ""
    for m in METHODS:
        assert m in out
    assert "targets:" in out and ("MISSED" in out) == (status == 1)


def test_cli_defaults_to_quick(monkeypatch, capsys):
    seen = {}

    def fake(level, seed, progress, log):
        seen.update(level=level, seed=seed, progress=progress)
        log("a stage")
        return {"rows": _fake_rows(0.98), "seconds": 1.0}

    monkeypatch.setattr(compression, "run_compression", fake)
    assert main(["compress"]) == 0
    out, err = capsys.readouterr()
    assert seen == {"level": "quick", "seed": 0, "progress": True}
    assert "[compress] a stage" in err and "[compress]" not in out


# ----------------------------------------------------------------------------- the targets

@pytest.mark.slow
def test_quick_report_meets_the_targets():
    rows = run_compression(level="quick", seed=0)["rows"]
    checks = check_targets(rows)
    assert all(ok for _, ok in checks), "\n" + format_report(rows) + "\n" + "\n".join(t for t, _ in checks)
