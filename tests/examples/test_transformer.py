"""The Transformer seed model (minigrad/examples/transformer.py): its data, metric and runs."""


import numpy as np
import pytest


def test_reverse_data_and_exact_match():
    from minigrad.examples.transformer import make_reverse_data, exact_match, EOS, BOS, PAD
    src, tgt = make_reverse_data(20, 2, 5, seed=3)
    for s, t in zip(src, tgt):
        n = int(np.argmax(s == EOS))
        assert 2 <= n <= 5 and np.all(s[n + 1:] == PAD)
        assert t[0] == BOS and t[n + 1] == EOS and np.array_equal(t[1:n + 1], s[:n][::-1])
    pred = tgt[:, 1:].copy()
    assert exact_match(pred, tgt) == 1.0
    pred[0, 0] += 1                        # one wrong token
    pred[1, int(np.argmax(pred[1] == EOS))] = 5   # a missing <eos>
    assert exact_match(pred, tgt) == pytest.approx(18 / 20)


def test_transformer_example_runs_tiny():
    from minigrad.examples.transformer import run
    res = run(steps=3, n_test=8, d_model=16, nhead=2, num_layers=1, max_len=4, batch_size=8)
    assert set(res) >= {"what", "final_loss", "accuracy", "seconds"}
    assert np.isfinite(res["final_loss"]) and 0.0 <= res["accuracy"] <= 1.0 and res["seconds"] > 0


@pytest.mark.slow
def test_transformer_example_quick_reaches_99_percent():
    from minigrad.examples.transformer import run
    res = run(quick=True)
    assert res["accuracy"] >= 0.99, res
