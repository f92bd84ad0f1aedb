"""Oracle: a random mix of expressions gives the same values and gradients as PyTorch."""
import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle


def _pair(arr):
    return (mg.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True))


EXPRESSIONS = [
    lambda m, a, b, c: (m.tanh(a @ b) @ (a @ c.reshape(4, 1))).sum(),
    lambda m, a, b, c: (a.exp() / (1 + b.sum(1).abs())).mean(),
    lambda m, a, b, c: m.logsumexp(a, 1).sum() + m.sigmoid(c).prod(),
    lambda m, a, b, c: (a.clamp(-0.5, 0.5) ** 2).var(1).sum() + c.norm(),
    lambda m, a, b, c: m.where(a > 0, a, b.T * 2).amax(dim=0).sum(),
    lambda m, a, b, c: (m.cat([a, b.T], 1)[:, 1:3] * 0.5).exp().sum(),
    lambda m, a, b, c: (a.reshape(2, -1).permute(1, 0).cumsum(0) * m.sqrt(b.reshape(-1, 2).abs() + 1)).std(),
    lambda m, a, b, c: (a[[0, 2, 2]] @ b).flip(1)[:, 0].log1p().sum() if bool((a[[0, 2, 2]] @ b).flip(1)[:, 0].min() > -1)
    else a.sum(),
    lambda m, a, b, c: (m.maximum(a, b.T) - m.minimum(a, 0.1 * b.T)).sum() + c.max(),
    lambda m, a, b, c: (a.unsqueeze(0).expand(3, 3, 4) * c).sum(dim=(0, 2)).pow(2).sum(),
    lambda m, a, b, c: (m.stack([a, a * 2], dim=1).transpose(0, 2).gather(0, m.tensor([[[0, 2, 1]] * 2])) ** 2).sum(),
]


@pytest.mark.parametrize("k", range(len(EXPRESSIONS)))
def test_expression_matches_torch(k):
    rng = np.random.default_rng(k)
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=(4,))
    (ma, ta), (mb, tb), (mc, tc) = _pair(a), _pair(b), _pair(c)
    mo = EXPRESSIONS[k](mg, ma, mb, mc)
    to = EXPRESSIONS[k](torch, ta, tb, tc)
    np.testing.assert_allclose(mo.item(), to.item(), rtol=1e-10, atol=1e-12)
    mo.backward()
    to.backward()
    for m_, t_ in ((ma, ta), (mb, tb), (mc, tc)):
        if t_.grad is None:
            assert m_.grad is None or np.allclose(m_.grad.numpy(), 0)
        else:
            np.testing.assert_allclose(m_.grad.numpy(), t_.grad.numpy(), rtol=1e-9, atol=1e-12)
