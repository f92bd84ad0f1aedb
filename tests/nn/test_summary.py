"""nn.summary (minigrad/nn/summary.py): the table, its counts, and silence when asked."""
import numpy as np

import minigrad
from minigrad import nn


# ----------------------------------------------------------------------------- behaviour

class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(5, 4)
        self.bias = nn.Parameter(minigrad.zeros(4))

    def forward(self, x, y):
        return self.a(x) + self.b(y) + self.bias


def test_summary_table_counts_and_leaves_model_untouched():
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    model[4].weight.requires_grad_(False)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    lines = []
    text = nn.summary(model, (2, 8), print_fn=lines.append)
    assert lines == [text]
    assert "Linear" in text and "BatchNorm1d" in text and "(2, 16)" in text and "(2, 3)" in text
    assert "Total params: 227" in text  # 8*16+16 + 2*16 + 16*3+3
    assert "Trainable params: 179" in text and "Non-trainable params: 48" in text
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():  # no running-stat update, no counter bump
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert not model[0]._forward_hooks  # hooks removed


def test_summary_multiple_inputs_and_silence(capsys):
    text = nn.summary(TwoInputs(), [(1, 3), (1, 5)], print_fn=None)
    assert capsys.readouterr().out == ""
    assert "Total params: 44" in text and "(own parameters)" in text
    nn.summary(nn.Linear(2, 2), (1, 2))
    assert "Total params: 6" in capsys.readouterr().out
