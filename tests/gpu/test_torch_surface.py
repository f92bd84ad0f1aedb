"""The PyTorch-surface ops and layers (einsum, sort, topk, cumprod, cdist, GroupNorm,
EmbeddingBag, ...) on the GPU against the CPU: the same float64 inputs on both devices,
outputs and the gradients of sum(output * w) compared; integer results (indices,
searchsorted, isin) compared exactly. Marked ``gpu`` (skipped without CuPy and a GPU;
``MINIGRAD_CUDA_EMULATOR=1`` runs them on the CPU emulator)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F

pytestmark = pytest.mark.gpu

rng = np.random.default_rng(3)


def _host(t):
    a = t.array
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


def _run(fn, arrays, device):
    xs = [mg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*xs)
    if out.requires_grad:
        w = np.random.default_rng(0).standard_normal(out.shape)
        (out * mg.tensor(w, device=device)).sum().backward()
    return _host(out), [_host(x.grad) if x.grad is not None else None for x in xs]


def _ids(device, values):
    return mg.tensor(np.asarray(values, dtype=np.int64), device=device)


CASES = {
    "tril": (lambda x: x.tril(-1) + x.triu(1), [(3, 4)]),
    "roll": (lambda x: x.roll((1, -2), (0, 1)), [(3, 4)]),
    "cumprod": (lambda x: x.cumprod(1), [(3, 4)]),
    "cumprod_zeros": (lambda x: (x * (x > 0).to(x.dtype)).cumprod(1), [(3, 4)]),
    "logcumsumexp": (lambda x: x.logcumsumexp(0), [(3, 4)]),
    "diff": (lambda x: x.diff(n=2, dim=1), [(3, 5)]),
    "sort": (lambda x: x.sort(1, descending=True).values, [(3, 4)]),
    "topk": (lambda x: x.topk(2, dim=0).values, [(3, 4)]),
    "einsum": (lambda a, b: mg.einsum("bij,bjk->bik", a, b) + mg.einsum("bii->bi", a[:, :, :3]).sum(), [(2, 3, 4), (2, 4, 3)]),
    "addmm": (lambda i, a, b: mg.addmm(i, a, b, beta=0.5, alpha=2.0), [(3,), (2, 4), (4, 3)]),
    "baddbmm": (lambda i, a, b: mg.baddbmm(i, a, b), [(2, 3), (5, 2, 4), (5, 4, 3)]),
    "cdist": (lambda a, b: mg.cdist(a, b) + mg.cdist(a, b, p=1.0), [(4, 3), (5, 3)]),
    "lerp": (lambda a, b, w: a.lerp(b, w), [(3, 4), (4,), (3, 1)]),
    "nan_to_num": (lambda x: x.masked_fill(x > 1, float("inf")).masked_fill(x < -1, float("-inf"))
                   .nan_to_num(posinf=2.0, neginf=-2.0), [(3, 4)]),
    "repeat_interleave": (lambda x: x.repeat_interleave(_ids(x.device, [2, 0, 1]), dim=0), [(3, 4)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3, 3), (4,), (4,)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, (3,), w), [(2, 4, 3), (3,)]),
    "prelu": (lambda x, w: F.prelu(x, w), [(2, 4, 3), (4,)]),
    "mish_hardswish": (lambda x: F.mish(x) + F.hardswish(x * 4) + F.hardsigmoid(x * 4), [(2, 4, 3)]),
    "pixel_shuffle": (lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) * 2, 2), [(1, 8, 2, 3)]),
    "embedding_bag": (lambda w: F.embedding_bag(_ids(w.device, [1, 2, 4, 5, 4, 3]), w, _ids(w.device, [0, 2, 2]),
                                                mode="mean")
                      + F.embedding_bag(_ids(w.device, [[1, 2], [3, 3]]), w, mode="max")[:1], [(6, 3)]),
    "cosine_triplet": (lambda a, p, n: F.cosine_similarity(a, p).sum() + F.triplet_margin_loss(a, p, n, swap=True),
                       [(4, 3), (4, 3), (4, 3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gpu_matches_cpu(name):
    fn, shapes = CASES[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    out_c, grads_c = _run(fn, arrays, "cpu")
    out_g, grads_g = _run(fn, arrays, "cuda")
    np.testing.assert_allclose(out_g, out_c, rtol=1e-6, atol=1e-8, err_msg=f"{name}: output")
    for i, (gc, gg) in enumerate(zip(grads_c, grads_g)):
        assert (gc is None) == (gg is None), f"{name}: gradient {i} missing on one device"
        if gc is not None:
            np.testing.assert_allclose(gg, gc, rtol=1e-6, atol=1e-8, err_msg=f"{name}: gradient of input {i}")


def test_gpu_integer_results_match_cpu():
    a = rng.standard_normal((3, 5))
    seq = np.sort(rng.standard_normal(6))
    for dev in ("cpu", "cuda"):
        x, s = mg.tensor(a, device=dev), mg.tensor(seq, device=dev)
        got = [_host(x.argsort(1, descending=True)), _host(x.topk(3).indices), _host(mg.searchsorted(s, x)),
               _host(mg.bucketize(x, s, right=True)), _host(mg.isin(_ids(dev, [1, 2, 3]), _ids(dev, [2, 7])))]
        if dev == "cpu":
            want = got
        else:
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
    draws = mg.multinomial(mg.tensor([0.0, 1.0, 3.0], device="cuda"), 2)
    assert draws.device.type == "cuda" and sorted(_host(draws).tolist()) == [1, 2]
    bag = nn.EmbeddingBag(5, 2, mode="sum").to("cuda")
    assert bag(_ids("cuda", [[0, 1], [2, 3]])).device.type == "cuda"
