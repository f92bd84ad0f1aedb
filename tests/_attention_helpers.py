"""Helpers shared by the tests of the attention, Transformer and embedding layers
(tests/nn/test_attention.py, test_transformer.py, test_sparse.py): float32 tolerances
against PyTorch, loading torch's weights into ours, comparing every parameter's gradient.
"""


import numpy as np

import minigrad

RTOL, ATOL = 2e-4, 2e-5          # float32 forward
GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-4  # float32 gradients (sums over many terms)


def T(a, requires_grad=False):
    return minigrad.tensor(np.asarray(a), requires_grad=requires_grad)


def _load(ours, theirs):
    """Copy torch's state_dict into ours through NumPy; the names, order and shapes must match."""
    sd = theirs.state_dict()
    assert list(sd.keys()) == list(ours.state_dict().keys())
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname and tuple(p.shape) == tuple(tp.shape)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _check_grads(ours, theirs, rtol=GRAD_RTOL, atol=GRAD_ATOL):
    tp = dict(theirs.named_parameters())
    n = 0
    for name, p in ours.named_parameters():
        tg = tp[name].grad
        if tg is None:
            assert p.grad is None or np.all(p.grad.array == 0), name
            continue
        np.testing.assert_allclose(p.grad.array, tg.numpy(), rtol=rtol, atol=atol, err_msg=name)
        n += 1
    assert n > 0


def _tmask(torch, a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))
