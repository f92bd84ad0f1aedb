"""The sequence seed models (minigrad/examples/sequence.py): LSTM and GRU on digit rows, parity."""


import numpy as np
import pytest

from minigrad import nn


def test_sequence_example_smoke():
    from minigrad.examples.sequence import train_lstm, digit_rows

    X_train, X_test, y_train, y_test = digit_rows(8, seed=0)
    assert X_train.shape[1:] == (8, 8) and len(X_train) + len(X_test) == 1797
    r = train_lstm(quick=True, epochs=2, hidden_size=32)
    assert {"what", "final_loss", "accuracy", "seconds", "passed", "model"} <= set(r)
    assert np.isfinite(r["final_loss"])
    assert r["accuracy"] > 0.5          # chance is 0.1
    assert isinstance(r["model"].rnn, nn.LSTM) and r["model"].rnn.batch_first


@pytest.mark.slow
def test_sequence_examples_reach_their_targets():
    from minigrad.examples.sequence import train_gru, train_lstm, train_parity

    for fn in (train_lstm, train_gru, train_parity):
        r = fn(quick=True)
        assert r["passed"], (r["what"], r["accuracy"])
