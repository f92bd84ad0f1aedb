"""nn.utils (gradient clipping, vectors) and nn.summary."""
import numpy as np
import pytest

import minigrad
from minigrad import nn


def _model_with_grads():
    minigrad.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    (m(minigrad.randn(5, 3)) * 10.0).sum().backward()
    return m


def test_clip_grad_norm_scales_to_max_norm():
    m = _model_with_grads()
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    ret = nn.utils.clip_grad_norm_(m.parameters(), max_norm=1.0)
    assert float(ret) == pytest.approx(total, rel=1e-5)
    new = [p.grad.numpy() for p in m.parameters()]
    assert np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in new)) == pytest.approx(1.0, rel=1e-4)
    for g, n in zip(grads, new):  # same direction
        np.testing.assert_allclose(n, g / total, rtol=1e-4, atol=1e-7)
    # below the threshold nothing changes
    before = [p.grad.numpy().copy() for p in m.parameters()]
    nn.utils.clip_grad_norm_(m.parameters(), max_norm=100.0)
    for b, p in zip(before, m.parameters()):
        np.testing.assert_array_equal(b, p.grad.numpy())


def test_clip_grad_norm_with_shared_and_broadcast_gradients():
    # sum() gives a broadcast (read-only) gradient; a + b gives the same gradient to both
    a = nn.Parameter(minigrad.ones(3))
    b = nn.Parameter(minigrad.ones(3))
    ((a + b) * 3.0).sum().backward()
    nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    expected = 3.0 / np.sqrt(2 * 3 * 9.0)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), expected, rtol=1e-5)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(minigrad.ones(2))
    assert float(nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no gradients
    p.grad = minigrad.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = minigrad.tensor([3.0, -4.0])
    assert float(nn.utils.clip_grad_norm_(p, 10.0, norm_type="inf")) == 4.0


def test_clip_grad_value():
    p = nn.Parameter(minigrad.zeros(3))
    p.grad = minigrad.tensor([-5.0, 0.5, 7.0])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, 0.5, 1.0])


def test_parameters_vector_round_trip():
    m = nn.Linear(3, 2)
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (8,)
    np.testing.assert_array_equal(v.numpy()[:6], m.weight.numpy().ravel())
    nn.utils.vector_to_parameters(v * 0.0 + 1.0, m.parameters())
    assert np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 1)
    with pytest.raises(ValueError, match="9 elements"):
        nn.utils.vector_to_parameters(minigrad.zeros(9), m.parameters())


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
